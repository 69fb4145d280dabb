// What every stage uses to send: a worker's staged tx queues and their flush, the
// frames the slow path injects, the frames other workers redirect to the tx queue this
// worker owns. The poll loop and the order of the stages are dataplane/pipeline.h's.
//
// Threads: each function runs on the worker that owns ctx.
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// Sends every staged frame on this worker's tx queue; what a port refuses is freed
// and counted as Drop::kTxFull on that port.
void flush_tx(WorkerContext& ctx) noexcept;

// Sends what the slow path queued on ctx.inject_ring (replies it built).
uint32_t send_injected(WorkerContext& ctx, const Snapshot& snap) noexcept;

// Sends what other workers handed over for ports that lack their tx queue.
uint32_t send_redirected(WorkerContext& ctx, const Snapshot& snap) noexcept;

// Takes this worker's NAT tables from the snapshot the first time one carries them
// (they are made when a config first needs NAT, and live until exit).
void adopt_nat(WorkerContext& ctx, const Snapshot& snap) noexcept;

}  // namespace gp
