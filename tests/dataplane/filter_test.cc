// Filters through the real worker code: port security (the adapter's MAC, its IPv4
// addresses and its DHCP lease as the only sources), ACLs compiled with rte_acl in both
// directions with per-rule counters, and both changed live by re-apply.
#include <netinet/in.h>
#include <rte_ip.h>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

using FilterTest = HarnessTest;

std::string two_guests(const std::string& a_extra, const std::string& b_extra = "") {
  return "vms:\n"
         "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra" +
         a_extra +
         "}}}\n"
         "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb" +
         b_extra + "}}}\n";
}

// Both guests speak once so that their MACs are known (unicast, no flooding): an ARP
// probe (sender 0.0.0.0), which every filter here lets pass.
void learn(Harness& h) {
  h.send("ra", h.arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, 0, ip4(10, 0, 0, 99)));
  h.send("rb", h.arp(mac(2), kBroadcast, RTE_ARP_OP_REQUEST, 0, ip4(10, 0, 0, 99)));
  h.step();
  h.recv("ra"), h.recv("rb");
}

rte_mbuf* udp(Harness& h, uint8_t from, uint8_t to, uint32_t src, uint32_t dst, uint16_t dport) {
  return h.ipv4(mac(from), mac(to), src, dst, IPPROTO_UDP, 1000, dport);
}

TEST_F(FilterTest, PortSecurityDropsASpoofedSourceMac) {
  h->apply(two_guests(", port_security: true"));
  learn(*h);
  const rte_ether_addr other{{0x08, 0, 0x27, 0, 0, 0x77}};
  h->send("ra", h->ipv4(other, mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_UDP, 1, 2));
  h->send("ra", h->ipv4(mac(1), mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_UDP, 1, 2));
  h->step();
  auto got = h->recv_ipv4("rb");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(mac_equal(got[0].src_mac, mac(1)));
  EXPECT_EQ(h->drops("ra", Drop::kSpoofedMac), 1u);
  // b has no port security: any source MAC passes (and is learned).
  h->send("rb", h->ipv4(other, mac(1), ip4(10, 0, 0, 9), ip4(10, 0, 0, 1), IPPROTO_UDP, 1, 2));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->drops("rb", Drop::kSpoofedMac), 0u);
}

TEST_F(FilterTest, PortSecurityWithAddressesDropsSpoofedIpv4AndArp) {
  h->apply(two_guests(", port_security: {ipv4: [10.0.0.1, 10.0.0.11]}"));
  learn(*h);
  h->send("ra", udp(*h, 1, 2, ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 53));   // its own
  h->send("ra", udp(*h, 1, 2, ip4(10, 0, 0, 11), ip4(10, 0, 0, 2), 53));  // its second
  h->send("ra", udp(*h, 1, 2, ip4(10, 0, 0, 2), ip4(10, 0, 0, 2), 53));   // b's: spoofed
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REPLY, ip4(10, 0, 0, 2), ip4(10, 0, 0, 2)));
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, 0, ip4(10, 0, 0, 1)));  // probe
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, ip4(10, 0, 0, 1), ip4(10, 0, 0, 2)));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 4u);  // two datagrams, the probe, the honest request
  EXPECT_EQ(h->drops("ra", Drop::kSpoofedIp), 2u);
}

TEST_F(FilterTest, PortSecurityTakesTheAddressTheApplianceLeased) {
  h->apply(
      "networks: {hn: {mode: hostonly, host_interface: {name: gpt-ps0, address: "
      "192.168.78.1/24}}}\n"
      "vms:\n"
      "  a: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:01', port: ra, "
      "port_security: {dhcp: true}}}}\n"
      "  b: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:02', port: rb}}}\n");
  learn(*h);
  // Before a lease: only DHCP itself may leave (from 0.0.0.0).
  h->send("ra", udp(*h, 1, 2, ip4(192, 168, 78, 101), ip4(192, 168, 78, 50), 9));
  h->step(3);
  EXPECT_EQ(h->drops("ra", Drop::kSpoofedIp), 1u);
  dhcp::Request d{};
  d.type = dhcp::MsgType::kDiscover;
  d.xid = 7;
  d.chaddr = {0x08, 0, 0x27, 0, 0, 1};
  h->send("ra", dhcp_frame(*h, d));
  h->step(3);
  ASSERT_EQ(h->recv("ra").size(), 1u);  // the offer: a DISCOVER from 0.0.0.0 passed
  dhcp::Request r = d;
  r.type = dhcp::MsgType::kRequest;
  r.requested_ip = ip4(192, 168, 78, 101);
  r.server_id = ip4(192, 168, 78, 100);
  h->send("ra", dhcp_frame(*h, r));
  h->step(3);
  ASSERT_EQ(h->recv("ra").size(), 1u);  // the ACK
  EXPECT_EQ(h->leases().get(h->port_id("ra")), rte_cpu_to_be_32(ip4(192, 168, 78, 101)));
  // Now the leased address is its own; another one still is not.
  h->send("ra", udp(*h, 1, 2, ip4(192, 168, 78, 101), ip4(192, 168, 78, 50), 9));
  h->send("ra", udp(*h, 1, 2, ip4(192, 168, 78, 102), ip4(192, 168, 78, 50), 9));
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kSpoofedIp), 2u);
}

