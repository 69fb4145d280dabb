// The slow path end to end over net_ring ports: a guest's DHCP DISCOVER and REQUEST are
// punted, answered by the segment's server and sent back out of the guest's port; ARP
// for the server address is answered; frames for others are still switched.
#include <rte_arp.h>
#include <rte_ip.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#include <cstring>

#include "dataplane/services/dhcp_message.h"
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const char* kHostOnly =
    "networks: {hn: {mode: hostonly, host_interface: {name: gpt-dhcp0, address: "
    "192.168.77.1/24}}}\n"
    "vms:\n"
    "  a: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:01', port: ra}}}\n"
    "  b: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:02', port: rb}}}\n";

struct Answer {
  uint8_t type = 0;
  uint32_t yiaddr = 0, dst_ip = 0;
  rte_ether_addr dst_mac{};
  bool checksums_ok = false;
};

std::vector<Answer> answers(Harness& h, const std::string& port) {
  std::vector<Answer> out;
  for (rte_mbuf* m : h.recv_mbufs(port)) {
    Answer a;
    auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    a.dst_mac = eh->dst_addr;
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
    auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(u + 1);
    a.dst_ip = rte_be_to_cpu_32(ip->dst_addr);
    a.yiaddr = (uint32_t(p[16]) << 24) | (uint32_t(p[17]) << 16) | (uint32_t(p[18]) << 8) | p[19];
    a.type = p[242];  // option 53 comes first
    a.checksums_ok = rte_ipv4_cksum(ip) == 0 && rte_ipv4_udptcp_cksum_verify(ip, u) == 0 &&
                     u->src_port == rte_cpu_to_be_16(67) && u->dst_port == rte_cpu_to_be_16(68);
    out.push_back(a);
    rte_pktmbuf_free(m);
  }
  return out;
}

using ServicesTest = HarnessTest;

TEST_F(ServicesTest, DhcpDiscoverRequestGetOfferAndAck) {
  h->apply(kHostOnly);
  dhcp::Request d{};
  d.type = dhcp::MsgType::kDiscover;
  d.xid = 42;
  d.chaddr = {0x08, 0, 0x27, 0, 0, 1};
  h->send("ra", dhcp_frame(*h, d));
  h->step(3);
  auto offer = answers(*h, "ra");
  ASSERT_EQ(offer.size(), 1u);
  EXPECT_EQ(offer[0].type, 2);  // OFFER
  EXPECT_EQ(offer[0].yiaddr, ip4(192, 168, 77, 101));
  EXPECT_TRUE(offer[0].checksums_ok);
  EXPECT_TRUE(mac_equal(offer[0].dst_mac, mac(1)));  // unicast to chaddr (no broadcast flag)
  EXPECT_EQ(offer[0].dst_ip, ip4(192, 168, 77, 101));
  // Nobody else saw the DISCOVER or the OFFER: not b, not the host interface.
  EXPECT_EQ(h->recv("rb").size(), 0u);
  EXPECT_EQ(h->recv("net_tap0,iface=gpt-dhcp0").size(), 0u);

  dhcp::Request r = d;
  r.type = dhcp::MsgType::kRequest;
  r.flags = dhcp::kFlagBroadcast;
  r.requested_ip = ip4(192, 168, 77, 101);
  r.server_id = ip4(192, 168, 77, 100);
  h->send("ra", dhcp_frame(*h, r));
  h->step(3);
  auto ack = answers(*h, "ra");
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(ack[0].type, 5);              // ACK
  EXPECT_EQ(ack[0].dst_ip, 0xffffffffu);  // broadcast flag honoured
  EXPECT_TRUE(rte_is_broadcast_ether_addr(&ack[0].dst_mac));
  EXPECT_EQ(h->slow().stats().dhcp_replies, 2u);
  const auto& leases = h->slow().dhcp_servers().at("hostonly:hn").leases();
  EXPECT_EQ(leases.at(ip4(192, 168, 77, 101)).state, dhcp::LeaseState::kBound);
}

