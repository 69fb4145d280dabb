// Exhaustion, through the real worker, learner and slow-path code: the MAC table, the
// mbuf pool, the learn ring, the NAT handoff ring and the slow-path ring each filled to
// the brim. Each time the loss is counted under its own name, traffic that needs no
// more of the exhausted resource goes on, and once the pressure ends the appliance
// works as before by itself; every mbuf is back in the pool afterwards (HarnessTest).
#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <vector>

#include "dataplane/l2/fdb.h"
#include "dataplane/l2/learner.h"
#include "dataplane/services/dhcp_message.h"
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const char* kLab =
    "vms:\n"
    "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra, "
    "mac_limit: 0}}}\n"
    "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n"
    "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: rc}}}\n";

rte_ether_addr flood_mac(uint32_t i) {
  return rte_ether_addr{{0x0a, 0x00, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i), 0x01}};
}

using ExhaustionTest = HarnessTest;

TEST_F(ExhaustionTest, AFullMacTableKeepsKnownTrafficAndRecoversAfterAgeing) {
  h->apply(kLab);
  h->send("rb", mac(2), kBroadcast);
  h->send("rc", mac(3), kBroadcast);
  h->step();
  h->recv("ra"), h->recv("rb"), h->recv("rc");
  // a (no mac_limit) sends from 2000 MACs: the 1024-entry table fills.
  for (uint32_t i = 0; i < 2000; i += 25) {
    for (uint32_t j = i; j < i + 25 && j < 2000; ++j) h->send("ra", flood_mac(j), kBroadcast);
    h->step(1);
    h->recv("rb"), h->recv("rc");
  }
  EXPECT_GT(h->learner().table_full(), 0u);
  // b and c still reach each other by unicast, as known destinations (no flood to a).
  h->send("rb", mac(2), mac(3));
  h->step();
  EXPECT_EQ(h->recv("rc").size(), 1u);
  EXPECT_EQ(h->recv("ra").size(), 0u);
  // The pressure ends; the MACs age out (300 s), b and c keep talking; a new guest MAC
  // is learned again.
  for (int s = 0; s < 6; ++s) {
    h->advance_seconds(60);
    h->send("rb", mac(2), mac(3));
    h->send("rc", mac(3), mac(2));
    h->step();
    h->age();
    h->recv("rb"), h->recv("rc");
  }
  const uint64_t full = h->learner().table_full();
  h->send("ra", mac(1), kBroadcast);
  h->step();
  h->recv("rb"), h->recv("rc");
  EXPECT_EQ(h->learner().table_full(), full);
  h->send("rb", mac(2), mac(1));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->recv("rc").size(), 0u) << "a's MAC was not learned after the table emptied";
}

TEST_F(ExhaustionTest, AFullLearnRingLosesLearningNotFrames) {
  h->apply(kLab);
  // Fill the worker's learn ring as a burst of new MACs faster than the learner would.
  rte_ring* ring = h->learn_ring();
  const unsigned room = rte_ring_free_count(ring);
  std::vector<LearnEvent> filler(room);
  for (unsigned i = 0; i < room; ++i)
    filler[i] = LearnEvent{Fdb::make_key(0, flood_mac(i)), h->port_id("rc"),
                           h->snap().segments[0].fdb_generation, 0};
  ASSERT_EQ(rte_ring_enqueue_bulk_elem(ring, filler.data(), sizeof(LearnEvent), room, nullptr),
            room);
  h->send("ra", mac(1), mac(2));
  h->poll();  // the worker alone: the learner does not drain
  EXPECT_EQ(h->event(WorkerEvent::kLearnRingFull), 1u);
  EXPECT_EQ(h->recv("rb").size(), 1u) << "the frame itself must still be forwarded";
  h->step();  // the learner drains the ring: learning works again
  h->send("ra", mac(1), mac(2));
  h->step();
  h->recv("rb");
  h->send("rb", mac(2), mac(1));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->recv("rc").size(), 0u) << "a's MAC was not learned once the ring drained";
}

