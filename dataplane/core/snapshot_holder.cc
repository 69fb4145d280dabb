// Control-path side of snapshot publication: QSBR variable, defer queue, retirement.
#include "dataplane/core/snapshot_holder.h"

#include <rte_malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gp {

namespace {
constexpr uint32_t kDeferQueueSize = 1024;
std::atomic<unsigned> g_holder_seq{0};
}  // namespace

SnapshotHolder::SnapshotHolder(unsigned max_threads) {
  size_t sz = rte_rcu_qsbr_get_memsize(max_threads);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("gp_qsbr", sz, RTE_CACHE_LINE_SIZE));
  if (qsbr_ == nullptr) throw std::runtime_error("cannot allocate the RCU QSBR variable");
  if (rte_rcu_qsbr_init(qsbr_, max_threads) != 0) {
    rte_free(qsbr_);
    throw std::runtime_error("rte_rcu_qsbr_init failed");
  }
  std::string name = "gp_snap_dq" + std::to_string(g_holder_seq.fetch_add(1));
  rte_rcu_qsbr_dq_parameters p{};
  p.name = name.c_str();
  p.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE;  // control thread only
  p.size = kDeferQueueSize;
  p.esize = sizeof(const Snapshot*);
  p.trigger_reclaim_limit = 1;  // try to reclaim on each enqueue
  p.max_reclaim_size = kDeferQueueSize;
  p.free_fn = &SnapshotHolder::free_snapshots;
  p.p = this;
  p.v = qsbr_;
  dq_ = rte_rcu_qsbr_dq_create(&p);
  if (dq_ == nullptr) {
    rte_free(qsbr_);
    throw std::runtime_error("cannot create the RCU defer queue for snapshots");
  }
}

SnapshotHolder::~SnapshotHolder() {
  if (const int users = users_.load(std::memory_order_relaxed); users != 0) {
    std::fprintf(stderr,
                 "guestport: internal error: the QSBR variable is freed while %d table(s) "
                 "still reclaim through it (teardown order)\n",
                 users);
    std::abort();
  }
  // Workers are stopped and offline by now: everything can go.
  rte_rcu_qsbr_dq_delete(dq_);  // reclaims what is queued (grace period already over)
  delete current_.exchange(nullptr, std::memory_order_acq_rel);
  rte_free(qsbr_);
}

void SnapshotHolder::free_snapshots(void* self, void* elems, unsigned n) {
  auto* holder = static_cast<SnapshotHolder*>(self);
  for (unsigned i = 0; i < n; ++i) {
    const Snapshot* s = nullptr;
    std::memcpy(&s, static_cast<char*>(elems) + i * sizeof(s), sizeof(s));
    delete s;
    holder->freed_.fetch_add(1, std::memory_order_relaxed);
  }
}

void SnapshotHolder::publish(std::unique_ptr<Snapshot> next) noexcept {
  const Snapshot* old = current_.exchange(next.release(), std::memory_order_acq_rel);
  ++published_;
  if (old == nullptr) return;
  if (rte_rcu_qsbr_dq_enqueue(dq_, &old) != 0) {
    // Queue full even after reclaiming: wait for one grace period here.
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    free_snapshots(this, &old, 1);
  }
}

void SnapshotHolder::synchronize() noexcept {
  rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
  reclaim();
}

void SnapshotHolder::reclaim() noexcept {
  unsigned freed = 0, pending = 0, available = 0;
  rte_rcu_qsbr_dq_reclaim(dq_, kDeferQueueSize, &freed, &pending, &available);
}

}  // namespace gp
