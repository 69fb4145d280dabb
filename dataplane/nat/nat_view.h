// `show nat` without reading a worker's tables from another thread: the control thread
// posts a request, the owning worker copies its sessions into a buffer the control
// thread allocated beforehand (a slice of the table at the end of each poll loop), and
// hands it back. The control thread waits with a deadline.
//
// Ordering: state_ goes kIdle -> kRequested (control thread, release: the buffer is
// ready) -> kDone (worker, release: the rows are written) -> kIdle (control thread,
// after reading with acquire). Only the side whose turn it is touches rows_.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/nat/nat_table.h"

namespace gp::nat {

struct SessionRow {
  InKey in;
  OutKey out;
  uint16_t segment;
  uint16_t guest_port;
  TcpState tcp;
  uint64_t idle_tsc;
};

class NatViewRequest {
 public:
  // A worker looks at this many session slots per poll loop, so a large table is
  // copied over several loops and no loop stalls the fast path for long.
  static constexpr uint32_t kSlotsPerLoop = 1024;

  // Control thread. False when a previous request is still with the worker (it did
  // not answer in time): nothing is touched then.
  bool request(uint32_t max_rows) {
    uint32_t st = state_.load(std::memory_order_acquire);
    if (st == kDone) finish();  // a late answer to a request that was given up on
    if (state_.load(std::memory_order_acquire) != kIdle) return false;
    rows_.clear();
    rows_.reserve(max_rows);
    max_ = max_rows;
    cursor_ = 0;
    state_.store(kRequested, std::memory_order_release);
    return true;
  }
  bool done() const { return state_.load(std::memory_order_acquire) == kDone; }
  const std::vector<SessionRow>& rows() const { return rows_; }
  void finish() { state_.store(kIdle, std::memory_order_relaxed); }

  // Worker, once per loop: cheap unless a request is pending; then at most
  // kSlotsPerLoop slots, continuing where the previous loop stopped.
  void serve(const NatTable& t, uint64_t now) noexcept {
    if (state_.load(std::memory_order_acquire) != kRequested) return;
    const uint32_t end =
        cursor_ + kSlotsPerLoop < t.capacity() ? cursor_ + kSlotsPerLoop : t.capacity();
    for (; cursor_ < end && rows_.size() < max_; ++cursor_) {
      const Session& s = t.session(cursor_);
      if (!s.in_use) continue;
      rows_.push_back({s.in, s.out(), s.segment, s.guest_port, s.tcp,
                       t.idle_tsc(cursor_, now)});  // within reserve
    }
    if (cursor_ >= t.capacity() || rows_.size() >= max_)
      state_.store(kDone, std::memory_order_release);
  }

 private:
  enum : uint32_t { kIdle, kRequested, kDone };
  std::atomic<uint32_t> state_{kIdle};
  std::vector<SessionRow> rows_;  // and max_, cursor_: the side whose turn it is
  uint32_t max_ = 0;
  uint32_t cursor_ = 0;
};

}  // namespace gp::nat
