// The NAT router over net_ring ports, through the real worker code: translation both
// ways with valid checksums, EIM, filtering per setting, identical inside addresses
// kept apart, table-full and per-VM limits, the DNS proxy, handoff between two
// workers; no mbuf leaked.
#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mempool.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/nat/nat_stage.h"
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const uint32_t kGuest = ip4(10, 0, 2, 15), kGw = ip4(10, 0, 2, 2), kDns = ip4(10, 0, 2, 3);
const uint32_t kOut = ip4(198, 51, 100, 10), kS1 = ip4(203, 0, 113, 7), kS2 = ip4(203, 0, 113, 8);
const uint32_t kResolver = ip4(198, 51, 100, 53);
const rte_ether_addr kGwMac{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
const rte_ether_addr kRouter{{0x02, 0, 0, 0, 0, 0x01}};  // the uplink's next hop

std::string config(const std::string& nat_extra = "", const std::string& adapter_extra = "") {
  return "appliance: {nat: {sessions: 1024" + nat_extra +
         "}}\n"
         "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
         "dns: [198.51.100.53]}}\n"
         "vms:\n"
         "  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra" +
         adapter_extra +
         "}}}\n"
         "  b: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:02', port: rb}}}\n";
}

class NatTest : public HarnessTest {
 protected:
  void start(const std::string& cfg, uint16_t workers = 1) {
    h = std::make_unique<Harness>();
    h->apply(cfg);
    h->enable_nat(1024, workers);
    h->set_next_hop("rup", kRouter);
  }
  // Guest `port` (mac last byte) sends to dst; returns what left the uplink.
  std::vector<Harness::Ipv4View> out(const std::string& port, uint8_t mac_last, uint32_t dst,
                                     uint8_t proto, uint16_t sport, uint16_t dport,
                                     uint8_t flags = 0) {
    h->send(port, h->ipv4(mac(mac_last), kGwMac, kGuest, dst, proto, sport, dport, flags));
    h->step(3);
    return h->recv_ipv4("rup");
  }
  std::vector<Harness::Ipv4View> in(uint32_t src, uint16_t sport, uint16_t dport, uint8_t proto,
                                    const std::string& guest, uint8_t flags = 0) {
    h->send("rup", h->ipv4(kRouter, h->own_mac("rup"), src, kOut, proto, sport, dport, flags));
    h->step(3);
    return h->recv_ipv4(guest);
  }
};

TEST_F(NatTest, UdpOutAndBackWithValidChecksums) {
  start(config());
  auto o = out("ra", 1, kS1, IPPROTO_UDP, 40000, 53);
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].src_ip, kOut);
  EXPECT_EQ(o[0].sport, 40000);  // port preserved
  EXPECT_EQ(o[0].dst_ip, kS1);
  EXPECT_EQ(o[0].ttl, 63);
  EXPECT_TRUE(o[0].checksums_ok);
  EXPECT_TRUE(mac_equal(o[0].dst_mac, kRouter));
  EXPECT_TRUE(mac_equal(o[0].src_mac, h->own_mac("rup")));
  auto back = in(kS1, 53, 40000, IPPROTO_UDP, "ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].dst_ip, kGuest);
  EXPECT_EQ(back[0].dport, 40000);
  EXPECT_TRUE(back[0].checksums_ok);
  EXPECT_TRUE(mac_equal(back[0].dst_mac, mac(1)));
  EXPECT_TRUE(mac_equal(back[0].src_mac, kGwMac));
}

