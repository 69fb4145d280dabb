// Fast path: see translate.h.
#include "dataplane/nat/translate.h"

#include <rte_tcp.h>
#include <rte_udp.h>

#include "dataplane/nat/checksum.h"

namespace gp::nat {

namespace {

constexpr uint32_t kTcpCsumEnd = 18;  // TCP's checksum ends 18 bytes into its header

inline bool is_echo(uint8_t type) noexcept {
  return type == RTE_IP_ICMP_ECHO_REQUEST || type == RTE_IP_ICMP_ECHO_REPLY;
}

// Rewrites one side; l4_avail says how much of the L4 header is present (an embedded
// packet in an ICMP error may carry only 8 bytes: a TCP checksum is then absent).
bool rewrite_impl(rte_ipv4_hdr* ip, void* l4, uint32_t l4_avail, Side side, Endpoint to) {
  // DPDK's headers are packed: fields are read and written by value, never by reference.
  const bool src = side == Side::kSource;
  const rte_be32_t old_ip = src ? ip->src_addr : ip->dst_addr;
  switch (ip->next_proto_id) {
    case IPPROTO_TCP: {
      auto* th = static_cast<rte_tcp_hdr*>(l4);
      const rte_be16_t old_port = src ? th->src_port : th->dst_port;
      if (l4_avail >= kTcpCsumEnd) {
        const uint16_t c = csum_update32(th->cksum, old_ip, to.ip);
        th->cksum = csum_update16(c, old_port, to.port);
      }
      (src ? th->src_port : th->dst_port) = to.port;
      break;
    }
    case IPPROTO_UDP: {
      auto* uh = static_cast<rte_udp_hdr*>(l4);
      const rte_be16_t old_port = src ? uh->src_port : uh->dst_port;
      if (uh->dgram_cksum != 0) {  // 0: the sender sent no checksum; keep it that way
        uint16_t c = csum_update32(uh->dgram_cksum, old_ip, to.ip);
        c = csum_update16(c, old_port, to.port);
        uh->dgram_cksum = c == 0 ? 0xffff : c;
      }
      (src ? uh->src_port : uh->dst_port) = to.port;
      break;
    }
    case IPPROTO_ICMP: {
      auto* ih = static_cast<rte_icmp_hdr*>(l4);
      if (!is_echo(ih->icmp_type)) return false;
      // No pseudo header in ICMP: only the identifier changes its checksum.
      ih->icmp_cksum = csum_update16(ih->icmp_cksum, ih->icmp_ident, to.port);
      ih->icmp_ident = to.port;
      break;
    }
    default:
      return false;
  }
  ip->hdr_checksum = csum_update32(ip->hdr_checksum, old_ip, to.ip);
  (src ? ip->src_addr : ip->dst_addr) = to.ip;
  return true;
}

}  // namespace

bool rewrite(rte_ipv4_hdr* ip, void* l4, Side side, Endpoint to) noexcept {
  return rewrite_impl(ip, l4, UINT32_MAX, side, to);
}

void rewrite_address(rte_ipv4_hdr* ip, Side side, rte_be32_t to) noexcept {
  if (side == Side::kSource) {
    ip->hdr_checksum = csum_update32(ip->hdr_checksum, ip->src_addr, to);
    ip->src_addr = to;
  } else {
    ip->hdr_checksum = csum_update32(ip->hdr_checksum, ip->dst_addr, to);
    ip->dst_addr = to;
  }
}

Endpoint endpoint_of(const rte_ipv4_hdr* ip, const void* l4, Side side) noexcept {
  Endpoint e{side == Side::kSource ? ip->src_addr : ip->dst_addr, 0};
  switch (ip->next_proto_id) {
    case IPPROTO_TCP: {
      const auto* th = static_cast<const rte_tcp_hdr*>(l4);
      e.port = side == Side::kSource ? th->src_port : th->dst_port;
      break;
    }
    case IPPROTO_UDP: {
      const auto* uh = static_cast<const rte_udp_hdr*>(l4);
      e.port = side == Side::kSource ? uh->src_port : uh->dst_port;
      break;
    }
    case IPPROTO_ICMP:
      e.port = static_cast<const rte_icmp_hdr*>(l4)->icmp_ident;
      break;
    default:
      break;
  }
  return e;
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
  if (!rewrite_impl(inner, inner_l4, icmp_len - kIcmpHdr - ihl, inner_side, inner_to)) return false;
  rewrite_address(ip, outer_side, outer_to);
  icmp->icmp_cksum = 0;
  icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, icmp_len));
  return true;
}

}  // namespace gp::nat
