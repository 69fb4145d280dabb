// The MAC forwarding table: (segment, MAC) -> port, one rte_hash shared by all
// segments, with lock-free readers (the workers) and exactly one writer (the learner
// on the control thread). Deleted slots are recycled only after an RCU grace period
// (rte_hash_rcu_qsbr_add on the workers' QSBR variable).
//
// An entry's data word packs the port, the segment generation it was learned in, and
// the key's slot position. A whole segment is flushed by bumping its generation in the
// next Snapshot: readers treat entries of an older generation as misses, and the
// learner reaps them when it ages the table. Workers refresh an entry's age by storing
// the TSC into seen_[position] (relaxed: a stale read only delays ageing a little).
#pragma once

#include <rte_hash.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "dataplane/core/snapshot_holder.h"
#include "dataplane/core/types.h"

namespace gp {

struct Snapshot;

struct FdbEntryView {
  uint16_t segment;
  rte_ether_addr mac;
  uint16_t port;
  uint16_t generation;
  uint64_t age_tsc;  // now - last seen
  bool is_static;    // pinned by static_macs
};

class Fdb {
 public:
  // Throws std::runtime_error when the table cannot be created (start-up only).
  // rcu: the workers' QSBR (slot reuse waits for a grace period); null in tests that
  // run no worker.
  Fdb(uint32_t capacity, SnapshotHolder* rcu);
  ~Fdb();
  Fdb(const Fdb&) = delete;
  Fdb& operator=(const Fdb&) = delete;

  static uint64_t make_key(uint16_t segment, const rte_ether_addr& mac) noexcept {
    return (static_cast<uint64_t>(segment) << 48) | mac_to_u64(mac);
  }
  static uint16_t data_port(uint64_t d) noexcept { return static_cast<uint16_t>(d); }
  static uint16_t data_generation(uint64_t d) noexcept { return static_cast<uint16_t>(d >> 16); }
  static uint32_t data_position(uint64_t d) noexcept { return static_cast<uint32_t>(d >> 32); }

  // --- readers (workers) ---
  // Bumped by the writer whenever an existing key's data changes or a key goes: what a
  // worker cached (MacCache) under another epoch is stale.
  uint32_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }
  // keys: up to RTE_HASH_LOOKUP_BULK_MAX pointers to uint64_t keys.
  uint64_t lookup_bulk(const void** keys, uint32_t n, uint64_t* data) const noexcept {
    uint64_t hit_mask = 0;
    void* out[RTE_HASH_LOOKUP_BULK_MAX];
    rte_hash_lookup_bulk_data(h_, keys, n, &hit_mask, out);
    for (uint32_t i = 0; i < n; ++i) data[i] = reinterpret_cast<uintptr_t>(out[i]);
    return hit_mask;
  }
  // Refresh an entry's age; writes at most every `min_interval` TSC cycles to keep the
  // cache line shared between workers quiet.
  void touch(uint32_t position, uint64_t now, uint64_t min_interval) noexcept {
    auto& s = seen_[position];
    if (now - s.load(std::memory_order_relaxed) > min_interval)
      s.store(now, std::memory_order_relaxed);
  }

  // --- the single writer (learner / control thread) ---
  enum class Learned { kNew, kMoved, kRefreshed, kTableFull, kPortLimit, kStatic };
  // Adds, moves or refreshes a MAC. An entry of another generation counts as new.
  // port_limit (0: none): a MAC new to `port` is refused (kPortLimit, nothing changes)
  // while `port` already holds that many, so one guest cannot fill the shared table.
  // A key pinned by set_static to another port is never moved (kStatic).
  Learned learn(uint64_t key, uint16_t port, uint16_t generation, uint64_t now,
                uint32_t port_limit = 0) noexcept;
  // Makes the pinned entries those of snap.static_macs: new ones added (taken over
  // from whichever port had learned them), gone ones removed. Returns how many of
  // snap's could not be added (table full).
  uint32_t set_static(const Snapshot& snap, uint64_t now) noexcept;
  // Readers: did `port` reach its limit (a learn was refused since it last lost an
  // entry)? Frames from its unknown sources may then be dropped (mac_limit_action).
  bool port_full(uint16_t port) const noexcept {
    return full_[port % kMaxPorts].load(std::memory_order_relaxed) != 0;
  }
  // Entries that point at `port` (those of stale generations too, until aged).
  uint32_t port_count(uint16_t port) const noexcept {
    return port < kMaxPorts ? per_port_[port] : 0;
  }
  // Removes entries idle longer than their segment's ageing time, or of an older
  // segment generation, or of a segment the snapshot no longer has. Returns how many.
  uint32_t age(const Snapshot& snap, uint64_t now, uint64_t tsc_hz) noexcept;
  // Removes every learned entry pointing at `port` (port removed or link down); pinned
  // ones stay until set_static drops them.
  uint32_t flush_port(uint16_t port) noexcept;
  void for_each(uint64_t now, const std::function<void(const FdbEntryView&)>& fn) const;
  // Live entries (deleted slots still waiting for their grace period are not counted).
  uint32_t count() const noexcept { return live_; }
  uint32_t capacity() const noexcept { return capacity_; }

 private:
  rte_hash* h_ = nullptr;
  SnapshotHolder* rcu_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t live_ = 0;                           // writer only
  std::array<uint32_t, kMaxPorts> per_port_{};  // writer only
  std::array<std::atomic<uint8_t>, kMaxPorts> full_{};
  std::unordered_map<uint64_t, uint16_t> static_;  // writer only: pinned key -> port
  std::atomic<uint32_t> epoch_{1};
  void bump_epoch() noexcept {
    const uint32_t e = epoch_.load(std::memory_order_relaxed) + 1;
    epoch_.store(e == 0 ? 1 : e, std::memory_order_release);
  }
  void forget(uint64_t key, uint16_t port) noexcept;
  std::unique_ptr<std::atomic<uint64_t>[]> seen_;
};

}  // namespace gp
