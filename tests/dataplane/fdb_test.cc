// The MAC table itself (single writer, lock-free readers): learn, move, flush by port,
// table full, iteration, ageing of stale generations and removed segments.
#include "dataplane/l2/fdb.h"

#include <rte_rcu_qsbr.h>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

class FdbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    holder = std::make_unique<SnapshotHolder>(1);
    fdb = std::make_unique<Fdb>(64, holder.get());
    snap.segments.resize(2);
    for (uint16_t p = 0; p < 4; ++p) snap.ports[p].segment = p < 2 ? 0 : 1;
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
}  // namespace gp::test
