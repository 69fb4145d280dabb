// Hostile guests against the service guard (dataplane/services/punt_stage.cc), through
// the real worker and slow-path code over net_ring ports: a guest cannot act as the
// DHCP server where the appliance serves DHCP (unless dhcp_trusted), cannot take over
// the gateway's, the DNS proxy's or the DHCP server's address by ARP, and the honest
// guests keep their service; every refused frame is counted and no mbuf is leaked.
#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "dataplane/services/dhcp_message.h"
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const char* kHostOnly =
    "networks: {hn: {mode: hostonly, host_interface: {name: gpt-host0, address: "
    "192.168.78.1/24}}}\n"
    "vms:\n"
    "  a: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:01', port: ra}}}\n"
    "  b: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:02', port: rb}}}\n";
const char* kTap = "net_tap0,iface=gpt-host0";
const uint32_t kServer = ip4(192, 168, 78, 100);  // the host-only network's DHCP server

// A DHCP OFFER as a rogue server would send it: from port 67 to the client port 68.
rte_mbuf* rogue_offer(Harness& h, const rte_ether_addr& src, const rte_ether_addr& dst) {
  rte_mbuf* m = h.ipv4(src, dst, ip4(192, 168, 78, 66), 0xffffffff, IPPROTO_UDP, dhcp::kServerPort,
                       dhcp::kClientPort, 0, 300);
  return m;
}

using HostileTest = HarnessTest;

TEST_F(HostileTest, AGuestCannotActAsTheDhcpServer) {
  h->apply(kHostOnly);
  h->send("ra", rogue_offer(*h, mac(1), kBroadcast));
  h->send("ra", rogue_offer(*h, mac(1), mac(2)));  // unicast to b's MAC, as servers do
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 0u);
  EXPECT_EQ(h->recv(kTap).size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kDhcpSpoof), 2u);
  // a's other traffic is switched as before: a broadcast UDP datagram to port 9.
  h->send("ra", h->ipv4(mac(1), kBroadcast, ip4(192, 168, 78, 101), 0xffffffff, IPPROTO_UDP, 9, 9));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->recv(kTap).size(), 1u);
  // And b still gets its address from the appliance.
  dhcp::Request d{};
  d.type = dhcp::MsgType::kDiscover;
  d.xid = 9;
  d.chaddr = {0x08, 0, 0x27, 0, 0, 2};
  h->send("rb", dhcp_frame(*h, d));
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->slow().stats().dhcp_replies, 1u);
}

TEST_F(HostileTest, ADhcpTrustedAdapterMayServeDhcp) {
  std::string cfg = kHostOnly;
  cfg.replace(cfg.find("port: ra}"), 9, "port: ra, dhcp_trusted: true}");
  h->apply(cfg);
  EXPECT_NE(h->snap().ports[h->port_id("ra")].features & kFeatureDhcpTrusted, 0u);
  EXPECT_EQ(h->snap().ports[h->port_id("rb")].features & kFeatureDhcpTrusted, 0u);
  h->send("ra", rogue_offer(*h, mac(1), mac(2)));
  h->send("rb", rogue_offer(*h, mac(2), mac(1)));  // b is not trusted
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kDhcpSpoof), 0u);
  EXPECT_EQ(h->drops("rb", Drop::kDhcpSpoof), 1u);
}

TEST_F(HostileTest, DhcpToServersIsNotRefusedWhereTheApplianceServesNone) {
  // An internal network has no appliance DHCP: a guest there may run its own server.
  h->apply(
      "vms:\n  a: {adapters: {1: {attach: internal:x, mac: '08:00:27:00:00:01', port: ra}}}\n"
      "  b: {adapters: {1: {attach: internal:x, mac: '08:00:27:00:00:02', port: rb}}}\n");
  h->send("ra", rogue_offer(*h, mac(1), kBroadcast));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kDhcpSpoof), 0u);
}

