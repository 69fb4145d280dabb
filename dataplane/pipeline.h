// The worker lcore's pipeline: poll every port's queue `ctx.queue_id`, run the stages
// over each burst in the order this file's .cc composes them (classify, filters, VLANs,
// the slow path's share, tunnels, NAT, L2), flush the staged tx queues, report an RCU
// quiescent state, repeat. The stages themselves know nothing of each other; a port
// runs only the stages its feature bits and role ask for (DESIGN.md).
//
// Threads: worker_main runs on one EAL worker lcore per WorkerContext. The stop flag
// is written by the control thread (release) and read by workers (acquire).
#pragma once

#include <atomic>

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot_holder.h"
#include "dataplane/core/worker.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// Runs the stages over one burst from batch.in_port. Frames end up staged in ctx.tx
// or dropped and counted; batch.n is 0 afterwards.
// Returns the bytes received (the batch as it came in), for the port's shaper.
uint64_t process_batch(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

// Runs the NAT stage over packets other workers handed to this one.
uint32_t process_handoffs(WorkerContext& ctx, const Snapshot& snap) noexcept;

// One pass over all rx ports of the snapshot. Returns how many frames were received.
uint32_t poll_once(WorkerContext& ctx, const Snapshot& snap) noexcept;

struct WorkerLaunch {
  WorkerContext* ctx = nullptr;
  SnapshotHolder* holder = nullptr;
  const std::atomic<bool>* stop = nullptr;  // control thread: store(true, release)
};

// rte_eal_remote_launch entry point; arg is a WorkerLaunch*.
int worker_main(void* arg);

}  // namespace gp
