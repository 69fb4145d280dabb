// L2 switching through the real worker code over net_ring ports: learning, flooding
// scope, isolation, promiscuous policies, ageing, link state, malformed frames, MAC
// moves, generation flush; every test ends with no mbuf in use.
#include <rte_mempool.h>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

using L2Test = HarnessTest;

// Three guests on internal:lab, one on internal:other; a has mac 1, b 2, c 3, d 4.
std::string lab(const std::string& c_promisc = "deny", const std::string& extra = "") {
  return "vms:\n"
         "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra}}}\n"
         "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n"
         "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: rc, "
         "promiscuous: " +
         c_promisc +
         "}}}\n"
         "  d: {adapters: {1: {attach: internal:other, mac: '08:00:27:00:00:04', port: rd}}}\n" +
         extra;
}

TEST_F(L2Test, UnknownUnicastFloodsThenLearnedGoesDirect) {
  h->apply(lab());
  // a -> b before anything is learned: flooded, but deny-c only takes its own MAC.
  h->send("ra", mac(1), mac(2));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->recv("rc").size(), 0u);
  EXPECT_EQ(h->recv("ra").size(), 0u);  // never back out of the ingress port
  EXPECT_EQ(h->recv("rd").size(), 0u);  // another segment
  // b -> a: a is learned now, so it goes straight to a.
  h->send("rb", mac(2), mac(1));
  h->step();
  auto got = h->recv("ra");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(mac_equal(got[0].src, mac(2)));
  EXPECT_EQ(h->recv("rc").size(), 0u);
  EXPECT_EQ(h->fdb().count(), 2u);
  EXPECT_EQ(h->totals("ra").rx_packets, 1u);
  EXPECT_EQ(h->totals("ra").tx_packets, 1u);
  EXPECT_EQ(h->totals("ra").tx_bytes, 60u);
}

TEST_F(L2Test, BroadcastFloodsToSegmentOnlyNotBackToIngress) {
  h->apply(lab());
  h->send("ra", mac(1), kBroadcast);
  rte_ether_addr mcast{{0x01, 0x00, 0x5e, 0, 0, 1}};
  h->send("ra", mac(1), mcast);
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 2u);
  EXPECT_EQ(h->recv("rc").size(), 2u);
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(h->recv("rd").size(), 0u);
}

TEST_F(L2Test, SegmentsAreIsolatedEvenForKnownMacs) {
  h->apply(lab());
  h->send("rd", mac(4), kBroadcast);  // d is learned in "other"
  h->step();
  EXPECT_EQ(h->recv("ra").size() + h->recv("rb").size() + h->recv("rc").size(), 0u);
  h->send("ra", mac(1), mac(4));  // a cannot reach d by its MAC either
  h->step();
  EXPECT_EQ(h->recv("rd").size(), 0u);
  EXPECT_EQ(h->drops("ra", Drop::kNoDestination), 1u);
}

TEST_F(L2Test, PromiscuousDenySeesNoUnicastBetweenOthers) {
  h->apply(lab("deny"));
  h->send("ra", mac(1), kBroadcast);
  h->send("rb", mac(2), kBroadcast);
  h->step();
  h->recv("ra"), h->recv("rb"), h->recv("rc");
  h->send("ra", mac(1), mac(2));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->recv("rc").size(), 0u);
}

TEST_F(L2Test, PromiscuousAllowVmsSeesUnicastBetweenOtherGuests) {
  h->apply(lab("allow-vms"));
  h->send("ra", mac(1), kBroadcast);
  h->send("rb", mac(2), kBroadcast);
  h->step();
  h->recv("ra"), h->recv("rb"), h->recv("rc");
  h->send("ra", mac(1), mac(2));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  auto snooped = h->recv("rc");
  ASSERT_EQ(snooped.size(), 1u);
  EXPECT_TRUE(mac_equal(snooped[0].dst, mac(2)));
}

// Bridged segment: uplink "up" plus guests; allow-vms must not see uplink traffic,
// allow-all must.
std::string bridged(const std::string& c_promisc) {
  return "uplinks: {wan: {device: rup}}\n"
         "networks: {lan: {mode: bridged, uplink: wan}}\n"
         "vms:\n"
         "  a: {adapters: {1: {attach: bridged:lan, mac: '08:00:27:00:00:01', port: ra}}}\n"
         "  c: {adapters: {1: {attach: bridged:lan, mac: '08:00:27:00:00:03', port: rc, "
         "promiscuous: " +
         c_promisc + "}}}\n";
}

