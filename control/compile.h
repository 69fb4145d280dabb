// Config -> what the dataplane runs: first the list of ports to open (plan_ports),
// then, once DPDK has given each a port id, the immutable Snapshot (compile_snapshot).
// Both are pure functions of their inputs; nothing here touches DPDK state, so a
// rejected config changes nothing.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/config.h"
#include "dataplane/core/snapshot.h"

namespace gp {

struct PortPlan {
  std::string key;      // stable identity: "vm/web1/1", "uplink/wan", "host/hostnet"
  std::string devargs;  // as the user wrote it (normalised when opened)
  PortRole role = PortRole::kGuest;
  Promiscuous promisc = Promiscuous::kDeny;
  rte_ether_addr mac{};
  bool link_up = false;
  uint16_t mtu = 1500;        // guests: effective_mtu (the NIC model's rule applied)
  bool model_capped = false;  // guests: an MTU above 1500 the model cannot carry here
  // What the port itself is set up for: the MTU the config asks for, even where the
  // model caps it (the switch must see a too-large frame to count it as the model's).
  uint16_t port_mtu = 1500;
  std::string segment;  // "internal:lab", "bridged:wan", "hostonly:hostnet"; empty = none
  // VLANs. On a network where any adapter has one, every port is VLAN-aware: `segment`
  // is then that of its untagged frames (an access VLAN's is "internal:lab/vlan10"),
  // segment_vid its VLAN (0: the untagged segment), and a trunk carries vlan_tagged
  // tagged (a bridged network's uplink: every VLAN of the network).
  bool vlan_aware = false;
  bool vlan_trunk = false;
  bool vlan_untagged_drop = false;  // a trunk that is not in `segment` at all
  uint16_t segment_vid = 0;
  std::vector<uint16_t> vlan_tagged;  // sorted
  std::string vlan_base;              // the network's untagged segment
  // Guests: filters (the ACL tables are built by the applier, acl_signature).
  PortSecurityConfig port_security;
  std::vector<AclRule> acl_ingress, acl_egress;
  std::string bandwidth_group;
  std::vector<rte_ether_addr> static_macs;  // pinned to this port in `segment`
  uint32_t mac_limit = 0;                   // guests: the adapter's; uplinks and host ports: none
  bool mac_limit_drop = false;
  bool dhcp_trusted = false;
  VhostConfig vhost;  // net_vhost: the socket's mode, owner and permissions
  unsigned ageing_s = 300;
  // kTunnel: one remote endpoint of a generic network; no device behind it (devargs
  // names it only so that the applier can tell ports apart). uplink_port is resolved
  // at compile from tunnel_uplink, the uplink's key.
  TunnelPort tunnel;
  std::string tunnel_uplink;
  std::string host_iface;             // kHost: the tap's kernel name
  std::optional<Ipv4Cidr> host_addr;  // kHost: its address
  SourceLoc loc;                      // where the devargs are written
};

// The segment of VLAN vid (1..4094) of the network whose untagged segment is `base`.
std::string vlan_segment_name(const std::string& base, uint16_t vid);

// What a segment needs beyond its ports: ageing and the services the appliance runs
// on it (DHCP server for host-only networks).
struct SegmentPlan {
  unsigned ageing_s = 300;
  std::optional<dhcp::Settings> dhcp;
  rte_ether_addr service_mac{};  // 02:47:50:xx:xx:xx from the network name, stable
  bool nat = false;              // a NAT router's inside: the fields below apply
  NatSegment nat_info;           // uplink_port / guest_port resolved at compile
  std::string uplink_key, guest_key;
  std::vector<PortForward> port_forwards;
};

// Appliance-wide settings the snapshot carries besides ports and segments.
struct GlobalPlan {
  NatTimeouts timeouts;
  uint32_t nat_sessions = 0;
  std::map<std::string, UplinkNat> uplinks;  // by PortPlan key ("uplink/NAME")
};
GlobalPlan plan_globals(const Config& c);
std::map<std::string, SegmentPlan> plan_segments(const Config& c);

// The DHCP server settings of a host-only network: VirtualBox's layout (server .100,
// pool .101 to broadcast-1 on a /24 or larger) unless the config says otherwise.
dhcp::Settings hostonly_dhcp(const NetworkConfig& n);

// A text that is equal for two rule lists exactly when they match the same frames the
// same way: the applier reuses a built ACL table (and its counters) while it is equal.
std::string acl_signature(const std::vector<AclRule>& rules);

// Guests, uplinks, host interfaces, and a tunnel port per remote of each generic network.
std::vector<PortPlan> plan_ports(const Config& c, std::vector<Diagnostic>& errors);

// Identities that outlive one snapshot, so that what workers and the control thread
// keyed by them survives an apply: a segment's index (FDB keys, NAT sessions, counters
// of views), its FDB generation, a NAT router's id, a port forward's id. The applier
// keeps one, hands compile_snapshot a copy, and keeps the result only if it publishes.
struct CompileState {
  struct SegmentId {
    uint16_t index = 0;
    uint16_t nat_id = 0;        // 0: not a NAT router
    std::string nat_signature;  // what makes it the same router (uplink, guest, network)
  };
  std::map<std::string, SegmentId> segments;  // by segment name
  std::vector<uint16_t> generations;          // by index: the last fdb_generation given
  uint16_t last_nat_id = 0;                   // 1..0x7fff (Neighbors' scopes above)
  std::map<std::string, uint32_t> forwards;   // rule signature -> PortForwardRule::id
  uint32_t last_forward_id = 0;
  uint64_t nat_epoch = 0;  // Snapshot::nat_epoch: bumped when a router or forward went
};

// port_ids: PortPlan::key -> DPDK port id of the opened port. state: the identities of
// the running config, updated in place (null: a fresh start).
std::unique_ptr<Snapshot> compile_snapshot(const std::vector<PortPlan>& plans,
                                           const std::map<std::string, uint16_t>& port_ids,
                                           uint64_t version,
                                           const std::map<std::string, SegmentPlan>& segments = {},
                                           const GlobalPlan& globals = {},
                                           CompileState* state = nullptr);

}  // namespace gp
