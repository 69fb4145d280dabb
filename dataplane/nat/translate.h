// Packet rewriting for NAPT: the source or destination address and port of an IPv4
// TCP, UDP or ICMP echo packet, and the embedded packet of an ICMP error (RFC 5508),
// with checksums kept right: incremental updates (checksum.h) on the forward path,
// a full recomputation only for the ICMP error message itself. Fast path, noexcept;
// callers pass headers whose lengths classify already validated.
#pragma once

#include <rte_icmp.h>
#include <rte_ip.h>

#include <cstdint>

namespace gp::nat {

// An address and a port, as stored in packets (network order). For ICMP echo the
// "port" is the identifier.
struct Endpoint {
  rte_be32_t ip;
  rte_be16_t port;
};

enum class Side : uint8_t { kSource, kDestination };

// Rewrites one side of a TCP / UDP / ICMP-echo packet. `l4` points at the L4 header,
// of which at least 8 bytes are present (20 for TCP). Returns false for a protocol or
// ICMP type it does not translate (nothing is changed then).
bool rewrite(rte_ipv4_hdr* ip, void* l4, Side side, Endpoint to) noexcept;

// Rewrites only the address on `side` (a later fragment: no L4 header to touch).
void rewrite_address(rte_ipv4_hdr* ip, Side side, rte_be32_t to) noexcept;

// The endpoint a packet has on `side` (port 0 for protocols without ports).
Endpoint endpoint_of(const rte_ipv4_hdr* ip, const void* l4, Side side) noexcept;

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
