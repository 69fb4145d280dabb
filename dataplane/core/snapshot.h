// The immutable compiled configuration that workers read. The control plane builds a
// Snapshot (control/compile.cc), publishes it through SnapshotHolder, and never touches
// it again; workers acquire it once per poll loop and read it without locks.
//
// Layout is for the fast path: per-port policy indexed by DPDK port id, per-segment
// member and sniffer lists as small fixed arrays. Names live beside, for the views.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "dataplane/core/types.h"
#include "dataplane/services/dhcp_server.h"

namespace gp {

class AclTable;
class TokenBucket;
namespace nat {
class NatTable;
class FragTable;
class NatViewRequest;
}  // namespace nat

// Port feature bits: seams for later stages (NIC models, VLAN, ACL, NAT).
enum PortFeature : uint32_t {
  kFeatureNone = 0,
  kFeatureJumbo = 1u << 0,
  // max_frame is the NIC model's limit, below the MTU the user asked for: frames over
  // it are dropped as Drop::kNicModelMtu (VirtualBox drops them silently; we count).
  kFeatureModelCapped = 1u << 1,
  // Frames from this guest go through the filter stage first: port security
  // (Snapshot::guards) and/or an ingress ACL (Snapshot::acl_in).
  kFeatureGuard = 1u << 2,
  // On a VLAN-aware network: frames go through vlan_ingress first (PortPolicy::vlan).
  kFeatureVlan = 1u << 3,
  // A guest that may answer DHCP on a segment where the appliance serves it
  // (`dhcp_trusted: true`): its DHCP server messages are not dropped as dhcp_spoof.
  kFeatureDhcpTrusted = 1u << 4,
};

// How a port on a VLAN-aware network treats 802.1Q tags (PortPolicy::vlan).
enum VlanFlag : uint8_t {
  // Tagged frames are admitted only for a VLAN the port carries (Snapshot::vlan_maps),
  // stripped on the way in; others are dropped as vlan_foreign. Without it (a network
  // with no VLANs) tags pass as they came, never stripped.
  kVlanAware = 1u << 0,
  // A trunk: carries the VLANs of its map tagged; frames of every segment other than
  // PortPolicy::segment (its untagged one, the native VLAN) leave it tagged.
  kVlanTrunk = 1u << 1,
  kVlanDropUntagged = 1u << 2,  // a trunk that takes no untagged frame (vlan_untagged)
};

// Port security of one guest port (Snapshot::guards): which sources it may use.
enum GuardFlag : uint8_t {
  kGuardMac = 1u << 0,   // the Ethernet source must be PortPolicy::mac
  kGuardIpv4 = 1u << 1,  // IPv4 and ARP sources must be in ips (or the DHCP lease)
  kGuardDhcp = 1u << 2,  // ... the address the appliance's DHCP server leased the port
};
inline constexpr uint8_t kMaxGuardIps = 8;
struct PortGuard {
  uint8_t flags = 0;
  uint8_t n_ips = 0;
  std::array<rte_be32_t, kMaxGuardIps> ips{};
};

struct PortPolicy {
  PortRole role = PortRole::kUnused;
  Promiscuous promisc = Promiscuous::kDeny;
  bool link_up = false;  // attached and cable connected
  uint8_t vlan = 0;      // VlanFlag bits
  // Index into Snapshot::segments: the segment of the frames the port sends untagged
  // (on a VLAN-aware network: the access VLAN's, or a trunk's native VLAN's).
  uint16_t segment = kNoPort;
  uint16_t max_frame = 1514;  // largest L2 frame accepted (MTU + Ethernet header)
  uint32_t features = kFeatureNone;
  rte_ether_addr mac{};  // the adapter's own MAC (guests only)
  uint16_t pad2_ = 0;
};
static_assert(std::is_trivially_copyable_v<PortPolicy>);
static_assert(sizeof(PortPolicy) == 20);

// Services the appliance itself offers on a segment (answered by the slow path).
enum SegmentService : uint8_t {
  kServiceNone = 0,
  kServiceDhcp = 1u << 0,     // a DHCP server (Snapshot::dhcp) at one of the service_ips
  kServiceGateway = 1u << 1,  // ICMP echo to the service addresses is answered
};

enum class SegmentKind : uint8_t {
  kL2 = 0,  // a switched segment (internal, bridged, host-only)
  kNat,     // a NAT router's inside (one `nat` adapter); see NatSegment
};
inline constexpr uint8_t kMaxServiceIps = 4;

struct Segment {
  SegmentKind kind = SegmentKind::kL2;
  uint8_t services = kServiceNone;  // SegmentService bits
  uint8_t n_service_ips = 0;
  rte_ether_addr service_mac{};  // source MAC of everything the services send
  std::array<rte_be32_t, kMaxServiceIps> service_ips{};  // answered for ARP, punted to
  uint16_t fdb_generation = 1;  // bump to flush this segment's MACs at once; never 0
  uint16_t n_members = 0;
  uint16_t n_sniffers = 0;
  // A VLAN of a VLAN-aware network (1..4094): trunk members other than those whose
  // native VLAN it is get its frames with this tag pushed. 0: untagged frames.
  uint16_t vid = 0;
  uint32_t ageing_s = 300;
  std::array<uint16_t, kMaxPorts> members{};   // every port of the segment
  std::array<uint16_t, kMaxPorts> sniffers{};  // guests whose policy is not deny

