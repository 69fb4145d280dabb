// The configuration model: what the YAML file says, after parsing and type checks,
// with the source location of every item so that later stages (validate, compile,
// opening ports) can report file:line:column. Plain data, no DPDK.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/core/types.h"
#include "nic_models/nic_models.h"

namespace gp {

struct SourceLoc {
  int line = 0;    // 1-based
  int column = 0;  // 1-based
};

struct Diagnostic {
  std::string file;
  SourceLoc loc;
  std::string message;
  bool warning = false;           // accepted, but probably not what the user meant
  std::string to_string() const;  // "file:line:column: error: message" (or warning:)
};

struct Ipv4Cidr {
  uint32_t addr = 0;  // host byte order
  uint8_t prefix = 0;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  std::string to_string() const;
};

enum class AttachMode { kNone, kNat, kNatNetwork, kBridged, kInternal, kHostOnly, kGeneric };
std::string_view attach_mode_name(AttachMode m);
// As written in the config: deny, allow-vms, allow-all.
const char* promiscuous_name(Promiscuous p);

struct PortForward {
  std::string name;
  std::string proto;  // tcp | udp
  std::optional<uint32_t> host_ip;
  uint16_t host_port = 0;
  std::optional<uint32_t> guest_ip;
  uint16_t guest_port = 0;
  SourceLoc loc;
};

// One rule of an adapter's access list: first match wins; what matches no rule passes.
// Matches IPv4 only (other frames, ARP among them, are not subject to ACLs).
struct AclRule {
  std::string name;       // optional, for show acl
  bool allow = false;     // action: allow | deny
  uint8_t proto = 0;      // 0: any; IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP or a number
  Ipv4Cidr src{}, dst{};  // prefix 0: any
  uint16_t src_lo = 0, src_hi = 65535, dst_lo = 0, dst_hi = 65535;  // tcp and udp only
  SourceLoc loc;
};

// Port security: which source addresses the guest may use.
struct PortSecurityConfig {
  bool enabled = false;        // the source MAC must be the adapter's
  std::vector<uint32_t> ipv4;  // if any (or dhcp): IPv4 and ARP sources must be one of these
  bool dhcp = false;           // ... or the address the appliance's DHCP server leased it
  SourceLoc loc;
};

// VirtualBox's bandwidth groups: a limit shared by the adapters that name the group,
// on what their guests transmit. 0: no limit.
struct BandwidthGroup {
  std::string name;
  uint64_t bits_per_s = 0;
  SourceLoc loc;
};

// 802.1Q VLANs of an adapter on a bridged or internal network. Unset: the adapter is in
// the network's untagged segment (on a network where any adapter has VLANs, its tagged
// frames are then dropped; elsewhere tags pass as the guest sent them).
struct VlanConfig {
  uint16_t access = 0;          // 1..4094: an access port of this VLAN (tags pushed/popped)
  std::vector<uint16_t> trunk;  // a trunk: these VLANs pass with their tags, sorted
  uint16_t native = 0;          // trunk: the VLAN of its untagged frames; 0: untagged segment
  bool untagged_drop = false;   // trunk: untagged frames are dropped (vlan_untagged)
  SourceLoc loc;
  bool set() const { return access != 0 || !trunk.empty(); }
  // "-", "access 10", "trunk 10,20,100-199 native 1" (show vms, diff).
  std::string to_string() const;
};

struct NatConfig {
  uint32_t sessions = 65536;     // NAT sessions per worker
  uint32_t per_vm_sessions = 0;  // 0: a fair share (sessions / NAT adapters, at least 64)
  bool endpoint_independent_filtering = false;  // RFC 4787 REQ-8: default address-dependent
  uint32_t udp_timeout_s = 300;
  uint32_t tcp_established_timeout_s = 7440;
  uint32_t tcp_transitory_timeout_s = 240;
  uint32_t icmp_timeout_s = 60;
  SourceLoc loc;
};

struct ApplianceConfig {
  unsigned workers = 1;
  std::vector<unsigned> worker_cpus;  // empty: 1, 2, ... wrapped to the machine's CPUs
  std::string control_socket = "/run/guestport/control.sock";
  std::string hugepages = "auto";  // auto | on | off
  unsigned memory_mb = 256;
  SourceLoc mbufs_loc;
  std::string file_prefix = "guestport";
  uint32_t mac_table_size = 65536;
  // Standard mbufs of the packet pool; 0: sized from the ports of the start config.
  uint32_t mbufs = 0;
  // Prometheus endpoint "ADDRESS:PORT" (path /metrics); "off": none.
  std::string metrics = "127.0.0.1:9464";
  NatConfig nat;
  SourceLoc loc;
};

struct UplinkConfig {
  std::string name;
  std::string device;  // DPDK devargs
  std::optional<Ipv4Cidr> address;
  std::optional<uint32_t> gateway;
  std::vector<uint32_t> dns;  // upstream resolvers for the DNS proxy of NAT networks
  uint16_t mtu = 1500;
  // A static next hop: the gateway's MAC, as an operator sets a static ARP entry (the
  // appliance then never ARPs for the gateway).
  std::optional<rte_ether_addr> gateway_mac;
  SourceLoc loc, device_loc, gateway_mac_loc;
};

struct HostInterface {
  std::string name = "gphost0";
  Ipv4Cidr address{0xC0A83801u, 24};  // 192.168.56.1/24, VirtualBox's default
  SourceLoc loc;
};

struct DhcpConfig {
  std::optional<bool> enabled;  // unset: the mode's default (on for hostonly)
  std::optional<uint32_t> server, lower, upper;
  uint32_t lease_s = 3600;
  SourceLoc loc;
};

// A generic network's tunnel (VirtualBox's Generic driver): which driver and its
// endpoints. The uplink's address is the local endpoint.
struct TunnelConfig {
  std::string driver;                  // vxlan | udp
  uint32_t vni = 0;                    // vxlan: 1..16777215
  std::vector<uint32_t> remotes;       // vxlan: remote endpoints (head-end replication)
  std::vector<SourceLoc> remote_locs;  // where each is written
  uint16_t udp_port = 4789;            // vxlan: the IANA port (RFC 7348)
  bool udp_checksum = false;           // vxlan: send outer UDP checksums (0 by default)
  uint16_t sport = 0, dport = 0;       // udp: our port, the remote's port
  std::optional<uint32_t> dest;        // udp: the remote's address
  SourceLoc driver_loc, vni_loc, remotes_loc, udp_port_loc, sport_loc, dest_loc;
};

struct NetworkConfig {
  std::string name;
  AttachMode mode = AttachMode::kInternal;
  std::string uplink;               // bridged, natnetwork, generic
  std::optional<Ipv4Cidr> network;  // natnetwork
  DhcpConfig dhcp;
  unsigned mac_ageing_s = 300;
  std::optional<HostInterface> host_interface;  // hostonly
  std::vector<PortForward> port_forwards;
  std::optional<bool> endpoint_independent_filtering;  // natnetwork; unset: appliance.nat
  bool implicit = false;  // created by an adapter's attach (internal:NAME)
  // The MTU of the network's adapters that set none (and of a host-only network's host
  // interface). Unset: 1500, or a bridged network's uplink's.
  std::optional<uint16_t> mtu;
  TunnelConfig tunnel;  // generic
  SourceLoc loc, uplink_loc, filtering_loc, mtu_loc;
};

// A net_vhost adapter's socket (`vhost:` in the config). Server mode (the default):
// guestport makes the socket, with this owner, group and permissions for the QEMU
// user; client mode: QEMU makes it (its `server=on` chardev) and guestport connects,
// reconnecting when QEMU restarts.
struct VhostConfig {
  bool client = false;
  std::optional<uint32_t> uid, gid;  // resolved from owner / group names
  std::string owner, group;
  std::optional<uint32_t> permissions;  // e.g. 0660
  SourceLoc loc;
  bool given = false;
};

struct AdapterConfig {
  unsigned slot = 0;
  AttachMode attach = AttachMode::kNone;
  std::string network;  // the NAME of internal:NAME etc.; empty for nat / none
  NicModel model = kDefaultNicModel;
  rte_ether_addr mac{};
  bool mac_given = false;
  Promiscuous promiscuous = Promiscuous::kDeny;
  uint16_t mtu = 1500;  // unless mtu_loc is set, the network's (validate_config)
  bool cable_connected = true;
  std::string port;    // DPDK devargs
  std::string uplink;  // nat: the uplink to use (default: the only one with an address)
  std::vector<PortForward> port_forwards;
  std::optional<bool> endpoint_independent_filtering;  // nat; unset: appliance.nat
  std::vector<AclRule> acl_ingress;                    // what the guest sends
  std::vector<AclRule> acl_egress;                     // what is sent to the guest
  PortSecurityConfig port_security;
  std::string bandwidth_group;  // a name under bandwidth_groups; empty: none
  uint32_t mac_limit = 1024;    // MACs learned on the adapter at most; 0: no limit
  bool mac_limit_drop = false;  // beyond it, frames from new MACs: dropped, or flooded
  // May send DHCP server messages where the appliance serves DHCP (a guest that is a
  // DHCP server or relay by design); otherwise they are dropped as dhcp_spoof.
  bool dhcp_trusted = false;
  VhostConfig vhost;
  VlanConfig vlan;
  // MACs pinned to this adapter in the forwarding table: never aged, never moved by
  // what another adapter sends (a router behind the guest, an appliance's own MAC).
  std::vector<rte_ether_addr> static_macs;
  SourceLoc static_macs_loc;
  SourceLoc loc, attach_loc, port_loc, mac_loc, uplink_loc, filtering_loc, mtu_loc, bw_loc;
};

struct VmConfig {
  std::string name;
  std::map<unsigned, AdapterConfig> adapters;  // slot 1..8
  SourceLoc loc;
};

inline constexpr unsigned kMaxAdapters = 8;

struct Config {
  std::string file;
  ApplianceConfig appliance;
  std::vector<UplinkConfig> uplinks;
  std::vector<NetworkConfig> networks;
  std::vector<VmConfig> vms;
  std::vector<BandwidthGroup> bandwidth_groups;

  const UplinkConfig* find_uplink(const std::string& n) const;
  const NetworkConfig* find_network(const std::string& n) const;
};

struct LoadResult {
  std::optional<Config> config;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;  // printed by check, apply and start; change nothing
  bool ok() const { return config.has_value() && errors.empty(); }
};

// Parse helpers, shared with guestportctl and tests.
std::optional<rte_ether_addr> parse_mac(const std::string& s);
std::string format_mac(const rte_ether_addr& a);
std::optional<uint32_t> parse_ipv4(const std::string& s);
std::string format_ipv4(uint32_t a);
std::optional<Ipv4Cidr> parse_cidr(const std::string& s);

}  // namespace gp
