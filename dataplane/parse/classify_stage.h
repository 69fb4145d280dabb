// First stage after RX: validates each frame's Ethernet header once and records what
// later stages may trust (PacketMeta). Drops runts, frames with a group or zero source
// MAC, and frames larger than the ingress adapter accepts; every drop is counted.
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

void classify_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

}  // namespace gp