TEST_F(NatTest, TcpAndIcmpEcho) {
  start(config());
  auto syn = out("ra", 1, kS1, IPPROTO_TCP, 33000, 80, RTE_TCP_SYN_FLAG);
  ASSERT_EQ(syn.size(), 1u);
  EXPECT_TRUE(syn[0].checksums_ok);
  auto synack = in(kS1, 80, syn[0].sport, IPPROTO_TCP, "ra", RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
  ASSERT_EQ(synack.size(), 1u);
  EXPECT_EQ(synack[0].dport, 33000);
  EXPECT_EQ(h->nat_table(0).session(0).tcp, nat::TcpState::kEstablished);
  auto ping = out("ra", 1, kS1, IPPROTO_ICMP, 777, 777, RTE_IP_ICMP_ECHO_REQUEST);
  ASSERT_EQ(ping.size(), 1u);
  EXPECT_TRUE(ping[0].checksums_ok);
  auto pong = in(kS1, ping[0].sport, ping[0].sport, IPPROTO_ICMP, "ra", RTE_IP_ICMP_ECHO_REPLY);
  ASSERT_EQ(pong.size(), 1u);
  EXPECT_EQ(pong[0].dport, 777);
  EXPECT_TRUE(pong[0].checksums_ok);
}

TEST_F(NatTest, EndpointIndependentMapping) {
  start(config());
  auto o1 = out("ra", 1, kS1, IPPROTO_UDP, 5000, 9999);
  auto o2 = out("ra", 1, kS2, IPPROTO_UDP, 5000, 1234);
  ASSERT_EQ(o1.size(), 1u);
  ASSERT_EQ(o2.size(), 1u);
  EXPECT_EQ(o1[0].sport, o2[0].sport);  // one inside socket, one outside port
  EXPECT_EQ(h->nat_table(0).size(), 2u);
}

TEST_F(NatTest, AddressDependentFilteringByDefault) {
  start(config());
  auto o = out("ra", 1, kS1, IPPROTO_UDP, 5000, 9999);
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(in(kS1, 4444, 5000, IPPROTO_UDP, "ra").size(), 1u);  // same host, other port
  EXPECT_EQ(in(kS2, 9999, 5000, IPPROTO_UDP, "ra").size(), 0u);  // another host
  EXPECT_EQ(h->drops("rup", Drop::kNatUnsolicited), 1u);
  EXPECT_EQ(in(kS1, 53, 6000, IPPROTO_UDP, "ra").size(), 0u);  // no mapping at all
  EXPECT_EQ(h->drops("rup", Drop::kNatUnsolicited), 2u);
}

TEST_F(NatTest, EndpointIndependentFilteringWhenConfigured) {
  start(config(", filtering: endpoint-independent"));
  ASSERT_EQ(out("ra", 1, kS1, IPPROTO_UDP, 5000, 9999).size(), 1u);
  EXPECT_EQ(in(kS2, 9999, 5000, IPPROTO_UDP, "ra").size(), 1u);
  EXPECT_EQ(in(kS1, 53, 6000, IPPROTO_UDP, "ra").size(), 0u);  // still no mapping
}

TEST_F(NatTest, FilteringIsChosenPerNatAdapter) {
  // a: endpoint-independent by its own setting; b: the appliance's default.
  start(config("", ", filtering: endpoint-independent"));
  ASSERT_EQ(out("ra", 1, kS1, IPPROTO_UDP, 5000, 9999).size(), 1u);
  ASSERT_EQ(out("rb", 2, kS1, IPPROTO_UDP, 5001, 9999).size(), 1u);
  EXPECT_EQ(in(kS2, 9999, 5000, IPPROTO_UDP, "ra").size(), 1u);  // anyone may answer a
  EXPECT_EQ(in(kS2, 9999, 5001, IPPROTO_UDP, "rb").size(), 0u);  // only kS1 may answer b
  EXPECT_EQ(h->drops("rup", Drop::kNatUnsolicited), 1u);
}

TEST_F(NatTest, IdenticalInsideAddressesStayApart) {
  start(config());
  auto a = out("ra", 1, kS1, IPPROTO_UDP, 5000, 53);
  auto b = out("rb", 2, kS1, IPPROTO_UDP, 5000, 53);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NE(a[0].sport, b[0].sport);
  EXPECT_EQ(in(kS1, 53, b[0].sport, IPPROTO_UDP, "rb").size(), 1u);
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(in(kS1, 53, a[0].sport, IPPROTO_UDP, "ra").size(), 1u);
  EXPECT_EQ(h->recv("rb").size(), 0u);
}

TEST_F(NatTest, PerVmLimitAndTableFull) {
  start(config(", per_vm_sessions: 3"));
  for (uint16_t p = 1; p <= 4; ++p) out("ra", 1, kS1, IPPROTO_UDP, 7000 + p, 53);
  EXPECT_EQ(h->drops("ra", Drop::kNatVmLimit), 1u);
  EXPECT_EQ(out("rb", 2, kS1, IPPROTO_UDP, 7000, 53).size(), 1u);  // b has its own share
  EXPECT_EQ(out("ra", 1, kS1, IPPROTO_UDP, 7001, 53).size(), 1u);  // existing flows go on
  h.reset();
  h = std::make_unique<Harness>();
  h->apply(config(", per_vm_sessions: 1000"));
  h->enable_nat(4);  // a tiny table
  h->set_next_hop("rup", kRouter);
  for (uint16_t p = 1; p <= 5; ++p) out("ra", 1, kS1, IPPROTO_UDP, 7000 + p, 53);
  EXPECT_EQ(h->drops("ra", Drop::kNatTableFull), 1u);
}

// A guest's DNS query for example.test (A, IN) to `dst`:53.
rte_mbuf* dns_query(Harness& h, uint32_t dst, uint16_t sport) {
  const std::vector<uint8_t> q = {0xab, 0xcd, 0x01, 0x00, 0,   1,   0,   0,   0,   0,
                                  0,    0,    7,    'e',  'x', 'a', 'm', 'p', 'l', 'e',
                                  4,    't',  'e',  's',  't', 0,   0,   1,   0,   1};
  rte_mbuf* m = h.ipv4(mac(1), kGwMac, kGuest, dst, IPPROTO_UDP, sport, 53, 0,
                       static_cast<uint16_t>(q.size()));
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
  auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  std::memcpy(u + 1, q.data(), q.size());
  u->dgram_cksum = 0;
  u->dgram_cksum = rte_ipv4_udptcp_cksum(ip, u);
  return m;
}

TEST_F(NatTest, DnsProxyForwardsToTheUplinksResolver) {
  start(config());
  const rte_ether_addr resolver_mac{{0x02, 0, 0, 0, 0, 0x53}};
  h->set_onlink("rup", kResolver, resolver_mac);  // 198.51.100.53 is on the uplink's subnet
  h->send("ra", dns_query(*h, kDns, 41000));
  h->step(3);
  auto q = h->recv_ipv4("rup");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].dst_ip, kResolver);
  EXPECT_TRUE(mac_equal(q[0].dst_mac, resolver_mac));  // directly, not via the gateway
  EXPECT_TRUE(q[0].checksums_ok);
  auto a = in(kResolver, 53, q[0].sport, IPPROTO_UDP, "ra");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].src_ip, kDns);  // the guest sees the answer come from 10.0.2.3
  EXPECT_TRUE(a[0].checksums_ok);
  // What is not a DNS query does not leave.
  EXPECT_TRUE(out("ra", 1, kDns, IPPROTO_UDP, 41001, 53).empty());
  EXPECT_EQ(h->drops("ra", Drop::kNatDnsMalformed), 1u);
}

