// Fast path: the tunnel decap stage. Runs on an uplink that carries the tunnels of
// generic networks (Snapshot::uplink_tunnels), after the slow path took its ARP and
// pings and before the NAT: every IPv4 UDP datagram to the uplink's address and to one
// of its tunnels' local UDP ports is a tunnel frame. A frame from a configured remote
// endpoint with a known VNI (VXLAN) or on the UDP tunnel's port loses its outer headers
// and goes on as received on that remote's tunnel port; the rest is dropped and counted
// (tunnel_malformed, tunnel_unknown_vni, tunnel_unknown_remote). Frames that are no
// tunnel's stay in the batch for the stages after it.
//
// Threads: any worker (nothing but the snapshot is read; no state).
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// Moves the decapsulated frames of `batch` into `inner` (inner.n of them; their tunnel
// ports in vports, in arrival order), counted as received on those ports.
void tunnel_decap_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch, Batch& inner,
                        uint16_t* vports) noexcept;

}  // namespace gp
