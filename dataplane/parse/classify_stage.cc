// Fast path: see classify_stage.h.
#include "dataplane/parse/classify_stage.h"

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_prefetch.h>

namespace gp {

namespace {
constexpr uint16_t kPrefetchAhead = 4;

inline bool src_mac_bad(const rte_ether_addr& a) noexcept {
  return rte_is_multicast_ether_addr(&a) || rte_is_zero_ether_addr(&a);
}
}  // namespace

void classify_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept {
  PortCounters& pc = ctx.counters->ports[batch.in_port];
  const PortPolicy& in = snap.ports[batch.in_port];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < batch.n && i < kPrefetchAhead; ++i)
    rte_prefetch0(rte_pktmbuf_mtod(batch.pkts[i], void*));
  for (uint16_t i = 0; i < batch.n; ++i) {
    if (i + kPrefetchAhead < batch.n)
      rte_prefetch0(rte_pktmbuf_mtod(batch.pkts[i + kPrefetchAhead], void*));
    rte_mbuf* m = batch.pkts[i];
    Drop why = Drop::kCount;
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) {
      why = Drop::kRunt;
    } else if (rte_pktmbuf_pkt_len(m) > in.max_frame) {
      why = Drop::kOversize;
    } else {
      const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
      if (src_mac_bad(eh->src_addr)) why = Drop::kBadSrcMac;
      if (why == Drop::kCount) {
        PacketMeta& pm = batch.meta[kept];
        pm = PacketMeta{};
        pm.l3_offset = sizeof(rte_ether_hdr);
        pm.ether_type = rte_be_to_cpu_16(eh->ether_type);
        pm.flags = rte_is_multicast_ether_addr(&eh->dst_addr) ? kMetaDstGroup : 0;
        batch.pkts[kept++] = m;
        continue;
      }
    }
    pc.drop(why);
    rte_pktmbuf_free(m);
  }
  batch.n = kept;
}

}  // namespace gp
