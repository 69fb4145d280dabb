// Fast path: staged transmit, frames from the slow path and other workers. See worker.h.
#include "dataplane/core/worker.h"

#include <rte_ethdev.h>

#include "dataplane/core/snapshot.h"
#include "dataplane/filter/filter_stage.h"

namespace gp {

uint32_t send_injected(WorkerContext& ctx, const Snapshot& snap) noexcept {
  if (ctx.inject_ring == nullptr) return 0;
  rte_mbuf* pkts[kBurst];
  const unsigned n =
      rte_ring_sc_dequeue_burst(ctx.inject_ring, reinterpret_cast<void**>(pkts), kBurst, nullptr);
  for (unsigned i = 0; i < n; ++i) {
    const uint16_t port = pkts[i]->port;
    if (port < kMaxPorts && snap.ports[port].role != PortRole::kUnused &&
        snap.ports[port].link_up) {
      stage_tx(ctx, port, pkts[i]);
      ctx.counters->event(WorkerEvent::kInjected);
    } else {
      ctx.counters->event(WorkerEvent::kInjectDropped);
      rte_pktmbuf_free(pkts[i]);
    }
  }
  if (n != 0) flush_tx(ctx);
  return n;
}

namespace {
// The port lacks this worker's tx queue: the frames go to the worker that owns queue
// (queue_id % n), or are dropped when the port has no queue at all.
void redirect_staged(WorkerContext& ctx, uint16_t port, uint16_t n_queues) noexcept {
  TxStaging::Queue& q = ctx.tx.q[port];
  PortCounters& pc = ctx.counters->ports[port];
  rte_ring* r = n_queues == 0 ? nullptr : ctx.tx_to[ctx.queue_id % n_queues];
  unsigned sent = 0;
  if (r != nullptr) {
    TxHandoff h[kBurst];
    for (uint16_t i = 0; i < q.n; ++i) h[i] = {q.pkts[i], port};
    sent = rte_ring_sp_enqueue_burst_elem(r, h, sizeof(TxHandoff), q.n, nullptr);
    ctx.counters->event(WorkerEvent::kTxRedirected, sent);
  }
  if (sent < q.n) {
    pc.drop(r == nullptr ? Drop::kTxNoQueue : Drop::kTxFull, q.n - sent);
    rte_pktmbuf_free_bulk(q.pkts + sent, q.n - sent);
  }
  q.n = 0;
}
}  // namespace

void send_staged(WorkerContext& ctx, uint16_t port) noexcept {
  TxStaging::Queue& q = ctx.tx.q[port];
  if (q.n == 0) return;
  if (is_tunnel_port(port)) {  // no DPDK port: the pipeline's tunnel transmit sends it
    if (ctx.tunnel_tx != nullptr) return ctx.tunnel_tx(ctx, port);
    ctx.counters->ports[port].drop(Drop::kTxNoQueue, q.n);
    rte_pktmbuf_free_bulk(q.pkts, q.n);
    q.n = 0;
    return;
  }
  const uint16_t n_queues =
      ctx.tx_queues == nullptr ? TxQueueMap::kEvery : ctx.tx_queues->get(port);
  if (ctx.queue_id >= n_queues) return redirect_staged(ctx, port, n_queues);
  if (ctx.snap != nullptr && ctx.snap->acl_out[port] != nullptr) {
    q.n = acl_egress(ctx, *ctx.snap->acl_out[port], port, q.pkts, q.n);
    if (q.n == 0) return;
  }
  uint32_t lens[kBurst];
  for (uint16_t i = 0; i < q.n; ++i) lens[i] = rte_pktmbuf_pkt_len(q.pkts[i]);
  const uint16_t sent = rte_eth_tx_burst(port, ctx.queue_id, q.pkts, q.n);
  PortCounters& pc = ctx.counters->ports[port];
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < sent; ++i) bytes += lens[i];
  pc.tx_packets.add(sent);
  pc.tx_bytes.add(bytes);
  if (sent < q.n) {
    pc.drop(Drop::kTxFull, q.n - sent);
    rte_pktmbuf_free_bulk(q.pkts + sent, q.n - sent);
  }
  q.n = 0;
}

void flush_tx(WorkerContext& ctx) noexcept {
  for (uint16_t d = 0; d < ctx.tx.n_dirty; ++d) {
    const uint16_t port = ctx.tx.dirty[d];
    send_staged(ctx, port);
    ctx.tx.q[port].listed = false;
  }
  ctx.tx.n_dirty = 0;
}

uint32_t send_redirected(WorkerContext& ctx, const Snapshot& snap) noexcept {
  uint32_t total = 0;
  for (uint16_t w = 0; w < ctx.n_workers; ++w) {
    rte_ring* r = ctx.tx_from[w];
    if (r == nullptr) continue;
    TxHandoff h[kBurst];
    const unsigned n = rte_ring_sc_dequeue_burst_elem(r, h, sizeof(TxHandoff), kBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
      const auto port = static_cast<uint16_t>(h[i].port);
      if (port < kMaxPorts && snap.ports[port].role != PortRole::kUnused)
        stage_tx(ctx, port, h[i].m);
      else
        rte_pktmbuf_free(h[i].m);  // the port left the config meanwhile
    }
    total += n;
  }
  if (total != 0) flush_tx(ctx);
  return total;
}

void adopt_nat(WorkerContext& ctx, const Snapshot& snap) noexcept {
  if (ctx.nat != nullptr || ctx.worker_id >= snap.worker_nat.size()) return;
  const WorkerNatState& st = snap.worker_nat[ctx.worker_id];
  ctx.nat = st.table;
  ctx.frags = st.frags;
  ctx.nat_view = st.view;
}

}  // namespace gp
