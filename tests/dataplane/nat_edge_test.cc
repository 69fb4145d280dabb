// NAT corner cases found by review, through the real worker code: the DNS proxy and a
// direct query from the same port kept apart, ICMP errors about proxied queries, TCP
// RSTs outside the window, multicast from guests, Ethernet padding, fragments larger
// than the egress MTU fragmented again; no mbuf leaked.
#include <netinet/in.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const uint32_t kGuest = ip4(10, 0, 2, 15), kDns = ip4(10, 0, 2, 3);
const uint32_t kOut = ip4(198, 51, 100, 10), kS1 = ip4(203, 0, 113, 7);
const uint32_t kResolver = ip4(198, 51, 100, 53);
const rte_ether_addr kGwMac{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
const rte_ether_addr kRouter{{0x02, 0, 0, 0, 0, 0x01}};
const rte_ether_addr kResolverMac{{0x02, 0, 0, 0, 0, 0x53}};

class NatEdgeTest : public HarnessTest {
 protected:
  void start(const std::string& uplink_extra = "", const std::string& adapter_extra = "") {
    h->apply(
        "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
        "dns: [198.51.100.53]" +
        uplink_extra +
        "}}\n"
        "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra" +
        adapter_extra + "}}}\n");
    h->enable_nat(1024);
    h->set_next_hop("rup", kRouter);
    h->set_onlink("rup", kResolver, kResolverMac);  // on the uplink's subnet, resolved
  }
  // A DNS query's bytes (one question, "a."), as a UDP payload.
  static std::vector<uint8_t> query() {
    return {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
  }
  rte_mbuf* udp_with(rte_mbuf* m, const std::vector<uint8_t>& payload) {
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
    auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    std::memcpy(u + 1, payload.data(), payload.size());
    u->dgram_cksum = 0;
    u->dgram_cksum = rte_ipv4_udptcp_cksum(ip, u);
    return m;
  }
  rte_mbuf* guest_udp(uint32_t dst, uint16_t sport, uint16_t dport, const std::vector<uint8_t>& p) {
    return udp_with(h->ipv4(mac(1), kGwMac, kGuest, dst, IPPROTO_UDP, sport, dport, 0,
                            static_cast<uint16_t>(p.size())),
                    p);
  }
  rte_mbuf* outside(uint32_t src, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags = 0,
                    uint16_t payload = 10, bool df = false) {
    return h->ipv4(kRouter, h->own_mac("rup"), src, kOut, proto, sport, dport, flags, payload, df);
  }
};

TEST_F(NatEdgeTest, DnsProxyAndADirectQueryFromOnePortStayApart) {
  start();
  h->send("ra", guest_udp(kDns, 5353, 53, query()));       // via the proxy at .3
  h->send("ra", guest_udp(kResolver, 5353, 53, query()));  // straight to the resolver
  h->step(3);
  auto o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0].dst_ip, kResolver);
  EXPECT_EQ(o[1].dst_ip, kResolver);
  ASSERT_NE(o[0].sport, o[1].sport) << "one outside view for two sessions";
  // Each answer finds its own session: the proxied one comes back from .3.
  h->send("rup", outside(kResolver, IPPROTO_UDP, 53, o[0].sport));
  h->send("rup", outside(kResolver, IPPROTO_UDP, 53, o[1].sport));
  h->step(3);
  auto back = h->recv_ipv4("ra");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].src_ip, kDns);
  EXPECT_EQ(back[1].src_ip, kResolver);
  for (const auto& b : back) {
    EXPECT_EQ(b.dport, 5353);
    EXPECT_TRUE(b.checksums_ok);
  }
  EXPECT_EQ(h->nat_table(0).size(), 2u);
}

TEST_F(NatEdgeTest, IcmpErrorAboutAProxiedQueryNamesTheProxy) {
  start();
  h->send("ra", guest_udp(kDns, 5353, 53, query()));
  h->step(3);
  auto sent = h->recv_mbufs("rup");
  ASSERT_EQ(sent.size(), 1u);
  // The resolver answers "port unreachable", quoting the query as it received it.
  const uint16_t quote = 20 + 8;
  rte_mbuf* err = h->ipv4(kRouter, h->own_mac("rup"), kResolver, kOut, IPPROTO_ICMP, 0, 0, 3,
                          static_cast<uint16_t>(quote));
  auto* ip = rte_pktmbuf_mtod_offset(err, rte_ipv4_hdr*, 14);
  auto* ic = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  ic->icmp_code = 3;
  ic->icmp_ident = ic->icmp_seq_nb = 0;
  std::memcpy(ic + 1, rte_pktmbuf_mtod_offset(sent[0], const void*, 14), quote);
  ic->icmp_cksum = 0;
  ic->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(ic, 8 + quote));
  rte_pktmbuf_free(sent[0]);
  h->send("rup", err);
  h->step(3);
  auto got = h->recv_mbufs("ra");
  ASSERT_EQ(got.size(), 1u);
  const auto* oip = rte_pktmbuf_mtod_offset(got[0], const rte_ipv4_hdr*, 14);
  const auto* oic = reinterpret_cast<const rte_icmp_hdr*>(oip + 1);
  const auto* inner = reinterpret_cast<const rte_ipv4_hdr*>(oic + 1);
  const auto* iu = reinterpret_cast<const rte_udp_hdr*>(inner + 1);
  EXPECT_EQ(oip->src_addr, rte_cpu_to_be_32(kDns)) << "the error comes from .3";
  EXPECT_EQ(oip->dst_addr, rte_cpu_to_be_32(kGuest));
  EXPECT_EQ(inner->src_addr, rte_cpu_to_be_32(kGuest));
  EXPECT_EQ(inner->dst_addr, rte_cpu_to_be_32(kDns)) << "about the query the guest sent to .3";
  EXPECT_EQ(iu->src_port, RTE_BE16(5353));
  EXPECT_EQ(rte_ipv4_cksum(oip), 0);
  EXPECT_EQ(rte_ipv4_cksum(inner), 0);
  EXPECT_EQ(rte_raw_cksum(oic, 8 + quote), 0xffff);
  rte_pktmbuf_free(got[0]);
}

