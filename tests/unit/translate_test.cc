// NAPT rewriting: each protocol both ways, checksums verified by full recomputation,
// and ICMP error translation (no EAL: DPDK's checksum helpers are plain functions).
#include "dataplane/nat/translate.h"

#include <gtest/gtest.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>
#include <vector>

#include "dataplane/nat/checksum.h"

namespace gp::nat {
namespace {

constexpr rte_be32_t ip4(int a, int b, int c, int d) {
  return RTE_BE32((uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d));
}
const rte_be32_t kGuest = ip4(10, 0, 2, 15), kServer = ip4(203, 0, 113, 7),
                 kOutside = ip4(198, 51, 100, 10);

// An IPv4 packet with an L4 header of l4_len bytes and a payload of 13 bytes.
std::vector<uint8_t> packet(uint8_t proto, uint32_t l4_len) {
  std::vector<uint8_t> b(sizeof(rte_ipv4_hdr) + l4_len + 13);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(b.size()));
  ip->fragment_offset = 0;
  ip->time_to_live = 64;
  ip->next_proto_id = proto;
  ip->src_addr = kGuest;
  ip->dst_addr = kServer;
  return b;
}

void finish(std::vector<uint8_t>& b) {
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  void* l4 = ip + 1;
  switch (ip->next_proto_id) {
    case IPPROTO_TCP:
      static_cast<rte_tcp_hdr*>(l4)->cksum = 0;
      static_cast<rte_tcp_hdr*>(l4)->cksum = rte_ipv4_udptcp_cksum(ip, l4);
      break;
    case IPPROTO_UDP:
      static_cast<rte_udp_hdr*>(l4)->dgram_len =
          rte_cpu_to_be_16(static_cast<uint16_t>(b.size() - sizeof(rte_ipv4_hdr)));
      static_cast<rte_udp_hdr*>(l4)->dgram_cksum = 0;
      static_cast<rte_udp_hdr*>(l4)->dgram_cksum = rte_ipv4_udptcp_cksum(ip, l4);
      break;
    case IPPROTO_ICMP: {
      auto* ih = static_cast<rte_icmp_hdr*>(l4);
      ih->icmp_cksum = 0;
      ih->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(ih, b.size() - sizeof(rte_ipv4_hdr)));
      break;
    }
  }
}

// Every checksum in the packet is right.
void expect_valid(std::vector<uint8_t>& b) {
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  EXPECT_EQ(rte_ipv4_cksum(ip), 0) << "IP header checksum";
  void* l4 = ip + 1;
  if (ip->next_proto_id == IPPROTO_TCP || ip->next_proto_id == IPPROTO_UDP) {
    EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(ip, l4), 0) << "L4 checksum";
  }
  if (ip->next_proto_id == IPPROTO_ICMP) {
    EXPECT_EQ(rte_raw_cksum(l4, b.size() - sizeof(rte_ipv4_hdr)), 0xffff) << "ICMP checksum";
  }
}

TEST(Checksum, IncrementalMatchesRecomputation) {
  for (uint32_t seed = 1; seed < 200; ++seed) {
    uint16_t words[10];
    for (int i = 0; i < 10; ++i) words[i] = static_cast<uint16_t>(seed * 2654435761u >> (i + 3));
    const uint16_t before = static_cast<uint16_t>(~rte_raw_cksum(words, sizeof words));
    const uint16_t old_w = words[3];
    words[3] = static_cast<uint16_t>(seed * 40503u);
    const uint16_t expect = static_cast<uint16_t>(~rte_raw_cksum(words, sizeof words));
    const uint16_t got = csum_update16(before, old_w, words[3]);
    // 0x0000 and 0xffff are the same number in one's complement.
    EXPECT_TRUE(got == expect || (got ^ expect) == 0xffff) << seed;
  }
}

class Rewrite : public ::testing::TestWithParam<uint8_t> {};

TEST_P(Rewrite, OutboundSourceThenInboundDestination) {
  const uint8_t proto = GetParam();
  const uint32_t l4_len = proto == IPPROTO_TCP ? 20 : 8;
  auto b = packet(proto, l4_len);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  void* l4 = ip + 1;
  if (proto == IPPROTO_ICMP) {
    static_cast<rte_icmp_hdr*>(l4)->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
    static_cast<rte_icmp_hdr*>(l4)->icmp_code = 0;
  }
  finish(b);
  expect_valid(b);
  const Endpoint inside = endpoint_of(ip, l4, Side::kSource);
  ASSERT_TRUE(rewrite(ip, l4, Side::kSource, {kOutside, RTE_BE16(40001)}));
  expect_valid(b);
  EXPECT_EQ(ip->src_addr, kOutside);
  EXPECT_EQ(endpoint_of(ip, l4, Side::kSource).port, RTE_BE16(40001));
  // The reply: swap, then translate the destination back.
  const rte_be32_t a = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = a;
  if (proto != IPPROTO_ICMP) {
    uint16_t ports[2];
    std::memcpy(ports, l4, 4);
    std::swap(ports[0], ports[1]);
    std::memcpy(l4, ports, 4);
  } else {
    static_cast<rte_icmp_hdr*>(l4)->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
  }
  finish(b);
  ASSERT_TRUE(rewrite(ip, l4, Side::kDestination, inside));
  expect_valid(b);
  EXPECT_EQ(ip->dst_addr, kGuest);
  EXPECT_EQ(endpoint_of(ip, l4, Side::kDestination).port, inside.port);
}

