// What an operator pins by hand, through the real worker code: static MAC entries
// (forwarded to without learning or flooding, never aged, never moved by another
// adapter's frames, gone with the config that had them) and a static next hop for a NAT
// uplink (used without ARP, never relearned).
#include <netinet/in.h>
#include <rte_arp.h>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

using PinsTest = HarnessTest;

const rte_ether_addr kBehind{{0x02, 0x00, 0x00, 0x00, 0x0b, 0x01}};  // a host behind a

std::string lab(bool pinned) {
  return "vms:\n"
         "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra, "
         "promiscuous: allow-all" +
         std::string(pinned ? ", static_macs: ['02:00:00:00:0b:01']" : "") +
         "}}}\n"
         "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n"
         "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: rc}}}\n";
}

// The port kBehind's entry points at (kNoPort: none), and whether it is pinned.
uint16_t behind_port(Harness& h, bool* is_static = nullptr) {
  uint16_t port = kNoPort;
  h.fdb().for_each(0, [&](const FdbEntryView& e) {
    if (!mac_equal(e.mac, kBehind)) return;
    port = e.port;
    if (is_static != nullptr) *is_static = e.is_static;
  });
  return port;
}

TEST_F(PinsTest, AStaticMacIsForwardedToNeverAgedAndNeverMoved) {
  h->apply(lab(true));
  h->drain_learner();
  bool pinned = false;
  EXPECT_EQ(behind_port(*h, &pinned), h->port_id("ra"));
  EXPECT_TRUE(pinned);
  // Known at once: unicast to a, nothing flooded.
  h->send("rb", mac(2), kBehind);
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->event(WorkerEvent::kFloods), 0u);
  // c sends from the pinned MAC: the entry stays a's.
  h->send("rc", kBehind, kBroadcast);
  h->step();
  h->recv("ra"), h->recv("rb");
  EXPECT_GE(h->learner().static_refused(), 1u);
  EXPECT_EQ(behind_port(*h), h->port_id("ra"));
  h->send("rb", mac(2), kBehind);
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  // An hour idle: the learned entries age out, the pinned one does not.
  h->advance_seconds(3600);
  h->age();
  EXPECT_EQ(behind_port(*h), h->port_id("ra"));
  EXPECT_EQ(h->fdb().count(), 1u);
  // Gone with the config that had it; then the MAC is learned as any other.
  h->apply(lab(false));
  h->drain_learner();
  EXPECT_EQ(behind_port(*h), kNoPort);
  h->send("rc", kBehind, kBroadcast);
  h->step();
  h->recv("ra"), h->recv("rb");
  pinned = true;
  EXPECT_EQ(behind_port(*h, &pinned), h->port_id("rc")) << "learned on c now";
  EXPECT_FALSE(pinned);
}

TEST_F(PinsTest, AStaticGatewayMacIsUsedWithoutArp) {
  const rte_ether_addr gw{{0x02, 0x00, 0x00, 0x00, 0x0c, 0x01}};
  h->apply(
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
      "gateway_mac: '02:00:00:00:0c:01'}}\n"
      "vms:\n"
      "  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra}}}\n");
  h->enable_nat(1024);
  h->enable_probes();  // a slow path that would ARP for a gateway it does not know
  h->step();           // the slow path's first run sets the next hop
  const rte_ether_addr router{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
  h->send("ra",
          h->ipv4(mac(1), router, ip4(10, 0, 2, 15), ip4(203, 0, 113, 7), IPPROTO_UDP, 4000, 53));
  h->step(3);
  auto out = h->recv_mbufs("rup");
  ASSERT_EQ(out.size(), 1u) << "the datagram and no ARP request";
  const auto* eh = rte_pktmbuf_mtod(out[0], const rte_ether_hdr*);
  EXPECT_EQ(rte_be_to_cpu_16(eh->ether_type), RTE_ETHER_TYPE_IPV4);
  EXPECT_TRUE(mac_equal(eh->dst_addr, gw));
  rte_pktmbuf_free(out[0]);
  // The gateway's own ARP saying otherwise changes nothing.
  const rte_ether_addr other{{0x02, 0x00, 0x00, 0x00, 0x0c, 0x99}};
  h->send("rup", h->arp(other, kBroadcast, RTE_ARP_OP_REQUEST, ip4(198, 51, 100, 1),
                        ip4(198, 51, 100, 10)));
  h->step(3);
  h->recv("rup");
  h->send("ra",
          h->ipv4(mac(1), router, ip4(10, 0, 2, 15), ip4(203, 0, 113, 7), IPPROTO_UDP, 4000, 53));
  h->step(3);
  auto again = h->recv_ipv4("rup");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(mac_equal(again[0].dst_mac, gw));
}

}  // namespace
}  // namespace gp::test
