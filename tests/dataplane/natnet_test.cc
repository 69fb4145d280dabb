// A NAT network over net_ring ports, through the real worker and slow-path code: guests
// reach each other by L2 and the outside through one router at .1; inbound port
// forwards find their guest by the router's ARP; hairpinning (RFC 4787 REQ-9) of TCP,
// UDP and ICMP; a guest's ICMP error about an inbound flow leaves translated
// (RFC 5508); no mbuf leaked.
#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>

#include "dataplane/nat/translate.h"
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const uint32_t kA = ip4(10, 9, 0, 4), kB = ip4(10, 9, 0, 5), kGw = ip4(10, 9, 0, 1);
const uint32_t kOut = ip4(198, 51, 100, 10), kS1 = ip4(203, 0, 113, 7);
const rte_ether_addr kRouter{{0x02, 0, 0, 0, 0, 0x01}};  // the uplink's next hop

const char* kConfig = R"(appliance: {nat: {sessions: 1024, per_vm_sessions: 8}}
uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1}}
networks:
  lab:
    mode: natnetwork
    network: 10.9.0.0/24
    uplink: wan
    port_forwards:
      - {name: ssh, proto: tcp, host_port: 1022, guest_ip: 10.9.0.5, guest_port: 22}
      - {name: dns, proto: udp, host_port: 5353, guest_ip: 10.9.0.5, guest_port: 53}
vms:
  a: {adapters: {1: {attach: natnetwork:lab, mac: '08:00:27:00:00:01', port: ra}}}
  b: {adapters: {1: {attach: natnetwork:lab, mac: '08:00:27:00:00:02', port: rb}}}
)";

class NatNetTest : public HarnessTest {
 protected:
  void start(uint16_t workers = 1) {
    h = std::make_unique<Harness>();
    h->apply(kConfig);
    h->enable_nat(1024, workers);
    h->set_next_hop("rup", kRouter);
    const uint16_t seg = h->snap().ports[h->port_id("ra")].segment;
    router_ = h->snap().segments[seg].service_mac;
  }
  // The guest asks for its gateway, as every guest does first: the router learns it.
  void arp_for_gateway(const std::string& port, uint8_t mac_last, uint32_t ip) {
    h->send(port, h->arp(mac(mac_last), kBroadcast, RTE_ARP_OP_REQUEST, ip, kGw));
    h->step(3);
    auto replies = h->recv(port);
    ASSERT_EQ(replies.size(), 1u);  // the router's answer
    EXPECT_TRUE(mac_equal(replies[0].src, router_));
  }
  std::vector<Harness::Ipv4View> send_ip(const std::string& port, uint8_t mac_last, uint32_t src,
                                         uint32_t dst, uint8_t proto, uint16_t sport,
                                         uint16_t dport, const std::string& to, uint8_t flags = 0) {
    h->send(port, h->ipv4(mac(mac_last), router_, src, dst, proto, sport, dport, flags));
    h->step(4);
    return h->recv_ipv4(to);
  }
  std::vector<Harness::Ipv4View> from_outside(uint32_t src, uint16_t sport, uint16_t dport,
                                              uint8_t proto, const std::string& guest) {
    h->send("rup", h->ipv4(kRouter, h->own_mac("rup"), src, kOut, proto, sport, dport));
    h->step(4);
    return h->recv_ipv4(guest);
  }
  rte_ether_addr router_{};
};