TEST_F(NatTest, DnsProxyWithoutResolverAnswersServfail) {
  start(
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n"
      "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra}}}\n");
  h->send("ra", dns_query(*h, kDns, 41000));
  h->step(3);
  EXPECT_TRUE(h->recv("rup").empty());
  auto got = h->recv_mbufs("ra");
  ASSERT_EQ(got.size(), 1u);
  const auto* ip = rte_pktmbuf_mtod_offset(got[0], const rte_ipv4_hdr*, 14);
  const auto* u = reinterpret_cast<const rte_udp_hdr*>(ip + 1);
  const auto* d = reinterpret_cast<const uint8_t*>(u + 1);
  EXPECT_EQ(ip->src_addr, rte_cpu_to_be_32(kDns));
  EXPECT_EQ(ip->dst_addr, rte_cpu_to_be_32(kGuest));
  EXPECT_EQ(u->src_port, rte_cpu_to_be_16(53));
  EXPECT_EQ(u->dst_port, rte_cpu_to_be_16(41000));
  EXPECT_EQ(rte_ipv4_cksum(ip), 0);
  EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(ip, u), 0);
  EXPECT_EQ(d[0], 0xab);
  EXPECT_EQ(d[3] & 0x0f, 2) << "RCODE SERVFAIL";
  EXPECT_EQ(h->slow().stats().dns_servfail, 1u);
  rte_pktmbuf_free(got[0]);
}

