// The NAT router in the fast path (RFC 4787 / 5382 / 5508 behaviour; tables in
// nat_table.h). Runs after punt_stage and before l2_stage, on frames from a NAT inside
// (a `nat` adapter: outbound) and from a NAT uplink (inbound). Everything from such a
// port is consumed here: translated and staged for tx, handed to the worker that owns
// the session, or dropped with a named counter. Other ports' batches pass untouched.
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// from_handoff: the batch came from another worker's handoff ring; never hand it on.
void nat_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch,
               bool from_handoff = false) noexcept;

// Expires idle sessions of this worker's table (bounded work per call).
void nat_expire(WorkerContext& ctx, const Snapshot& snap) noexcept;

// Which worker owns the NAT state of an inside endpoint (EIM: all flows of one inside
// endpoint share a mapping, so they share an owner).
inline uint16_t nat_owner_inside(uint16_t nat_id, rte_be32_t ip, rte_be16_t port,
                                 uint16_t workers) noexcept {
  // A full-avalanche 32-bit mix (lowbias32): every input bit reaches the low bits that
  // `% workers` keeps, so one guest's sockets spread over all workers.
  uint32_t h = ip ^ (uint32_t{port} << 16) ^ nat_id;
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return static_cast<uint16_t>(h % workers);
}

}  // namespace gp
