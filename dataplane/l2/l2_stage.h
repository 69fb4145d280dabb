// The L2 switching stage: MAC learning (events to the learner), forwarding by the FDB,
// flooding of broadcast, multicast and unknown unicast within the ingress segment,
// copies to promiscuous adapters, and the adapter policies of l2/policy.h. Frames are
// staged per egress port in ctx.tx; the worker flushes them (core/worker.h).
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// How often (TSC cycles) a worker rewrites an FDB entry's last-seen time at most.
inline uint64_t fdb_touch_interval(uint64_t tsc_hz) noexcept { return tsc_hz; }

void l2_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

}  // namespace gp
