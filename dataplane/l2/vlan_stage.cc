// Fast path: see vlan_stage.h.
#include "dataplane/l2/vlan_stage.h"

#include <rte_byteorder.h>
#include <rte_ether.h>

namespace gp {

namespace {

constexpr uint16_t kVidMask = 0x0fff;
constexpr uint16_t kPcpDeiMask = 0xf000;

// Pushes vid (keeping the priority a frame came with, when it came tagged) on m, which
// must be this path's alone: in place when there is headroom, else onto a copy. Null
// when no mbuf was left (m is then freed).
rte_mbuf* push_tag(rte_mbuf* m, uint16_t vid) noexcept {
  const uint16_t prio = (m->ol_flags & RTE_MBUF_F_RX_VLAN) ? (m->vlan_tci & kPcpDeiMask) : 0;
  m->vlan_tci = static_cast<uint16_t>(prio | vid);
  if (rte_vlan_insert(&m) == 0) return m;
  rte_mbuf* c = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
  rte_pktmbuf_free(m);
  if (c == nullptr) return nullptr;
  c->vlan_tci = static_cast<uint16_t>(prio | vid);
  if (rte_vlan_insert(&c) == 0) return c;
  rte_pktmbuf_free(c);
  return nullptr;
}

}  // namespace

void vlan_ingress(WorkerContext& ctx, const Snapshot& snap, Batch& batch, uint16_t* segs) noexcept {
  const PortPolicy& pp = snap.ports[batch.in_port];
  PortCounters& pc = ctx.counters->ports[batch.in_port];
  const uint16_t map_index = snap.vlan_map[batch.in_port];
  const VlanMap* map = map_index != 0 && map_index <= snap.vlan_maps.size()
                           ? &snap.vlan_maps[map_index - 1]
                           : nullptr;
  uint16_t kept = 0;
  for (uint16_t i = 0; i < batch.n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    uint16_t seg = pp.segment;
    bool untagged = true;
    if (rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN) {  // shorter: classify drops the runt
      const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
      uint16_t tci = 0;
      bool in_data = false, tagged = false;
      if (eh->ether_type == RTE_BE16(RTE_ETHER_TYPE_VLAN)) {
        if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(rte_vlan_hdr)) {
          pc.drop(Drop::kRunt);
          rte_pktmbuf_free(m);
          continue;
        }
        tci = rte_be_to_cpu_16(reinterpret_cast<const rte_vlan_hdr*>(eh + 1)->vlan_tci);
        in_data = tagged = true;
      } else if (eh->ether_type == RTE_BE16(RTE_ETHER_TYPE_QINQ)) {
        pc.drop(Drop::kVlanForeign);  // a provider (S-) tag: no port here carries those
        rte_pktmbuf_free(m);
        continue;
      } else if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) {
        tci = m->vlan_tci;  // the PMD took the tag off already
        tagged = true;
      }
      const uint16_t vid = tci & kVidMask;
      if (tagged && vid != 0) {
        seg = map != nullptr ? (*map)[vid] : kNoPort;
        if (seg == kNoPort) {
          pc.drop(Drop::kVlanForeign);
          rte_pktmbuf_free(m);
          continue;
        }
        untagged = false;
      }
      if (in_data) rte_vlan_strip(m);  // a priority tag (VID 0) too: it names no VLAN
      m->ol_flags &= ~RTE_MBUF_F_RX_VLAN_STRIPPED;
    }
    if (untagged && (pp.vlan & kVlanDropUntagged)) {
      pc.drop(Drop::kVlanUntagged);
      rte_pktmbuf_free(m);
      continue;
    }
    batch.pkts[kept] = m;
    segs[kept++] = seg;
  }
  batch.n = kept;
}

uint16_t vlan_egress_split(WorkerContext& ctx, const Snapshot& snap, const Segment& seg,
                           uint16_t seg_index, PortCounters& pc, rte_mbuf* m, uint16_t* outs,
                           uint16_t n, rte_mbuf** tagged) noexcept {
  (void)ctx;
  *tagged = nullptr;
  uint16_t plain = 0;
  uint16_t tag_ports[kMaxPorts];
  uint16_t n_tag = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (vlan_tags_for(snap.ports[outs[i]], seg_index))
      tag_ports[n_tag++] = outs[i];
    else
      outs[plain++] = outs[i];
  }
  if (n_tag == 0) return plain;
  for (uint16_t i = 0; i < n_tag; ++i) outs[plain + i] = tag_ports[i];
  // The untagged ports keep m; the tagged ones get their own frame. Made before m is
  // staged anywhere: a staged frame may be sent (and freed) at once.
  rte_mbuf* t = m;
  if (plain != 0) {
    t = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
    if (t == nullptr) {
      pc.drop(Drop::kVlanNoMbuf, n_tag);
      return plain;
    }
  }
  *tagged = push_tag(t, seg.vid);
  if (*tagged == nullptr) pc.drop(Drop::kVlanNoMbuf, n_tag);
  return plain;
}

}  // namespace gp
