// Fast path: the filters an adapter may have. Ingress (guard_stage, right after
// classify, for guest ports with kFeatureGuard): port security, then the ingress ACL.
// Egress (acl_egress, on what is staged for a port before it is sent): the port's
// egress ACL. Neither allocates, locks or logs; every drop is counted on the port.
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"
#include "dataplane/filter/acl_table.h"

namespace gp {

void guard_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

// Filters pkts[0..n) for `port` in place; returns how many are kept (the rest are freed
// and counted as acl_deny / filter_unparsed on the port).
uint16_t acl_egress(WorkerContext& ctx, const AclTable& acl, uint16_t port, rte_mbuf** pkts,
                    uint16_t n) noexcept;

}  // namespace gp
