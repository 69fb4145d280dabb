// Fragment tracking for the NAT (no reassembly): only a datagram's first fragment
// carries the ports that name its session, so when the NAT translates a first fragment
// it remembers (addresses, IP id, protocol) -> session, and later fragments of the
// same datagram are translated by address alone (their L4 checksum lives in the first
// fragment, which the session's rewrite already adjusted). A worker that hands a first
// fragment to the session's owner remembers the owner instead, so the later fragments
// follow it over the same handoff ring, in order.
//
// A later fragment whose first fragment this worker has not seen (it arrived first, or
// on another worker, or too long ago) is dropped and counted, never sent untranslated.
//
// Bounded: a fixed ring of entries, the oldest replaced first; entries also expire
// after a timeout checked on lookup. Owned by one worker; no locks.
#pragma once

#include <rte_hash.h>

#include <cstdint>
#include <memory>
#include <type_traits>

namespace gp::nat {

enum class FragDir : uint8_t { kOut = 0, kIn = 1 };

struct FragKey {
  uint32_t src, dst;  // as the fragment carries them (network order)
  uint16_t id;        // the IP identification
  uint8_t proto;
  FragDir dir;
  uint16_t scope;  // kOut: the NAT router's id (inside addresses repeat); kIn: the uplink
  uint16_t pad = 0;
};
static_assert(sizeof(FragKey) == 16 && std::is_trivially_copyable_v<FragKey>);

struct FragEntry {
  FragKey key;
  uint64_t expires_tsc = 0;
  uint32_t session = UINT32_MAX;  // UINT32_MAX: handed to `owner`
  uint16_t owner = 0;
  bool used = false;
};

class FragTable {
 public:
  // Throws std::runtime_error when DPDK cannot create the table (start-up only).
  explicit FragTable(uint32_t capacity);
  ~FragTable();
  FragTable(const FragTable&) = delete;
  FragTable& operator=(const FragTable&) = delete;

  void remember(const FragKey& k, uint32_t session, uint16_t owner, uint64_t expires) noexcept;
  // nullptr when unknown or expired.
  const FragEntry* find(const FragKey& k, uint64_t now) const noexcept;
  uint32_t capacity() const noexcept { return capacity_; }

 private:
  uint32_t capacity_;
  uint32_t next_ = 0;  // the ring slot to (re)use next
  rte_hash* h_ = nullptr;
  std::unique_ptr<FragEntry[]> ring_;
};

}  // namespace gp::nat