TEST_F(L2Test, AllowVmsDoesNotSeeUplinkTraffic) {
  h->apply(bridged("allow-vms"));
  const rte_ether_addr outside{{0x02, 0, 0, 0, 0, 0x50}};
  h->send("rup", outside, kBroadcast);
  h->send("ra", mac(1), kBroadcast);
  h->step();
  h->recv("ra"), h->recv("rc"), h->recv("rup");
  h->send("rup", outside, mac(1));
  h->send("ra", mac(1), outside);
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->recv("rup").size(), 1u);
  EXPECT_EQ(h->recv("rc").size(), 0u);
}

TEST_F(L2Test, AllowAllSeesUplinkTraffic) {
  h->apply(bridged("allow-all"));
  const rte_ether_addr outside{{0x02, 0, 0, 0, 0, 0x50}};
  h->send("rup", outside, kBroadcast);
  h->send("ra", mac(1), kBroadcast);
  h->step();
  h->recv("ra"), h->recv("rc"), h->recv("rup");
  h->send("rup", outside, mac(1));
  h->send("ra", mac(1), outside);
  h->step();
  EXPECT_EQ(h->recv("rc").size(), 2u);
  EXPECT_EQ(h->recv("rup").size(), 1u);
  // Unknown unicast from a guest goes out of the uplink (it is the wire).
  h->send("ra", mac(1), rte_ether_addr{{0x02, 0, 0, 0, 0, 0x77}});
  h->step();
  EXPECT_EQ(h->recv("rup").size(), 1u);
}

TEST_F(L2Test, AgeingForgetsIdleMacsWithInjectedClock) {
  h->apply(lab("deny", "networks: {lab: {mode: internal, mac_ageing: 30}}\n"));
  h->send("ra", mac(1), kBroadcast);
  h->step();
  h->recv("rb"), h->recv("rc");
  EXPECT_EQ(h->fdb().count(), 1u);
  h->advance_seconds(20);
  h->age();
  EXPECT_EQ(h->fdb().count(), 1u);  // not yet
  h->advance_seconds(11);
  h->age();
  EXPECT_EQ(h->fdb().count(), 0u);
  // Now b -> a is unknown again: flooded (c has deny so only a gets it, via flooding).
  h->send("rb", mac(2), mac(1));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
}

TEST_F(L2Test, TrafficKeepsAnEntryAlive) {
  h->apply(lab("deny", "networks: {lab: {mode: internal, mac_ageing: 30}}\n"));
  for (int i = 0; i < 4; ++i) {
    h->send("ra", mac(1), kBroadcast);
    h->step();
    h->advance_seconds(20);
    h->age();
  }
  EXPECT_EQ(h->fdb().count(), 1u);
  h->recv("rb"), h->recv("rc");
}

TEST_F(L2Test, LinkDownAdapterTakesAndSendsNothing) {
  h->apply(
      "vms:\n"
      "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra}}}\n"
      "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb, "
      "cable_connected: false}}}\n"
      "  n: {adapters: {1: {attach: none, mac: '08:00:27:00:00:05', port: rn}}}\n");
  h->send("rb", mac(2), kBroadcast);
  h->send("rn", mac(5), kBroadcast);
  h->send("ra", mac(1), kBroadcast);
  h->send("ra", mac(1), mac(2));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(h->recv("rb").size(), 0u);
  EXPECT_EQ(h->recv("rn").size(), 0u);
  EXPECT_EQ(h->drops("rb", Drop::kLinkDown), 1u);
  EXPECT_EQ(h->drops("rn", Drop::kLinkDown), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kNoDestination), 2u);
}

TEST_F(L2Test, MalformedFramesAreDroppedAndCounted) {
  h->apply(lab());
  h->send("ra", h->frame(mac(1), mac(2), 10));                      // runt
  h->send("ra", rte_ether_addr{{0x01, 0, 0x5e, 0, 0, 1}}, mac(2));  // group source
  h->send("ra", rte_ether_addr{}, mac(2));                          // zero source
  h->send("ra", mac(1), mac(2), 1515);                              // MTU 1500 + 14 is the largest
  h->send("ra", mac(1), mac(2), 1514);                              // fits
  h->step();
  EXPECT_EQ(h->drops("ra", Drop::kRunt), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kBadSrcMac), 2u);
  EXPECT_EQ(h->drops("ra", Drop::kOversize), 1u);
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->totals("ra").rx_packets, 5u);
}

TEST_F(L2Test, MacMoveFollowsTheNewPort) {
  h->apply(lab("deny"));
  const rte_ether_addr roaming{{0x02, 0, 0, 0, 0, 0x42}};
  h->send("ra", roaming, kBroadcast);
  h->step();
  h->recv("rb"), h->recv("rc");
  h->send("rc", roaming, kBroadcast);  // roaming now behind c
  h->step();
  h->recv("ra"), h->recv("rb");
  // b sends to roaming: must go to c only. c is deny, and roaming is not c's own MAC,
  // so deny filters it: the frame is dropped by policy, not sent to a.
  h->send("rb", mac(2), roaming);
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 0u);
  EXPECT_EQ(h->drops("rb", Drop::kPolicy), 1u);
}

