// Packet rewriting for NAPT: the source or destination address and port of an IPv4
// TCP, UDP or ICMP echo packet, and the embedded packet of an ICMP error (RFC 5508),
// with checksums kept right: incremental updates (checksum.h) on the forward path,
// a full recomputation only for the ICMP error message itself. Fast path, noexcept;
// callers pass headers whose lengths classify already validated.
#pragma once

#include <netinet/in.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstdint>
#include <cstring>

#include "dataplane/nat/checksum.h"
#include "dataplane/nat/tcp_state.h"

namespace gp::nat {

// An address and a port, as stored in packets (network order). For ICMP echo the
// "port" is the identifier.
struct Endpoint {
  rte_be32_t ip;
  rte_be16_t port;
};

enum class Side : uint8_t { kSource, kDestination };

namespace detail {
constexpr uint32_t kTcpCsumEnd = 18;  // TCP's checksum ends 18 bytes into its header

inline bool is_echo(uint8_t type) noexcept {
  return type == RTE_IP_ICMP_ECHO_REQUEST || type == RTE_IP_ICMP_ECHO_REPLY;
}

// Rewrites one side; l4_avail says how much of the L4 header is present (an embedded
// packet in an ICMP error may carry only 8 bytes: a TCP checksum is then absent).
inline bool rewrite_impl(rte_ipv4_hdr* ip, void* l4, uint32_t l4_avail, Side side,
                         Endpoint to) noexcept {
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
}  // namespace detail

// Rewrites one side of a TCP / UDP / ICMP-echo packet. `l4` points at the L4 header,
// of which at least 8 bytes are present (20 for TCP). Returns false for a protocol or
// ICMP type it does not translate (nothing is changed then). Inline: once a packet.
inline bool rewrite(rte_ipv4_hdr* ip, void* l4, Side side, Endpoint to) noexcept {
  return detail::rewrite_impl(ip, l4, UINT32_MAX, side, to);
}

// rewrite() and decrement_ttl() at once for a TCP or UDP packet whose whole L4 header
// is present (the NAT lane's packets): the address's part of the checksum sums is
// worked out once, and each checksum is updated once (RFC 1624 eqn. 3 over the words
// that changed).
inline void rewrite_hop(rte_ipv4_hdr* ip, void* l4, Side side, Endpoint to) noexcept {
  const bool src = side == Side::kSource;
  const rte_be32_t old_ip = src ? ip->src_addr : ip->dst_addr;
  const uint32_t addr = uint32_t{static_cast<uint16_t>(~old_ip)} + static_cast<uint16_t>(to.ip) +
                        static_cast<uint16_t>(~(old_ip >> 16)) + static_cast<uint16_t>(to.ip >> 16);
  uint16_t ttl_before;
  std::memcpy(&ttl_before, &ip->time_to_live, 2);  // TTL and protocol: one word
  --ip->time_to_live;
  uint16_t ttl_after;
  std::memcpy(&ttl_after, &ip->time_to_live, 2);
  ip->hdr_checksum =
      static_cast<uint16_t>(~csum_fold(uint32_t{static_cast<uint16_t>(~ip->hdr_checksum)} + addr +
                                       static_cast<uint16_t>(~ttl_before) + ttl_after));
  (src ? ip->src_addr : ip->dst_addr) = to.ip;
  // The ports lie first in both headers; the checksum at 16 (TCP) or 6 (UDP).
  auto* ports = static_cast<rte_be16_t*>(l4);
  rte_be16_t& port = ports[src ? 0 : 1];
  const uint32_t l4_delta = addr + static_cast<uint16_t>(~port) + to.port;
  port = to.port;
  if (ip->next_proto_id == IPPROTO_TCP) {
    auto* th = static_cast<rte_tcp_hdr*>(l4);
    th->cksum =
        static_cast<uint16_t>(~csum_fold(uint32_t{static_cast<uint16_t>(~th->cksum)} + l4_delta));
  } else {
    auto* uh = static_cast<rte_udp_hdr*>(l4);
    if (uh->dgram_cksum != 0) {  // 0: the sender sent no checksum; keep it that way
      const auto c = static_cast<uint16_t>(
          ~csum_fold(uint32_t{static_cast<uint16_t>(~uh->dgram_cksum)} + l4_delta));
      uh->dgram_cksum = c == 0 ? 0xffff : c;
    }
  }
}

// Rewrites only the address on `side` (a later fragment: no L4 header to touch).
void rewrite_address(rte_ipv4_hdr* ip, Side side, rte_be32_t to) noexcept;

// The endpoint a packet has on `side` (port 0 for protocols without ports; for ICMP
// the identifier). Inline: the NAT's bulk lookup reads two a packet.
inline Endpoint endpoint_of(const rte_ipv4_hdr* ip, const void* l4, Side side) noexcept {
  const bool src = side == Side::kSource;
  Endpoint e{src ? ip->src_addr : ip->dst_addr, 0};
  switch (ip->next_proto_id) {
    case IPPROTO_TCP: {
      const auto* th = static_cast<const rte_tcp_hdr*>(l4);
      e.port = src ? th->src_port : th->dst_port;
      break;
    }
    case IPPROTO_UDP: {
      const auto* uh = static_cast<const rte_udp_hdr*>(l4);
      e.port = src ? uh->src_port : uh->dst_port;
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

// The router's hop: TTL down by one, the header checksum updated (TTL shares a 16-bit
// word with the protocol number).
inline void decrement_ttl(rte_ipv4_hdr* ip) noexcept {
  uint16_t before;
  std::memcpy(&before, &ip->time_to_live, 2);
  --ip->time_to_live;
  uint16_t after;
  std::memcpy(&after, &ip->time_to_live, 2);
  ip->hdr_checksum = csum_update16(ip->hdr_checksum, before, after);
}

// Multicast (224.0.0.0/4) and limited broadcast: a router forwards neither.
inline bool group_address(rte_be32_t a) noexcept {
  const uint32_t h = rte_be_to_cpu_32(a);
  return (h >> 28) == 0xe || h == 0xffffffffu;
}

// The TCP segment's numbers for the session's tracking; nullptr for other protocols.
// The window scale option is read from a SYN whose options lie in m's first segment
// (l4_offset: bytes from the frame's start to `l4`).
const TcpSegment* tcp_segment(const rte_mbuf* m, uint32_t l4_offset, const rte_ipv4_hdr* ip,
                              const void* l4, TcpSegment* out) noexcept;

// ICMP types (RFC 792) that carry an embedded packet.
inline constexpr uint8_t kIcmpDestUnreachable = 3, kIcmpTimeExceeded = 11, kIcmpParamProblem = 12;
inline bool is_icmp_error(uint8_t type) noexcept {
  return type == kIcmpDestUnreachable || type == kIcmpTimeExceeded || type == kIcmpParamProblem;
}

// For an ICMP error at `icmp` (icmp_len bytes, the whole ICMP message) whose embedded
// packet is one this NAT translated: rewrites the embedded packet's `inner_side` to
// `inner_to` (with its IP checksum and, where present, its L4 checksum), rewrites the
// outer header's `outer_side` address to `outer_to`, and recomputes the ICMP checksum.
// Inbound errors rewrite the embedded source and the outer destination; outbound ones
// (a guest's error about a packet it received) the embedded destination and the outer
// source. Returns false if
// the embedded packet is too short to carry the addresses and ports (RFC 5508 REQ-3:
// such errors are dropped, never forwarded untranslated).
bool rewrite_icmp_error(rte_ipv4_hdr* ip, rte_icmp_hdr* icmp, uint32_t icmp_len, Side inner_side,
                        Endpoint inner_to, Side outer_side, rte_be32_t outer_to) noexcept;

}  // namespace gp::nat
