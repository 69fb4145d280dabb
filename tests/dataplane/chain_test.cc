// Frames as chains of mbuf segments (what vhost-user hands over for jumbo frames) and
// bursts that turn into more frames than they held, through the real worker code:
// forwarding, flooding and sniffer copies share every segment by reference count, the
// slow path answers without losing segments, the NAT translates and fragments chains,
// and tx staging never overflows. The fixture checks the pool afterwards: no leak, no
// double free, no stray reference.
#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include <algorithm>
#include <vector>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const uint32_t kGuest = ip4(10, 0, 2, 15), kGw = ip4(10, 0, 2, 2);
const uint32_t kOut = ip4(198, 51, 100, 10), kS1 = ip4(203, 0, 113, 7);
const rte_ether_addr kGwMac{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
const rte_ether_addr kRouter{{0x02, 0, 0, 0, 0, 0x01}};

using ChainTest = HarnessTest;

std::string jumbo_lab(const std::string& c_promisc = "deny") {
  return "vms:\n"
         "  a: {adapters: {1: {attach: internal:lab, model: virtio-net, mtu: 9000, "
         "mac: '08:00:27:00:00:01', port: ra}}}\n"
         "  b: {adapters: {1: {attach: internal:lab, model: virtio-net, mtu: 9000, "
         "mac: '08:00:27:00:00:02', port: rb}}}\n"
         "  c: {adapters: {1: {attach: internal:lab, model: virtio-net, mtu: 9000, "
         "mac: '08:00:27:00:00:03', port: rc, promiscuous: " +
         c_promisc +
         "}}}\n"
         "  d: {adapters: {1: {attach: internal:lab, model: virtio-net, mtu: 9000, "
         "mac: '08:00:27:00:00:04', port: rd}}}\n";
}

// A 6000-byte frame in 1000-byte segments, its bytes for comparison.
rte_mbuf* jumbo(Harness& h, const rte_ether_addr& src, const rte_ether_addr& dst,
                std::vector<uint8_t>* bytes) {
  rte_mbuf* m =
      h.ipv4(src, dst, ip4(10, 9, 0, 1), ip4(10, 9, 0, 2), IPPROTO_UDP, 1, 2, 0, 6000 - 42);
  *bytes = bytes_of(m);
  rte_pktmbuf_free(m);
  return h.from_bytes(*bytes, 1000);
}

int segments(const rte_mbuf* m) {
  int n = 0;
  for (; m != nullptr; m = m->next) ++n;
  return n;
}

TEST_F(ChainTest, FloodedChainSharesEverySegment) {
  h->apply(jumbo_lab());
  std::vector<uint8_t> want;
  h->send("ra", jumbo(*h, mac(1), kBroadcast, &want));
  h->step();
  std::vector<rte_mbuf*> got;
  for (const char* p : {"rb", "rc", "rd"}) {
    auto v = h->recv_mbufs(p);
    ASSERT_EQ(v.size(), 1u) << p;
    got.push_back(v[0]);
  }
  // One frame, three references on each of its six segments: each port's tx frees
  // each segment once.
  ASSERT_EQ(segments(got[0]), 6);
  for (const rte_mbuf* s = got[0]; s != nullptr; s = s->next)
    EXPECT_EQ(rte_mbuf_refcnt_read(s), 3) << "segment refcount";
  for (rte_mbuf* m : got) {
    EXPECT_EQ(bytes_of(m), want);
    rte_pktmbuf_free(m);
  }
}

TEST_F(ChainTest, SnifferCopyOfAKnownUnicastChain) {
  h->apply(jumbo_lab("allow-vms"));
  h->send("rb", mac(2), mac(1));  // b is learned
  h->step();
  h->recv("ra");
  h->recv("rc");
  h->recv("rd");
  std::vector<uint8_t> want;
  h->send("ra", jumbo(*h, mac(1), mac(2), &want));
  h->step();
  auto b = h->recv_mbufs("rb");
  auto c = h->recv_mbufs("rc");  // the promiscuous guest's copy
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(h->recv("rd").size(), 0u);
  for (const rte_mbuf* s = b[0]; s != nullptr; s = s->next) EXPECT_EQ(rte_mbuf_refcnt_read(s), 2);
  EXPECT_EQ(bytes_of(b[0]), want);
  rte_pktmbuf_free(b[0]);
  EXPECT_EQ(bytes_of(c[0]), want) << "the other copy is intact after the first is freed";
  rte_pktmbuf_free(c[0]);
}

TEST_F(ChainTest, UnicastChainArrivesWhole) {
  h->apply(jumbo_lab());
  h->send("rb", mac(2), mac(1));
  h->step();
  h->recv("ra");
  std::vector<uint8_t> want;
  h->send("ra", jumbo(*h, mac(1), mac(2), &want));
  h->step();
  auto b = h->recv_mbufs("rb");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(rte_mbuf_refcnt_read(b[0]), 1);
  EXPECT_EQ(bytes_of(b[0]), want);
  rte_pktmbuf_free(b[0]);
}

TEST_F(ChainTest, StagingMoreThanABurstForOnePortSendsEverything) {
  h->apply(jumbo_lab());
  // Whatever a stage does, staging cannot overflow: 100 frames for one port and 5 for
  // another in one burst all leave, in order.
  for (uint32_t i = 0; i < 100; ++i)
    stage_tx(h->ctx(), h->port_id("rb"), h->frame(mac(1), mac(2), 60 + i));
  for (uint32_t i = 0; i < 5; ++i) stage_tx(h->ctx(), h->port_id("rc"), h->frame(mac(1), mac(3)));
  flush_tx(h->ctx());
  auto b = h->recv("rb");
  ASSERT_EQ(b.size(), 100u);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(b[i].len, 60 + i);
  EXPECT_EQ(h->recv("rc").size(), 5u);
  EXPECT_EQ(h->ctx().tx.n_dirty, 0);
}

class NatChainTest : public HarnessTest {
 protected:
  void start(uint16_t uplink_mtu) {
    h->apply(
        "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
        "mtu: " +
        std::to_string(uplink_mtu) +
        "}}\n"
        "vms:\n  a: {adapters: {1: {attach: nat, model: virtio-net, mtu: 9000, "
        "mac: '08:00:27:00:00:01', port: ra}}}\n");
    h->enable_nat(1024);
    h->set_next_hop("rup", kRouter);
  }
  rte_mbuf* udp_out(uint16_t payload, bool df, uint8_t ttl = 64, uint16_t sport = 5000) {
    return h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, sport, 7, 0, payload, df, ttl);
  }
};