  bool has_member(uint16_t port) const noexcept {
    for (uint16_t i = 0; i < n_members; ++i)
      if (members[i] == port) return true;
    return false;
  }
};
static_assert(std::is_trivially_copyable_v<Segment>);

// A MAC pinned to a port in a segment (static_macs): the learner keeps it in the FDB,
// never ages it, and refuses to move it to another port.
struct StaticMac {
  uint16_t segment = 0;
  uint16_t port = kNoPort;
  rte_ether_addr mac{};
};

// A trunk's VLANs: VID -> index into Snapshot::segments, kNoPort where it carries none.
using VlanMap = std::array<uint16_t, 4096>;

// The inside of a NAT router (Segment::kind == kNat). Addresses in network order.
struct NatSegment {
  rte_be32_t network = 0, netmask = 0;
  rte_be32_t gateway = 0;  // nat: .2 (also DHCP); natnetwork: .1 (DHCP at .3)
  rte_be32_t dns = 0;      // the DNS proxy (DNAT to the uplink's resolvers): .3 / .1
  uint16_t uplink_port = kNoPort;
  uint16_t guest_port = kNoPort;  // nat: the adapter's port; natnetwork: kNoPort
  // This router's id, part of session keys: kept across applies while the router is
  // unchanged, a fresh one when it is new or changed (its old sessions then match
  // nothing and are swept). 0: not a NAT segment.
  uint16_t nat_id = 0;
  // A NAT network: many guests share the segment and reach each other by L2; only
  // frames to the router's MAC are routed. A `nat` adapter: everything is routed.
  bool shared = false;
  bool endpoint_independent_filtering = false;
  uint32_t max_sessions = 0;  // this VM's share of each worker's table
};

// An uplink that NATs: its outside address and next hop. Addresses in network order.
struct UplinkNat {
  bool enabled = false;
  rte_be32_t address = 0, netmask = 0, gateway = 0;
  std::array<rte_be32_t, 3> dns{};
  uint8_t n_dns = 0;
  uint16_t mtu = 1500;
  // gateway_mac in the config: the next hop is this MAC, never ARPed for or relearned.
  bool static_gateway = false;
  rte_ether_addr gateway_mac{};
};

struct NatTimeouts {
  uint32_t udp_s = 300, tcp_established_s = 7440, tcp_transitory_s = 240, icmp_s = 60;
};

// An inbound port forward: (proto, uplink address or host_ip, host_port) -> guest.
struct PortForwardRule {
  uint32_t id = 0;    // stable across applies while the rule is unchanged; never 0
  uint8_t proto = 0;  // IPPROTO_TCP / IPPROTO_UDP
  uint16_t uplink_port = kNoPort;
  uint16_t segment = kNoPort;
  rte_be32_t host_ip = 0;  // 0: the uplink's address
  rte_be16_t host_port = 0;
  rte_be32_t guest_ip = 0;
  rte_be16_t guest_port = 0;
};

// A tunnel port (PortRole::kTunnel, id kMaxEthPorts + i): one remote endpoint of a
// generic network. Frames the L2 stage sends to it are encapsulated (tunnel/encap.cc)
// and leave through the uplink; frames that arrive on the uplink from the remote for
// this network are decapsulated (tunnel/decap_stage.cc) and switched as if received
// on it. Addresses and UDP ports in network order.
enum class TunnelDriver : uint8_t {
  kNone = 0,
  kVxlan,  // RFC 7348: outer Ethernet/IPv4/UDP (to udp_port) + 8-byte VXLAN header
  kUdp,    // VirtualBox's UDP Tunnel: the Ethernet frame alone in a UDP datagram
};
struct TunnelPort {
  TunnelDriver driver = TunnelDriver::kNone;
  bool udp_checksum = false;  // send a computed outer UDP checksum (VXLAN: 0 by default)
  uint16_t uplink_port = kNoPort;
  rte_be32_t remote = 0;      // the remote endpoint's address
  rte_be32_t vni = 0;         // VXLAN: the VNI << 8, as it stands in the header
  rte_be16_t local_udp = 0;   // what we listen on (VXLAN: udp_port; udp: sport)
  rte_be16_t remote_udp = 0;  // where we send (VXLAN: udp_port; udp: dport)
};
static_assert(std::is_trivially_copyable_v<TunnelPort>);
// Encapsulation overhead: outer Ethernet, IPv4, UDP (and the VXLAN header).
inline constexpr uint16_t kVxlanOverhead = 14 + 20 + 8 + 8;
inline constexpr uint16_t kUdpTunnelOverhead = 14 + 20 + 8;

// One worker's NAT state, made by the control plane the first time a config needs NAT
// and owned by it until exit; a worker adopts its entry (WorkerContext::nat) once.
struct WorkerNatState {
  nat::NatTable* table = nullptr;
  nat::FragTable* frags = nullptr;
  nat::NatViewRequest* view = nullptr;
};

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

