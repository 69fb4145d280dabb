// The compact cuckoo index behind the NAT tables: every entry it accepted stays
// findable through inserts that move residents, a full bucket pair refuses without
// losing anything, sizes from 1 to 2^18 fill to capacity, and the NAT table's staged
// bulk lookup tells apart two keys whose 32-bit hashes collide.
#include "dataplane/core/cuckoo_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "dataplane/nat/nat_table.h"

namespace gp {
namespace {

const IdSlot* find_id(const IdIndex& t, uint32_t h, uint32_t id) {
  return t.find(h, [&](const IdSlot& s) { return s.id == id; });
}

// Fills a table to the capacity it was made for with random hashes, checks all are
// found, removes every other one, refills, checks again.
void fill_and_check(uint32_t capacity, uint32_t seed) {
  IdIndex t(capacity);
  std::mt19937 rng(seed);
  std::vector<uint32_t> h(capacity);
  for (uint32_t i = 0; i < capacity; ++i) {
    h[i] = rng();
    ASSERT_TRUE(t.insert(h[i], IdSlot{h[i], i})) << "capacity " << capacity << " entry " << i;
  }
  EXPECT_EQ(t.size(), capacity);
  for (uint32_t i = 0; i < capacity; ++i)
    ASSERT_NE(find_id(t, h[i], i), nullptr) << "capacity " << capacity << " entry " << i;
  for (uint32_t i = 0; i < capacity; i += 2)
    t.erase(t.find(h[i], [&](const IdSlot& s) { return s.id == i; }));
  EXPECT_EQ(t.size(), capacity / 2);
  for (uint32_t i = 0; i < capacity; i += 2) {
    EXPECT_EQ(find_id(t, h[i], i), nullptr);
    h[i] = rng();
    ASSERT_TRUE(t.insert(h[i], IdSlot{h[i], i}));
  }
  for (uint32_t i = 0; i < capacity; ++i) ASSERT_NE(find_id(t, h[i], i), nullptr);
  // Sized with slack: about 9 bytes an entry at scale, never twice the need.
  if (capacity >= 65536) {
    EXPECT_LE(t.buckets() * 64.0 / capacity, 9.5);
  }
}

TEST(CuckooTable, FillsToCapacityAtEverySizeAndFindsEveryEntry) {
  for (uint32_t capacity : {1u, 2u, 7u, 8u, 9u, 63u, 64u, 100u, 1000u, 4096u, 65536u, 262144u})
    for (uint32_t seed = 1; seed <= 3; ++seed) fill_and_check(capacity, seed * 7919 + capacity);
}

TEST(CuckooTable, AFullBucketPairRefusesAndKeepsWhatItHas) {
  IdIndex t(1000);
  const uint32_t h = 0x12345678;  // every entry has the same two buckets
  uint32_t placed = 0;
  while (t.insert(h, IdSlot{h, placed})) ++placed;
  const uint32_t pair = t.primary(h) == t.alternate(t.primary(h), h) ? 1 : 2;
  EXPECT_EQ(placed, pair * IdIndex::kSlots);
  EXPECT_EQ(t.size(), placed);
  for (uint32_t i = 0; i < placed; ++i) EXPECT_NE(find_id(t, h, i), nullptr);
  EXPECT_EQ(find_id(t, h, placed), nullptr);
  // Others still go in: the refusal moved nothing out of place.
  for (uint32_t i = 0; i < 500; ++i)
    ASSERT_TRUE(t.insert(i * 2654435761u, IdSlot{i * 2654435761u, 10000 + i}));
  for (uint32_t i = 0; i < placed; ++i) EXPECT_NE(find_id(t, h, i), nullptr);
}

TEST(CuckooTable, TheAlternateOfTheAlternateIsThePrimary) {
  IdIndex t(100000);
  std::mt19937 rng(5);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t h = rng();
    const uint32_t b = t.primary(h), a = t.alternate(b, h);
    ASSERT_LT(b, t.buckets());
    ASSERT_LT(a, t.buckets());
    EXPECT_EQ(t.alternate(a, h), b);
  }
}

constexpr rte_be32_t ip4(int a, int b, int c, int d) {
  return RTE_BE32((uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d));
}

// Two flows whose keys hash alike: the index holds both, and the single and the bulk
// lookups (which trust the first candidate of a bucket only once its record's key
// matches) each return the right session. CRC32-C is linear over GF(2), so a collision
// is built, not searched for: among the hash differences of the 64 address bits, 33
// or more are dependent; flipping a dependent set's bits leaves the hash unchanged.
TEST(CuckooTable, NatLookupsTellApartKeysWhoseHashesCollide) {
  const nat::InKey a = nat::in_key(ip4(10, 0, 2, 15), rte_cpu_to_be_16(40000), ip4(203, 0, 113, 1),
                                   rte_cpu_to_be_16(53), 1, IPPROTO_UDP);
  auto flipped = [&](uint64_t bits) {
    nat::InKey k = a;
    k.src_ip ^= static_cast<uint32_t>(bits);
    k.dst_ip ^= static_cast<uint32_t>(bits >> 32);
    return k;
  };
  // Gaussian elimination: rows are hash differences, each with the bits it combines.
  std::vector<std::pair<uint32_t, uint64_t>> basis;
  uint64_t zero_combination = 0;
  for (int bit = 0; bit < 64 && zero_combination == 0; ++bit) {
    uint32_t v = nat::NatTable::key_hash(flipped(uint64_t{1} << bit)) ^ nat::NatTable::key_hash(a);
    uint64_t combo = uint64_t{1} << bit;
    for (const auto& [row, row_combo] : basis)
      if ((v ^ row) < v) v ^= row, combo ^= row_combo;  // clears row's leading bit
    if (v == 0)
      zero_combination = combo;
    else
      basis.emplace_back(v, combo), std::sort(basis.rbegin(), basis.rend());
  }
  ASSERT_NE(zero_combination, 0u);
  const nat::InKey b = flipped(zero_combination);
  ASSERT_NE(std::memcmp(&a, &b, sizeof a), 0);
  ASSERT_EQ(nat::NatTable::key_hash(a), nat::NatTable::key_hash(b));
  Snapshot snap;
  nat::NatTable t(64, 0, 1);
  nat::Refusal why;
  const nat::InsideRef at{0, 1, 2, {}};
  const uint32_t sa =
      t.create_outbound(a, a.dst_ip, a.dst_port, ip4(198, 51, 100, 10), at, 0, snap, 0, &why);
  const uint32_t sb =
      t.create_outbound(b, b.dst_ip, b.dst_port, ip4(198, 51, 100, 10), at, 0, snap, 0, &why);
  ASSERT_NE(sa, nat::NatTable::kInvalid);
  ASSERT_NE(sb, nat::NatTable::kInvalid);
  EXPECT_EQ(t.find_in(a), sa);
  EXPECT_EQ(t.find_in(b), sb);
  const nat::InKey keys[3] = {b, a, nat::in_key(1, 2, 3, 4, 1, IPPROTO_UDP)};
  uint32_t ids[3];
  t.find_in_bulk(keys, 3, ids);
  EXPECT_EQ(ids[0], sb);
  EXPECT_EQ(ids[1], sa);
  EXPECT_EQ(ids[2], nat::NatTable::kInvalid);
  t.remove(sa);
  EXPECT_EQ(t.find_in(a), nat::NatTable::kInvalid);
  t.find_in_bulk(keys, 2, ids);
  EXPECT_EQ(ids[0], sb);
  EXPECT_EQ(ids[1], nat::NatTable::kInvalid);
}

}  // namespace
}  // namespace gp
