// Generic networks through the real worker code: VXLAN (RFC 7348) and VirtualBox's UDP
// tunnel. Frames to remotes leave the uplink encapsulated with the network's VNI (each
// remote its own copy for floods, only the learned remote for known unicast); frames
// from remotes are decapsulated, their sources learned against the remote's tunnel
// port, never sent on to another remote; what is not a configured remote's or network's
// is dropped under its own name.
#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstring>

#include "dataplane/tunnel/encap.h"
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

using TunnelTest = HarnessTest;

const rte_ether_addr kRemote1Mac{{0x02, 0x00, 0x00, 0x00, 0x0d, 0x01}};
const rte_ether_addr kRemote2Mac{{0x02, 0x00, 0x00, 0x00, 0x0d, 0x02}};
const rte_ether_addr kFarHost{{0x02, 0x00, 0x00, 0x00, 0x0e, 0x01}};  // behind remote 1
constexpr uint32_t kLocal = ip4(198, 51, 100, 10);
constexpr uint32_t kRemote1 = ip4(198, 51, 100, 1);
constexpr uint32_t kRemote2 = ip4(198, 51, 100, 2);

std::string vxlan_config(const std::string& extra_net = "",
                         const std::string& remotes = "[198.51.100.1, 198.51.100.2]") {
  return "uplinks: {wan: {device: rup, address: 198.51.100.10/24}}\n"
         "networks:\n"
         "  stretch: {mode: generic, driver: vxlan, vni: 42, uplink: wan, remotes: " +
         remotes + extra_net +
         "}\n"
         "vms:\n"
         "  a: {adapters: {1: {attach: generic:stretch, mac: '08:00:27:00:00:01', port: ra}}}\n"
         "  b: {adapters: {1: {attach: generic:stretch, mac: '08:00:27:00:00:02', port: rb}}}\n";
}

// An outer frame from remote `src_ip` to the uplink: Ethernet/IPv4/UDP(sport -> dport)
// followed by `hdr` (the VXLAN header, or nothing) and the inner frame.
std::vector<uint8_t> outer(const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                           uint32_t src_ip, uint16_t dport, const std::vector<uint8_t>& hdr,
                           const std::vector<uint8_t>& inner, uint16_t udp_cksum = 0) {
  std::vector<uint8_t> f(14 + 20 + 8);
  auto* eh = reinterpret_cast<rte_ether_hdr*>(f.data());
  eh->dst_addr = dst_mac;
  eh->src_addr = src_mac;
  eh->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
  const auto udp_len = static_cast<uint16_t>(8 + hdr.size() + inner.size());
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + udp_len));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(src_ip);
  ip->dst_addr = rte_cpu_to_be_32(kLocal);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  u->src_port = RTE_BE16(54321);
  u->dst_port = rte_cpu_to_be_16(dport);
  u->dgram_len = rte_cpu_to_be_16(udp_len);
  u->dgram_cksum = udp_cksum;
  f.insert(f.end(), hdr.begin(), hdr.end());
  f.insert(f.end(), inner.begin(), inner.end());
  return f;
}

std::vector<uint8_t> vxlan_hdr(uint32_t vni, uint8_t flags = 0x08) {
  return {flags, 0, 0, 0, uint8_t(vni >> 16), uint8_t(vni >> 8), uint8_t(vni), 0};
}

// The inner frame of a broadcast or unicast from `src` to `dst`, 60 bytes.
std::vector<uint8_t> inner_frame(Harness& h, const rte_ether_addr& src, const rte_ether_addr& dst) {
  rte_mbuf* m = h.frame(src, dst, 60);
  std::vector<uint8_t> b = bytes_of(m);
  rte_pktmbuf_free(m);
  return b;
}

struct Encapsulated {
  rte_ether_addr src_mac, dst_mac;
  uint32_t src_ip, dst_ip;
  uint16_t sport, dport, udp_len;
  bool ip_cksum_ok;
  uint16_t udp_cksum;
  bool udp_cksum_ok;
  std::vector<uint8_t> hdr;  // 8 bytes of VXLAN header (vxlan), or empty
  std::vector<uint8_t> inner;
};