TEST_F(NatNetTest, GuestsTalkDirectlyAndShareOneRouterOutside) {
  start();
  // Guest to guest: plain L2, nothing translated.
  h->send("ra", h->ipv4(mac(1), mac(2), kA, kB, IPPROTO_UDP, 1000, 2000));
  h->step(3);
  auto direct = h->recv_ipv4("rb");  // flooded first (b's MAC is not learned yet)
  ASSERT_EQ(direct.size(), 1u);
  EXPECT_EQ(direct[0].src_ip, kA);
  EXPECT_EQ(direct[0].ttl, 64);
  EXPECT_EQ(h->event(WorkerEvent::kNatTranslated), 0u);
  // Both to the outside through the router's MAC, both from the one outside address.
  auto oa = send_ip("ra", 1, kA, kS1, IPPROTO_UDP, 4000, 53, "rup");
  auto ob = send_ip("rb", 2, kB, kS1, IPPROTO_UDP, 4000, 53, "rup");
  ASSERT_EQ(oa.size(), 1u);
  ASSERT_EQ(ob.size(), 1u);
  EXPECT_EQ(oa[0].src_ip, kOut);
  EXPECT_EQ(ob[0].src_ip, kOut);
  EXPECT_NE(oa[0].sport, ob[0].sport);  // same inside port, two mappings
  EXPECT_TRUE(oa[0].checksums_ok && ob[0].checksums_ok);
  // Answers go back to the right guest's MAC and port.
  auto ba = from_outside(kS1, 53, oa[0].sport, IPPROTO_UDP, "ra");
  auto bb = from_outside(kS1, 53, ob[0].sport, IPPROTO_UDP, "rb");
  ASSERT_EQ(ba.size(), 1u);
  ASSERT_EQ(bb.size(), 1u);
  EXPECT_EQ(ba[0].dst_ip, kA);
  EXPECT_EQ(bb[0].dst_ip, kB);
  EXPECT_TRUE(mac_equal(ba[0].dst_mac, mac(1)));
  EXPECT_TRUE(mac_equal(bb[0].dst_mac, mac(2)));
  EXPECT_TRUE(mac_equal(bb[0].src_mac, router_));
  EXPECT_TRUE(h->recv("ra").empty());
  EXPECT_TRUE(h->recv("rb").empty());
}

TEST_F(NatNetTest, PerVmLimitHoldsForEachGuestOfTheNetwork) {
  start();
  for (uint16_t p = 0; p < 9; ++p) send_ip("ra", 1, kA, kS1, IPPROTO_UDP, 5000 + p, 53, "rup");
  EXPECT_EQ(h->drops("ra", Drop::kNatVmLimit), 1u);                               // a's ninth flow
  EXPECT_EQ(send_ip("rb", 2, kB, kS1, IPPROTO_UDP, 5000, 53, "rup").size(), 1u);  // b's own share
  EXPECT_EQ(h->nat_table(0).vm_sessions(h->port_id("ra")), 8u);
  EXPECT_EQ(h->nat_table(0).vm_sessions(h->port_id("rb")), 1u);
}

TEST_F(NatNetTest, PortForwardFindsItsGuestByArp) {
  start();
  // Before b has spoken ARP the router does not know where 10.9.0.5 is.
  EXPECT_TRUE(from_outside(kS1, 40000, 1022, IPPROTO_TCP, "rb").empty());
  EXPECT_EQ(h->drops("rup", Drop::kNatGuestUnresolved), 1u);
  arp_for_gateway("rb", 2, kB);
  auto in = from_outside(kS1, 40000, 1022, IPPROTO_TCP, "rb");
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].dst_ip, kB);
  EXPECT_EQ(in[0].dport, 22);
  EXPECT_TRUE(mac_equal(in[0].dst_mac, mac(2)));
  EXPECT_TRUE(in[0].checksums_ok);
  EXPECT_TRUE(h->recv("ra").empty());
  // The answer leaves from the forwarded port.
  auto back =
      send_ip("rb", 2, kB, kS1, IPPROTO_TCP, 22, 40000, "rup", RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].src_ip, kOut);
  EXPECT_EQ(back[0].sport, 1022);
}