TEST_F(ServicesTest, ArpForTheServerIsAnswered) {
  h->apply(kHostOnly);
  rte_mbuf* m = h->frame(mac(2), kBroadcast, 60);
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* a = reinterpret_cast<rte_arp_hdr*>(eh + 1);
  a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  a->arp_hlen = 6;
  a->arp_plen = 4;
  a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  a->arp_data.arp_sha = mac(2);
  a->arp_data.arp_sip = rte_cpu_to_be_32(ip4(192, 168, 77, 102));
  a->arp_data.arp_tip = rte_cpu_to_be_32(ip4(192, 168, 77, 100));
  h->send("rb", m);
  h->step(3);
  auto got = h->recv_mbufs("rb");
  ASSERT_EQ(got.size(), 1u);
  auto* reh = rte_pktmbuf_mtod(got[0], rte_ether_hdr*);
  auto* ra = reinterpret_cast<rte_arp_hdr*>(reh + 1);
  EXPECT_EQ(ra->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
  EXPECT_EQ(ra->arp_data.arp_sip, rte_cpu_to_be_32(ip4(192, 168, 77, 100)));
  EXPECT_TRUE(mac_equal(reh->dst_addr, mac(2)));
  EXPECT_TRUE(mac_equal(ra->arp_data.arp_sha, h->snap().segments[0].service_mac));
  EXPECT_EQ(rte_pktmbuf_pkt_len(got[0]), 42u);
  rte_pktmbuf_free(got[0]);
  EXPECT_EQ(h->recv("ra").size(), 0u);  // answered, not flooded
}

TEST_F(ServicesTest, OtherTrafficIsStillSwitchedAndGarbageIsCounted) {
  h->apply(kHostOnly);
  // ARP for the host interface's address is for the host: flooded as usual.
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, ip4(192, 168, 77, 101),
                       ip4(192, 168, 77, 1)));
  h->step();
  EXPECT_EQ(h->slow().stats().arp_replies, 0u);
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->recv("net_tap0,iface=gpt-dhcp0").size(), 1u);
  // A DHCP frame whose payload is garbage: punted, counted malformed, freed.
  dhcp::Request d{};
  d.type = dhcp::MsgType::kDiscover;
  d.chaddr = {0x08, 0, 0x27, 0, 0, 1};
  rte_mbuf* m = dhcp_frame(*h, d);
  rte_pktmbuf_mtod_offset(m, uint8_t*, 14 + 20 + 8)[236] = 0;  // break the magic cookie
  h->send("ra", m);
  h->step(3);
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(h->slow().stats().malformed, 1u);
}

TEST_F(ServicesTest, InternalNetworksHaveNoServices) {
  h->apply(
      "vms:\n  a: {adapters: {1: {attach: internal:x, mac: '08:00:27:00:00:01', port: ra}}}\n"
      "  b: {adapters: {1: {attach: internal:x, mac: '08:00:27:00:00:02', port: rb}}}\n");
  dhcp::Request d{};
  d.type = dhcp::MsgType::kDiscover;
  d.chaddr = {0x08, 0, 0x27, 0, 0, 1};
  h->send("ra", dhcp_frame(*h, d));
  h->step(3);
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(h->recv("rb").size(), 1u);  // just a broadcast on an internal network
}

TEST_F(ServicesTest, AFloodingGuestCannotStarveTheSlowPathForOthers) {
  h->apply(kHostOnly);
  const Snapshot& snap = h->snap();
  // a asks for the server's MAC 1500 times at one instant; b then asks for an address.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 30; ++i)
      h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, ip4(192, 168, 77, 102),
                           ip4(192, 168, 77, 100)));
    h->step(1);
    h->recv("ra");  // the answers (counted below by the slow path's own numbers)
  }
  dhcp::Request d{};
  d.type = dhcp::MsgType::kDiscover;
  d.xid = 7;
  d.chaddr = {0x08, 0, 0x27, 0, 0, 2};
  h->send("rb", dhcp_frame(*h, d));
  h->step(3);
  auto offer = answers(*h, "rb");
  ASSERT_EQ(offer.size(), 1u) << "b's DISCOVER was starved by a's flood";
  EXPECT_EQ(offer[0].type, 2);
  EXPECT_EQ(h->slow().stats().arp_replies, snap.punt_burst);  // a's burst, no more
  EXPECT_EQ(h->drops("ra", Drop::kPuntRateLimited), 1500u - snap.punt_burst);
  EXPECT_EQ(h->drops("ra", Drop::kPuntRingFull), 0u);
  // A second later a has tokens again.
  h->advance_seconds(1);
  h->send("ra", h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, ip4(192, 168, 77, 102),
                       ip4(192, 168, 77, 100)));
  h->step(3);
  EXPECT_EQ(h->recv("ra").size(), 1u);
}

// The slow path takes a burst from each worker's ring a turn and says when it left more
// (the control loop then turns again at once instead of waiting for a request).
TEST_F(ServicesTest, TheSlowPathTakesABurstATurnAndSaysWhatIsLeft) {
  h->apply(kHostOnly);
  for (int i = 0; i < 20; ++i)
    for (const char* port : {"ra", "rb"})
      h->send(port, h->arp(port[1] == 'a' ? mac(1) : mac(2), kBroadcast, RTE_ARP_OP_REQUEST,
                           ip4(192, 168, 77, port[1] == 'a' ? 101 : 102), ip4(192, 168, 77, 100)));
  h->poll();  // 40 punts queued, no slow-path turn yet
  EXPECT_EQ(h->run_slow(), 32u);
  EXPECT_TRUE(h->slow().backlog());
  EXPECT_EQ(h->run_slow(), 8u);
  EXPECT_FALSE(h->slow().backlog());
  EXPECT_EQ(h->slow().stats().arp_replies, 40u);
  EXPECT_EQ(h->run_slow(), 0u);
  EXPECT_FALSE(h->slow().backlog());
  h->step(2);  // the answers go out
  EXPECT_EQ(h->recv("ra").size(), 20u);
  EXPECT_EQ(h->recv("rb").size(), 20u);
}

}  // namespace
}  // namespace gp::test
