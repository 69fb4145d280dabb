// Fast path: hands the frames that the appliance itself must answer (ARP for a service
// address, DHCP to the segment's server) to the slow path over the worker's punt ring,
// and takes them out of the batch. Only segments with services are looked at; only
// what classify validated (PacketMeta flags) is read.
//
// It is also the service guard of those segments: a guest may not speak for the
// appliance. Its ARP whose sender address is a service address (a reply or gratuitous
// ARP that would take over the gateway, the DNS proxy or the DHCP server) is dropped as
// arp_spoof; its DHCP server messages (UDP to the client port 68) on a segment where
// the appliance serves DHCP are dropped as dhcp_spoof unless the adapter is
// dhcp_trusted. Uplinks and host ports are the operator's and are not guarded.
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

void punt_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

}  // namespace gp
