// The MAC table itself (single writer, lock-free readers): learn, move, flush by port,
// table full, iteration, ageing of stale generations and removed segments.
#include "dataplane/l2/fdb.h"

#include <rte_rcu_qsbr.h>

#include "dataplane/l2/learner.h"
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

class FdbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    holder = std::make_unique<SnapshotHolder>(1);
    fdb = std::make_unique<Fdb>(64, holder.get());
    snap.segments.resize(2);
    for (uint16_t p = 0; p < 4; ++p) {  // as compile_snapshot does: policy and member list
      Segment& seg = snap.segments[p < 2 ? 0 : 1];
      snap.ports[p].segment = p < 2 ? 0 : 1;
      seg.members[seg.n_members++] = p;
    }
  }
  uint64_t lookup(uint64_t key, bool* hit) {
    const void* k[1] = {&key};
    uint64_t d[1] = {0};
    *hit = fdb->lookup_bulk(k, 1, d) & 1;
    return d[0];
  }
  std::unique_ptr<SnapshotHolder> holder;
  std::unique_ptr<Fdb> fdb;
  Snapshot snap;
};

TEST_F(FdbTest, LearnLookupAndMove) {
  const uint64_t k = Fdb::make_key(0, mac(1));
  ASSERT_EQ(fdb->learn(k, 1, 1, 100), Fdb::Learned::kNew);
  EXPECT_EQ(fdb->learn(k, 1, 1, 150), Fdb::Learned::kRefreshed);
  bool hit = false;
  uint64_t d = lookup(k, &hit);
  ASSERT_TRUE(hit);
  EXPECT_EQ(Fdb::data_port(d), 1);
  EXPECT_EQ(Fdb::data_generation(d), 1);
  ASSERT_EQ(fdb->learn(k, 0, 1, 200), Fdb::Learned::kMoved);
  d = lookup(k, &hit);
  EXPECT_EQ(Fdb::data_port(d), 0);
  EXPECT_EQ(fdb->count(), 1u);
  // Same MAC in another segment is another entry.
  ASSERT_EQ(fdb->learn(Fdb::make_key(1, mac(1)), 2, 1, 200), Fdb::Learned::kNew);
  EXPECT_EQ(fdb->count(), 2u);
}

TEST_F(FdbTest, FlushPortAndIterate) {
  for (uint8_t i = 1; i <= 5; ++i) fdb->learn(Fdb::make_key(0, mac(i)), i % 2, 1, 10);
  int seen = 0;
  fdb->for_each(20, [&](const FdbEntryView& e) {
    ++seen;
    EXPECT_EQ(e.segment, 0);
    EXPECT_EQ(e.age_tsc, 10u);
  });
  EXPECT_EQ(seen, 5);
  EXPECT_EQ(fdb->flush_port(1), 3u);  // macs 1, 3, 5
  EXPECT_EQ(fdb->count(), 2u);
  bool hit = true;
  lookup(Fdb::make_key(0, mac(1)), &hit);
  EXPECT_FALSE(hit);
}

TEST_F(FdbTest, FullTableRefusesAndKeepsExisting) {
  uint32_t ok = 0;
  for (uint32_t i = 0; i < 1000; ++i) {
    rte_ether_addr m{{0x02, 0, 0, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)}};
    ok += fdb->learn(Fdb::make_key(0, m), 0, 1, 1) != Fdb::Learned::kTableFull ? 1 : 0;
  }
  EXPECT_LT(ok, 1000u);
  EXPECT_GE(ok, 64u);
  EXPECT_EQ(fdb->count(), ok);
  bool hit = false;
  lookup(Fdb::make_key(0, rte_ether_addr{{0x02, 0, 0, 0, 0, 0}}), &hit);
  EXPECT_TRUE(hit);
}

TEST_F(FdbTest, AgeRemovesStaleGenerationsMovedPortsAndGoneSegments) {
  fdb->learn(Fdb::make_key(0, mac(1)), 0, 1, 0);  // fine
  fdb->learn(Fdb::make_key(0, mac(2)), 1, 7, 0);  // old generation
  fdb->learn(Fdb::make_key(0, mac(3)), 3, 1, 0);  // port 3 is in segment 1 now
  fdb->learn(Fdb::make_key(5, mac(4)), 0, 1, 0);  // segment 5 does not exist
  EXPECT_EQ(fdb->age(snap, 10, 1), 3u);
  EXPECT_EQ(fdb->count(), 1u);
  EXPECT_EQ(fdb->age(snap, 301, 1), 1u);  // default 300 s ageing
  EXPECT_EQ(fdb->count(), 0u);
}

}  // namespace
// A guest that makes up source MACs holds at most its adapter's mac_limit of the table
// every network shares: the rest are not learned (counted), its frames still pass, the
// other guests keep their entries, and once its MACs age out it may learn again.
TEST_F(HarnessTest, AGuestHoldsAtMostItsMacLimit) {
  h->apply(
      "vms:\n"
      "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra, "
      "mac_limit: 16}}}\n"
      "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n");
  h->send("rb", mac(2), kBroadcast);
  h->step();
  h->recv("ra");
  for (int i = 0; i < 100; ++i) {
    const rte_ether_addr fake{
        {0x02, 0x66, 0, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}};
    h->send("ra", fake, mac(2));
    if (i % 20 == 19) h->step();  // rings of 1024: send in rounds
  }
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 100u);  // every frame still reached b
  EXPECT_EQ(h->fdb().port_count(h->port_id("ra")), 16u);
  EXPECT_EQ(h->learner().port_limit(), 84u);
  EXPECT_EQ(h->fdb().port_count(h->port_id("rb")), 1u);
  // b's MAC cannot be taken over by a (at its limit): it stays on b.
  h->send("ra", mac(2), kBroadcast);
  h->step();
  h->recv("rb");
  h->send("ra", mac(1), mac(2));  // a's own MAC: new to a, refused as well
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  h->send("rb", mac(2), mac(1));  // unknown: flooded to a
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->fdb().port_count(h->port_id("rb")), 1u);
  // The made-up MACs age out; then a learns its own.
  h->advance_seconds(301);
  h->send("rb", mac(2), kBroadcast);  // b stays fresh
  h->step();
  h->age();
  EXPECT_EQ(h->fdb().port_count(h->port_id("ra")), 0u);
  h->send("ra", mac(1), mac(2));
  h->step();
  EXPECT_EQ(h->fdb().port_count(h->port_id("ra")), 1u);
  h->recv("ra"), h->recv("rb");
}

