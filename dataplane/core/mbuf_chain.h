// Helpers for frames that may be chains of mbuf segments (vhost-user hands over a chain
// for every frame larger than one data room; the NAT's fragments are chains too). Any
// stage or service that shortens or reuses a received frame goes through these, so the
// segments past the first are never dropped on the floor (a leak) or left behind.
// Fast path and slow path alike: nothing here allocates, locks or logs.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

namespace gp {

// Shortens m to `len` bytes (len <= pkt_len), freeing the segments that end up empty.
// Works on any chain, unlike rte_pktmbuf_trim, which only takes from the last segment.
inline void mbuf_trim_to(rte_mbuf* m, uint32_t len) noexcept {
  if (len >= rte_pktmbuf_pkt_len(m)) return;
  uint32_t seen = 0;
  uint16_t segs = 1;
  rte_mbuf* seg = m;
  while (seen + seg->data_len < len && seg->next != nullptr) {
    seen += seg->data_len;
    seg = seg->next;
    ++segs;
  }
  seg->data_len = static_cast<uint16_t>(len - seen);
  if (seg->next != nullptr) {
    rte_pktmbuf_free(seg->next);  // the rest of the chain, every segment of it
    seg->next = nullptr;
  }
  m->nb_segs = segs;
  m->pkt_len = len;
}

// May m be rewritten in place as a reply? Only a frame that nobody else holds (no
// flood copy, no attached buffer another mbuf shares).
inline bool mbuf_exclusive(const rte_mbuf* m) noexcept {
  for (const rte_mbuf* s = m; s != nullptr; s = s->next)
    if (!RTE_MBUF_DIRECT(s) || rte_mbuf_refcnt_read(s) != 1) return false;
  return true;
}

// Makes m a single empty segment ready to be written from scratch (a reply built in
// place): the rest of the chain is freed first, which rte_pktmbuf_reset would lose.
inline void mbuf_reset_single(rte_mbuf* m) noexcept {
  const uint16_t port = m->port;
  if (m->next != nullptr) {
    rte_pktmbuf_free(m->next);
    m->next = nullptr;
  }
  rte_pktmbuf_reset(m);
  m->port = port;
}

}  // namespace gp