// 198.51.100.0/24 is the uplink's own subnet: its hosts are sent to directly once they
// answer the router's ARP; everything else goes to the gateway.
TEST_F(NatTest, OnLinkHostsAreResolvedByArpAndSentToDirectly) {
  start(config());
  h->enable_probes();  // the slow path now resolves the gateway itself: it answers
  h->send("rup", h->arp(kRouter, h->own_mac("rup"), RTE_ARP_OP_REPLY, ip4(198, 51, 100, 1), kOut,
                        h->own_mac("rup")));
  const uint32_t neighbour = ip4(198, 51, 100, 77);
  const rte_ether_addr neighbour_mac{{0x02, 0, 0, 0, 0, 0x77}};
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, neighbour, IPPROTO_UDP, 5000, 9));
  h->step(3);  // the packet is taken while the router asks
  bool asked = false;
  for (rte_mbuf* m : h->recv_mbufs("rup")) {
    const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    const auto* a = reinterpret_cast<const rte_arp_hdr*>(eh + 1);
    asked |= eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) &&
             a->arp_data.arp_tip == rte_cpu_to_be_32(neighbour) &&
             a->arp_data.arp_sip == rte_cpu_to_be_32(kOut);
    rte_pktmbuf_free(m);
  }
  EXPECT_TRUE(asked) << "an ARP request for 198.51.100.77 from the outside address";
  EXPECT_EQ(h->slow().stats().onlink_unresolved, 1u);
  h->send("rup", h->arp(neighbour_mac, h->own_mac("rup"), RTE_ARP_OP_REPLY, neighbour, kOut,
                        h->own_mac("rup")));
  h->step(2);
  auto o = out("ra", 1, neighbour, IPPROTO_UDP, 5000, 9);
  ASSERT_EQ(o.size(), 1u);
  EXPECT_TRUE(mac_equal(o[0].dst_mac, neighbour_mac));
  auto far = out("ra", 1, kS1, IPPROTO_UDP, 5000, 9);  // off-link: the gateway
  ASSERT_EQ(far.size(), 1u);
  EXPECT_TRUE(mac_equal(far[0].dst_mac, kRouter));
}

TEST_F(NatTest, GatewayAnswersPingAndOtherInsideTrafficIsDropped) {
  start(config());
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kGw, IPPROTO_ICMP, 9, 9, RTE_IP_ICMP_ECHO_REQUEST));
  h->step(3);
  auto r = h->recv_ipv4("ra");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].src_ip, kGw);
  EXPECT_TRUE(r[0].checksums_ok);
  out("ra", 1, ip4(10, 0, 2, 99), IPPROTO_UDP, 1, 2);
  EXPECT_EQ(h->drops("ra", Drop::kNatInsideDst), 1u);
}

TEST_F(NatTest, NoNeighborYetIsCounted) {
  h = std::make_unique<Harness>();
  h->apply(config());
  h->enable_nat(64);
  EXPECT_EQ(out("ra", 1, kS1, IPPROTO_UDP, 1, 2).size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kNatNoNeighbor), 1u);
}

