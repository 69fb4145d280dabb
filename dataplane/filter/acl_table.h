// An adapter's access list in one direction, compiled with DPDK's rte_acl: ordered
// IPv4 rules on protocol, source and destination prefix and port ranges; the first
// rule that matches decides (allow or deny), a frame no rule matches passes. Built and
// freed by the control thread (build, the destructor); classified by any worker
// (classify, lock-free: rte_acl contexts are read-only once built). Each rule counts
// its matches per worker, so `show acl` needs no lock either.
#pragma once

#include <rte_acl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/core/counters.h"

namespace gp {

struct AclRuleSpec {
  bool allow = false;
  uint8_t proto = 0;                       // 0: any
  uint32_t src = 0, dst = 0;               // host byte order
  uint8_t src_prefix = 0, dst_prefix = 0;  // 0: any
  uint16_t src_lo = 0, src_hi = 65535, dst_lo = 0, dst_hi = 65535;
};

// The five fields rte_acl reads, in network byte order, laid out as its 4-byte input
// groups want: the 1-byte protocol first, then the addresses, then both ports.
struct AclKey {
  uint8_t proto;
  uint8_t pad[3];
  uint32_t src, dst;
  uint16_t sport, dport;
};
static_assert(sizeof(AclKey) == 16);

class AclTable {
 public:
  // Null and *err set when DPDK refuses (memory, too many rules).
  static std::unique_ptr<AclTable> build(const std::vector<AclRuleSpec>& rules, uint16_t workers,
                                         std::string* err);
  ~AclTable();
  AclTable(const AclTable&) = delete;
  AclTable& operator=(const AclTable&) = delete;

  // Fast path: results[i] = 1 + the index of the first rule keys[i] matches, 0 for none.
  void classify(const uint8_t** keys, uint32_t* results, uint32_t n) const noexcept {
    rte_acl_classify(ctx_, keys, results, n, 1);
  }
  bool allows(uint32_t result) const noexcept { return result == 0 || allow_[result - 1]; }
  void count(uint16_t worker, uint32_t result) const noexcept {
    if (worker >= workers_) worker = 0;  // built for fewer workers: counts stay in bounds
    hits_[static_cast<size_t>(worker) * slots_ + result].add(1);
  }

  size_t rules() const noexcept { return allow_.size(); }
  // Control thread: matches of rule i (or, i == rules(), of no rule) over all workers.
  uint64_t hits(size_t i) const noexcept;

 private:
  AclTable() = default;
  rte_acl_ctx* ctx_ = nullptr;
  std::vector<uint8_t> allow_;
  size_t slots_ = 0;  // rules + 1 (slot 0: no rule matched)
  uint16_t workers_ = 0;
  std::unique_ptr<RelaxedCounter[]> hits_;
};

}  // namespace gp
