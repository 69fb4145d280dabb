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
};

// What classify learned about one frame; later stages trust only these offsets.
struct PacketMeta {
  uint16_t l3_offset;   // bytes from the start of the frame to the L3 header
  uint16_t ether_type;  // host byte order, after any VLAN tag
  uint8_t flags;        // MetaFlag
  uint8_t pad_[3];
};
static_assert(sizeof(PacketMeta) == 8 && std::is_trivially_copyable_v<PacketMeta>);

struct Batch {
  uint16_t in_port = kNoPort;
  uint16_t n = 0;
  rte_mbuf* pkts[kBurst];
  PacketMeta meta[kBurst];
};

}  // namespace gp
