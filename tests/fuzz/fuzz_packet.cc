// libFuzzer target: arbitrary frames into the whole packet path, through the real worker
// and slow-path code (the dataplane tests' Harness: net_ring ports, two workers with NAT
// tables and the handoff ring between them, the learner, the slow path's ARP, DHCP and
// DNS). One appliance config holds every kind of port a hostile sender can reach:
//   ha  host-only guest with port security (own IPv4 + DHCP lease) and an ingress ACL
//   hb  host-only guest;  tap  the host-only network's host interface
//   na  a `nat` adapter (private router, DHCP, DNS proxy, a port forward)
//   la, lb  guests of a NAT network;  rup  the NAT uplink (outside traffic, inbound)
//   ta  a VLAN trunk of an internal network;  tb  an access port of its VLAN 10
//   bb  a bridged guest;  rbr  its uplink (a trunk of VLAN 20)
//   ga  a guest of a VXLAN network (VNI 42, remotes .1 and .2 on rup);  gb  a guest of a
//       UDP-tunnel network (sport 10001): rup's tunnel frames are decapsulated to them
// Input: records [port][segment length][length hi][length lo][bytes...], up to 16 frames
// per input, so that a run can open a NAT session and answer it, or send the fragments
// of one datagram out of order. A segment length below 64 splits the frame into a chain
// of mbufs of that size. After each input every port's output is drained; the worker
// must never crash, and mbufs in use must stay bounded (what the fragment tables may
// hold), else a leak aborts the run.
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tests/dataplane/harness.h"

namespace {

const char* kConfig = R"(appliance: {nat: {sessions: 4096, per_vm_sessions: 1024}}
uplinks:
  wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, dns: [198.51.100.53]}
  lan: {device: rbr}
networks:
  hn: {mode: hostonly, host_interface: {name: fz-host0, address: 192.168.79.1/24}}
  lab: {mode: natnetwork, network: 10.9.0.0/24, uplink: wan,
        port_forwards: [{name: ssh, proto: tcp, host_port: 1022, guest_ip: 10.9.0.5, guest_port: 22}]}
  br: {mode: bridged, uplink: lan}
  st: {mode: generic, driver: vxlan, vni: 42, uplink: wan, remotes: [198.51.100.1, 198.51.100.2]}
  vb: {mode: generic, driver: udp, uplink: wan, sport: 10001, dest: 198.51.100.3, dport: 10002}
vms:
  h:
    adapters:
      1: {attach: hostonly:hn, mac: '08:00:27:00:00:01', port: ha,
          port_security: {ipv4: [192.168.79.50], dhcp: true},
          acl: {ingress: [{name: no-smtp, action: deny, proto: tcp, dst_port: 25}],
                egress: [{action: deny, proto: udp, dst_port: 9}]}}
      2: {attach: hostonly:hn, mac: '08:00:27:00:00:02', port: hb}
  n:
    adapters:
      1: {attach: nat, mac: '08:00:27:00:00:03', port: na,
          port_forwards: [{name: http, proto: tcp, host_port: 8080, guest_port: 80},
                          {name: dns, proto: udp, host_port: 5353, guest_port: 53}]}
      2: {attach: natnetwork:lab, mac: '08:00:27:00:00:04', port: la}
      3: {attach: natnetwork:lab, mac: '08:00:27:00:00:05', port: lb}
  t:
    adapters:
      1: {attach: internal:vl, mac: '08:00:27:00:00:06', port: ta, vlan: {trunk: [10, 20], native: 1}}
      2: {attach: internal:vl, mac: '08:00:27:00:00:07', port: tb, vlan: 10, model: virtio-net, mtu: 9000}
      3: {attach: bridged:br, mac: '08:00:27:00:00:08', port: bb, vlan: 20, mac_limit: 4}
  g:
    adapters:
      1: {attach: generic:st, mac: '08:00:27:00:00:09', port: ga}
      2: {attach: generic:vb, mac: '08:00:27:00:00:0a', port: gb, promiscuous: allow-all}
)";

const char* const kPorts[] = {
    "ha", "hb", "net_tap0,iface=fz-host0", "na", "la", "lb", "rup", "ta", "tb", "bb", "rbr",
    "ga", "gb"};
constexpr size_t kNumPorts = sizeof(kPorts) / sizeof(kPorts[0]);
// Fragment tables (256 datagrams per worker) and the slow path's queues may hold mbufs
// between inputs; anything beyond this many in use is a leak.
constexpr unsigned kMaxHeld = 4096;

std::unique_ptr<gp::test::Harness> g_h;

void drain() {
  for (const char* p : kPorts) g_h->recv(p);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!gp::test::init_eal("fuzz_packet")) {
    std::fprintf(stderr, "fuzz_packet: EAL init failed\n");
    std::abort();
  }
  g_h = std::make_unique<gp::test::Harness>();
  g_h->apply(kConfig);
  g_h->enable_nat(4096, 2);
  g_h->set_next_hop("rup", rte_ether_addr{{0x02, 0, 0, 0, 0, 0x01}});
  // One tunnel remote resolved (its frames are encapsulated), one not (no_neighbor).
  g_h->set_onlink("rup", gp::test::ip4(198, 51, 100, 2), rte_ether_addr{{0x02, 0, 0, 0, 0, 0x02}});
  if (g_h->snap().version == 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t off = 0;
  for (int frames = 0; frames < 16 && off + 4 <= size; ++frames) {
    const char* port = kPorts[data[off] % kNumPorts];
    const uint8_t seg = data[off + 1];
    size_t len = size_t(data[off + 2]) << 8 | data[off + 3];
    off += 4;
    if (len > size - off) len = size - off;
    if (len > 9018) len = 9018;
    std::vector<uint8_t> bytes(data + off, data + off + len);
    off += len;
    if (bytes.empty()) continue;
    // A chain of small segments (headers split across them) for frames up to 2 KiB.
    const uint16_t seg_len = seg != 0 && seg < 64 && len <= 2048 ? seg : 0;
    rte_mbuf* m = g_h->from_bytes(bytes, seg_len);
    if (m == nullptr) std::abort();  // the pool ran dry: mbufs leaked
    g_h->send(port, m);
  }
  g_h->step(3);
  drain();
  g_h->advance_ms(250);  // fragments and sessions time out as a run goes on
  if (rte_mempool_in_use_count(gp::test::test_pool()) > kMaxHeld) {
    std::fprintf(stderr, "fuzz_packet: %u mbufs in use after draining: a leak\n",
                 rte_mempool_in_use_count(gp::test::test_pool()));
    std::abort();
  }
  return 0;
}
