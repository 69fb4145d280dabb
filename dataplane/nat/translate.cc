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
