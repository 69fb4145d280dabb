// Fast path: see l2_stage.h. One bulk FDB lookup per burst for all source and
// destination keys, then a scalar pass that decides each frame's egress set.
#include "dataplane/l2/l2_stage.h"

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "dataplane/l2/fdb.h"
#include "dataplane/l2/policy.h"
#include "dataplane/l2/vlan_stage.h"

namespace gp {

namespace {

inline void queue_learn(WorkerContext& ctx, uint64_t key, uint16_t port, uint16_t gen) noexcept {
  LearnEvent ev{key, port, gen, 0};
  if (rte_ring_sp_enqueue_elem(ctx.learn_ring, &ev, sizeof(ev)) == 0)
    ctx.counters->event(WorkerEvent::kLearnQueued);
  else
    ctx.counters->event(WorkerEvent::kLearnRingFull);
}

// Sends m to every port in outs (n of them), sharing the mbuf by reference count. In
// a VLAN, the trunks that take it tagged share a tagged frame instead.
inline void deliver(WorkerContext& ctx, const Snapshot& snap, const Segment& seg,
                    uint16_t seg_index, PortCounters& in_pc, rte_mbuf* m, uint16_t* outs,
                    uint16_t n, Drop why_none) noexcept {
  if (n == 0) {
    in_pc.drop(why_none);
    rte_pktmbuf_free(m);
    return;
  }
  if (seg.vid != 0) {
    rte_mbuf* t = nullptr;
    const uint16_t plain = vlan_egress_split(ctx, snap, seg, seg_index, in_pc, m, outs, n, &t);
    if (t != nullptr) {
      const uint16_t n_tag = n - plain;
      if (n_tag > 1) rte_pktmbuf_refcnt_update(t, static_cast<int16_t>(n_tag - 1));
      for (uint16_t i = 0; i < n_tag; ++i) stage_tx(ctx, outs[plain + i], t);
    }
    if (plain == 0) return;  // m itself went to the trunks (or was freed)
    n = plain;
  }
  // Every segment of a chain: tx frees each segment, so each must hold n references.
  if (n > 1) rte_pktmbuf_refcnt_update(m, static_cast<int16_t>(n - 1));
  for (uint16_t i = 0; i < n; ++i) stage_tx(ctx, outs[i], m);
}

}  // namespace

void l2_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept {
  const uint16_t in_port = batch.in_port;
  const PortPolicy& in = snap.ports[in_port];
  PortCounters& pc = ctx.counters->ports[in_port];
  const uint16_t seg_index = batch.segment;
  if (in.role == PortRole::kUnused || seg_index >= snap.segments.size() || !in.link_up) {
    pc.drop(in.link_up ? Drop::kNoSegment : Drop::kLinkDown, batch.n);
    rte_pktmbuf_free_bulk(batch.pkts, batch.n);
    batch.n = 0;
    return;
  }
  const Segment& seg = snap.segments[seg_index];
  const uint16_t n = batch.n;

  // Keys: [0, n) sources, [n, 2n) destinations. The worker's cache answers first; one
  // bulk lookup in the shared table for the rest, whose current hits are cached.
  static_assert(2 * kBurst <= RTE_HASH_LOOKUP_BULK_MAX && 2 * kBurst <= 64,
                "one rte_hash bulk lookup (and its 64-bit hit mask) for a burst's keys");
  uint64_t keys[2 * kBurst];
  uint64_t data[2 * kBurst];
  for (uint16_t i = 0; i < n; ++i) {
    const auto* eh = rte_pktmbuf_mtod(batch.pkts[i], const rte_ether_hdr*);
    keys[i] = Fdb::make_key(seg_index, eh->src_addr);
    keys[n + i] = Fdb::make_key(seg_index, eh->dst_addr);
  }
  const uint32_t epoch = ctx.fdb->epoch();
  uint64_t hits = 0;
  const void* miss_keys[2 * kBurst];
  uint8_t miss_at[2 * kBurst];
  uint32_t n_miss = 0;
  for (uint32_t j = 0; j < 2u * n; ++j) {
    if (ctx.mac_cache.get(keys[j], epoch, &data[j])) {
      hits |= uint64_t{1} << j;
    } else {
      miss_keys[n_miss] = &keys[j];
      miss_at[n_miss++] = static_cast<uint8_t>(j);
    }
  }
  if (n_miss != 0) {
    uint64_t found[2 * kBurst];
    const uint64_t got = ctx.fdb->lookup_bulk(miss_keys, n_miss, found);
    for (uint32_t k = 0; k < n_miss; ++k) {
      if (!((got >> k) & 1)) continue;
      const uint32_t j = miss_at[k];
      data[j] = found[k];
      hits |= uint64_t{1} << j;
      if (Fdb::data_generation(found[k]) == seg.fdb_generation)
        ctx.mac_cache.put(keys[j], found[k], epoch);
    }
  }
  const uint64_t touch_every = fdb_touch_interval(ctx.tsc_hz);

  uint16_t outs[kMaxPorts];
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    // Compared with each egress adapter's largest frame; a tag may come on top.
    const uint32_t len =
        rte_pktmbuf_pkt_len(m) - ((batch.meta[i].flags & kMetaVlan) ? kVlanTagLen : 0);

    // Learn or refresh the source.
    const bool src_hit = (hits >> i) & 1;
    if (src_hit && Fdb::data_generation(data[i]) == seg.fdb_generation &&
        Fdb::data_port(data[i]) == in_port) {
      ctx.fdb->touch(Fdb::data_position(data[i]), ctx.now_tsc, touch_every);
    } else {
      queue_learn(ctx, keys[i], in_port, seg.fdb_generation);
      if (snap.mac_limit_drop[in_port] && ctx.fdb->port_full(in_port) &&
          !(src_hit && Fdb::data_port(data[i]) == in_port)) {
        pc.drop(Drop::kMacLimit);  // a source its adapter may not add: mac_limit_action drop
        rte_pktmbuf_free(m);
        continue;
      }
    }

    // Known unicast destination?
    uint16_t dst_port = kNoPort;
    if (!(batch.meta[i].flags & kMetaDstGroup) && ((hits >> (n + i)) & 1) &&
        Fdb::data_generation(data[n + i]) == seg.fdb_generation)
      dst_port = Fdb::data_port(data[n + i]);

    uint16_t n_out = 0;
    if (dst_port != kNoPort) {
      if (dst_port == in_port) {
        deliver(ctx, snap, seg, seg_index, pc, m, outs, 0, Drop::kSamePort);
        continue;
      }
      const PortPolicy& out = snap.ports[dst_port];
      const DstKind kind = out.role == PortRole::kGuest ? DstKind::kGuest : DstKind::kOther;
      if (may_receive(in, out, eh->dst_addr, kind) && len <= out.max_frame)
        outs[n_out++] = dst_port;
      Drop why = out.link_up ? Drop::kPolicy : Drop::kLinkDown;
      if (len > out.max_frame)
        why = (out.features & kFeatureModelCapped) ? Drop::kNicModelMtu : Drop::kOversize;
      const uint16_t direct = n_out;
      for (uint16_t s = 0; s < seg.n_sniffers; ++s) {
        const uint16_t p = seg.sniffers[s];
        if (p == in_port || p == dst_port) continue;
        const PortPolicy& sp = snap.ports[p];
        if (may_receive(in, sp, eh->dst_addr, kind) && len <= sp.max_frame) outs[n_out++] = p;
      }
      if (n_out > direct) ctx.counters->event(WorkerEvent::kSnoopCopies, n_out - direct);
      deliver(ctx, snap, seg, seg_index, pc, m, outs, n_out, why);
      continue;
    }

    // Flood: broadcast, multicast, unknown unicast.
    const DstKind kind = (batch.meta[i].flags & kMetaDstGroup) ? DstKind::kGroup : DstKind::kOther;
    for (uint16_t s = 0; s < seg.n_members; ++s) {
      const uint16_t p = seg.members[s];
      if (p == in_port) continue;
      const PortPolicy& op = snap.ports[p];
      if (!may_receive(in, op, eh->dst_addr, kind)) continue;
      if (len <= op.max_frame)
        outs[n_out++] = p;
      else if (op.features & kFeatureModelCapped)  // its NIC model takes no jumbo frame
        ctx.counters->ports[p].drop(Drop::kNicModelMtu);
    }
    ctx.counters->event(WorkerEvent::kFloods);
    deliver(ctx, snap, seg, seg_index, pc, m, outs, n_out, Drop::kNoDestination);
  }
  batch.n = 0;
}

}  // namespace gp