TEST_F(NatTest, PortForwardInbound) {
  start(config("", ", port_forwards: [{name: ssh, proto: tcp, host_port: 2222, guest_port: 22}]"));
  auto syn = in(kS1, 50000, 2222, IPPROTO_TCP, "ra", RTE_TCP_SYN_FLAG);
  ASSERT_EQ(syn.size(), 1u);
  EXPECT_EQ(syn[0].dst_ip, kGuest);
  EXPECT_EQ(syn[0].dport, 22);
  auto synack = out("ra", 1, kS1, IPPROTO_TCP, 22, 50000, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
  ASSERT_EQ(synack.size(), 1u);
  EXPECT_EQ(synack[0].src_ip, kOut);
  EXPECT_EQ(synack[0].sport, 2222);
  EXPECT_TRUE(synack[0].checksums_ok);
}

TEST_F(NatTest, HandoffBetweenTwoWorkers) {
  start(config(), 2);
  // Try inside ports until one is owned by worker 1: worker 0 polls first and must
  // hand it over; the reply comes back to worker 0's poll and goes to worker 1 too.
  uint16_t sport = 0;
  for (uint16_t p = 6000; p < 6100 && sport == 0; ++p)
    if (nat_owner_inside(1, rte_cpu_to_be_32(kGuest), rte_cpu_to_be_16(p), 2) == 1) sport = p;
  ASSERT_NE(sport, 0);
  auto o = out("ra", 1, kS1, IPPROTO_UDP, sport, 53);
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].sport % 2, 1);  // from worker 1's slice
  EXPECT_EQ(h->nat_table(1).size(), 1u);
  EXPECT_EQ(h->nat_table(0).size(), 0u);
  EXPECT_GE(h->event(WorkerEvent::kNatHandoffs), 1u);
  auto back = in(kS1, 53, o[0].sport, IPPROTO_UDP, "ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].dport, sport);
  EXPECT_GE(h->event(WorkerEvent::kNatHandoffs), 2u);
}

TEST_F(NatTest, SessionsExpireWithTheInjectedClock) {
  start(config());
  ASSERT_EQ(out("ra", 1, kS1, IPPROTO_UDP, 5000, 53).size(), 1u);
  h->advance_seconds(301);
  h->step(1);
  EXPECT_EQ(h->nat_table(0).size(), 0u);
  EXPECT_EQ(h->event(WorkerEvent::kNatExpired), 1u);
  EXPECT_EQ(in(kS1, 53, 5000, IPPROTO_UDP, "ra").size(), 0u);  // mapping gone
}

// Splits an Ethernet/IPv4 frame into two fragments: the first carries `first_l4`
// bytes of the IP payload (a multiple of 8), the second the rest. `whole` is freed.
std::pair<rte_mbuf*, rte_mbuf*> split(Harness& h, rte_mbuf* whole, uint16_t first_l4) {
  const auto* ip = rte_pktmbuf_mtod_offset(whole, const rte_ipv4_hdr*, 14);
  const uint16_t l4_len = rte_be_to_cpu_16(ip->total_length) - 20;
  const auto* eh = rte_pktmbuf_mtod(whole, const rte_ether_hdr*);
  auto make = [&](uint16_t from, uint16_t len, bool more) {
    rte_mbuf* m = h.frame(eh->src_addr, eh->dst_addr, 14 + 20 + len);
    auto* fip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
    std::memcpy(fip, ip, 20);
    std::memcpy(fip + 1, reinterpret_cast<const uint8_t*>(ip + 1) + from, len);
    fip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + len));
    fip->packet_id = RTE_BE16(0x4242);
    fip->fragment_offset =
        rte_cpu_to_be_16(static_cast<uint16_t>((from / 8) | (more ? RTE_IPV4_HDR_MF_FLAG : 0)));
    fip->hdr_checksum = 0;
    fip->hdr_checksum = rte_ipv4_cksum(fip);
    return m;
  };
  auto out = std::make_pair(make(0, first_l4, true),
                            make(first_l4, static_cast<uint16_t>(l4_len - first_l4), false));
  rte_pktmbuf_free(whole);
  return out;
}

