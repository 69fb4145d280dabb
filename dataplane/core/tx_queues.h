// Which tx queues of each port the workers may use. Worker w owns tx queue w of every
// port, but a port may offer fewer queues than there are workers: a vhost-user guest
// enables only the queue pairs its driver asked for, a PMD may have fewer. A worker
// whose queue a port lacks hands its frames for that port to worker (w % n), which
// sends them on its own queue (worker.cc), so no queue is ever used by two lcores.
//
// Threads: set() from the control thread (at port open) or from the thread that
// delivers a PMD's queue-state events (vhost-user); get() from workers. Relaxed: a
// worker that uses a count a few loops old sends on a queue the guest just disabled
// (the PMD refuses it: tx_full) or redirects needlessly; nothing is lost beyond that.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "dataplane/core/types.h"

namespace gp {

class TxQueueMap {
 public:
  static constexpr uint16_t kEvery = 0xffff;  // as many queues as workers

  TxQueueMap() {
    for (auto& n : n_) n.store(kEvery, std::memory_order_relaxed);
  }
  void set(uint16_t port, uint16_t queues) noexcept {
    n_[port].store(queues, std::memory_order_relaxed);
  }
  uint16_t get(uint16_t port) const noexcept { return n_[port].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint16_t>, kMaxPorts> n_;
};

// A frame one worker hands another to send: the egress port travels beside the mbuf
// (a flooded mbuf is shared, so its own port field cannot carry it).
struct TxHandoff {
  rte_mbuf* m;
  uint64_t port;
};
static_assert(sizeof(TxHandoff) == 16);

}  // namespace gp
