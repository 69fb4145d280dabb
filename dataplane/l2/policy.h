// Which adapters may receive a frame: VirtualBox's promiscuous policies and the link
// state, as pure functions of the snapshot's port policies. Used by l2_stage for every
// copy it makes; unit-tested alone (tests/unit/policy_test.cc).
#pragma once

#include "dataplane/core/snapshot.h"

namespace gp {

// Where a unicast destination lives, as far as the switch knows.
enum class DstKind : uint8_t {
  kGroup,  // broadcast / multicast
  kGuest,  // learned behind a guest adapter
  kOther,  // learned behind an uplink or host interface, or not learned at all
};

// May port `out` receive a frame that came in on `in`, addressed to `dst`?
//  - uplinks, host interfaces and tunnels are the wire: they take whatever the segment
//    sends, except that a tunnel never forwards to another tunnel;
//  - a guest always takes broadcast, multicast and frames to its own MAC;
//  - allow-vms also takes unicast between two other guests of the segment;
//  - allow-all takes everything on the segment.
inline bool may_receive(const PortPolicy& in, const PortPolicy& out, const rte_ether_addr& dst,
                        DstKind kind) noexcept {
  if (!out.link_up) return false;
  // Split horizon: the remotes of a generic network are a full mesh, each sends its
  // own frames to every other itself (RFC 7348 head-end replication).
  if (in.role == PortRole::kTunnel && out.role == PortRole::kTunnel) return false;
  if (out.role != PortRole::kGuest) return true;
  if (kind == DstKind::kGroup || mac_equal(dst, out.mac)) return true;
  switch (out.promisc) {
    case Promiscuous::kAllowAll:
      return true;
    case Promiscuous::kAllowVms:
      return in.role == PortRole::kGuest && kind == DstKind::kGuest;
    case Promiscuous::kDeny:
      return false;
  }
  return false;
}

}  // namespace gp