// Puts fragments back together and checks every checksum, the L4 one over the whole,
// and every fragment's header against the first's: the same (translated) addresses,
// identification and TTL, MF on all but the last, offsets without gap or overlap.
struct Reassembled {
  rte_be32_t src, dst;
  uint16_t sport, dport;
  uint8_t ttl = 0;
  bool ip_ok = true, l4_ok = false;
  std::string header_problems;  // "" when every fragment's header is right
};
Reassembled reassemble(const std::vector<rte_mbuf*>& frags) {
  Reassembled r{};
  std::vector<uint8_t> buf(20);
  std::vector<std::pair<uint16_t, const rte_ipv4_hdr*>> by_offset;
  for (rte_mbuf* m : frags) {
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
    r.ip_ok &= rte_ipv4_cksum(ip) == 0;
    const uint16_t off = (rte_be_to_cpu_16(ip->fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) * 8;
    const uint16_t len = rte_be_to_cpu_16(ip->total_length) - 20;
    if (off == 0) std::memcpy(buf.data(), ip, 20);
    if (buf.size() < 20u + off + len) buf.resize(20u + off + len);
    std::memcpy(buf.data() + 20 + off, ip + 1, len);
    by_offset.emplace_back(off, ip);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  uint32_t next = 0;
  for (size_t i = 0; i < by_offset.size(); ++i) {
    const rte_ipv4_hdr* f = by_offset[i].second;
    const rte_ipv4_hdr* first = by_offset[0].second;
    const bool mf = rte_be_to_cpu_16(f->fragment_offset) & RTE_IPV4_HDR_MF_FLAG;
    const std::string at = "fragment at " + std::to_string(by_offset[i].first) + ": ";
    if (f->src_addr != first->src_addr || f->dst_addr != first->dst_addr)
      r.header_problems += at + "addresses differ from the first fragment's; ";
    if (f->packet_id != first->packet_id) r.header_problems += at + "identification; ";
    if (f->time_to_live != first->time_to_live) r.header_problems += at + "TTL; ";
    if (mf != (i + 1 < by_offset.size())) r.header_problems += at + "MF; ";
    if (by_offset[i].first != next) r.header_problems += at + "gap or overlap; ";
    next = by_offset[i].first + rte_be_to_cpu_16(f->total_length) - 20u;
  }
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(buf.data());
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(buf.size()));
  ip->fragment_offset = 0;
  auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  r.src = ip->src_addr;
  r.dst = ip->dst_addr;
  r.ttl = ip->time_to_live;
  r.sport = rte_be_to_cpu_16(u->src_port);
  r.dport = rte_be_to_cpu_16(u->dst_port);
  r.l4_ok = rte_ipv4_udptcp_cksum_verify(ip, u) == 0;
  for (rte_mbuf* m : frags) rte_pktmbuf_free(m);
  return r;
}

void fragments_both_ways(Harness& h, uint16_t sport = 7000) {
  // A 1000-byte UDP datagram from the guest, in two fragments.
  auto [f1, f2] =
      split(h, h.ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, sport, 9000, 0, 992), 512);
  h.send("ra", f1);
  h.send("ra", f2);
  h.step(4);
  auto out = h.recv_mbufs("rup");
  ASSERT_EQ(out.size(), 2u);
  Reassembled o = reassemble(out);
  EXPECT_EQ(o.header_problems, "");
  EXPECT_EQ(o.ttl, 63);
  EXPECT_EQ(o.dport, 9000);
  EXPECT_EQ(o.src, rte_cpu_to_be_32(kOut));
  EXPECT_EQ(o.dst, rte_cpu_to_be_32(kS1));
  EXPECT_TRUE(o.ip_ok);
  EXPECT_TRUE(o.l4_ok) << "the UDP checksum over the reassembled datagram";
  // The answer, fragmented too, reaches the guest.
  auto [r1, r2] = split(
      h, h.ipv4(kRouter, h.own_mac("rup"), kS1, kOut, IPPROTO_UDP, 9000, o.sport, 0, 992), 512);
  h.send("rup", r1);
  h.send("rup", r2);
  h.step(4);
  auto back = h.recv_mbufs("ra");
  ASSERT_EQ(back.size(), 2u);
  Reassembled b = reassemble(back);
  EXPECT_EQ(b.header_problems, "");
  EXPECT_EQ(b.ttl, 63);
  EXPECT_EQ(b.sport, 9000);
  EXPECT_EQ(b.src, rte_cpu_to_be_32(kS1));
  EXPECT_EQ(b.dst, rte_cpu_to_be_32(kGuest));
  EXPECT_EQ(b.dport, sport);
  EXPECT_TRUE(b.ip_ok);
  EXPECT_TRUE(b.l4_ok);
}