  // NAT: per segment (meaningful where kind == kNat), per uplink port, and rules.
  std::vector<NatSegment> nat;
  std::array<UplinkNat, kMaxPorts> uplink_nat{};
  NatTimeouts nat_timeouts;
  uint32_t nat_sessions = 0;  // per worker
  std::vector<PortForwardRule> port_forwards;
  // Bumped when a NAT router or a port forward went away or changed: each worker then
  // sweeps its table once for sessions that belong to neither any more.
  uint64_t nat_epoch = 0;
  std::vector<WorkerNatState> worker_nat;  // index = worker; empty: no NAT tables

  // Filters per port: port security, and the ACLs (null: none) that acl_tables owns;
  // tables are shared with the next snapshot while the port's rules are unchanged.
  std::array<PortGuard, kMaxPorts> guards{};
  std::array<const AclTable*, kMaxPorts> acl_in{}, acl_out{};
  std::vector<std::shared_ptr<const AclTable>> acl_tables;
  // The bandwidth group each guest port's transmit direction is shaped by (null: no
  // limit). Buckets are the applier's and outlive every snapshot.
  std::array<TokenBucket*, kMaxPorts> shapers{};
  // MACs the learner may hold for each port (0: no limit): a guest cannot fill the
  // table that every network shares.
  std::array<uint32_t, kMaxPorts> mac_limit{};
  // Beyond the limit: frames from unlearned sources are dropped (true) or flooded.
  std::array<bool, kMaxPorts> mac_limit_drop{};

  std::vector<StaticMac> static_macs;

  // VLAN trunks: vlan_map[port] - 1 indexes vlan_maps (0: the port has none).
  std::array<uint16_t, kMaxPorts> vlan_map{};
  std::vector<VlanMap> vlan_maps;

  // Tunnel ports, by port - kMaxEthPorts; tunnel_ports lists those in use (views, the
  // slow path's neighbour resolution). uplink_tunnels[port]: the uplink carries tunnels
  // (its frames go through the decap stage first).
  std::array<TunnelPort, kMaxTunnelPorts> tunnels{};
  std::vector<uint16_t> tunnel_ports;
  std::array<bool, kMaxPorts> uplink_tunnels{};

  // Frames one adapter may hand the slow path (ARP, DHCP, pings to the appliance, NAT
  // errors), per worker: a token bucket, so one flooding guest cannot starve the others.
  uint32_t punt_pps = 1000;
  uint32_t punt_burst = 200;
};

}  // namespace gp