TEST_F(L2Test, MacMoveToAnUplinkDelivers) {
  h->apply(bridged("deny"));
  h->send("ra", mac(1), kBroadcast);
  h->step();
  h->recv("rc"), h->recv("rup");
  h->send("rup", mac(1), kBroadcast);  // a's MAC moved behind the uplink
  h->step();
  h->recv("ra"), h->recv("rc");
  h->send("rc", mac(3), mac(1));
  h->step();
  EXPECT_EQ(h->recv("rup").size(), 1u);
  EXPECT_EQ(h->recv("ra").size(), 0u);
}

TEST_F(L2Test, DestinationOnIngressPortIsDropped) {
  h->apply(bridged("deny"));
  const rte_ether_addr x{{0x02, 0, 0, 0, 0, 0x10}}, y{{0x02, 0, 0, 0, 0, 0x11}};
  h->send("rup", x, kBroadcast);
  h->step();
  h->recv("ra"), h->recv("rc");
  h->send("rup", y, x);  // both behind the uplink
  h->step();
  EXPECT_EQ(h->drops("rup", Drop::kSamePort), 1u);
  EXPECT_EQ(h->recv("rup").size(), 0u);
}

TEST_F(L2Test, GenerationBumpFlushesASegment) {
  h->apply(lab());
  h->send("ra", mac(1), kBroadcast);
  h->step();
  h->recv("rb"), h->recv("rc");
  // A new snapshot whose lab segment has generation 2: a's entry no longer counts.
  auto next = std::make_unique<Snapshot>(h->snap());
  next->segments[next->ports[h->port_id("ra")].segment].fdb_generation = 2;
  h->holder().publish(std::move(next));
  // b sends to a, whose entry the table still holds under generation 1: the worker must
  // not use it, so the frame is flooded, not sent straight to a.
  const uint64_t floods = h->event(WorkerEvent::kFloods);
  h->send("rb", mac(2), mac(1));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->event(WorkerEvent::kFloods), floods + 1) << "the stale entry was used";
  // a speaks again: learned under generation 2, and b's next frame goes straight to it.
  h->send("ra", mac(1), mac(2));
  h->step();
  h->recv("rb");
  h->send("rb", mac(2), mac(1));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->event(WorkerEvent::kFloods), floods + 1);
  h->age();                         // reaps nothing live
  EXPECT_EQ(h->fdb().count(), 2u);  // a and b, both under generation 2
}

// An 802.1Q tag on top of a full-size frame: 1518 bytes pass where the MTU is 1500, and
// the tag reaches the other guest as it was sent.
TEST_F(L2Test, TaggedFramesMayBeFourBytesLonger) {
  h->apply(lab());
  auto tagged = [&](uint32_t len) {
    rte_mbuf* m = h->frame(mac(1), mac(2), len);
    auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
    auto* vh = reinterpret_cast<rte_vlan_hdr*>(eh + 1);
    vh->vlan_tci = rte_cpu_to_be_16(42);
    vh->eth_proto = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    return m;
  };
  h->send("ra", tagged(1518));
  h->send("ra", tagged(1519));
  h->send("ra", mac(1), mac(2), 1518);  // untagged: 4 bytes too long
  h->step();
  auto b = h->recv_mbufs("rb");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(rte_pktmbuf_pkt_len(b[0]), 1518u);
  const auto* vh = rte_pktmbuf_mtod_offset(b[0], const rte_vlan_hdr*, sizeof(rte_ether_hdr));
  EXPECT_EQ(rte_be_to_cpu_16(vh->vlan_tci), 42);
  rte_pktmbuf_free(b[0]);
  EXPECT_EQ(h->drops("ra", Drop::kOversize), 2u);
}

TEST_F(L2Test, ManyFramesInOneBurstAndTxFullCounted) {
  h->apply(lab());
  // 1100 broadcasts: the tx ring of each receiver holds 1023, the rest is tx_full.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 550; ++i) h->send("ra", mac(1), kBroadcast);
    for (int i = 0; i < 20; ++i) h->step(1);
  }
  auto b = h->recv("rb");
  auto c = h->recv("rc");
  EXPECT_EQ(b.size() + h->drops("rb", Drop::kTxFull), 1100u);
  EXPECT_GT(h->drops("rb", Drop::kTxFull), 0u);
  EXPECT_EQ(c.size() + h->drops("rc", Drop::kTxFull), 1100u);
}

}  // namespace
}  // namespace gp::test