TEST_F(NatTest, FragmentsAreTranslatedByTheirFirstFragmentsSession) {
  start(config());
  fragments_both_ways(*h);
}

TEST_F(NatTest, FragmentsFollowTheirFirstFragmentToItsOwner) {
  start(config(), 2);
  for (uint16_t sport = 7000; sport < 7008; ++sport) fragments_both_ways(*h, sport);
  EXPECT_GT(h->event(WorkerEvent::kNatHandoffs), 0u);  // some went to the other worker
  EXPECT_EQ(h->drops("ra", Drop::kNatFragment) + h->drops("rup", Drop::kNatFragment), 0u);
}

TEST_F(NatTest, OrphanFragmentsAndUnknownProtocolsAreDroppedAndCounted) {
  start(config());
  // A later fragment whose first fragment never came: dropped, never sent untranslated.
  auto [f1, f2] = split(*h, h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, 1, 2, 0, 100), 64);
  rte_pktmbuf_free(f1);
  h->send("ra", f2);
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kS1, 47 /* GRE */, 1, 2));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kNatFragment), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kNatUnsupported), 1u);
}

TEST_F(NatTest, OversizeGetsFragmentationNeededWithDfAndIsFragmentedWithout) {
  start(
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
      "mtu: 1400}}\n"
      "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra}}}\n");
  // 20 + 8 + 1372 = 1400 fits; 1401 with DF is answered; 1401 without DF is sent in two
  // fragments (RFC 791), translated.
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, 1, 2, 0, 1372, true));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 1u);
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, 1, 2, 0, 1373, true));
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, 1, 2, 0, 1373, false));
  h->step(3);
  auto frags = h->recv_mbufs("rup");
  ASSERT_EQ(frags.size(), 2u);
  for (rte_mbuf* f : frags) {
    EXPECT_LE(rte_pktmbuf_pkt_len(f), 14u + 1400u);
    EXPECT_EQ(f->nb_segs, 1);  // contiguous again, for PMDs that send one segment
  }
  Reassembled r = reassemble(frags);
  EXPECT_EQ(r.header_problems, "");
  EXPECT_EQ(r.src, rte_cpu_to_be_32(kOut));
  EXPECT_EQ(r.dst, rte_cpu_to_be_32(kS1));
  EXPECT_TRUE(r.ip_ok);
  EXPECT_TRUE(r.l4_ok) << "the translated UDP checksum over the whole datagram";
  EXPECT_EQ(h->drops("ra", Drop::kNatTooBig), 0u);
  EXPECT_EQ(h->event(WorkerEvent::kNatFragmentsMade), 2u);
  auto got = h->recv_mbufs("ra");
  ASSERT_EQ(got.size(), 1u);
  auto* ip = rte_pktmbuf_mtod_offset(got[0], rte_ipv4_hdr*, 14);
  auto* ic = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  EXPECT_EQ(ip->src_addr, rte_cpu_to_be_32(kGw));
  EXPECT_EQ(ip->dst_addr, rte_cpu_to_be_32(kGuest));
  EXPECT_EQ(rte_ipv4_cksum(ip), 0);
  EXPECT_EQ(ic->icmp_type, 3);
  EXPECT_EQ(ic->icmp_code, 4);
  EXPECT_EQ(rte_be_to_cpu_16(ic->icmp_seq_nb), 1400);  // next-hop MTU
  const uint32_t icmp_len = rte_be_to_cpu_16(ip->total_length) - 20;
  EXPECT_EQ(icmp_len, 8u + 20u + 8u);  // the offending header and 8 bytes of it
  EXPECT_EQ(rte_raw_cksum(ic, icmp_len), 0xffff);
  auto* quoted = reinterpret_cast<rte_ipv4_hdr*>(ic + 1);
  EXPECT_EQ(rte_be_to_cpu_16(quoted->total_length), 1401);
  rte_pktmbuf_free(got[0]);
}

