// Fast path: hands the frames that the appliance itself must answer (ARP for a service
// address, DHCP to the segment's server) to the slow path over the worker's punt ring,
// and takes them out of the batch. Only segments with services are looked at; only
// what classify validated (PacketMeta flags) is read.
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

void punt_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

}  // namespace gp
