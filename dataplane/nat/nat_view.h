// `show nat` without reading a worker's tables from another thread: the control thread
// posts a request, the owning worker copies its sessions into a buffer the control
// thread allocated beforehand (at the end of a poll loop), and hands it back.
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
  // Control thread.
  void request(uint32_t max_rows) {
    rows_.clear();
    rows_.reserve(max_rows);
    max_ = max_rows;
    state_.store(kRequested, std::memory_order_release);
  }
  bool done() const { return state_.load(std::memory_order_acquire) == kDone; }
  const std::vector<SessionRow>& rows() const { return rows_; }
  void finish() { state_.store(kIdle, std::memory_order_relaxed); }

  // Worker, once per loop: cheap unless a request is pending.
  void serve(const NatTable& t, uint64_t now) noexcept {
    if (state_.load(std::memory_order_acquire) != kRequested) return;
    for (uint32_t id = 0; id < t.capacity() && rows_.size() < max_; ++id) {
      const Session& s = t.session(id);
      if (!s.in_use) continue;
      rows_.push_back(
          {s.in, s.out, s.segment, s.guest_port, s.tcp, now - s.last_tsc});  // within reserve
    }
    state_.store(kDone, std::memory_order_release);
  }

 private:
  enum : uint32_t { kIdle, kRequested, kDone };
  std::atomic<uint32_t> state_{kIdle};
  std::vector<SessionRow> rows_;
  uint32_t max_ = 0;
};

}  // namespace gp::nat