std::vector<Encapsulated> recv_encapsulated(Harness& h, const std::string& port, bool vxlan) {
  std::vector<Encapsulated> out;
  for (rte_mbuf* m : h.recv_mbufs(port)) {
    const std::vector<uint8_t> b = bytes_of(m);
    if (rte_pktmbuf_linearize(m) != 0) ADD_FAILURE() << "cannot linearize";
    EXPECT_GE(b.size(), 42u + (vxlan ? 8 : 0));
    Encapsulated e;
    const auto* eh = reinterpret_cast<const rte_ether_hdr*>(b.data());
    e.src_mac = eh->src_addr;
    e.dst_mac = eh->dst_addr;
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(b.data() + 14);
    e.src_ip = rte_be_to_cpu_32(ip->src_addr);
    e.dst_ip = rte_be_to_cpu_32(ip->dst_addr);
    e.ip_cksum_ok = rte_ipv4_cksum(ip) == 0xffff || rte_ipv4_cksum(ip) == 0;
    const auto* u = reinterpret_cast<const rte_udp_hdr*>(b.data() + 34);
    e.sport = rte_be_to_cpu_16(u->src_port);
    e.dport = rte_be_to_cpu_16(u->dst_port);
    e.udp_len = rte_be_to_cpu_16(u->dgram_len);
    e.udp_cksum = u->dgram_cksum;
    e.udp_cksum_ok = u->dgram_cksum != 0 && rte_ipv4_udptcp_cksum_verify(
                                                rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, 14),
                                                rte_pktmbuf_mtod_offset(m, const void*, 34)) == 0;
    const size_t h_len = vxlan ? 8 : 0;
    e.hdr.assign(b.begin() + 42, b.begin() + 42 + h_len);
    e.inner.assign(b.begin() + 42 + h_len, b.end());
    EXPECT_EQ(e.udp_len, 8 + h_len + e.inner.size());
    EXPECT_EQ(rte_be_to_cpu_16(ip->total_length), 20u + e.udp_len);
    out.push_back(e);
    rte_pktmbuf_free(m);
  }
  return out;
}

void resolve_remotes(Harness& h) {
  h.set_onlink("rup", kRemote1, kRemote1Mac);
  h.set_onlink("rup", kRemote2, kRemote2Mac);
}

TEST_F(TunnelTest, AFloodGoesToEveryRemoteWithTheVniAndToTheLocalGuests) {
  h->apply(vxlan_config());
  resolve_remotes(*h);
  const std::vector<uint8_t> sent = inner_frame(*h, mac(1), kBroadcast);
  h->send("ra", h->from_bytes(sent));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  const auto out = recv_encapsulated(*h, "rup", true);
  ASSERT_EQ(out.size(), 2u);
  for (const Encapsulated& e : out) {
    EXPECT_TRUE(mac_equal(e.src_mac, h->own_mac("rup")));
    EXPECT_EQ(e.src_ip, kLocal);
    EXPECT_EQ(e.dport, 4789);
    EXPECT_GE(e.sport, 49152);
    EXPECT_TRUE(e.ip_cksum_ok);
    EXPECT_EQ(e.udp_cksum, 0) << "RFC 7348: zero over IPv4 unless configured";
    EXPECT_EQ(e.hdr, vxlan_hdr(42));
    EXPECT_EQ(e.inner, sent) << "the inner frame as the guest sent it";
  }
  EXPECT_EQ(out[0].dst_ip + out[1].dst_ip, kRemote1 + kRemote2) << "one copy per remote";
  EXPECT_TRUE(mac_equal(out[0].dst_ip == kRemote1 ? out[0].dst_mac : out[1].dst_mac, kRemote1Mac));
  EXPECT_EQ(h->event(WorkerEvent::kTunnelEncap), 2u);
}

TEST_F(TunnelTest, ARemoteSourceIsLearnedOnItsTunnelAndUnicastGoesThereOnly) {
  h->apply(vxlan_config());
  resolve_remotes(*h);
  const std::vector<uint8_t> in = inner_frame(*h, kFarHost, mac(1));
  h->send("rup",
          h->from_bytes(outer(kRemote1Mac, h->own_mac("rup"), kRemote1, 4789, vxlan_hdr(42), in)));
  h->step();
  const auto got = h->recv_mbufs("ra");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(bytes_of(got[0]), in) << "decapsulated exactly";
  rte_pktmbuf_free(got[0]);
  EXPECT_TRUE(h->recv("rb").empty()) << "known unicast, not flooded";
  EXPECT_EQ(h->event(WorkerEvent::kTunnelDecap), 1u);
  EXPECT_EQ(h->totals("tunnel/stretch/198.51.100.1").rx_packets, 1u);
  uint16_t learned_on = kNoPort;
  h->fdb().for_each(0, [&](const FdbEntryView& e) {
    if (mac_equal(e.mac, kFarHost)) learned_on = e.port;
  });
  EXPECT_EQ(learned_on, h->port_id("tunnel/stretch/198.51.100.1"));
  EXPECT_TRUE(is_tunnel_port(learned_on));
  // The answer goes to remote 1 only, prefixed in place (the frame is a's alone).
  const std::vector<uint8_t> reply = inner_frame(*h, mac(1), kFarHost);
  h->send("ra", h->from_bytes(reply));
  h->step();
  const auto out = recv_encapsulated(*h, "rup", true);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst_ip, kRemote1);
  EXPECT_EQ(out[0].inner, reply);
  EXPECT_TRUE(h->recv("rb").empty());
}