TEST_F(NatNetTest, RouterAsksForForwardTargetsItself) {
  start();
  h->enable_probes();
  h->step(2);
  // An ARP request for 10.9.0.5 from the router's address went to every guest port.
  for (const char* port : {"ra", "rb"}) {
    auto ms = h->recv_mbufs(port);
    ASSERT_GE(ms.size(), 1u) << port;
    const auto* a = rte_pktmbuf_mtod_offset(ms[0], const rte_arp_hdr*, sizeof(rte_ether_hdr));
    EXPECT_EQ(a->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REQUEST));
    EXPECT_EQ(a->arp_data.arp_tip, rte_cpu_to_be_32(kB));
    EXPECT_EQ(a->arp_data.arp_sip, rte_cpu_to_be_32(kGw));
    for (rte_mbuf* m : ms) rte_pktmbuf_free(m);
  }
  h->recv("rup");  // the uplink gateway's ARP
  // b answers; now the forward reaches it.
  h->send("rb", h->arp(mac(2), router_, RTE_ARP_OP_REPLY, kB, kGw, router_));
  h->step(2);
  auto in = from_outside(kS1, 40000, 1022, IPPROTO_TCP, "rb");
  ASSERT_EQ(in.size(), 1u);
  EXPECT_TRUE(mac_equal(in[0].dst_mac, mac(2)));
  EXPECT_GE(h->slow().stats().inside_learned, 1u);
}

// a connects to the outside address's forwarded port; the router turns it around to b,
// presenting a's outside endpoint as the source, and b's answer back to a.
void hairpin_round_trip(Harness& h, uint8_t proto, uint16_t a_port = 45000) {
  const uint16_t host_port = proto == IPPROTO_TCP ? 1022 : 5353;
  const uint16_t guest_port = proto == IPPROTO_TCP ? 22 : 53;
  const uint8_t syn = proto == IPPROTO_TCP ? RTE_TCP_SYN_FLAG : 0;
  const uint16_t seg = h.snap().ports[h.port_id("ra")].segment;
  const rte_ether_addr router = h.snap().segments[seg].service_mac;
  h.send("ra", h.ipv4(mac(1), router, kA, kOut, proto, a_port, host_port, syn));
  h.step(4);
  auto at_b = h.recv_ipv4("rb");
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(at_b[0].ttl, 63) << "one hop through the router, one TTL";
  EXPECT_EQ(at_b[0].src_ip, kOut);  // REQ-9b: the outside address, not 10.9.0.4
  EXPECT_EQ(at_b[0].dst_ip, kB);
  EXPECT_EQ(at_b[0].dport, guest_port);
  EXPECT_TRUE(at_b[0].checksums_ok);
  EXPECT_TRUE(mac_equal(at_b[0].dst_mac, mac(2)));
  EXPECT_TRUE(h.recv("rup").empty());  // never left the box
  const uint16_t a_outside = at_b[0].sport;
  h.send("rb", h.ipv4(mac(2), router, kB, kOut, proto, guest_port, a_outside,
                      proto == IPPROTO_TCP ? RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG : 0));
  h.step(4);
  auto at_a = h.recv_ipv4("ra");
  ASSERT_EQ(at_a.size(), 1u);
  EXPECT_EQ(at_a[0].src_ip, kOut);
  EXPECT_EQ(at_a[0].sport, host_port);
  EXPECT_EQ(at_a[0].dst_ip, kA);
  EXPECT_EQ(at_a[0].dport, a_port);
  EXPECT_EQ(at_a[0].ttl, 63);
  EXPECT_TRUE(at_a[0].checksums_ok);
  EXPECT_TRUE(mac_equal(at_a[0].dst_mac, mac(1)));
  EXPECT_GE(h.event(WorkerEvent::kNatHairpinned), 2u);
}

TEST_F(NatNetTest, HairpinningTcpAndUdp) {
  start();
  arp_for_gateway("rb", 2, kB);
  hairpin_round_trip(*h, IPPROTO_TCP);
  hairpin_round_trip(*h, IPPROTO_UDP);
}

TEST_F(NatNetTest, HairpinningAcrossTwoWorkers) {
  start(2);
  arp_for_gateway("rb", 2, kB);
  // Several of a's ports (within its 8-session share): their sessions' owners differ, so
  // some hairpins cross workers.
  for (uint16_t p = 45000; p < 45004; ++p) {
    hairpin_round_trip(*h, IPPROTO_TCP, p);
    hairpin_round_trip(*h, IPPROTO_UDP, p);
  }
  EXPECT_GT(h->event(WorkerEvent::kNatHandoffs), 0u) << "no hairpin went to another worker";
  EXPECT_EQ(h->drops("ra", Drop::kNatHandoffFull) + h->drops("rb", Drop::kNatHandoffFull), 0u);
}

