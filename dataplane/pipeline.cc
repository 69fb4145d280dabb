// Fast path: the composition of the stages (see pipeline.h). The only file that knows
// which stages run, in which order, for which kind of port.
#include "dataplane/pipeline.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>

#include "dataplane/filter/filter_stage.h"
#include "dataplane/filter/token_bucket.h"
#include "dataplane/l2/l2_stage.h"
#include "dataplane/l2/vlan_stage.h"
#include "dataplane/nat/nat_lane.h"
#include "dataplane/nat/nat_stage.h"
#include "dataplane/nat/nat_view.h"
#include "dataplane/parse/classify_stage.h"
#include "dataplane/services/punt_stage.h"
#include "dataplane/tunnel/decap_stage.h"
#include "dataplane/tunnel/encap.h"

namespace gp {

namespace {
void switch_batch(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept;

// Switches batch as sub-batches of the frames whose keys[] are equal, in the order of
// their first frames (frames of one key keep their order); place(sub, key) says where
// a sub-batch is switched (its segment, or the port it counts as received on).
template <typename Place>
void switch_runs(WorkerContext& ctx, const Snapshot& snap, Batch& batch, uint16_t* keys,
                 Place place) noexcept {
  while (batch.n != 0) {
    const uint16_t key = keys[0];
    uint16_t i = 1;
    while (i < batch.n && keys[i] == key) ++i;
    if (i == batch.n) {  // the rest is one run (a burst from an access port: all of it)
      place(batch, key);
      switch_batch(ctx, snap, batch);
      return;
    }
    Batch one;
    one.in_port = batch.in_port;
    one.n = 0;
    uint16_t rest = 0;
    for (uint16_t j = 0; j < batch.n; ++j) {
      if (keys[j] == key) {
        one.pkts[one.n++] = batch.pkts[j];
      } else {
        batch.pkts[rest] = batch.pkts[j];
        keys[rest++] = keys[j];
      }
    }
    batch.n = rest;
    place(one, key);
    switch_batch(ctx, snap, one);
  }
}

// Every stage after the VLAN's: frames of one ingress port and one segment. Frames out
// of tunnels go round once more, as received on their remote's tunnel port.
void switch_batch(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept {
  nat_lane(ctx, snap, batch);  // established NAT flows in one pass; the rest goes on
  if (batch.n == 0) return;
  classify_stage(ctx, snap, batch, classify_needs_l3(snap, batch));
  if (batch.n != 0 && (snap.ports[batch.in_port].features & kFeatureGuard))
    guard_stage(ctx, snap, batch);
  if (batch.n != 0 && ctx.punt_ring != nullptr) punt_stage(ctx, snap, batch);
  if (batch.n != 0 && snap.uplink_tunnels[batch.in_port]) {
    Batch inner;
    uint16_t vports[kBurst];
    tunnel_decap_stage(ctx, snap, batch, inner, vports);
    switch_runs(ctx, snap, inner, vports, [&](Batch& b, uint16_t port) {
      b.in_port = port;
      b.segment = snap.ports[port].segment;
    });
  }
  if (batch.n != 0) nat_stage(ctx, snap, batch);
  if (batch.n != 0) l2_stage(ctx, snap, batch);
}

// A VLAN-aware port: each frame to the segment of its VLAN.
void switch_vlans(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept {
  uint16_t segs[kBurst];
  vlan_ingress(ctx, snap, batch, segs);
  switch_runs(ctx, snap, batch, segs, [](Batch& b, uint16_t seg) { b.segment = seg; });
}
}  // namespace

uint64_t process_batch(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept {
  PortCounters& pc = ctx.counters->ports[batch.in_port];
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < batch.n; ++i) bytes += rte_pktmbuf_pkt_len(batch.pkts[i]);
  pc.rx_packets.add(batch.n);
  pc.rx_bytes.add(bytes);
  const PortPolicy& pp = snap.ports[batch.in_port];
  batch.segment = pp.segment;
  if (pp.features & kFeatureVlan)
    switch_vlans(ctx, snap, batch);
  else
    switch_batch(ctx, snap, batch);
  return bytes;
}

uint32_t process_handoffs(WorkerContext& ctx, const Snapshot& snap) noexcept {
  uint32_t total = 0;
  for (uint16_t w = 0; w < ctx.n_workers; ++w) {
    rte_ring* r = ctx.handoff_from[w];
    if (r == nullptr) continue;
    rte_mbuf* pkts[kBurst];
    const unsigned n =
        rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(pkts), kBurst, nullptr);
    // Group runs of the same ingress port into batches: stages work per ingress port.
    for (unsigned i = 0; i < n;) {
      Batch batch;
      batch.in_port = pkts[i]->port;
      batch.n = 0;
      while (i < n && pkts[i]->port == batch.in_port) batch.pkts[batch.n++] = pkts[i++];
      if (batch.in_port >= kMaxPorts) {
        rte_pktmbuf_free_bulk(batch.pkts, batch.n);
        continue;
      }
      classify_stage(ctx, snap, batch);  // meta is not carried across the ring
      if (batch.n != 0) nat_stage(ctx, snap, batch, /*from_handoff=*/true);
      rte_pktmbuf_free_bulk(batch.pkts, batch.n);  // nothing else may take them
      flush_tx(ctx);
    }
    total += n;
  }
  return total;
}

uint32_t poll_once(WorkerContext& ctx, const Snapshot& snap) noexcept {
  uint32_t total = 0;
  ctx.snap = &snap;
  ctx.tunnel_tx = &tunnel_tx;
  send_injected(ctx, snap);
  if (ctx.n_workers > 1) send_redirected(ctx, snap);
  if (ctx.n_workers > 1) total += process_handoffs(ctx, snap);
  nat_expire(ctx, snap);
  Batch batch;
  for (uint16_t port : snap.rx_ports) {
    TokenBucket* shaper = snap.shapers[port];
    if (shaper != nullptr && !shaper->admit(ctx.now_tsc, ctx.tsc_hz)) {
      ctx.counters->event(WorkerEvent::kShapedPolls);  // the frames wait in the guest's ring
      continue;
    }
    batch.in_port = port;
    batch.n = rte_eth_rx_burst(port, ctx.queue_id, batch.pkts, kBurst);
    if (batch.n == 0) continue;
    total += batch.n;
    const uint64_t bytes = process_batch(ctx, snap, batch);
    if (shaper != nullptr) shaper->consume(bytes);
    flush_tx(ctx);
  }
  ctx.snap = nullptr;  // the snapshot may be retired once this loop is quiescent
  return total;
}

int worker_main(void* arg) {
  auto* w = static_cast<WorkerLaunch*>(arg);
  WorkerContext& ctx = *w->ctx;
  rte_rcu_qsbr* v = w->holder->qsbr();
  rte_rcu_qsbr_thread_register(v, ctx.worker_id);
  rte_rcu_qsbr_thread_online(v, ctx.worker_id);
  uint64_t last = rte_rdtsc();
  while (!w->stop->load(std::memory_order_acquire)) {
    ctx.now_tsc = rte_rdtsc();
    const Snapshot* snap = w->holder->acquire();
    uint32_t moved = 0;
    if (snap != nullptr) {
      adopt_nat(ctx, *snap);
      moved = poll_once(ctx, *snap);
    }
    if (ctx.nat_view != nullptr && ctx.nat != nullptr) ctx.nat_view->serve(*ctx.nat, ctx.now_tsc);
    ctx.counters->loops.add(1);
    const uint64_t now = rte_rdtsc();
    (moved != 0 ? ctx.counters->busy_tsc : ctx.counters->idle_tsc).add(now - last);
    last = now;
    rte_rcu_qsbr_quiescent(v, ctx.worker_id);  // holds no snapshot pointer past here
  }
  rte_rcu_qsbr_thread_offline(v, ctx.worker_id);
  rte_rcu_qsbr_thread_unregister(v, ctx.worker_id);
  return 0;
}

}  // namespace gp