TEST_F(ExhaustionTest, AnEmptyPoolCostsTheCopiesOnlyAndComesBack) {
  // A flood to an access port and a trunk needs one tagged copy: no mbuf, no copy.
  h->apply(
      "vms:\n"
      "  a: {adapters: {1: {attach: internal:v, mac: '08:00:27:00:00:01', port: ra, vlan: 10}}}\n"
      "  b: {adapters: {1: {attach: internal:v, mac: '08:00:27:00:00:02', port: rb, vlan: 10}}}\n"
      "  t: {adapters: {1: {attach: internal:v, mac: '08:00:27:00:00:05', port: rt, "
      "vlan: {trunk: [10]}}}}\n");
  rte_mbuf* m = h->frame(mac(1), kBroadcast);
  std::vector<rte_mbuf*> held;
  while (rte_mbuf* x = rte_pktmbuf_alloc(test_pool())) held.push_back(x);
  h->send("ra", m);
  h->step();
  EXPECT_EQ(h->drops("ra", Drop::kVlanNoMbuf), 1u);
  EXPECT_EQ(h->recv("rb").size(), 1u) << "the untagged member still gets the frame itself";
  EXPECT_EQ(h->recv("rt").size(), 0u);
  for (rte_mbuf* x : held) rte_pktmbuf_free(x);
  h->send("ra", mac(1), kBroadcast);
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->recv("rt").size(), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kVlanNoMbuf), 1u);
}

TEST_F(ExhaustionTest, AnEmptyPoolStopsNatFragmentingAsNoMbuf) {
  h->apply(
      "appliance: {nat: {sessions: 1024}}\n"
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1, "
      "mtu: 1400}}\n"
      "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra}}}\n");
  h->enable_nat(1024);
  h->set_next_hop("rup", rte_ether_addr{{0x02, 0, 0, 0, 0, 0x01}});
  const rte_ether_addr gw{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
  const uint32_t guest = ip4(10, 0, 2, 15), server = ip4(203, 0, 113, 7);
  rte_mbuf* big = h->ipv4(mac(1), gw, guest, server, IPPROTO_UDP, 1, 2, 0, 1373, false);
  rte_mbuf* small = h->ipv4(mac(1), gw, guest, server, IPPROTO_UDP, 1, 2, 0, 100, false);
  std::vector<rte_mbuf*> held;
  while (rte_mbuf* x = rte_pktmbuf_alloc(test_pool())) held.push_back(x);
  h->send("ra", big);
  h->send("ra", small);
  h->step(3);
  EXPECT_EQ(h->drops("ra", Drop::kNoMbuf), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kNatTooBig), 0u);
  EXPECT_EQ(h->recv("rup").size(), 1u) << "a datagram that fits needs no mbuf and goes";
  for (rte_mbuf* x : held) rte_pktmbuf_free(x);
  h->send("ra", h->ipv4(mac(1), gw, guest, server, IPPROTO_UDP, 1, 2, 0, 1373, false));
  h->step(3);
  EXPECT_EQ(h->recv("rup").size(), 2u);  // fragmented again
  EXPECT_EQ(h->drops("ra", Drop::kNoMbuf), 1u);
}