TEST_F(NatTest, InboundLargerThanTheGuestMtuIsFragmentedOrAnsweredWithFragNeeded) {
  start(
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
      "mtu: 9000}}\n"
      "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra}}}\n");
  auto o = out("ra", 1, kS1, IPPROTO_UDP, 6000, 7000);
  ASSERT_EQ(o.size(), 1u);
  h->send("rup", h->ipv4(kRouter, h->own_mac("rup"), kS1, kOut, IPPROTO_UDP, 7000, o[0].sport, 0,
                         1900, false));
  h->send("rup", h->ipv4(kRouter, h->own_mac("rup"), kS1, kOut, IPPROTO_UDP, 7000, o[0].sport, 0,
                         1900, true));
  h->step(3);
  auto frags = h->recv_mbufs("ra");
  ASSERT_EQ(frags.size(), 2u);
  Reassembled r = reassemble(frags);
  EXPECT_EQ(r.header_problems, "");
  EXPECT_EQ(r.src, rte_cpu_to_be_32(kS1));
  EXPECT_EQ(r.dst, rte_cpu_to_be_32(kGuest));
  EXPECT_EQ(r.dport, 6000);
  EXPECT_TRUE(r.ip_ok && r.l4_ok);
  // The DF one: the outside sender hears "fragmentation needed" with the guest's MTU,
  // from the outside address, about the packet as it sent it (RFC 1191).
  EXPECT_EQ(h->drops("rup", Drop::kNatTooBig), 0u);
  auto err = h->recv_mbufs("rup");
  ASSERT_EQ(err.size(), 1u);
  const auto* eh = rte_pktmbuf_mtod(err[0], const rte_ether_hdr*);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eh + 1);
  const auto* ic = reinterpret_cast<const rte_icmp_hdr*>(ip + 1);
  const auto* quoted = reinterpret_cast<const rte_ipv4_hdr*>(ic + 1);
  EXPECT_TRUE(mac_equal(eh->dst_addr, kRouter));
  EXPECT_TRUE(mac_equal(eh->src_addr, h->own_mac("rup")));
  EXPECT_EQ(ip->src_addr, rte_cpu_to_be_32(kOut));
  EXPECT_EQ(ip->dst_addr, rte_cpu_to_be_32(kS1));
  EXPECT_EQ(ic->icmp_type, 3);
  EXPECT_EQ(ic->icmp_code, 4);
  EXPECT_EQ(rte_be_to_cpu_16(ic->icmp_seq_nb), 1500);
  EXPECT_EQ(quoted->dst_addr, rte_cpu_to_be_32(kOut)) << "quoted as the sender sent it";
  EXPECT_EQ(rte_ipv4_cksum(ip), 0);
  EXPECT_EQ(rte_raw_cksum(ic, rte_be_to_cpu_16(ip->total_length) - 20u), 0xffff);
  EXPECT_EQ(h->slow().stats().frag_needed_out, 1u);
  rte_pktmbuf_free(err[0]);
}

TEST_F(NatTest, TtlExpiringAtTheGatewayGetsTimeExceeded) {
  start(config());
  h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kS1, IPPROTO_UDP, 33434, 33434, 0, 10, false, 1));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 0u);
  auto got = h->recv_mbufs("ra");
  ASSERT_EQ(got.size(), 1u);
  auto* ip = rte_pktmbuf_mtod_offset(got[0], rte_ipv4_hdr*, 14);
  auto* ic = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  EXPECT_EQ(ip->src_addr, rte_cpu_to_be_32(kGw));
  EXPECT_EQ(ic->icmp_type, 11);
  EXPECT_EQ(ic->icmp_code, 0);
  EXPECT_EQ(rte_raw_cksum(ic, rte_be_to_cpu_16(ip->total_length) - 20u), 0xffff);
  EXPECT_EQ(h->slow().stats().time_exceeded_sent, 1u);
  rte_pktmbuf_free(got[0]);
}

}  // namespace
}  // namespace gp::test
