// A burst of frames from one ingress port, with what classify recorded about each.
// Stages compact the arrays in place when they drop a frame, so later stages see
// only frames that are still alive.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <type_traits>

#include "dataplane/core/types.h"

namespace gp {

enum MetaFlag : uint8_t {
  kMetaDstGroup = 1u << 0,  // broadcast or multicast destination
  kMetaIpv4 = 1u << 1,      // a well-formed IPv4 header lies at l3_offset
  kMetaArp = 1u << 2,       // a complete Ethernet/IPv4 ARP body lies at l3_offset
  kMetaFragment = 1u << 3,  // IPv4 fragment (MF set or offset != 0)
  kMetaL4 = 1u << 4,        // unfragmented or first fragment, 8 L4 header bytes present
};

// What classify learned about one frame; later stages trust only these offsets.
// Frames without a valid-L3 flag are still switched at L2 but never looked into.
struct PacketMeta {
  uint16_t l3_offset;   // bytes from the start of the frame to the L3 header
  uint16_t ether_type;  // host byte order, after any VLAN tag
  uint8_t flags;        // MetaFlag
  uint8_t ip_proto;     // with kMetaIpv4
  uint16_t l4_offset;   // with kMetaIpv4: bytes from the frame start to the L4 header
};
static_assert(sizeof(PacketMeta) == 8 && std::is_trivially_copyable_v<PacketMeta>);

struct Batch {
  uint16_t in_port = kNoPort;
  uint16_t n = 0;
  rte_mbuf* pkts[kBurst];
  PacketMeta meta[kBurst];
};

}  // namespace gp
