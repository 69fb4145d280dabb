// Fast path: see translate.h.
#include "dataplane/nat/translate.h"

#include <rte_tcp.h>
#include <rte_udp.h>

#include "dataplane/nat/checksum.h"

namespace gp::nat {

void rewrite_address(rte_ipv4_hdr* ip, Side side, rte_be32_t to) noexcept {
  if (side == Side::kSource) {
    ip->hdr_checksum = csum_update32(ip->hdr_checksum, ip->src_addr, to);
    ip->src_addr = to;
  } else {
    ip->hdr_checksum = csum_update32(ip->hdr_checksum, ip->dst_addr, to);
    ip->dst_addr = to;
  }
}

const TcpSegment* tcp_segment(const rte_mbuf* m, uint32_t l4_offset, const rte_ipv4_hdr* ip,
                              const void* l4, TcpSegment* out) noexcept {
  if (ip->next_proto_id != IPPROTO_TCP) return nullptr;
  const auto* t = static_cast<const rte_tcp_hdr*>(l4);
  out->flags = t->tcp_flags;
  out->seq = rte_be_to_cpu_32(t->sent_seq);
  out->ack = rte_be_to_cpu_32(t->recv_ack);
  out->window = rte_be_to_cpu_16(t->rx_win);
  const uint32_t hdr = (t->data_off >> 4) * 4u;
  const uint32_t l4_len = rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip);
  out->len = l4_len > hdr ? l4_len - hdr : 0;
  out->wscale = -1;
  if ((t->tcp_flags & RTE_TCP_SYN_FLAG) && hdr > sizeof(rte_tcp_hdr) &&
      l4_offset + hdr <= rte_pktmbuf_data_len(m)) {
    const auto* o = reinterpret_cast<const uint8_t*>(t + 1);
    for (uint32_t i = 0, n = hdr - sizeof(rte_tcp_hdr); i < n;) {
      if (o[i] == 0) break;  // end of options
      if (o[i] == 1) {       // no-operation
        ++i;
        continue;
      }
      if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n) break;  // malformed: stop
      if (o[i] == 3 && o[i + 1] == 3) out->wscale = static_cast<int8_t>(o[i + 2]);
      i += o[i + 1];
    }
  }
  return out;
}

bool rewrite_icmp_error(rte_ipv4_hdr* ip, rte_icmp_hdr* icmp, uint32_t icmp_len, Side inner_side,
                        Endpoint inner_to, Side outer_side, rte_be32_t outer_to) noexcept {
  constexpr uint32_t kIcmpHdr = sizeof(rte_icmp_hdr);
  if (!is_icmp_error(icmp->icmp_type) || icmp_len < kIcmpHdr + sizeof(rte_ipv4_hdr) + 8)
    return false;
  auto* inner = reinterpret_cast<rte_ipv4_hdr*>(reinterpret_cast<uint8_t*>(icmp) + kIcmpHdr);
  const uint32_t ihl = rte_ipv4_hdr_len(inner);
  if ((inner->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr) || kIcmpHdr + ihl + 8 > icmp_len)
    return false;
  void* inner_l4 = reinterpret_cast<uint8_t*>(inner) + ihl;
  if (!detail::rewrite_impl(inner, inner_l4, icmp_len - kIcmpHdr - ihl, inner_side, inner_to))
    return false;
  rewrite_address(ip, outer_side, outer_to);
  icmp->icmp_cksum = 0;
  icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, icmp_len));
  return true;
}

}  // namespace gp::nat
