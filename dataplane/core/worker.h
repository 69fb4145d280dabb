// The worker lcore: poll every port's queue `ctx.queue_id`, run the stages over each
// burst, flush the staged tx queues, report an RCU quiescent state, repeat.
//
// Threads: worker_main runs on one EAL worker lcore per WorkerContext. The stop flag
// is written by the control thread (release) and read by workers (acquire).
#pragma once

#include <atomic>

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot_holder.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// Runs classify and the L2 stage over one burst from batch.in_port. Frames end up
// staged in ctx.tx or dropped and counted; batch.n is 0 afterwards.
// Returns the bytes received (the batch as it came in), for the port's shaper.
uint64_t process_batch(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

// Sends every staged frame on this worker's tx queue; what a port refuses is freed
// and counted as Drop::kTxFull on that port.
void flush_tx(WorkerContext& ctx) noexcept;

// Sends what the slow path queued on ctx.inject_ring (replies it built).
uint32_t send_injected(WorkerContext& ctx, const Snapshot& snap) noexcept;

// Sends what other workers handed over for ports that lack their tx queue.
uint32_t send_redirected(WorkerContext& ctx, const Snapshot& snap) noexcept;

// Runs the NAT stage over packets other workers handed to this one.
uint32_t process_handoffs(WorkerContext& ctx, const Snapshot& snap) noexcept;

// One pass over all rx ports of the snapshot. Returns how many frames were received.
uint32_t poll_once(WorkerContext& ctx, const Snapshot& snap) noexcept;

// Takes this worker's NAT tables from the snapshot the first time one carries them
// (they are made when a config first needs NAT, and live until exit).
void adopt_nat(WorkerContext& ctx, const Snapshot& snap) noexcept;

struct WorkerLaunch {
  WorkerContext* ctx = nullptr;
  SnapshotHolder* holder = nullptr;
  const std::atomic<bool>* stop = nullptr;  // control thread: store(true, release)
};

// rte_eal_remote_launch entry point; arg is a WorkerLaunch*.
int worker_main(void* arg);

}  // namespace gp