INSTANTIATE_TEST_SUITE_P(Protocols, Rewrite,
                         ::testing::Values(uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP},
                                           uint8_t{IPPROTO_ICMP}));

// rewrite_hop (the NAT lane's rewrite and TTL in one): for many addresses, ports and
// TTLs, both sides, TCP and UDP, every checksum right after it, and the same packet as
// rewrite() then decrement_ttl() give.
TEST(RewriteHop, MatchesRewriteThenTtlAndEveryChecksumHolds) {
  for (uint32_t seed = 1; seed < 400; ++seed) {
    const uint8_t proto = seed % 2 ? IPPROTO_TCP : IPPROTO_UDP;
    const Side side = seed % 4 < 2 ? Side::kSource : Side::kDestination;
    auto b = packet(proto, proto == IPPROTO_TCP ? 20 : 8);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
    ip->src_addr = rte_cpu_to_be_32(seed * 2654435761u);
    ip->dst_addr = rte_cpu_to_be_32(seed * 40503u + 7);
    ip->time_to_live = static_cast<uint8_t>(2 + seed % 250);
    const uint16_t ports[2] = {static_cast<uint16_t>(seed * 31), static_cast<uint16_t>(~seed)};
    std::memcpy(ip + 1, ports, 4);
    finish(b);
    const Endpoint to{rte_cpu_to_be_32(~seed * 2246822519u), static_cast<uint16_t>(seed * 977)};
    auto want = b;
    auto* wip = reinterpret_cast<rte_ipv4_hdr*>(want.data());
    ASSERT_TRUE(rewrite(wip, wip + 1, side, to));
    decrement_ttl(wip);
    rewrite_hop(ip, ip + 1, side, to);
    expect_valid(b);
    EXPECT_EQ(ip->time_to_live, wip->time_to_live);
    EXPECT_EQ(endpoint_of(ip, ip + 1, side).ip, to.ip);
    EXPECT_EQ(endpoint_of(ip, ip + 1, side).port, to.port);
    // Equal bytes but for a checksum's zero, which has two forms.
    for (size_t i = 0; i < b.size(); ++i)
      if (b[i] != want[i]) {
        const uint16_t* w = reinterpret_cast<const uint16_t*>(b.data() + (i & ~size_t{1}));
        const uint16_t* v = reinterpret_cast<const uint16_t*>(want.data() + (i & ~size_t{1}));
        EXPECT_EQ(*w ^ *v, 0xffff) << "seed " << seed << " byte " << i;
      }
  }
  auto b = packet(IPPROTO_UDP, 8);
  finish(b);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  auto* uh = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  uh->dgram_cksum = 0;
  rewrite_hop(ip, uh, Side::kSource, {kOutside, RTE_BE16(5000)});
  EXPECT_EQ(uh->dgram_cksum, 0) << "a UDP datagram sent without a checksum keeps none";
  EXPECT_EQ(rte_ipv4_cksum(ip), 0);
}

TEST(RewriteUdp, ZeroChecksumStaysZero) {
  auto b = packet(IPPROTO_UDP, 8);
  finish(b);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  auto* uh = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  uh->dgram_cksum = 0;
  ASSERT_TRUE(rewrite(ip, uh, Side::kSource, {kOutside, RTE_BE16(5000)}));
  EXPECT_EQ(uh->dgram_cksum, 0);
  EXPECT_EQ(rte_ipv4_cksum(ip), 0);
}

TEST(RewriteOther, UnknownProtocolsAndIcmpErrorsAreNotRewritten) {
  auto gre = packet(47, 8);
  finish(gre);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(gre.data());
  EXPECT_FALSE(rewrite(ip, ip + 1, Side::kSource, {kOutside, 0}));
  EXPECT_EQ(ip->src_addr, kGuest);
  auto err = packet(IPPROTO_ICMP, 8);
  reinterpret_cast<rte_icmp_hdr*>(err.data() + 20)->icmp_type = kIcmpDestUnreachable;
  finish(err);
  ip = reinterpret_cast<rte_ipv4_hdr*>(err.data());
  EXPECT_FALSE(rewrite(ip, ip + 1, Side::kSource, {kOutside, 0}));
}

