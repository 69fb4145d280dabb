// Cross-reference checks on a parsed Config: networks an adapter names exist and have
// the right mode, uplinks exist, MACs and port devices are unique, limits hold. Also
// completes the model: implicit internal/bridged networks, default MACs (VirtualBox's
// 08:00:27 prefix, stable per VM and slot), default host interfaces.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "control/config.h"

namespace gp {

// One standard mbuf in the packet pool (2 KiB of data, headroom, the rte_mbuf and the
// mempool's header), and what the appliance needs of memory_mb besides its pool (MAC
// and NAT tables, rings, the jumbo pool when one is made is counted apart): the bound
// appliance.mbufs is checked against.
inline constexpr unsigned kMbufFootprint = 2432;
// Without hugepages memory comes in 4 KiB pages and a mempool object never straddles
// one: a 2368-byte mbuf takes a page of its own.
inline constexpr unsigned kMbufFootprintNoHuge = 4096;
inline constexpr unsigned kMemoryReserveMb = 64;

// Appends one Diagnostic per problem; the config is usable only if none was added.
void validate_config(Config& c, std::vector<Diagnostic>& errors);

// Warnings about what a valid config will do that the user probably did not mean: an
// MTU above 1500 on an adapter whose NIC model does not carry jumbo frames on its
// attachment (the adapter then carries at most 1500; larger frames are dropped both
// ways and counted as nic_model_mtu).
void nic_model_warnings(const Config& c, std::vector<Diagnostic>& warnings);

// Generic networks (control/validate_tunnel.cc): driver and endpoints, the uplink that
// is the local endpoint (an address, not bridged), UDP ports and VNIs unique on an
// uplink, no port forward on a tunnel's port, at most kMaxTunnelPorts remotes in all.
// uplink_owner: uplink -> the bridged network that owns it.
void validate_tunnels(const Config& c, const std::map<std::string, std::string>& uplink_owner,
                      std::vector<Diagnostic>& errors);
// A generic network whose MTU plus the encapsulation does not fit its uplink's MTU.
void tunnel_warnings(const Config& c, std::vector<Diagnostic>& warnings);
// Bytes a generic network's driver adds to each frame (0: not a generic network).
uint16_t tunnel_overhead(const NetworkConfig& n);

// The MTU an adapter really has: its own, capped at 1500 where its model carries no
// jumbo frames on its attachment.
uint16_t effective_mtu(const AdapterConfig& ad);
// A network's MTU: its own, a bridged network's uplink's, a generic network's uplink's
// less the encapsulation, or 1500.
uint16_t network_mtu(const Config& c, const NetworkConfig& n);

// 08:00:27:xx:xx:xx derived from the VM name and adapter slot.
rte_ether_addr default_mac(const std::string& vm, unsigned slot);

}  // namespace gp
