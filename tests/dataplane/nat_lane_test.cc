// The NAT lane (dataplane/nat/nat_lane.h) through the real worker code: what it leaves
// for the stages gets the stages' answer, padding is trimmed, and the packets of one
// flow leave in the order they came when some of them need the stages.
#include <netinet/in.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const uint32_t kGuest = ip4(10, 0, 2, 15);
const uint32_t kOut = ip4(198, 51, 100, 10), kS1 = ip4(203, 0, 113, 7);
const rte_ether_addr kGwMac{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
const rte_ether_addr kRouter{{0x02, 0, 0, 0, 0, 0x01}};

class NatLaneTest : public HarnessTest {
 protected:
  void start() {
    h->apply(
        "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
        "mtu: 1400}}\n"
        "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra}}}\n");
    h->enable_nat(1024);
    h->set_next_hop("rup", kRouter);
    // The flow guest:6000 -> kS1:7, established; its outside port.
    h->send("ra", guest(10));
    h->step(3);
    auto o = h->recv_ipv4("rup");
    ASSERT_EQ(o.size(), 1u);
    port_ = o[0].sport;
  }
  rte_mbuf* guest(uint16_t payload, bool df = false, uint16_t sport = 6000) {
    return h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, sport, 7, 0, payload, df);
  }
  rte_mbuf* reply(uint16_t payload = 10) {
    return h->ipv4(kRouter, h->own_mac("rup"), kS1, kOut, IPPROTO_UDP, 7, port_, 0, payload);
  }
  // Marks m as the first fragment of a larger datagram (MF set), checksum redone.
  static rte_mbuf* first_fragment(rte_mbuf* m) {
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
    ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    return m;
  }
  uint16_t port_ = 0;
};

// One burst: a packet of the flow the stages must fragment (larger than the uplink's
// MTU, DF clear), then a small one of the same flow the lane could take on its own. The
// small one must not overtake the fragments; nor a first fragment the guest sent.
TEST_F(NatLaneTest, APacketOfAFlowNeverOvertakesOneTheStagesHandle) {
  start();
  h->send("ra", guest(1420));  // 1448 bytes: two fragments on the 1400-byte uplink
  h->send("ra", guest(10));
  h->send("ra", guest(20, false, 6001));  // another flow, new: the stages make its session
  h->step(3);
  auto o = h->recv_ipv4("rup");
  std::vector<uint16_t> ours;  // the flow's packets as they left: their IP lengths
  for (const auto& f : o)
    if (f.sport == port_ || f.frag != 0) ours.push_back(f.ip_len);
  ASSERT_EQ(o.size(), 4u);
  ASSERT_EQ(ours.size(), 3u);
  EXPECT_GT(ours[0], 38);
  EXPECT_GT(ours[1], 38);
  EXPECT_EQ(ours[2], 38) << "the small packet left before the fragments of the one before it";
  for (const auto& f : o) EXPECT_TRUE(f.frag != 0 || f.checksums_ok);

  h->send("ra", first_fragment(guest(100)));
  h->send("ra", guest(10));
  h->step(3);
  o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0].frag, RTE_IPV4_HDR_MF_FLAG);
  EXPECT_EQ(o[0].src_ip, kOut);
  EXPECT_EQ(o[1].frag, 0);
  EXPECT_EQ(o[1].ip_len, 38);
  EXPECT_EQ(o[1].sport, port_);
}

// An established flow's frames the lane must leave alone get what the stages give
// them: a group source MAC and an oversize frame dropped and counted, a frame with IP
// options translated by the full path, Ethernet padding cut (both ways).
TEST_F(NatLaneTest, WhatTheLaneLeavesGetsTheStagesAnswer) {
  start();
  rte_mbuf* bad_src = guest(10);
  rte_pktmbuf_mtod(bad_src, rte_ether_hdr*)->src_addr.addr_bytes[0] = 0x01;
  h->send("ra", bad_src);
  h->send("ra", guest(1490));  // 1532-byte frame: over the adapter's 1514
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kBadSrcMac), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kOversize), 1u);

  // 18 bytes of padding after a 28-byte datagram, out and back.
  rte_mbuf* padded = guest(0);
  std::memset(rte_pktmbuf_append(padded, 18), 0xee, 18);
  h->send("ra", padded);
  h->step(3);
  auto o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].frame_len, 14u + 28u);
  EXPECT_EQ(o[0].sport, port_);
  EXPECT_TRUE(o[0].checksums_ok);
  rte_mbuf* back = reply(0);
  std::memset(rte_pktmbuf_append(back, 18), 0xee, 18);
  h->send("rup", back);
  h->step(3);
  auto in = h->recv_ipv4("ra");
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].frame_len, 14u + 28u);
  EXPECT_EQ(in[0].dst_ip, kGuest);
  EXPECT_EQ(in[0].dport, 6000);
  EXPECT_TRUE(in[0].checksums_ok);

  // IP options (a 24-byte header, one no-operation word): the full path translates it.
  const uint32_t kOpts = 4;
  rte_mbuf* opt = guest(10);
  {
    auto* p = rte_pktmbuf_mtod(opt, uint8_t*);
    const uint16_t len = rte_pktmbuf_data_len(opt);
    std::vector<uint8_t> bytes(p, p + len);
    bytes.insert(bytes.begin() + 14 + 20, kOpts, uint8_t{1});
    rte_pktmbuf_free(opt);
    opt = h->from_bytes(bytes);
    auto* ip = rte_pktmbuf_mtod_offset(opt, rte_ipv4_hdr*, 14);
    ip->version_ihl = 0x46;
    ip->total_length = rte_cpu_to_be_16(rte_be_to_cpu_16(ip->total_length) + kOpts);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  }
  h->send("ra", opt);
  h->step(3);
  auto sent = h->recv_mbufs("rup");  // parsed here: the harness's view takes 20-byte headers
  ASSERT_EQ(sent.size(), 1u);
  const auto* ip = rte_pktmbuf_mtod_offset(sent[0], const rte_ipv4_hdr*, 14);
  const auto* u = reinterpret_cast<const rte_udp_hdr*>(reinterpret_cast<const uint8_t*>(ip) + 24);
  EXPECT_EQ(ip->version_ihl, 0x46);
  EXPECT_EQ(rte_be_to_cpu_32(ip->src_addr), kOut);
  EXPECT_EQ(rte_be_to_cpu_16(u->src_port), port_);
  EXPECT_EQ(ip->time_to_live, 63);
  EXPECT_EQ(rte_ipv4_cksum(ip), 0);  // over a header with its checksum in place: 0 when right
  EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(ip, u), 0);
  rte_pktmbuf_free(sent[0]);
}

// The reply direction with the guest's cable out: the stages' kLinkDown, not a frame
// staged for a port that is down.
TEST_F(NatLaneTest, AReplyForAGuestWhoseCableIsOutIsDropped) {
  start();
  h->send("rup", reply());
  h->step(3);
  ASSERT_EQ(h->recv_ipv4("ra").size(), 1u);
  h->apply(
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
      "mtu: 1400}}\n"
      "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra, "
      "cable_connected: false}}}\n");
  h->send("rup", reply());
  h->step(3);
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(h->drops("rup", Drop::kLinkDown), 1u);
}

}  // namespace
}  // namespace gp::test