TEST_F(NatChainTest, ChainTranslatedWhole) {
  start(9000);
  h->send("ra", udp_out(5000, false));
  h->step(3);
  auto o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].src_ip, kOut);
  EXPECT_EQ(o[0].ip_len, 20 + 8 + 5000);
  EXPECT_TRUE(o[0].checksums_ok) << "UDP checksum over every segment";
}

TEST_F(NatChainTest, FragmentationNeededForAChainLeaksNothing) {
  start(1500);
  h->send("ra", udp_out(5000, true));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 0u);
  auto back = h->recv_ipv4("ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].src_ip, kGw);
  EXPECT_EQ(back[0].proto, IPPROTO_ICMP);
  EXPECT_EQ(back[0].frame_len, 14u + 20 + 8 + 20 + 8) << "the chain's other segments are gone";
  EXPECT_EQ(h->slow().stats().frag_needed_sent, 1u);
}

TEST_F(NatChainTest, TimeExceededForAChainLeaksNothing) {
  start(9000);
  h->send("ra", udp_out(5000, false, 1));
  h->step(3);
  auto back = h->recv_ipv4("ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].frame_len, 14u + 20 + 8 + 20 + 8);
  EXPECT_EQ(h->slow().stats().time_exceeded_sent, 1u);
}

TEST_F(NatChainTest, ChainFragmentedForAnMtuLargerThanOneMbuf) {
  // 8000 bytes of UDP to a 4000-byte uplink: fragments larger than one data room.
  start(4000);
  rte_mbuf* m = udp_out(8000, false);
  const std::vector<uint8_t> sent = bytes_of(m);
  h->send("ra", m);
  h->step(3);
  std::vector<std::vector<uint8_t>> frames;
  for (rte_mbuf* f : h->recv_mbufs("rup")) {
    frames.push_back(bytes_of(f));
    rte_pktmbuf_free(f);
  }
  ASSERT_EQ(frames.size(), 3u);  // 3976 + 3976 + 56 bytes of payload
  std::vector<uint8_t> datagram(20);
  uint16_t id = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(frames[i].data() + 14);
    const uint16_t fo = rte_be_to_cpu_16(ip->fragment_offset);
    const uint16_t len = rte_be_to_cpu_16(ip->total_length);
    EXPECT_LE(len, 4000);
    EXPECT_EQ(frames[i].size(), 14u + len);
    EXPECT_EQ(rte_ipv4_cksum(ip), 0);
    EXPECT_EQ(ip->src_addr, rte_cpu_to_be_32(kOut));
    EXPECT_EQ(ip->dst_addr, rte_cpu_to_be_32(kS1));
    EXPECT_EQ(ip->time_to_live, 63);
    EXPECT_EQ((fo & RTE_IPV4_HDR_MF_FLAG) != 0, i + 1 < frames.size()) << "MF on all but the last";
    if (i == 0) id = ip->packet_id;
    EXPECT_EQ(ip->packet_id, id);
    const size_t off = (fo & RTE_IPV4_HDR_OFFSET_MASK) * 8u;
    if (off == 0) std::copy(frames[i].begin() + 14, frames[i].begin() + 34, datagram.begin());
    if (datagram.size() < 20 + off + len - 20) datagram.resize(20 + off + len - 20);
    std::copy(frames[i].begin() + 34, frames[i].end(), datagram.begin() + 20 + off);
  }
  ASSERT_EQ(datagram.size(), 20u + 8 + 8000);
  // The payload is the guest's, byte for byte (the headers were translated).
  EXPECT_TRUE(std::equal(datagram.begin() + 28, datagram.end(), sent.begin() + 14 + 28));
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(datagram.data());
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(datagram.size()));
  ip->fragment_offset = 0;
  EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(ip, ip + 1), 0) << "translated UDP checksum";
  EXPECT_EQ(h->event(WorkerEvent::kNatFragmentsMade), 3u);
  EXPECT_EQ(h->drops("ra", Drop::kNatTooBig), 0u);
}

