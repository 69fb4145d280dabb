// The immutable compiled configuration that workers read. The control plane builds a
// Snapshot (control/compile.cc), publishes it through SnapshotHolder, and never touches
// it again; workers acquire it once per poll loop and read it without locks.
//
// Layout is for the fast path: per-port policy indexed by DPDK port id, per-segment
// member and sniffer lists as small fixed arrays. Names live beside, for the views.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "dataplane/core/types.h"
#include "dataplane/services/dhcp_server.h"

namespace gp {

// Port feature bits: seams for later stages (NIC models, VLAN, ACL, NAT).
enum PortFeature : uint32_t {
  kFeatureNone = 0,
  kFeatureJumbo = 1u << 0,
};

struct PortPolicy {
  PortRole role = PortRole::kUnused;
  Promiscuous promisc = Promiscuous::kDeny;
  bool link_up = false;  // attached and cable connected
  uint8_t pad_ = 0;
  uint16_t segment = kNoPort;  // index into Snapshot::segments
  uint16_t max_frame = 1514;   // largest L2 frame accepted (MTU + Ethernet header)
  uint32_t features = kFeatureNone;
  rte_ether_addr mac{};  // the adapter's own MAC (guests only)
  uint16_t pad2_ = 0;
};
static_assert(std::is_trivially_copyable_v<PortPolicy>);
static_assert(sizeof(PortPolicy) == 20);

// Services the appliance itself offers on a segment (answered by the slow path).
enum SegmentService : uint8_t {
  kServiceNone = 0,
  kServiceDhcp = 1u << 0,  // DHCP server at service_ips[0]
};
inline constexpr uint8_t kMaxServiceIps = 4;

struct Segment {
  uint8_t services = kServiceNone;  // SegmentService bits
  uint8_t n_service_ips = 0;
  rte_ether_addr service_mac{};  // source MAC of everything the services send
  std::array<rte_be32_t, kMaxServiceIps> service_ips{};  // answered for ARP, punted to
  uint16_t fdb_generation = 1;  // bump to flush this segment's MACs at once; never 0
  uint16_t n_members = 0;
  uint16_t n_sniffers = 0;
  uint32_t ageing_s = 300;
  std::array<uint16_t, kMaxPorts> members{};   // every port of the segment
  std::array<uint16_t, kMaxPorts> sniffers{};  // guests whose policy is not deny
};
static_assert(std::is_trivially_copyable_v<Segment>);

struct Snapshot {
  uint64_t version = 0;
  std::array<PortPolicy, kMaxPorts> ports{};
  std::vector<Segment> segments;
  std::vector<uint16_t> rx_ports;  // ports every worker polls (its own queue of each)

  // Views only (control thread): names of ports and segments.
  std::array<std::string, kMaxPorts> port_names;
  std::vector<std::string> segment_names;
  // Slow path only: DHCP server settings of each segment (index = segment).
  std::vector<std::optional<dhcp::Settings>> dhcp;
};

}  // namespace gp
