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
  kMetaVlan = 1u << 5,      // one 802.1Q / 802.1ad tag follows the MAC addresses
};

// A tagged frame may be 4 bytes longer than an adapter's MTU allows an untagged one
// (IEEE 802.3as: 1522 bytes for a 1500-byte MTU).
inline constexpr uint16_t kVlanTagLen = 4;

// What classify learned about one frame; later stages trust only these offsets.
// Frames without a valid-L3 flag are still switched at L2 but never looked into.
// A VLAN-tagged frame gets kMetaVlan and the ethertype after its tag, and no L3 flags:
// it is switched at L2 with its tag kept; the services and the NAT take untagged
// frames only.
struct PacketMeta {
  uint16_t l3_offset;   // bytes from the start of the frame to the L3 header
  uint16_t ether_type;  // host byte order, after the VLAN tag if kMetaVlan
  uint8_t flags;        // MetaFlag
  uint8_t ip_proto;     // with kMetaIpv4
  uint16_t l4_offset;   // with kMetaIpv4: bytes from the frame start to the L4 header
};
static_assert(sizeof(PacketMeta) == 8 && std::is_trivially_copyable_v<PacketMeta>);

inline uint32_t max_frame_for(uint16_t max_frame, const PacketMeta& pm) noexcept {
  return uint32_t{max_frame} + ((pm.flags & kMetaVlan) ? kVlanTagLen : 0);
}

struct Batch {
  uint16_t in_port = kNoPort;
  uint16_t n = 0;
  // The segment all these frames are switched in: the port's, or on a VLAN trunk the
  // VLAN they came tagged with (process_batch splits a burst by VLAN).
  uint16_t segment = kNoPort;
  rte_mbuf* pkts[kBurst];
  PacketMeta meta[kBurst];
};

}  // namespace gp
