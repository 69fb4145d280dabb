// Publishes immutable Snapshots to workers and retires old ones after an rte_rcu_qsbr
// grace period.
//
// Threads: publish(), reclaim() and the destructor run on the control thread only.
// acquire() runs on workers. Workers report a quiescent state once per poll loop
// (rte_rcu_qsbr_quiescent on qsbr()), after which they hold no snapshot pointer.
//
// Ordering: current_ is stored with release by publish() so that a worker's acquire
// load sees the fully built Snapshot; the old pointer is then queued on an RCU defer
// queue and deleted only when every registered worker has passed a quiescent state.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/core/snapshot.h"

namespace gp {

class SnapshotHolder {
 public:
  // max_threads: how many worker thread ids may register on the QSBR variable.
  // Throws std::runtime_error on allocation failure (start-up only).
  explicit SnapshotHolder(unsigned max_threads);
  ~SnapshotHolder();
  SnapshotHolder(const SnapshotHolder&) = delete;
  SnapshotHolder& operator=(const SnapshotHolder&) = delete;

  const Snapshot* acquire() const noexcept { return current_.load(std::memory_order_acquire); }

  // Control-thread view of the running snapshot (never retired while this thread reads).
  const Snapshot* current() const noexcept { return current_.load(std::memory_order_relaxed); }

  // Makes `next` the running snapshot. Cannot fail: when the defer queue is full it
  // waits for a grace period on the spot (control thread only, workers never wait).
  void publish(std::unique_ptr<Snapshot> next) noexcept;

  // Frees retired snapshots whose grace period is over. Call from the control loop.
  void reclaim() noexcept;
  // Waits until every registered worker has passed a quiescent state: afterwards no
  // worker holds a snapshot published before this call (the applier closes a removed
  // port only then). Control thread only; workers report within one poll loop.
  void synchronize() noexcept;

  rte_rcu_qsbr* qsbr() const noexcept { return qsbr_; }
  // Tables whose rte_hash reclaims through qsbr() (Fdb, Neighbors) hold it from
  // attach_user() to detach_user(). Destroying the holder while one still does is a
  // bug (the hash's defer queue would run on a freed QSBR variable) and aborts with a
  // message, so a wrong teardown order shows in every test and every daemon exit.
  rte_rcu_qsbr* attach_user() noexcept {
    users_.fetch_add(1, std::memory_order_relaxed);
    return qsbr_;
  }
  void detach_user() noexcept { users_.fetch_sub(1, std::memory_order_relaxed); }
  int users() const noexcept { return users_.load(std::memory_order_relaxed); }
  uint64_t retired_total() const noexcept { return freed_.load(std::memory_order_relaxed); }
  uint64_t published_total() const noexcept { return published_; }

 private:
  static void free_snapshots(void* self, void* elems, unsigned n);

  std::atomic<const Snapshot*> current_{nullptr};
  rte_rcu_qsbr* qsbr_ = nullptr;
  rte_rcu_qsbr_dq* dq_ = nullptr;
  uint64_t published_ = 0;
  std::atomic<uint64_t> freed_{0};  // written by the control thread, read by tests
  std::atomic<int> users_{0};       // control thread only; atomic for the tests' threads
};

}  // namespace gp