const char* kAcl =
    ", acl: {ingress: ["
    "{name: no-web, action: deny, proto: tcp, dst_port: 80}, "
    "{action: allow, proto: tcp, dst_port: 1-1024}, "
    "{action: deny, dst: 10.0.0.0/8}]}";

TEST_F(FilterTest, IngressAclFirstMatchWinsAndCountsPerRule) {
  h->apply(two_guests(kAcl));
  learn(*h);
  const uint32_t a = ip4(10, 0, 0, 1), b = ip4(10, 0, 0, 2);
  h->send("ra", h->ipv4(mac(1), mac(2), a, b, IPPROTO_TCP, 5000, 80, 0x02));  // rule 0: deny
  h->send("ra", h->ipv4(mac(1), mac(2), a, b, IPPROTO_TCP, 5000, 22, 0x02));  // rule 1: allow
  h->send("ra", udp(*h, 1, 2, a, b, 53));                                     // rule 2: deny
  h->send("ra", udp(*h, 1, 2, a, ip4(192, 168, 1, 1), 53));                   // none: passes
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, a, b));        // not IPv4
  h->step();
  auto got = h->recv("rb");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(h->drops("ra", Drop::kAclDeny), 2u);
  const AclTable* t = h->applier().acl("vm/a/1", true);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->rules(), 3u);
  EXPECT_EQ(t->hits(0), 1u);
  EXPECT_EQ(t->hits(1), 1u);
  EXPECT_EQ(t->hits(2), 1u);
  EXPECT_EQ(t->hits(3), 1u);  // matched no rule
  EXPECT_EQ(h->applier().acl("vm/a/1", false), nullptr);
  EXPECT_EQ(h->applier().acl("vm/b/1", true), nullptr);
}

TEST_F(FilterTest, ATagOrASplitHeaderDoesNotSlipPastTheAcl) {
  h->apply(two_guests(kAcl));
  learn(*h);
  // TCP to port 80 with an 802.1Q tag in front of the IPv4 header.
  rte_mbuf* plain = h->ipv4(mac(1), mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_TCP, 1, 80);
  std::vector<uint8_t> bytes(rte_pktmbuf_pkt_len(plain));
  const auto* raw =
      static_cast<const uint8_t*>(rte_pktmbuf_read(plain, 0, bytes.size(), bytes.data()));
  std::copy(raw, raw + bytes.size(), bytes.begin());  // a pointer into the mbuf when contiguous
  rte_pktmbuf_free(plain);
  std::vector<uint8_t> tagged(bytes.begin(), bytes.begin() + 12);
  for (uint8_t x : {0x81, 0x00, 0x00, 0x05}) tagged.push_back(x);
  tagged.insert(tagged.end(), bytes.begin() + 12, bytes.end());
  h->send("ra", h->from_bytes(tagged));
  // The same frame untagged, its IPv4 header split over two segments.
  h->send("ra", h->from_bytes(bytes, 20));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kAclDeny), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kFilterUnparsed), 1u);
}