TEST_F(TunnelTest, ARemoteFloodReachesTheGuestsButNoOtherRemote) {
  h->apply(vxlan_config());
  resolve_remotes(*h);
  h->send("rup", h->from_bytes(outer(kRemote1Mac, h->own_mac("rup"), kRemote1, 4789, vxlan_hdr(42),
                                     inner_frame(*h, kFarHost, kBroadcast))));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_TRUE(h->recv("rup").empty()) << "split horizon: remotes are a full mesh";
}

TEST_F(TunnelTest, WhatIsNoConfiguredTunnelsIsDroppedUnderItsName) {
  h->apply(vxlan_config());
  resolve_remotes(*h);
  const std::vector<uint8_t> in = inner_frame(*h, kFarHost, kBroadcast);
  const rte_ether_addr me = h->own_mac("rup");
  h->send("rup", h->from_bytes(outer(kRemote1Mac, me, kRemote1, 4789, vxlan_hdr(43), in)));
  h->send("rup",
          h->from_bytes(outer(kRemote1Mac, me, ip4(198, 51, 100, 77), 4789, vxlan_hdr(42), in)));
  h->send("rup", h->from_bytes(outer(kRemote1Mac, me, kRemote1, 4789, vxlan_hdr(42, 0), in)));
  std::vector<uint8_t> cut = outer(kRemote1Mac, me, kRemote1, 4789, {0x08, 0, 0}, {});
  h->send("rup", h->from_bytes(cut));
  h->send("rup", h->from_bytes(outer(kRemote1Mac, me, kRemote1, 4789, vxlan_hdr(42), in,
                                     RTE_BE16(0x1234))));  // a wrong UDP checksum
  std::vector<uint8_t> first = outer(kRemote1Mac, me, kRemote1, 4789, vxlan_hdr(42), in);
  auto* fip = reinterpret_cast<rte_ipv4_hdr*>(first.data() + 14);
  fip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_MF_FLAG);  // a first fragment: not reassembled
  fip->hdr_checksum = 0;
  fip->hdr_checksum = rte_ipv4_cksum(fip);
  h->send("rup", h->from_bytes(first));
  h->step();
  EXPECT_TRUE(h->recv("ra").empty());
  EXPECT_TRUE(h->recv("rb").empty());
  EXPECT_EQ(h->drops("rup", Drop::kTunnelUnknownVni), 1u);
  EXPECT_EQ(h->drops("rup", Drop::kTunnelUnknownRemote), 1u);
  EXPECT_EQ(h->drops("rup", Drop::kTunnelMalformed), 4u)
      << "no I flag, cut short, bad checksum, a fragment";
  EXPECT_EQ(h->event(WorkerEvent::kTunnelDecap), 0u);
  // Another UDP port is no tunnel's: it goes on (here: nothing takes it, counted).
  h->send("rup", h->from_bytes(outer(kRemote1Mac, me, kRemote1, 4790, vxlan_hdr(42), in)));
  h->step();
  EXPECT_TRUE(h->recv("ra").empty());
  EXPECT_EQ(h->drops("rup", Drop::kNoSegment), 1u);
}

TEST_F(TunnelTest, AnUnresolvedRemoteIsAskedForAndThenServed) {
  h->enable_probes();
  h->apply(vxlan_config("", "[198.51.100.1]"));
  h->send("ra", mac(1), kBroadcast);
  h->step();
  h->recv("rb");
  // The slow path asked for the remote's MAC on the uplink (and the frame waited for
  // nothing: dropped, counted on the tunnel port).
  bool asked = false;
  for (rte_mbuf* m : h->recv_mbufs("rup")) {
    const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eh->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP)) {
      const auto* a = reinterpret_cast<const rte_arp_hdr*>(eh + 1);
      asked |= a->arp_data.arp_tip == rte_cpu_to_be_32(kRemote1) &&
               a->arp_data.arp_sip == rte_cpu_to_be_32(kLocal);
    }
    rte_pktmbuf_free(m);
  }
  EXPECT_TRUE(asked);
  EXPECT_EQ(h->drops("tunnel/stretch/198.51.100.1", Drop::kTunnelNoNeighbor), 1u);
  // The remote answers; the next frame is encapsulated to its MAC.
  h->send("rup", h->arp(kRemote1Mac, h->own_mac("rup"), RTE_ARP_OP_REPLY, kRemote1, kLocal,
                        h->own_mac("rup")));
  h->step();
  h->send("ra", mac(1), kBroadcast);
  h->step();
  h->recv("rb");
  const auto out = recv_encapsulated(*h, "rup", true);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(mac_equal(out[0].dst_mac, kRemote1Mac));
}

