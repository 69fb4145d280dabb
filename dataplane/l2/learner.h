// The single FDB writer: drains every worker's learn ring into the Fdb and ages it.
// Runs on the control thread; never on a worker.
#pragma once

#include <rte_ring.h>

#include <cstdint>
#include <vector>

#include "dataplane/l2/fdb.h"

namespace gp {

struct Snapshot;

class Learner {
 public:
  explicit Learner(Fdb& fdb) : fdb_(fdb) {}

  void add_ring(rte_ring* r) { rings_.push_back(r); }
  // Applies queued learn events; returns how many were applied. First, for a snapshot
  // it has not seen, makes the Fdb's pinned entries those of snap.static_macs.
  // At most a ring's capacity from each ring a call: workers refill their rings as fast
  // as they empty while guests send from new MACs at line rate, and the thread that
  // drains also answers the control socket, ages and runs the slow path. backlog() says
  // the last call stopped there (the caller comes back without waiting). per_ring: that
  // bound, if lower (tests).
  uint32_t drain(const Snapshot& snap, uint64_t now, unsigned per_ring = UINT32_MAX) noexcept;
  bool backlog() const noexcept { return backlog_; }
  uint32_t age(const Snapshot& snap, uint64_t now, uint64_t tsc_hz) noexcept {
    uint32_t n = fdb_.age(snap, now, tsc_hz);
    aged_ += n;
    return n;
  }

  uint64_t learned() const noexcept { return learned_; }
  uint64_t moves() const noexcept { return moves_; }
  uint64_t table_full() const noexcept { return table_full_; }
  uint64_t aged() const noexcept { return aged_; }
  // MACs not learned because their port held its mac_limit already (their frames are
  // still switched, as unknown unicast is: flooded).
  uint64_t port_limit() const noexcept { return port_limit_; }
  // Moves of a static MAC refused (another port sent from a MAC pinned elsewhere).
  uint64_t static_refused() const noexcept { return static_refused_; }

 private:
  Fdb& fdb_;
  std::vector<rte_ring*> rings_;
  uint64_t learned_ = 0, moves_ = 0, table_full_ = 0, aged_ = 0, port_limit_ = 0;
  uint64_t static_refused_ = 0;
  uint64_t static_version_ = 0;  // the snapshot whose static_macs the Fdb holds
  bool backlog_ = false;
};

}  // namespace gp
