// The compact cuckoo index behind the NAT tables: every entry it accepted stays
// findable through inserts that move residents, a full bucket pair refuses without
// losing anything, sizes from 1 to 2^18 fill to capacity, and the NAT table's staged
// bulk lookup tells apart two keys whose 32-bit hashes collide.
#include "dataplane/core/cuckoo_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
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

// CRC32-C is linear over GF(2): h(k ^ d) = h(k) ^ L(d). The differences d, over the key
// bits that flip(mask) flips, that leave the hash as it is: a basis of L's kernel, found
// by Gaussian elimination of the single-bit differences (at least bits - 32 of them).
template <typename Flip>
std::vector<uint64_t> hash_kernel(const nat::InKey& base, int bits, Flip flip) {
  std::vector<std::pair<uint32_t, uint64_t>> basis;  // rows, with the bits they combine
  std::vector<uint64_t> kernel;
  const uint32_t h0 = nat::NatTable::key_hash(base);
  for (int bit = 0; bit < bits; ++bit) {
    uint32_t v = nat::NatTable::key_hash(flip(uint64_t{1} << bit)) ^ h0;
    uint64_t combo = uint64_t{1} << bit;
    for (const auto& [row, row_combo] : basis)
      if ((v ^ row) < v) v ^= row, combo ^= row_combo;  // clears row's leading bit
    if (v == 0)
      kernel.push_back(combo);
    else
      basis.emplace_back(v, combo), std::sort(basis.rbegin(), basis.rend());
  }
  return kernel;
}