TEST_F(TunnelTest, FramesTooLargeForTheUplinkAreCountedAndChecksumsCanBeOn) {
  // mtu 1500 on a 1500-byte uplink: 50 bytes do not fit (a warning at check time).
  h->apply(vxlan_config(", mtu: 1500, udp_checksum: true"));
  resolve_remotes(*h);
  h->send("ra", mac(1), kBroadcast, 1514);
  h->step();
  h->recv("rb");
  EXPECT_TRUE(h->recv("rup").empty());
  EXPECT_EQ(h->drops("tunnel/stretch/198.51.100.1", Drop::kTunnelTooBig), 1u);
  h->send("ra", mac(1), kBroadcast, 1464);
  h->step();
  h->recv("rb");
  const auto out = recv_encapsulated(*h, "rup", true);
  ASSERT_EQ(out.size(), 2u);
  for (const Encapsulated& e : out) EXPECT_TRUE(e.udp_cksum_ok) << "udp_checksum: true";
}

TEST_F(TunnelTest, TheUdpTunnelCarriesBareFramesBetweenItsPorts) {
  h->apply(
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24}}\n"
      "networks:\n"
      "  vbox: {mode: generic, driver: udp, uplink: wan, sport: 10001, dest: 198.51.100.1, "
      "dport: 10002}\n"
      "vms:\n"
      "  a: {adapters: {1: {attach: generic:vbox, mac: '08:00:27:00:00:01', port: ra}}}\n");
  resolve_remotes(*h);
  const std::vector<uint8_t> sent = inner_frame(*h, mac(1), kBroadcast);
  h->send("ra", h->from_bytes(sent));
  h->step();
  auto out = recv_encapsulated(*h, "rup", false);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sport, 10001);
  EXPECT_EQ(out[0].dport, 10002);
  EXPECT_EQ(out[0].dst_ip, kRemote1);
  EXPECT_EQ(out[0].inner, sent);
  const std::vector<uint8_t> in = inner_frame(*h, kFarHost, mac(1));
  h->send("rup", h->from_bytes(outer(kRemote1Mac, h->own_mac("rup"), kRemote1, 10001, {}, in)));
  h->send("rup", h->from_bytes(outer(kRemote1Mac, h->own_mac("rup"), kRemote2, 10001, {}, in)));
  h->step();
  const auto got = h->recv_mbufs("ra");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(bytes_of(got[0]), in);
  rte_pktmbuf_free(got[0]);
  EXPECT_EQ(h->drops("rup", Drop::kTunnelUnknownRemote), 1u) << "only dest may send";
}

TEST_F(TunnelTest, ARemovedRemoteTakesItsMacsAndAChainedFloodLeaksNothing) {
  h->apply(vxlan_config());
  resolve_remotes(*h);
  h->send("rup", h->from_bytes(outer(kRemote2Mac, h->own_mac("rup"), kRemote2, 4789, vxlan_hdr(42),
                                     inner_frame(*h, kFarHost, kBroadcast))));
  h->step();
  h->recv("ra"), h->recv("rb");
  // A chained jumbo-less flood: the guests and both remotes share one chain.
  std::vector<uint8_t> big = inner_frame(*h, mac(1), kBroadcast);
  big.resize(1200, 0x5a);
  h->send("ra", h->from_bytes(big, 500));
  h->step();
  ASSERT_EQ(h->recv("rb").size(), 1u);
  const auto out = recv_encapsulated(*h, "rup", true);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].inner, big);
  EXPECT_EQ(out[1].inner, big);
  h->apply(vxlan_config("", "[198.51.100.1]"));
  h->drain_learner();
  bool still = false;
  h->fdb().for_each(0, [&](const FdbEntryView& e) { still |= mac_equal(e.mac, kFarHost); });
  EXPECT_FALSE(still) << "learned behind a remote that is gone";
  EXPECT_EQ(h->snap().tunnel_ports.size(), 1u);
}

TEST(TunnelSourcePort, FollowsTheInnerFlowWithinTheDynamicRange) {
  Harness h;
  rte_mbuf* a = h.ipv4(mac(1), mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_UDP, 1000, 53);
  rte_mbuf* b = h.ipv4(mac(1), mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_UDP, 1000, 53);
  rte_mbuf* c = h.ipv4(mac(1), mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_UDP, 1001, 53);
  EXPECT_EQ(tunnel_source_port(a), tunnel_source_port(b));
  EXPECT_NE(tunnel_source_port(a), tunnel_source_port(c));
  EXPECT_GE(tunnel_source_port(a), 49152);
  rte_pktmbuf_free(a), rte_pktmbuf_free(b), rte_pktmbuf_free(c);
}

}  // namespace
}  // namespace gp::test