TEST_F(NatNetTest, PingToTheOutsideAddressIsAnsweredFromIt) {
  start();
  auto r = send_ip("ra", 1, kA, kOut, IPPROTO_ICMP, 99, 99, "ra", RTE_IP_ICMP_ECHO_REQUEST);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].src_ip, kOut);
  EXPECT_EQ(r[0].dst_ip, kA);
  EXPECT_TRUE(r[0].checksums_ok);
  EXPECT_TRUE(h->recv("rup").empty());
}

// b refuses a forwarded UDP datagram with "port unreachable": the error leaves the
// uplink from the outside address, quoting the datagram as the client sent it.
TEST_F(NatNetTest, GuestIcmpErrorAboutAnInboundFlowIsTranslated) {
  start();
  arp_for_gateway("rb", 2, kB);
  auto in = from_outside(kS1, 41000, 5353, IPPROTO_UDP, "rb");
  ASSERT_EQ(in.size(), 1u);
  // Build b's ICMP error quoting the datagram it got (10.9.0.5:53 <- 203.0.113.7:41000).
  rte_mbuf* dgram = h->ipv4(kRouter, mac(2), kS1, kB, IPPROTO_UDP, 41000, 53);
  const uint16_t quote = 20 + 8;
  rte_mbuf* m = h->ipv4(mac(2), router_, kB, kS1, IPPROTO_ICMP, 0, 0, 3, quote);
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
  auto* ic = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  ic->icmp_code = 3;
  ic->icmp_ident = 0;
  ic->icmp_seq_nb = 0;
  std::memcpy(ic + 1, rte_pktmbuf_mtod_offset(dgram, const void*, 14), quote);
  rte_pktmbuf_free(dgram);
  ic->icmp_cksum = 0;
  ic->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(ic, 8 + quote));
  h->send("rb", m);
  h->step(4);
  auto ms = h->recv_mbufs("rup");
  ASSERT_EQ(ms.size(), 1u);
  const auto* oip = rte_pktmbuf_mtod_offset(ms[0], const rte_ipv4_hdr*, 14);
  const auto* oic = reinterpret_cast<const rte_icmp_hdr*>(oip + 1);
  const auto* inner = reinterpret_cast<const rte_ipv4_hdr*>(oic + 1);
  const auto* iu = reinterpret_cast<const rte_udp_hdr*>(inner + 1);
  EXPECT_EQ(oip->src_addr, rte_cpu_to_be_32(kOut));
  EXPECT_EQ(oip->dst_addr, rte_cpu_to_be_32(kS1));
  EXPECT_EQ(rte_ipv4_cksum(oip), 0);
  EXPECT_EQ(rte_raw_cksum(oic, 8 + quote), 0xffff);
  EXPECT_EQ(inner->dst_addr, rte_cpu_to_be_32(kOut));
  EXPECT_EQ(iu->dst_port, rte_cpu_to_be_16(5353));
  EXPECT_EQ(iu->src_port, rte_cpu_to_be_16(41000));
  rte_pktmbuf_free(ms[0]);
  // An error about nothing the NAT knows is dropped and counted.
  rte_mbuf* stray = h->ipv4(mac(2), router_, kB, kS1, IPPROTO_ICMP, 0, 0, 3, quote);
  auto* sip = rte_pktmbuf_mtod_offset(stray, rte_ipv4_hdr*, 14);
  auto* sic = reinterpret_cast<rte_icmp_hdr*>(sip + 1);
  auto* sinner = reinterpret_cast<rte_ipv4_hdr*>(sic + 1);
  sinner->version_ihl = RTE_IPV4_VHL_DEF;
  sinner->next_proto_id = IPPROTO_UDP;
  sinner->src_addr = rte_cpu_to_be_32(kS1);
  sinner->dst_addr = rte_cpu_to_be_32(kB);
  h->send("rb", stray);
  h->step(3);
  EXPECT_TRUE(h->recv("rup").empty());
  EXPECT_EQ(h->drops("rb", Drop::kNatErrorNoSession), 1u);
}

}  // namespace
}  // namespace gp::test