TEST_F(ExhaustionTest, AFullSlowPathRingDropsPuntsAndRecovers) {
  h->apply(
      "networks: {hn: {mode: hostonly, host_interface: {name: gpt-exh0, address: "
      "192.168.76.1/24}}}\n"
      "vms:\n"
      "  a: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:01', port: ra}}}\n"
      "  b: {adapters: {1: {attach: hostonly:hn, mac: '08:00:27:00:00:02', port: rb}}}\n");
  // The slow path is behind: its ring is full.
  rte_ring* ring = h->punt_ring();
  std::vector<rte_mbuf*> filler;
  while (rte_ring_free_count(ring) != 0) {
    rte_mbuf* m = h->arp(mac(1), kBroadcast, RTE_ARP_OP_REQUEST, ip4(192, 168, 76, 101),
                         ip4(192, 168, 76, 100));
    m->port = h->port_id("ra");
    m->hash.usr = kPuntAnswer;  // as punt_stage marks what it hands over
    ASSERT_EQ(rte_ring_enqueue(ring, m), 0);
  }
  dhcp::Request d{};
  d.type = dhcp::MsgType::kDiscover;
  d.xid = 5;
  d.chaddr = {0x08, 0, 0x27, 0, 0, 2};
  h->send("rb", dhcp_frame(*h, d));
  h->poll();
  EXPECT_EQ(h->drops("rb", Drop::kPuntRingFull), 1u);
  // Switching goes on meanwhile.
  h->send("ra", mac(1), mac(2));
  h->poll();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  // The slow path catches up, a bounded batch per run (answers for the filler go back
  // to a); b asks again.
  for (int i = 0; i < 200 && rte_ring_count(ring) != 0; ++i) {
    h->step(1);
    h->recv("ra");
  }
  EXPECT_EQ(rte_ring_count(ring), 0u);
  h->advance_seconds(1);
  h->send("rb", dhcp_frame(*h, d));
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 1u) << "no OFFER once the ring had room again";
  EXPECT_EQ(h->drops("rb", Drop::kPuntRingFull), 1u);
}

TEST_F(ExhaustionTest, AFullHandoffRingDropsOnlyWhatMustCrossWorkers) {
  h->apply(
      "appliance: {nat: {sessions: 1024}}\n"
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n"
      "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra}}}\n");
  h->enable_nat(1024, 2);
  const rte_ether_addr router{{0x02, 0, 0, 0, 0, 0x01}};
  h->set_next_hop("rup", router);
  const rte_ether_addr gw{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
  const uint32_t guest = ip4(10, 0, 2, 15), server = ip4(203, 0, 113, 7);
  const uint32_t outside = ip4(198, 51, 100, 10);
  std::vector<uint16_t> ports;
  for (uint16_t p = 45000; p < 45016; ++p) {
    h->send("ra", h->ipv4(mac(1), gw, guest, server, IPPROTO_UDP, p, 7));
    h->step(3);
    for (const auto& v : h->recv_ipv4("rup")) ports.push_back(v.sport);
  }
  ASSERT_EQ(ports.size(), 16u);
  auto answer_all = [&] {
    for (uint16_t p : ports)
      h->send("rup", h->ipv4(router, h->own_mac("rup"), server, outside, IPPROTO_UDP, 7, p));
  };
  // Worker 1 is behind: the ring from worker 0 is full.
  rte_ring* ring = h->handoff_ring(0, 1);
  while (rte_ring_free_count(ring) != 0) {
    rte_mbuf* m = h->ipv4(router, h->own_mac("rup"), server, outside, IPPROTO_UDP, 7, 1);
    m->port = h->port_id("rup");
    ASSERT_EQ(rte_ring_enqueue(ring, m), 0);
  }
  answer_all();
  h->poll_worker(0);
  const uint64_t full = h->drops("rup", Drop::kNatHandoffFull);
  EXPECT_GT(full, 0u) << "no answer belonged to worker 1";
  const size_t delivered = h->recv("ra").size();
  EXPECT_EQ(delivered + full, 16u) << "worker 0's own sessions must be translated meanwhile";
  EXPECT_GT(delivered, 0u);
  // Worker 1 catches up; every answer gets through again.
  for (int i = 0; i < 100 && rte_ring_count(ring) != 0; ++i) h->step(1);
  h->recv("ra");
  answer_all();
  h->step(3);
  EXPECT_EQ(h->recv("ra").size(), 16u);
  EXPECT_EQ(h->drops("rup", Drop::kNatHandoffFull), full);
}

}  // namespace
}  // namespace gp::test