// Two flows whose keys hash alike: the index holds both, and the single and the bulk
// lookups (which trust the first candidate of a bucket only once its record's key
// matches) each return the right session. The collision is built, not searched for.
TEST(CuckooTable, NatLookupsTellApartKeysWhoseHashesCollide) {
  const nat::InKey a = nat::in_key(ip4(10, 0, 2, 15), rte_cpu_to_be_16(40000), ip4(203, 0, 113, 1),
                                   rte_cpu_to_be_16(53), 1, IPPROTO_UDP);
  auto flipped = [&](uint64_t bits) {
    nat::InKey k = a;
    k.src_ip ^= static_cast<uint32_t>(bits);
    k.dst_ip ^= static_cast<uint32_t>(bits >> 32);
    return k;
  };
  const std::vector<uint64_t> kernel = hash_kernel(a, 64, flipped);
  ASSERT_GE(kernel.size(), 32u);
  const uint64_t zero_combination = kernel[0];
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

// A hostile guest that knows the hash (it is public, and CRC's linearity makes
// colliding flows cheap to build) sends many flows whose keys all hash alike: they fill
// their two buckets and the rest are refused as a full table (counted, nothing moved
// out of place), while its own and everyone's other flows keep being made and found.
// rte_hash's chained extendable buckets made the same attack a slower lookup instead.
TEST(CuckooTable, CollidingFlowsFillTheirBucketsAndNothingElse) {
  const nat::InKey base = nat::in_key(ip4(10, 0, 2, 15), rte_cpu_to_be_16(40000),
                                      ip4(203, 0, 113, 1), rte_cpu_to_be_16(53), 1, IPPROTO_UDP);
  auto flipped = [&](uint64_t bits) {  // the destination address and port
    nat::InKey k = base;
    k.dst_ip ^= static_cast<uint32_t>(bits);
    k.dst_port ^= static_cast<uint16_t>(bits >> 32);
    return k;
  };
  const std::vector<uint64_t> kernel = hash_kernel(base, 48, flipped);
  ASSERT_GE(kernel.size(), 16u);
  auto colliding = [&](uint32_t i) {  // i >= 1: a distinct combination of kernel vectors
    uint64_t d = 0;
    for (uint32_t j = 0; j < 16; ++j)
      if ((i >> j) & 1) d ^= kernel[j];
    return flipped(d);
  };
  Snapshot snap;
  nat::NatTable t(4096, 0, 1);
  const nat::InsideRef at{0, 1, 2, {}};
  const rte_be32_t outside = ip4(198, 51, 100, 10);
  auto open = [&](const nat::InKey& k, nat::Refusal* why) {
    return t.create_outbound(k, k.dst_ip, k.dst_port, outside, at, 0, snap, 0, why);
  };
  std::vector<uint32_t> made;
  uint32_t refused = 0;
  for (uint32_t i = 1; i <= 40; ++i) {
    const nat::InKey k = colliding(i);
    ASSERT_EQ(nat::NatTable::key_hash(k), nat::NatTable::key_hash(base));
    nat::Refusal why = nat::Refusal::kNone;
    const uint32_t id = open(k, &why);
    if (id != nat::NatTable::kInvalid) {
      made.push_back(i);
    } else {
      EXPECT_EQ(why, nat::Refusal::kTableFull);
      ++refused;
    }
  }
  // Two buckets of eight slots (one, if both are the same bucket).
  EXPECT_TRUE(made.size() == 16 || made.size() == 8) << made.size();
  EXPECT_EQ(refused, 40 - made.size());
  EXPECT_EQ(t.size(), made.size());
  for (uint32_t i : made) EXPECT_NE(t.find_in(colliding(i)), nat::NatTable::kInvalid);
  // Every other flow, the same guest's included, is made and found as before.
  for (uint16_t p = 1; p <= 1000; ++p) {
    const nat::InKey k = nat::in_key(ip4(10, 0, 2, 15), rte_cpu_to_be_16(40000),
                                     ip4(203, 0, 113, 9), rte_cpu_to_be_16(p), 1, IPPROTO_UDP);
    nat::Refusal why;
    ASSERT_NE(open(k, &why), nat::NatTable::kInvalid) << p;
    ASSERT_NE(t.find_in(k), nat::NatTable::kInvalid) << p;
  }
  for (uint32_t i : made) EXPECT_NE(t.find_in(colliding(i)), nat::NatTable::kInvalid);
  // A slot given back takes the next colliding flow.
  t.remove(t.find_in(colliding(made[0])));
  nat::Refusal why;
  EXPECT_NE(open(colliding(41), &why), nat::NatTable::kInvalid);
  EXPECT_EQ(open(colliding(42), &why), nat::NatTable::kInvalid);
  EXPECT_EQ(why, nat::Refusal::kTableFull);
}

// Random inserts, finds and erases against a plain map, on a small table driven past
// full, with hashes from a small set (many share buckets, many share a hash): what the
// table accepts it finds until it is erased, what it refuses changes nothing.
TEST(CuckooTable, RandomOperationsAgreeWithAMap) {
  for (uint32_t capacity : {16u, 200u, 5000u}) {
    IdIndex t(capacity);
    std::mt19937 rng(capacity);
    std::map<uint32_t, uint32_t> model;  // id -> hash
    const uint32_t hashes = capacity / 2 + 1;
    uint32_t next_id = 0, refused = 0;
    for (uint32_t op = 0; op < 200000; ++op) {
      const uint32_t r = rng() % 10;
      if (r < 5) {  // insert
        const uint32_t h = (rng() % hashes) * 2654435761u;
        const uint32_t id = next_id++;
        if (t.insert(h, IdSlot{h, id}))
          model[id] = h;
        else
          ++refused;
      } else if (r < 8 && !model.empty()) {  // erase one at random
        auto it = model.lower_bound(rng() % next_id);
        if (it == model.end()) it = model.begin();
        IdSlot* s = t.find(it->second, [&](const IdSlot& c) { return c.id == it->first; });
        ASSERT_NE(s, nullptr) << "id " << it->first;
        t.erase(s);
        model.erase(it);
      } else {  // look one up that is there, and one that is not
        if (!model.empty()) {
          auto it = model.lower_bound(rng() % next_id);
          if (it == model.end()) it = model.begin();
          ASSERT_NE(find_id(t, it->second, it->first), nullptr);
        }
        ASSERT_EQ(find_id(t, rng(), next_id + 1), nullptr);
      }
      ASSERT_EQ(t.size(), model.size());
    }
    for (const auto& [id, h] : model) ASSERT_NE(find_id(t, h, id), nullptr) << id;
    // Driven past full on purpose: refusals happened, and only there.
    EXPECT_GT(refused, 0u) << capacity;
    EXPECT_GE(model.size(), capacity / 2) << capacity;
  }
}

}  // namespace
}  // namespace gp
