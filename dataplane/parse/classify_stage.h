// First stage after RX: validates each frame's Ethernet header once and records what
// later stages may trust (PacketMeta). Drops runts, frames with a group or zero source
// MAC, and frames larger than the ingress adapter accepts; every drop is counted.
#pragma once

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// l3: also parse ARP and IPv4 (kMetaArp, kMetaIpv4, kMetaL4, kMetaFragment, ip_proto,
// l4_offset); without it those stay unset, for a batch no later stage reads them of
// (classify_needs_l3).
void classify_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch,
                    bool l3 = true) noexcept;

// Whether a later stage reads the L3 part of the batch's PacketMeta: the service check
// (a segment with services, a NAT uplink), the NAT (either side), tunnel decapsulation.
inline bool classify_needs_l3(const Snapshot& snap, const Batch& batch) noexcept {
  const uint16_t port = batch.in_port;
  if (snap.uplink_nat[port].enabled || snap.uplink_tunnels[port]) return true;
  const size_t n = snap.segments.size();
  const uint16_t own = snap.ports[port].segment;
  if (own < n && snap.segments[own].kind == SegmentKind::kNat) return true;
  if (batch.segment >= n) return false;
  const Segment& seg = snap.segments[batch.segment];
  return seg.services != kServiceNone || seg.kind == SegmentKind::kNat;
}

}  // namespace gp