TEST_F(HostileTest, AGuestCannotClaimTheServerAddressByArp) {
  h->apply(kHostOnly);
  // A gratuitous ARP and an unsolicited reply, both saying "192.168.78.100 is at a".
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, kServer, kServer));
  h->send("ra", h->arp(mac(1), mac(2), RTE_ARP_OP_REPLY, kServer, ip4(192, 168, 78, 102), mac(2)));
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REPLY, kServer, kServer));
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 0u);
  EXPECT_EQ(h->recv(kTap).size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kArpSpoof), 3u);
  EXPECT_EQ(h->slow().stats().arp_replies, 0u);
  // b asking for the server still gets the appliance's own MAC.
  h->send("rb", h->arp(mac(2), kBroadcast, RTE_ARP_OP_REQUEST, ip4(192, 168, 78, 102), kServer));
  h->step(3);
  auto got = h->recv_mbufs("rb");
  ASSERT_EQ(got.size(), 1u);
  const auto* a = rte_pktmbuf_mtod_offset(got[0], const rte_arp_hdr*, sizeof(rte_ether_hdr));
  EXPECT_TRUE(mac_equal(a->arp_data.arp_sha, h->snap().segments[0].service_mac));
  rte_pktmbuf_free(got[0]);
  // ARP between guests, and a DHCP client's probe (sender 0.0.0.0), pass untouched.
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, ip4(192, 168, 78, 101),
                       ip4(192, 168, 78, 102)));
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, 0, kServer));
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 1u);  // the probe for .100 is answered, not flooded
  EXPECT_EQ(h->recv("ra").size(), 1u);  // the appliance's answer to the probe
  EXPECT_EQ(h->drops("ra", Drop::kArpSpoof), 3u);
}

TEST_F(HostileTest, TheHostPortIsNotGuarded) {
  // The host's interface is the operator's: it may claim whatever it likes.
  h->apply(kHostOnly);
  h->send(kTap, rogue_offer(*h, mac(9), mac(2)));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->drops(kTap, Drop::kDhcpSpoof), 0u);
}

const char* kNatNet = R"(appliance: {nat: {sessions: 1024}}
uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1}}
networks: {lab: {mode: natnetwork, network: 10.9.0.0/24, uplink: wan}}
vms:
  a: {adapters: {1: {attach: natnetwork:lab, mac: '08:00:27:00:00:01', port: ra}}}
  b: {adapters: {1: {attach: natnetwork:lab, mac: '08:00:27:00:00:02', port: rb}}}
)";

TEST_F(HostileTest, ANatNetworkGuestCannotTakeOverTheGatewayDnsOrDhcpServer) {
  h->apply(kNatNet);
  h->enable_nat(1024);
  const Segment& seg = h->snap().segments[h->snap().ports[h->port_id("ra")].segment];
  ASSERT_GE(seg.n_service_ips, 1u);
  for (uint8_t i = 0; i < seg.n_service_ips; ++i)
    h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REPLY, rte_be_to_cpu_32(seg.service_ips[i]),
                         rte_be_to_cpu_32(seg.service_ips[i])));
  h->send("ra", rogue_offer(*h, mac(1), mac(2)));
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kArpSpoof), seg.n_service_ips);
  EXPECT_EQ(h->drops("ra", Drop::kDhcpSpoof), 1u);
  // b's gateway is still the router.
  h->send("rb", h->arp(mac(2), kBroadcast, RTE_ARP_OP_REQUEST, ip4(10, 9, 0, 5),
                       rte_be_to_cpu_32(seg.service_ips[0])));
  h->step(3);
  auto got = h->recv("rb");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(mac_equal(got[0].src, seg.service_mac));
}

// A guest's malformed frames: each one dropped under a named reason (never forwarded,
// translated or answered), and the worker goes on as if it had not come. An IPv4
// header that does not hold together (length, IHL, version) is not IPv4 to the router
// (nat_not_ip); a whole header with a cut L4 header is nat_malformed. Drop::kCount:
// routed as it is (IP options are not parsed, so a zero option length cannot loop; the
// receiver judges them, as behind any router that does not look at options).
struct Malformed {
  const char* what;
  std::vector<uint8_t> bytes;
  Drop expect;
};

std::vector<uint8_t> eth_ipv4(const std::vector<uint8_t>& l3) {
  std::vector<uint8_t> f = {0x52, 0x54, 0x00, 0x12, 0x35, 0x02,  // the NAT router's MAC
                            0x08, 0x00, 0x27, 0x00, 0x00, 0x01, 0x08, 0x00};
  f.insert(f.end(), l3.begin(), l3.end());
  return f;
}