// A TCP segment with explicit sequence numbers (the harness builds seq = ack = 0).
rte_mbuf* with_seq(rte_mbuf* m, uint32_t seq, uint32_t ack) {
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
  auto* t = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  t->sent_seq = rte_cpu_to_be_32(seq);
  t->recv_ack = rte_cpu_to_be_32(ack);
  t->cksum = 0;
  t->cksum = rte_ipv4_udptcp_cksum(ip, t);
  return m;
}

TEST_F(NatEdgeTest, RstOutsideTheWindowLeavesTheSessionEstablished) {
  start();
  constexpr uint8_t SYN = RTE_TCP_SYN_FLAG, ACK = RTE_TCP_ACK_FLAG, RST = RTE_TCP_RST_FLAG;
  h->send("ra",
          with_seq(h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_TCP, 40000, 80, SYN, 0), 1000, 0));
  h->step(3);
  auto o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 1u);
  h->send("rup", with_seq(outside(kS1, IPPROTO_TCP, 80, o[0].sport, SYN | ACK, 0), 5000, 1001));
  h->step(3);
  ASSERT_EQ(h->recv("ra").size(), 1u);
  const uint32_t id = h->nat_table(0).find_out(h->nat_table(0).session(0).out());
  ASSERT_NE(id, nat::NatTable::kInvalid);
  EXPECT_EQ(h->nat_table(0).session(id).tcp, nat::TcpState::kEstablished);
  // A blind RST far outside the window: passed on (the guest ignores it) but the NAT
  // keeps the session established.
  h->send("rup", with_seq(outside(kS1, IPPROTO_TCP, 80, o[0].sport, RST, 0), 5001 + 10000000, 0));
  h->step(3);
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->nat_table(0).session(id).tcp, nat::TcpState::kEstablished);
  EXPECT_EQ(h->event(WorkerEvent::kNatRstIgnored), 1u);
  // A RST at the right place ends it (the transitory timeout from now on).
  h->send("rup", with_seq(outside(kS1, IPPROTO_TCP, 80, o[0].sport, RST, 0), 5001, 0));
  h->step(3);
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->nat_table(0).session(id).tcp, nat::TcpState::kReset);
}

TEST_F(NatEdgeTest, MulticastAndBroadcastFromGuestsStayInside) {
  start();
  for (uint32_t dst : {ip4(224, 0, 0, 251), ip4(239, 255, 255, 250), ip4(255, 255, 255, 255)})
    h->send("ra", h->ipv4(mac(1), kBroadcast, kGuest, dst, IPPROTO_UDP, 5353, 5353));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kNatGroupDst), 3u);
  EXPECT_EQ(h->nat_table(0).size(), 0u);
}

TEST_F(NatEdgeTest, EthernetPaddingNeverLeavesTheRouter) {
  start();
  // A 28-byte datagram in a 60-byte frame: 18 bytes of padding after it.
  rte_mbuf* m = h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, 6000, 7, 0, 0);
  std::memset(rte_pktmbuf_append(m, 18), 0xee, 18);
  h->send("ra", m);
  h->step(3);
  auto o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].ip_len, 28);
  EXPECT_EQ(o[0].frame_len, 14u + 28u);
  EXPECT_TRUE(o[0].checksums_ok);
}

// Fragments of one datagram as the outside sends them: [from, from + len) of its L4
// bytes, identification 0x4242.
rte_mbuf* fragment(Harness& h, const std::vector<uint8_t>& whole, uint16_t from, uint16_t len,
                   bool more) {
  std::vector<uint8_t> b(34u + len);
  std::memcpy(b.data(), whole.data(), 34);
  std::memcpy(b.data() + 34, whole.data() + 34 + from, len);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data() + 14);
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + len));
  ip->packet_id = RTE_BE16(0x4242);
  ip->fragment_offset =
      rte_cpu_to_be_16(static_cast<uint16_t>((from / 8) | (more ? RTE_IPV4_HDR_MF_FLAG : 0)));
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  return h.from_bytes(b);
}

