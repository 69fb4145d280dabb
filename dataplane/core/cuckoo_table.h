// A compact bucketized cuckoo hash table for a worker's per-flow indexes (NAT sessions
// by inside and outside key, EIM mappings, address-dependent filter counts). A bucket is
// one cache line of slots; a key has two buckets, its primary and its alternate, and an
// insert that finds both full moves residents to their own alternates (a breadth-first
// search for the shortest path, then the moves: nothing is ever dropped). The table
// stores no keys of its own: a slot holds the key's 32-bit hash and what the caller
// needs (a record id, whose record holds the key and is compared on a hit; or a small
// key inline). A lookup is one cache miss for the bucket, where rte_hash takes two
// (bucket, then key store) and about 57 bytes an entry for a 16-byte key.
//
// The alternate of bucket b for hash h is (m(h) - b) mod n: an involution, so either
// bucket names the other without the key, with any bucket count n (no power of two,
// so the table is sized to its capacity with 1/8 slack and not up to twice it).
//
// Slot traits: `static bool empty(const Slot&)`, `static uint32_t hash(const Slot&)` (the
// hash it was placed by). Single writer, no locks; memory taken once, at construction.
#pragma once

#include <rte_prefetch.h>

#include <cstdint>

#include "dataplane/core/huge_array.h"

namespace gp {

template <typename Slot, typename Traits>
class CuckooTable {
 public:
  static constexpr unsigned kSlots = 64 / sizeof(Slot);
  static_assert(kSlots >= 2, "a slot is at most 32 bytes");
  struct alignas(64) Bucket {
    Slot slot[kSlots]{};
  };

  CuckooTable() = default;
  explicit CuckooTable(uint32_t max_entries) {
    const uint64_t want = uint64_t{max_entries} + max_entries / 8;
    // Small tables get room to spare: fewer buckets leave less freedom to place.
    const uint64_t spare = (max_entries < 1024 ? max_entries : 1024) / kSlots + 1;
    n_ = static_cast<uint32_t>((want + kSlots - 1) / kSlots + spare);
    buckets_ = HugeArray<Bucket>(n_);
  }

  uint32_t primary(uint32_t h) const noexcept {
    return static_cast<uint32_t>((uint64_t{h} * n_) >> 32);
  }
  uint32_t alternate(uint32_t b, uint32_t h) const noexcept {
    const uint32_t m = static_cast<uint32_t>((uint64_t{h * 0x9e3779b1u} * n_) >> 32);
    return m >= b ? m - b : m + n_ - b;
  }
  Bucket& bucket(uint32_t b) noexcept { return buckets_[b]; }
  const Bucket& bucket(uint32_t b) const noexcept { return buckets_[b]; }
  void prefetch(uint32_t b) const noexcept { rte_prefetch0(&buckets_[b]); }

  // The occupied slot among h's two buckets that, placed by h, satisfies match(slot).
  template <typename Match>
  const Slot* find(uint32_t h, Match&& match) const noexcept {
    const uint32_t b1 = primary(h);
    if (const Slot* s = find_in(b1, h, match)) return s;
    const uint32_t b2 = alternate(b1, h);
    return b2 == b1 ? nullptr : find_in(b2, h, match);
  }
  template <typename Match>
  Slot* find(uint32_t h, Match&& match) noexcept {
    return const_cast<Slot*>(static_cast<const CuckooTable*>(this)->find(h, match));
  }
  template <typename Match>
  const Slot* find_in(uint32_t b, uint32_t h, Match&& match) const noexcept {
    for (const Slot& s : buckets_[b].slot)
      if (!Traits::empty(s) && Traits::hash(s) == h && match(s)) return &s;
    return nullptr;
  }

  // Places `s` (Traits::hash(s) == h) in one of its buckets, moving residents to their
  // alternates when both are full. False when no path of moves was found (the table is
  // far past its sizing); the table is then unchanged.
  bool insert(uint32_t h, const Slot& s) noexcept {
    struct Node {
      uint32_t bucket;
      int16_t parent;  // node whose bucket's slot `from` moves here
      uint8_t from;
      uint8_t depth;
    };
    constexpr unsigned kNodes = 256, kDepth = 4;
    Node q[kNodes];
    unsigned len = 0;
    const uint32_t b1 = primary(h), b2 = alternate(b1, h);
    q[len++] = Node{b1, -1, 0, 0};
    if (b2 != b1) q[len++] = Node{b2, -1, 0, 0};
    for (unsigned at = 0; at < len; ++at) {
      Bucket& b = buckets_[q[at].bucket];
      for (unsigned k = 0; k < kSlots; ++k) {
        if (!Traits::empty(b.slot[k])) continue;
        // Free slot: shift every resident along the path one step, then place s.
        unsigned cur = at, hole = k;
        while (q[cur].parent >= 0) {
          const Node& n = q[cur];
          Slot& from = buckets_[q[n.parent].bucket].slot[n.from];
          buckets_[n.bucket].slot[hole] = from;
          hole = n.from;
          cur = static_cast<unsigned>(n.parent);
        }
        buckets_[q[cur].bucket].slot[hole] = s;
        ++size_;
        return true;
      }
      if (q[at].depth == kDepth) continue;
      for (unsigned k = 0; k < kSlots && len < kNodes; ++k) {
        const uint32_t alt = alternate(q[at].bucket, Traits::hash(b.slot[k]));
        if (alt == q[at].bucket || on_path(q, at, alt)) continue;
        q[len++] = Node{alt, static_cast<int16_t>(at), static_cast<uint8_t>(k),
                        static_cast<uint8_t>(q[at].depth + 1)};
      }
    }
    return false;
  }

  // Empties the slot find() returned (nothing for nullptr: not found).
  void erase(Slot* s) noexcept {
    if (s == nullptr) return;
    *s = Slot{};
    --size_;
  }

  uint32_t size() const noexcept { return size_; }
  uint32_t buckets() const noexcept { return n_; }
  size_t bytes() const noexcept { return buckets_.bytes(); }

 private:
  template <typename Node>
  static bool on_path(const Node* q, unsigned at, uint32_t bucket) noexcept {
    for (int i = static_cast<int>(at); i >= 0; i = q[i].parent)
      if (q[i].bucket == bucket) return true;
    return false;
  }

  uint32_t n_ = 0, size_ = 0;
  HugeArray<Bucket> buckets_;
};

// The common case: a slot names a record by id, the record holds the key.
struct IdSlot {
  uint32_t hash = 0;
  uint32_t id = UINT32_MAX;
  struct Traits {
    static bool empty(const IdSlot& s) noexcept { return s.id == UINT32_MAX; }
    static uint32_t hash(const IdSlot& s) noexcept { return s.hash; }
  };
};
using IdIndex = CuckooTable<IdSlot, IdSlot::Traits>;

}  // namespace gp
