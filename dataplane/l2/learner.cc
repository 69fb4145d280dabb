// Control-thread side of MAC learning: validates each event against the running
// snapshot (a worker may have queued it under an older one) and writes the Fdb.
#include "dataplane/l2/learner.h"

#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

uint32_t Learner::drain(const Snapshot& snap, uint64_t now, unsigned per_ring) noexcept {
  if (snap.version != static_version_) {
    table_full_ += fdb_.set_static(snap, now);
    static_version_ = snap.version;
  }
  constexpr unsigned kChunk = 64;
  LearnEvent ev[kChunk];
  uint32_t applied = 0;
  backlog_ = false;
  for (rte_ring* r : rings_) {
    unsigned n = 0, budget = rte_ring_get_capacity(r);
    if (per_ring < budget) budget = per_ring;
    while (budget != 0 &&
           (n = rte_ring_dequeue_burst_elem(r, ev, sizeof(LearnEvent),
                                            budget < kChunk ? budget : kChunk, nullptr)) > 0) {
      budget -= n;
      for (unsigned i = 0; i < n; ++i) {
        const LearnEvent& e = ev[i];
        auto seg = static_cast<uint16_t>(e.key >> 48);
        if (e.port >= kMaxPorts || seg >= snap.segments.size()) continue;
        if (!snap.segments[seg].has_member(e.port)) continue;  // port moved since
        if (snap.segments[seg].fdb_generation != e.generation) continue;
        switch (fdb_.learn(e.key, e.port, e.generation, now, snap.mac_limit[e.port])) {
          case Fdb::Learned::kTableFull:
            ++table_full_;
            continue;
          case Fdb::Learned::kPortLimit:
            ++port_limit_;
            continue;
          case Fdb::Learned::kStatic:
            ++static_refused_;
            continue;
          case Fdb::Learned::kNew:
            ++learned_;
            break;
          case Fdb::Learned::kMoved:
            ++moves_;
            break;
          case Fdb::Learned::kRefreshed:
            break;
        }
        ++applied;
      }
    }
    if (budget == 0 && rte_ring_count(r) != 0) backlog_ = true;
  }
  return applied;
}

}  // namespace gp