// mac_limit_action: drop — beyond the limit, frames from sources the adapter may not
// add are dropped and counted; its learned MACs still pass.
TEST_F(HarnessTest, BeyondItsMacLimitAGuestsNewSourcesCanBeDropped) {
  h->apply(
      "vms:\n"
      "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra, "
      "mac_limit: 4, mac_limit_action: drop}}}\n"
      "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n");
  auto fake = [](int i) { return rte_ether_addr{{0x02, 0x66, 0, 0, 0, static_cast<uint8_t>(i)}}; };
  for (int i = 0; i < 4; ++i) h->send("ra", fake(i), mac(2));
  h->step();
  h->send("ra", fake(9), mac(2));  // refused by the learner: the port is full now
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 5u);  // the refusal itself happens after forwarding
  EXPECT_EQ(h->fdb().port_count(h->port_id("ra")), 4u);
  h->send("ra", fake(10), mac(2));  // full: dropped
  h->send("ra", fake(1), mac(2));   // learned: passes
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kMacLimit), 1u);
  EXPECT_EQ(h->learner().port_limit(), 2u);
}

}  // namespace gp::test

namespace gp::test {
namespace {
// A MAC flood refills the learn rings as fast as they drain: one drain takes a bounded
// share and says there is more, so the control thread that drains also answers,
// ages and runs the slow path in between; nothing queued is lost.
TEST_F(FdbTest, LearnerDrainIsBoundedAndSaysWhatIsLeft) {
  rte_ring* ring = rte_ring_create_elem("gp_t_drain", sizeof(LearnEvent), 256, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
  ASSERT_NE(ring, nullptr);
  Learner learner(*fdb);
  learner.add_ring(ring);
  for (uint8_t i = 0; i < 50; ++i) {
    LearnEvent e{Fdb::make_key(0, mac(i)), 1, 1, 0};
    ASSERT_EQ(rte_ring_enqueue_elem(ring, &e, sizeof e), 0);
  }
  EXPECT_EQ(learner.drain(snap, 10, 32), 32u);
  EXPECT_TRUE(learner.backlog());
  EXPECT_EQ(fdb->count(), 32u);
  EXPECT_EQ(learner.drain(snap, 20, 32), 18u);
  EXPECT_FALSE(learner.backlog());
  EXPECT_EQ(fdb->count(), 50u);
  EXPECT_EQ(learner.learned(), 50u);
  // The default bound is the ring's capacity: a full ring empties in one call.
  for (uint8_t i = 50; i < 50 + 14; ++i) {
    LearnEvent e{Fdb::make_key(1, mac(i)), 2, 1, 0};
    ASSERT_EQ(rte_ring_enqueue_elem(ring, &e, sizeof e), 0);
  }
  EXPECT_EQ(learner.drain(snap, 30), 14u);
  EXPECT_FALSE(learner.backlog());
  rte_ring_free(ring);
}

// What a worker's MacCache relies on: the epoch moves whenever a key's data changes or a
// key goes, and not for new keys or plain refreshes (which leave cached data right).
TEST(FdbEpoch, BumpsOnMoveAndRemovalOnly) {
  SnapshotHolder holder(1);
  Fdb fdb(64, &holder);
  const uint64_t k = Fdb::make_key(0, mac(1));
  uint32_t e = fdb.epoch();
  fdb.learn(k, 1, 1, 0);
  EXPECT_EQ(fdb.epoch(), e) << "new key";
  fdb.learn(k, 1, 1, 5);
  EXPECT_EQ(fdb.epoch(), e) << "refresh";
  fdb.learn(k, 2, 1, 6);
  EXPECT_NE(fdb.epoch(), e) << "moved";
  e = fdb.epoch();
  fdb.learn(k, 2, 2, 7);
  EXPECT_NE(fdb.epoch(), e) << "a new generation";
  e = fdb.epoch();
  fdb.flush_port(2);
  EXPECT_NE(fdb.epoch(), e) << "removed";
  MacCache cache;
  uint64_t d = 0;
  cache.put(k, 42, fdb.epoch());
  EXPECT_TRUE(cache.get(k, fdb.epoch(), &d) && d == 42);
  EXPECT_FALSE(cache.get(k, fdb.epoch() + 1, &d));
  EXPECT_FALSE(cache.get(k + 1, fdb.epoch(), &d));
}
}  // namespace
}  // namespace gp::test