// IPv4 10.0.2.15 -> 203.0.113.7 with the given first byte, total length and protocol,
// then `rest` (options and L4); the header checksum is left 0 (never checked first).
std::vector<uint8_t> ipv4_hdr(uint8_t ver_ihl, uint16_t total, uint8_t proto,
                              const std::vector<uint8_t>& rest, uint16_t frag = 0) {
  std::vector<uint8_t> h = {ver_ihl,
                            0,
                            uint8_t(total >> 8),
                            uint8_t(total),
                            0,
                            1,
                            uint8_t(frag >> 8),
                            uint8_t(frag),
                            64,
                            proto,
                            0,
                            0,
                            10,
                            0,
                            2,
                            15,
                            203,
                            0,
                            113,
                            7};
  h.insert(h.end(), rest.begin(), rest.end());
  return h;
}

// One `nat` adapter (port ra) behind the uplink rup, its next hop known.
void nat_guest(Harness& h) {
  h.apply(
      "appliance: {nat: {sessions: 1024}}\n"
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n"
      "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra}}}\n");
  h.enable_nat(1024);
  h.set_next_hop("rup", rte_ether_addr{{0x02, 0, 0, 0, 0, 0x01}});
}

TEST_F(HostileTest, MalformedFramesFromANatGuestAreDroppedUnderANameAndNothingElse) {
  nat_guest(*h);
  const std::vector<uint8_t> udp8 = {0x13, 0x88, 0x00, 0x07, 0x00, 0x08, 0x00, 0x00};
  std::vector<uint8_t> jumbo = eth_ipv4(ipv4_hdr(0x45, 8986, IPPROTO_UDP, udp8));
  jumbo.resize(9000, 0xab);
  const std::vector<Malformed> cases = {
      {"runt", {0x52, 0x54, 0x00, 0x12, 0x35}, Drop::kRunt},
      {"ethernet header only", eth_ipv4({}), Drop::kNatNotIp},
      {"truncated IPv4 header", eth_ipv4({0x45, 0, 0, 40, 0, 1, 0, 0, 64, 17}), Drop::kNatNotIp},
      {"IHL below 5", eth_ipv4(ipv4_hdr(0x43, 28, IPPROTO_UDP, udp8)), Drop::kNatNotIp},
      {"IHL beyond the frame", eth_ipv4(ipv4_hdr(0x4f, 28, IPPROTO_UDP, udp8)), Drop::kNatNotIp},
      {"version 6 in an IPv4 frame", eth_ipv4(ipv4_hdr(0x65, 28, IPPROTO_UDP, udp8)),
       Drop::kNatNotIp},
      {"total length beyond the frame", eth_ipv4(ipv4_hdr(0x45, 1400, IPPROTO_UDP, udp8)),
       Drop::kNatNotIp},
      {"total length below the header", eth_ipv4(ipv4_hdr(0x45, 12, IPPROTO_UDP, udp8)),
       Drop::kNatNotIp},
      {"UDP header cut short", eth_ipv4(ipv4_hdr(0x45, 24, IPPROTO_UDP, {0x13, 0x88, 0, 7})),
       Drop::kNatMalformed},
      {"TCP header cut short",
       eth_ipv4(ipv4_hdr(0x45, 30, IPPROTO_TCP, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})),
       Drop::kNatMalformed},
      {"zero-length IP option",
       eth_ipv4(ipv4_hdr(0x46, 32, IPPROTO_UDP,
                         {0x44, 0x00, 0x00, 0x00, 0x13, 0x88, 0x00, 0x07, 0x00, 0x08, 0x00, 0x00})),
       Drop::kCount},
      {"9000-byte frame on an AMD model", jumbo, Drop::kOversize},
  };
  for (const Malformed& c : cases) {
    const PortTotals before = h->totals("ra");
    h->send("ra", h->from_bytes(c.bytes));
    h->step(3);
    if (c.expect == Drop::kCount) {
      EXPECT_EQ(h->recv("rup").size(), 1u) << c.what;
      EXPECT_EQ(h->totals("ra").since(before).drops_total(), 0u) << c.what;
      continue;
    }
    EXPECT_EQ(h->recv("rup").size(), 0u) << c.what;
    EXPECT_EQ(h->recv("ra").size(), 0u) << c.what;
    const PortTotals t = h->totals("ra").since(before);
    EXPECT_EQ(t.drops_total(), 1u) << c.what;
    for (size_t d = 0; d < kDropCount; ++d) {
      if (t.drops[d] != 0) {
        EXPECT_EQ(kDropNames[d], kDropNames[static_cast<size_t>(c.expect)]) << c.what;
      }
    }
  }
  // A well-formed datagram still goes out, translated.
  h->send("ra", h->ipv4(mac(1), rte_ether_addr{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}},
                        ip4(10, 0, 2, 15), ip4(203, 0, 113, 7), IPPROTO_UDP, 5000, 7));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 1u);
}

