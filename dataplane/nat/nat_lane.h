// The NAT lane: one pass over a burst from a `nat` adapter's port (outbound) or a NAT
// uplink (inbound) for the packets of established TCP and UDP flows, ahead of the stages.
//
// The stages walk a burst once each (classify, the service check, the NAT's bulk lookup,
// the translation); for the common packet of a NAT flow every one of those walks says
// "nothing to do" but the last. The lane does what they would do for exactly the packets
// where the answer is known from the packet and its session alone: an untagged, single
// header IPv4 TCP or UDP packet, not a fragment, TTL above 1, within the MTUs, not for the
// appliance's services (DHCP) nor the router itself, whose session the burst's bulk
// lookup finds and that needs nothing but the rewrite (no DNS proxy, no stale session, no
// hairpin, a resolved next hop). It translates and stages those and leaves every other
// frame in the batch, in its order, for the stages, which then decide as they always do.
//
// Order within a flow is kept: a frame that stays for the stages marks its addresses and
// protocol (the flow, fragments included), and a later frame of the same marks stays too.
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// Takes what it can of batch (see above); batch keeps the rest, in order. A batch from
// any other kind of port is left as it is.
void nat_lane(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

}  // namespace gp