TEST_F(NatEdgeTest, FragmentsLargerThanTheGuestMtuAreFragmentedAgain) {
  start(", mtu: 9000");
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, 6000, 7000));
  h->step(3);
  auto o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 1u);
  // A 6000-byte datagram from outside in two fragments of 4000 and 2008 bytes of L4:
  // both exceed the guest's 1500 and are split again, offsets and MF kept (RFC 791).
  rte_mbuf* whole = outside(kS1, IPPROTO_UDP, 7000, o[0].sport, 0, 6000 - 8);
  const std::vector<uint8_t> b = bytes_of(whole);
  rte_pktmbuf_free(whole);
  h->send("rup", fragment(*h, b, 0, 4000, true));
  h->send("rup", fragment(*h, b, 4000, 2000, false));
  h->step(3);
  auto got = h->recv_ipv4("ra");
  ASSERT_EQ(got.size(), 3u + 2u);
  uint32_t covered = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const auto& f = got[i];
    EXPECT_EQ(f.src_ip, kS1);
    EXPECT_EQ(f.dst_ip, kGuest);
    EXPECT_EQ(f.ttl, 63);
    EXPECT_EQ(f.id, 0x4242);
    EXPECT_LE(f.ip_len, 1500);
    EXPECT_TRUE(f.checksums_ok);
    EXPECT_EQ((f.frag & RTE_IPV4_HDR_OFFSET_MASK) * 8u, covered) << "fragment " << i;
    EXPECT_EQ((f.frag & RTE_IPV4_HDR_MF_FLAG) != 0, i + 1 < got.size()) << "fragment " << i;
    covered += f.ip_len - 20u;
  }
  EXPECT_EQ(covered, 6000u);
  EXPECT_EQ(got[0].dport, 6000) << "the first fragment carries the translated port";
  EXPECT_EQ(h->drops("rup", Drop::kNatTooBig), 0u);
}

// An established flow's packets take the fast lane (the session found by the burst's
// bulk lookup); one that is unusual for the flow takes the full path and gets what a
// new flow's packet would: TTL 1 a "time exceeded", DF and too large for the uplink a
// "fragmentation needed", too large without DF fragments; inbound, TTL 1 is dropped.
// (Inbound DF larger than the guest takes:
// NatTest.InboundLargerThanTheGuestMtuIsFragmentedOrAnsweredWithFragNeeded, through an established
// session too.)
TEST_F(NatEdgeTest, AnEstablishedFlowsUnusualPacketsTakeTheFullPath) {
  start(", mtu: 1400");
  const uint32_t kGw = ip4(10, 0, 2, 2);
  // The ICMP messages sent out of a port: (source address, type).
  auto icmp_out = [&](const std::string& port) {
    std::vector<std::pair<uint32_t, uint8_t>> got;
    for (rte_mbuf* m : h->recv_mbufs(port)) {
      const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, 14);
      if (ip->next_proto_id == IPPROTO_ICMP)
        got.emplace_back(rte_be_to_cpu_32(ip->src_addr),
                         reinterpret_cast<const rte_icmp_hdr*>(ip + 1)->icmp_type);
      rte_pktmbuf_free(m);
    }
    return got;
  };
  auto guest = [&](uint16_t payload, bool df, uint8_t ttl) {
    return h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, 6000, 7, 0, payload, df, ttl);
  };
  h->send("ra", guest(10, false, 64));
  h->step(3);
  auto o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 1u);
  const uint16_t port = o[0].sport;
  h->send("ra", guest(10, false, 64));  // established: the fast lane
  h->step(3);
  o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].src_ip, kOut);
  EXPECT_EQ(o[0].sport, port);
  EXPECT_EQ(o[0].ttl, 63);
  EXPECT_TRUE(o[0].checksums_ok);

  h->send("ra", guest(10, false, 1));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 0u);
  auto back = icmp_out("ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].first, kGw);
  EXPECT_EQ(back[0].second, uint8_t{11});  // time exceeded

  h->send("ra", guest(1420, true, 64));  // 1448 bytes: more than the uplink takes
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 0u);
  back = icmp_out("ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].first, kGw);
  EXPECT_EQ(back[0].second, uint8_t{3});

  h->send("ra", guest(1420, false, 64));
  h->step(3);
  o = h->recv_ipv4("rup");
  ASSERT_EQ(o.size(), 2u);
  for (const auto& f : o) EXPECT_LE(f.ip_len, 1400);

  h->send("rup", outside(kS1, IPPROTO_UDP, 7, port));  // the reply: the fast lane
  h->step(3);
  auto in = h->recv_ipv4("ra");
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].dst_ip, kGuest);
  EXPECT_EQ(in[0].dport, 6000);
  EXPECT_EQ(in[0].ttl, 63);
  EXPECT_TRUE(in[0].checksums_ok);

  h->send("rup",
          h->ipv4(kRouter, h->own_mac("rup"), kS1, kOut, IPPROTO_UDP, 7, port, 0, 10, false, 1));
  h->step(3);
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(h->drops("rup", Drop::kNatTtl), 1u);
}

}  // namespace
}  // namespace gp::test