TEST_F(NatChainTest, BurstOfSmallPacketsAndOneToFragmentFitsTheStaging) {
  // 1 datagram that becomes 5 fragments plus 31 small packets, all to the uplink in one
  // burst: 36 frames staged for one port.
  start(1400);
  h->send("ra", udp_out(6000, false, 64, 4000));
  for (uint16_t i = 0; i < 31; ++i) h->send("ra", udp_out(10, false, 64, 4000));
  h->step(3);
  auto o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 5u + 31u);
  for (const auto& v : o) {
    EXPECT_EQ(v.src_ip, kOut);
    EXPECT_EQ(v.dst_ip, kS1);
    EXPECT_TRUE(v.checksums_ok);
    EXPECT_LE(v.ip_len, 1400);
  }
  EXPECT_EQ(h->drops("rup", Drop::kTxFull), 0u);
  // Nothing spilled into another port's staging: every queue is empty after the flush,
  // and the guest still gets its answer.
  for (const auto& q : h->ctx().tx.q) EXPECT_EQ(q.n, 0);
  h->send("rup", h->ipv4(kRouter, h->own_mac("rup"), kS1, kOut, IPPROTO_UDP, 7, o[0].sport));
  h->step(3);
  auto back = h->recv_ipv4("ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].dst_ip, kGuest);
}

TEST_F(NatChainTest, TheGatewayAnswersALargePingInAChain) {
  start(1500);
  // 4000 bytes of echo payload from the jumbo guest, in three segments.
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kGw, IPPROTO_ICMP, 77, 0, RTE_IP_ICMP_ECHO_REQUEST,
                        4000));
  h->step(3);
  auto back = h->recv_ipv4("ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].src_ip, kGw);
  EXPECT_EQ(back[0].dst_ip, kGuest);
  EXPECT_EQ(back[0].ip_len, 20 + 8 + 4000);
  EXPECT_TRUE(back[0].checksums_ok) << "ICMP checksum over every segment";
  EXPECT_EQ(h->slow().stats().icmp_replies, 1u);
}

TEST_F(ChainTest, ArpAnsweredFromAChainFreesTheRest) {
  h->apply(
      "networks: {hn: {mode: hostonly, host_interface: {name: gpt-chain0, address: "
      "192.168.78.1/24}}}\n"
      "vms:\n  a: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:01', "
      "port: ra}}}\n");
  // A 60-byte ARP request whose padding sits in a second segment.
  rte_mbuf* m = h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, ip4(192, 168, 78, 101),
                       ip4(192, 168, 78, 100));
  const std::vector<uint8_t> b = bytes_of(m);
  rte_pktmbuf_free(m);
  h->send("ra", h->from_bytes(b, 42));
  h->step(3);
  auto got = h->recv_mbufs("ra");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(rte_pktmbuf_pkt_len(got[0]), 42u);
  EXPECT_EQ(got[0]->nb_segs, 1);
  rte_pktmbuf_free(got[0]);
}

}  // namespace
}  // namespace gp::test