TEST_F(FilterTest, EgressAclFiltersWhatIsSentToTheGuest) {
  h->apply(two_guests("", ", acl: {egress: [{action: deny, proto: udp, src: 10.0.0.1}]}"));
  learn(*h);
  h->send("ra", udp(*h, 1, 2, ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 53));  // denied towards b
  h->send("ra", udp(*h, 1, 2, ip4(10, 0, 0, 3), ip4(10, 0, 0, 2), 53));  // passes
  h->send("ra", h->ipv4(mac(1), mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_TCP, 1, 2));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 2u);
  EXPECT_EQ(h->drops("rb", Drop::kAclDeny), 1u);  // counted at the port it was not sent to
  EXPECT_EQ(h->drops("ra", Drop::kAclDeny), 0u);
  const AclTable* t = h->applier().acl("vm/b/1", false);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->hits(0), 1u);
  EXPECT_EQ(t->hits(1), 2u);
}

TEST_F(FilterTest, AclsChangeLiveAndKeepTheirCountersWhileUnchanged) {
  h->apply(two_guests(kAcl));
  learn(*h);
  h->send("ra", h->ipv4(mac(1), mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_TCP, 1, 80));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 0u);
  const AclTable* before = h->applier().acl("vm/a/1", true);
  // Another adapter changes: a's table (and its counts) stays.
  h->apply(two_guests(kAcl, ", promiscuous: allow-all"));
  EXPECT_EQ(h->applier().acl("vm/a/1", true), before);
  EXPECT_EQ(h->applier().acl("vm/a/1", true)->hits(0), 1u);
  // a's rules change: web is allowed now.
  h->apply(
      two_guests(", acl: {ingress: [{action: deny, proto: udp}]}", ", promiscuous: allow-all"));
  h->send("ra", h->ipv4(mac(1), mac(2), ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), IPPROTO_TCP, 1, 80));
  h->send("ra", udp(*h, 1, 2, ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 53));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->applier().acl("vm/a/1", true)->hits(0), 1u);
  // And none at all: everything passes.
  h->apply(two_guests(""));
  EXPECT_EQ(h->applier().acl("vm/a/1", true), nullptr);
  h->send("ra", udp(*h, 1, 2, ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 53));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
}

// A bandwidth group of 8 Mbit/s (1 MB/s) shared by a and c, both offering 1 MB/s to b
// for one second of the injected clock: b receives the group's rate (plus the one burst
// the bucket starts with), not the 2 MB/s offered; frames over the rate wait in the
// guests' rings. Then the rate is raised by re-apply and the backlog drains.
TEST_F(FilterTest, ABandwidthGroupHoldsItsRateOverAWindow) {
  auto config = [](const std::string& rate) {
    return "bandwidth_groups: {g: " + rate +
           "}\n"
           "vms:\n"
           "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra, "
           "bandwidth_group: g}}}\n"
           "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n"
           "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: rc, "
           "bandwidth_group: g}}}\n";
  };
  h->apply(config("8m"));
  h->send("rb", h->arp(mac(2), kBroadcast, RTE_ARP_OP_REQUEST, 0, ip4(10, 0, 0, 99)));
  h->step();
  h->recv("ra"), h->recv("rc");
  uint64_t bytes = 0, frames = 0;
  auto collect = [&] {
    for (const auto& f : h->recv_ipv4("rb")) bytes += f.frame_len, ++frames;
  };
  auto kilobyte = [&](uint8_t from) {  // 1000 bytes on the wire: 14 + 20 + 8 + 958
    return h->ipv4(mac(from), mac(2), ip4(10, 0, 0, from), ip4(10, 0, 0, 2), IPPROTO_UDP, 1000, 9,
                   0, 958);
  };
  for (int ms = 0; ms < 1000; ++ms) {
    h->advance_ms(1);
    h->send("ra", kilobyte(1));
    h->send("rc", kilobyte(3));
    h->step();
    collect();
  }
  const double burst = 2 * 9018 + 64;  // the bucket's burst at this rate
  EXPECT_GT(bytes, 0.95 * 1e6) << frames << " frames";
  EXPECT_LT(bytes, 1e6 + burst + 2 * kBurst * 1000.0) << frames << " frames";
  EXPECT_GT(h->event(WorkerEvent::kShapedPolls), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kTxFull) + h->drops("rb", Drop::kTxFull), 0u);
  // What was not sent waited: raising the limit (0: none) lets all of it through.
  h->apply(config("0"));
  for (int i = 0; i < 100; ++i) h->step(), collect();
  EXPECT_EQ(frames, 2000u);
}

}  // namespace
}  // namespace gp::test
