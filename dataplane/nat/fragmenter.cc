// Fast path: see fragmenter.h.
#include "dataplane/nat/fragmenter.h"

#include <rte_ip.h>
#include <rte_ip_frag.h>

#include <cerrno>

namespace gp {

Drop fragment_and_stage(WorkerContext& ctx, rte_mbuf* m, uint16_t port, uint16_t mtu) noexcept {
  constexpr uint16_t kMaxFragments = 64;  // a 64 KB datagram at MTU 1280 takes 52
  const rte_ether_hdr eh = *rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  if (rte_pktmbuf_adj(m, sizeof(rte_ether_hdr)) == nullptr) return Drop::kNatTooBig;
  rte_mbuf* out[kMaxFragments];
  const int n = rte_ipv4_fragment_packet(m, out, kMaxFragments, mtu, m->pool, m->pool);
  if (n <= 0) {
    rte_pktmbuf_prepend(m, sizeof(rte_ether_hdr));  // as it came, for the caller to free
    return n == -ENOMEM ? Drop::kNoMbuf : Drop::kNatTooBig;
  }
  const uint32_t room = rte_pktmbuf_data_room_size(m->pool) - RTE_PKTMBUF_HEADROOM;
  uint64_t made = 0;
  for (int i = 0; i < n; ++i) {
    rte_mbuf* f = out[i];
    auto* feh = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(f, sizeof(rte_ether_hdr)));
    if (feh == nullptr ||
        (rte_pktmbuf_pkt_len(f) <= room && f->nb_segs > 1 && rte_pktmbuf_linearize(f) != 0)) {
      ctx.counters->ports[port].drop(Drop::kNatTooBig);
      rte_pktmbuf_free(f);
      continue;
    }
    feh = rte_pktmbuf_mtod(f, rte_ether_hdr*);
    *feh = eh;
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(feh + 1);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    stage_tx(ctx, port, f);
    ++made;
  }
  ctx.counters->event(WorkerEvent::kNatFragmentsMade, made);
  rte_pktmbuf_free(m);  // the fragments hold their own references to its data
  return Drop::kCount;
}

}  // namespace gp
