// Fast path: 802.1Q VLANs on VLAN-aware networks. A network with VLANs is compiled
// into one segment per VLAN (its own members, flood list and MAC table generation) plus
// the untagged one; frames travel untagged inside a segment. vlan_ingress admits each
// frame a port receives to the segment of its VLAN and strips the tag; vlan_egress_split
// (l2_stage) pushes the segment's tag towards the trunks that carry it tagged.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/core/batch.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

// Only for ports with kFeatureVlan. Tagged frames (802.1Q, or stripped by the PMD) of
// a VLAN the port carries are stripped and get that VLAN's segment; untagged and
// priority-tagged (VID 0) frames get PortPolicy::segment unless the port drops them
// (vlan_untagged); any other tag, 802.1ad S-tags included, is dropped (vlan_foreign).
// segs[i] receives the segment of the i-th frame left in the batch.
void vlan_ingress(WorkerContext& ctx, const Snapshot& snap, Batch& batch, uint16_t* segs) noexcept;

// Does a frame of segment seg_index leave `port` tagged?
inline bool vlan_tags_for(const PortPolicy& port, uint16_t seg_index) noexcept {
  return (port.vlan & kVlanTrunk) && port.segment != seg_index;
}

// Before m is staged to `outs` (n ports) of segment seg (with seg.vid != 0): moves the
// ports that take it tagged to the end of outs and returns how many take it untagged.
// *tagged is then the frame to send them: m itself with the tag pushed when no port
// takes it untagged, else a tagged copy; null (counted vlan_no_mbuf on pc) when no
// mbuf was left for one.
uint16_t vlan_egress_split(WorkerContext& ctx, const Snapshot& snap, const Segment& seg,
                           uint16_t seg_index, PortCounters& pc, rte_mbuf* m, uint16_t* outs,
                           uint16_t n, rte_mbuf** tagged) noexcept;

}  // namespace gp