// A router between the NAT and the server sends "port unreachable" about a packet the
// NAT translated (src outside:40001); the NAT must hand it to the guest as if about the
// guest's own packet.
std::vector<uint8_t> icmp_error_about(uint8_t inner_proto, uint32_t inner_l4_bytes) {
  auto inner = packet(inner_proto, inner_proto == IPPROTO_TCP ? 20 : 8);
  auto* iip = reinterpret_cast<rte_ipv4_hdr*>(inner.data());
  finish(inner);
  rewrite(iip, iip + 1, Side::kSource, {kOutside, RTE_BE16(40001)});
  std::vector<uint8_t> b(20 + 8 + 20 + inner_l4_bytes);
  std::memcpy(b.data() + 28, inner.data(), 20 + inner_l4_bytes);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(b.size()));
  ip->time_to_live = 60;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = ip4(203, 0, 113, 1);
  ip->dst_addr = kOutside;
  auto* ih = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  ih->icmp_type = kIcmpDestUnreachable;
  ih->icmp_code = 3;
  finish(b);
  return b;
}

TEST(IcmpError, EmbeddedUdpIsTranslatedBack) {
  auto b = icmp_error_about(IPPROTO_UDP, 8);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  auto* ih = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  ASSERT_TRUE(rewrite_icmp_error(ip, ih, static_cast<uint32_t>(b.size() - 20), Side::kSource,
                                 {kGuest, RTE_BE16(33000)}, Side::kDestination, kGuest));
  expect_valid(b);
  EXPECT_EQ(ip->dst_addr, kGuest);
  auto* inner = reinterpret_cast<rte_ipv4_hdr*>(b.data() + 28);
  EXPECT_EQ(rte_ipv4_cksum(inner), 0) << "embedded IP checksum";
  EXPECT_EQ(inner->src_addr, kGuest);
  EXPECT_EQ(reinterpret_cast<rte_udp_hdr*>(inner + 1)->src_port, RTE_BE16(33000));
}

TEST(IcmpError, EmbeddedTcpWithOnlyEightBytes) {
  auto b = icmp_error_about(IPPROTO_TCP, 8);  // RFC 792 minimum: no TCP checksum inside
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  auto* ih = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  ASSERT_TRUE(rewrite_icmp_error(ip, ih, static_cast<uint32_t>(b.size() - 20), Side::kSource,
                                 {kGuest, RTE_BE16(33000)}, Side::kDestination, kGuest));
  expect_valid(b);
  auto* inner = reinterpret_cast<rte_ipv4_hdr*>(b.data() + 28);
  EXPECT_EQ(reinterpret_cast<rte_tcp_hdr*>(inner + 1)->src_port, RTE_BE16(33000));
}

// The other way: the guest answers a packet it received (server -> guest:33000, seen
// outside as server -> outside:40001) with "port unreachable"; the error leaves with the
// outside address as its source and the embedded packet as the server sent it.
TEST(IcmpError, OutboundErrorFromGuestIsTranslated) {
  auto inner = packet(IPPROTO_UDP, 8);
  auto* iip = reinterpret_cast<rte_ipv4_hdr*>(inner.data());
  iip->src_addr = kServer;
  iip->dst_addr = kGuest;
  reinterpret_cast<rte_udp_hdr*>(iip + 1)->dst_port = RTE_BE16(33000);
  finish(inner);
  std::vector<uint8_t> b(20 + 8 + inner.size());
  std::memcpy(b.data() + 28, inner.data(), inner.size());
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(b.size()));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = kGuest;
  ip->dst_addr = kServer;
  auto* ih = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  ih->icmp_type = kIcmpDestUnreachable;
  ih->icmp_code = 3;
  finish(b);
  ASSERT_TRUE(rewrite_icmp_error(ip, ih, static_cast<uint32_t>(b.size() - 20), Side::kDestination,
                                 {kOutside, RTE_BE16(40001)}, Side::kSource, kOutside));
  expect_valid(b);
  EXPECT_EQ(ip->src_addr, kOutside);
  EXPECT_EQ(ip->dst_addr, kServer);
  auto* in2 = reinterpret_cast<rte_ipv4_hdr*>(b.data() + 28);
  EXPECT_EQ(rte_ipv4_cksum(in2), 0) << "embedded IP checksum";
  EXPECT_EQ(in2->dst_addr, kOutside);
  auto* iu = reinterpret_cast<rte_udp_hdr*>(in2 + 1);
  EXPECT_EQ(iu->dst_port, RTE_BE16(40001));
  EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(in2, iu), 0) << "embedded UDP checksum (all quoted)";
}

TEST(IcmpError, TooShortIsRefused) {
  auto b = icmp_error_about(IPPROTO_UDP, 8);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b.data());
  auto* ih = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  const std::vector<uint8_t> before = b;
  EXPECT_FALSE(rewrite_icmp_error(ip, ih, 8 + 20 + 4, Side::kSource, {kGuest, 1},
                                  Side::kDestination, kGuest));
  EXPECT_EQ(b, before);
}

}  // namespace
}  // namespace gp::nat