// Overlapping and duplicated fragments from a NAT guest: the router does not reassemble
// (RFC 791 leaves that to the receiver), so each fragment of a datagram whose first
// fragment it saw is translated as that first one was; one whose first it never saw is
// dropped (nat_fragment). Every frame is accounted for, none is leaked.
TEST_F(HostileTest, OverlappingFragmentsAreTranslatedOrCountedNeverLost) {
  nat_guest(*h);
  // id 7: first fragment (UDP header + 8 bytes, MF), then one overlapping it at offset
  // 8, the same first fragment again, and a last one (offset 24, no MF).
  const std::vector<uint8_t> udp = {0x13, 0x88, 0x00, 0x07, 0x00, 0x28, 0x00, 0x00,
                                    1,    2,    3,    4,    5,    6,    7,    8};
  auto frag = [&](uint16_t off8, bool mf, const std::vector<uint8_t>& payload, uint16_t id) {
    std::vector<uint8_t> ip = ipv4_hdr(0x45, uint16_t(20 + payload.size()), IPPROTO_UDP, payload,
                                       uint16_t((mf ? 0x2000 : 0) | off8));
    ip[4] = uint8_t(id >> 8), ip[5] = uint8_t(id);
    return h->from_bytes(eth_ipv4(ip));
  };
  const std::vector<uint8_t> eight(8, 0xee), sixteen(16, 0xdd);
  h->send("ra", frag(0, true, udp, 7));
  h->send("ra", frag(1, true, sixteen, 7));  // bytes 8..23: overlaps the first's 8..15
  h->send("ra", frag(0, true, udp, 7));      // the first again
  h->send("ra", frag(3, false, eight, 7));   // bytes 24..31, the last
  h->send("ra", frag(2, false, eight, 9));   // a datagram whose first fragment never came
  h->step(3);
  const auto out = h->recv_ipv4("rup");
  const PortTotals t = h->totals("ra");
  EXPECT_EQ(out.size(), 4u);
  EXPECT_EQ(out.size() + t.drops_total(), 5u);
  EXPECT_EQ(h->drops("ra", Drop::kNatFragment), 1u);
  for (const auto& v : out) EXPECT_EQ(v.src_ip, ip4(198, 51, 100, 10));
  // The worker goes on.
  h->send("ra", h->ipv4(mac(1), rte_ether_addr{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}},
                        ip4(10, 0, 2, 15), ip4(203, 0, 113, 7), IPPROTO_UDP, 5001, 7));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 1u);
}

// Found by UBSan in an exhaustion test: a frame on the slow-path ring from a host-only
// port whose mbuf still said "NAT: needs fragmentation" (a stale hash.usr) made the slow
// path index the NAT tables of a segment that has none. Now a NAT reason from outside a
// NAT router's inside is counted malformed and freed.
TEST_F(HostileTest, ANatPuntReasonFromOutsideANatSegmentIsNotTrusted) {
  h->apply(kHostOnly);
  for (uint32_t reason : {1u, 2u, 3u, 4u}) {
    rte_mbuf* m = h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, ip4(192, 168, 78, 101), kServer);
    m->port = h->port_id("ra");
    m->hash.usr = reason;
    ASSERT_EQ(rte_ring_enqueue(h->punt_ring(), m), 0);
  }
  h->step(2);
  EXPECT_EQ(h->slow().stats().malformed, 4u);
  EXPECT_EQ(h->recv("ra").size(), 0u);
}

}  // namespace
}  // namespace gp::test
