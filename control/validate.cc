// Control path: see validate.h.
#include "control/validate.h"

#include <map>
#include <set>

#include "dataplane/io/ports.h"

namespace gp {

rte_ether_addr default_mac(const std::string& vm, unsigned slot) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char ch : vm + "/" + std::to_string(slot)) h = (h ^ static_cast<uint8_t>(ch)) * 16777619u;
  return rte_ether_addr{{0x08, 0x00, 0x27, uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)}};
}

void validate_config(Config& c, std::vector<Diagnostic>& errors) {
  auto error = [&](SourceLoc loc, std::string msg) {
    errors.push_back({c.file, loc, std::move(msg)});
  };

  const ApplianceConfig& a = c.appliance;
  if (!a.worker_cpus.empty() && a.worker_cpus.size() != a.workers)
    error(a.loc, "appliance.worker_cpus lists " + std::to_string(a.worker_cpus.size()) +
                     " CPUs for " + std::to_string(a.workers) + " workers");

  // Networks on their own.
  std::set<std::string> host_ifaces;
  for (auto& n : c.networks) {
    const std::string where = "network '" + n.name + "'";
    bool wants_uplink = n.mode == AttachMode::kBridged || n.mode == AttachMode::kNatNetwork;
    if (wants_uplink && n.uplink.empty())
      error(n.loc, where + " (" + std::string(attach_mode_name(n.mode)) + ") needs an uplink");
    if (!n.uplink.empty() && !wants_uplink)
      error(n.uplink_loc, where + ": only bridged and natnetwork networks take an uplink");
    if (!n.uplink.empty() && wants_uplink && !c.find_uplink(n.uplink))
      error(n.uplink_loc, where + ": unknown uplink '" + n.uplink + "'");
    if (n.mode == AttachMode::kNatNetwork && !n.network)
      error(n.loc, where + " (natnetwork) needs network: CIDR, e.g. 10.0.2.0/24");
    if (n.host_interface && n.mode != AttachMode::kHostOnly)
      error(n.host_interface->loc, where + ": only hostonly networks have a host_interface");
    const bool dhcp_mode = n.mode == AttachMode::kHostOnly || n.mode == AttachMode::kNatNetwork;
    if (n.dhcp.enabled.value_or(false) && !dhcp_mode)
      error(n.dhcp.loc, where + ": only hostonly and natnetwork networks have a DHCP server");
    if (n.mode == AttachMode::kHostOnly) {
      if (!n.host_interface) n.host_interface = HostInterface{};
      const Ipv4Cidr& h = n.host_interface->address;
      for (auto [a, nm] : {std::pair{n.dhcp.server, "server"}, std::pair{n.dhcp.lower, "lower"},
                           std::pair{n.dhcp.upper, "upper"}}) {
        if (a && ((*a & h.mask()) != (h.addr & h.mask()) || *a == h.addr))
          error(n.dhcp.loc, where + ": dhcp." + nm + " " + format_ipv4(*a) + " must be in " +
                                Ipv4Cidr{h.addr & h.mask(), h.prefix}.to_string() +
                                " and not the host interface's address");
      }
      if (n.dhcp.lower && n.dhcp.upper && *n.dhcp.lower > *n.dhcp.upper)
        error(n.dhcp.loc, where + ": dhcp.lower is above dhcp.upper");
      if (!host_ifaces.insert(n.host_interface->name).second)
        error(n.host_interface->loc.line != 0 ? n.host_interface->loc : n.loc,
              where + ": host interface name '" + n.host_interface->name + "' is already used");
    }
  }
  std::map<std::string, std::string> uplink_owner;
  for (const auto& n : c.networks) {
    if (n.mode != AttachMode::kBridged || n.uplink.empty()) continue;
    auto [it, fresh] = uplink_owner.emplace(n.uplink, n.name);
    if (!fresh)
      error(n.uplink_loc,
            "uplink '" + n.uplink + "' is already bridged by network '" + it->second + "'");
  }

  // Adapters: network references, implicit networks, MACs.
  std::map<uint64_t, std::string> macs;
  std::map<std::string, std::string> devices;
  auto claim_device = [&](const std::string& devargs, SourceLoc loc, const std::string& who) {
    std::string dev = devargs_device(devargs);
    if (dev.empty()) {
      error(loc, who + ": the port devargs must start with a device name, e.g. net_af_packet0");
      return;
    }
    auto [it, fresh] = devices.emplace(dev, who);
    if (!fresh) error(loc, who + ": port device '" + dev + "' is already used by " + it->second);
  };
  for (const auto& u : c.uplinks) claim_device(u.device, u.device_loc, "uplink '" + u.name + "'");

  size_t port_count = c.uplinks.size();
  for (auto& vm : c.vms) {
    for (auto& [slot, ad] : vm.adapters) {
      const std::string who = "vm '" + vm.name + "' adapter " + std::to_string(slot);
      if (!ad.mac_given) ad.mac = default_mac(vm.name, slot);
      auto [mit, mfresh] = macs.emplace(mac_to_u64(ad.mac), who);
      if (!mfresh)
        error(ad.mac_given ? ad.mac_loc : ad.loc,
              who + ": MAC " + format_mac(ad.mac) + " is already used by " + mit->second);
      if (ad.port.empty()) continue;  // only `attach: none` may omit its port
      ++port_count;
      claim_device(ad.port, ad.port_loc, who);

      const NetworkConfig* net = ad.network.empty() ? nullptr : c.find_network(ad.network);
      const std::string mode(attach_mode_name(ad.attach));
      switch (ad.attach) {
        case AttachMode::kNone:
          break;
        case AttachMode::kNat: {
          if (ad.uplink.empty()) {
            std::vector<std::string> with_address;
            for (const auto& u : c.uplinks)
              if (u.address) with_address.push_back(u.name);
            if (with_address.size() == 1) {
              ad.uplink = with_address[0];
            } else {
              error(ad.attach_loc, who + ": attach: nat needs an uplink with an address (" +
                                       std::string(with_address.empty()
                                                       ? "none has one"
                                                       : "several have one: name it with uplink:") +
                                       ")");
              break;
            }
          }
          const UplinkConfig* u = c.find_uplink(ad.uplink);
          const SourceLoc at = ad.uplink_loc.line != 0 ? ad.uplink_loc : ad.attach_loc;
          if (u == nullptr)
            error(at, who + ": unknown uplink '" + ad.uplink + "'");
          else if (!u->address || !u->gateway)
            error(at, who + ": uplink '" + ad.uplink + "' needs an address and a gateway for NAT");
          else if (uplink_owner.count(u->name))
            error(at,
                  who + ": uplink '" + ad.uplink + "' is bridged; NAT needs an uplink of its own");
          break;
        }
        case AttachMode::kInternal:
          if (net == nullptr) {
            NetworkConfig n;
            n.name = ad.network;
            n.mode = AttachMode::kInternal;
            n.implicit = true;
            n.loc = ad.attach_loc;
            c.networks.push_back(n);
          } else if (net->mode != AttachMode::kInternal) {
            error(ad.attach_loc, who + ": network '" + ad.network + "' is a " +
                                     std::string(attach_mode_name(net->mode)) +
                                     " network, not internal");
          }
          break;
        case AttachMode::kBridged:
          if (net == nullptr && c.find_uplink(ad.network) != nullptr) {
            // VirtualBox style: bridged to a host interface (an uplink) directly.
            if (!uplink_owner.count(ad.network)) {
              NetworkConfig n;
              n.name = ad.network;
              n.mode = AttachMode::kBridged;
              n.uplink = ad.network;
              n.implicit = true;
              n.loc = ad.attach_loc;
              uplink_owner[ad.network] = ad.network;
              c.networks.push_back(n);
            } else if (uplink_owner[ad.network] != ad.network) {
              error(ad.attach_loc, who + ": uplink '" + ad.network + "' is bridged by network '" +
                                       uplink_owner[ad.network] + "': attach bridged:" +
                                       uplink_owner[ad.network] + " instead");
            }
          } else if (net == nullptr) {
            error(ad.attach_loc, who + ": unknown network or uplink '" + ad.network + "'");
          } else if (net->mode != AttachMode::kBridged) {
            error(ad.attach_loc, who + ": network '" + ad.network + "' is a " +
                                     std::string(attach_mode_name(net->mode)) +
                                     " network, not bridged");
          }
          break;
        case AttachMode::kNatNetwork:
        case AttachMode::kHostOnly:
        case AttachMode::kGeneric:
          if (net == nullptr)
            error(ad.attach_loc, who + ": unknown network '" + ad.network +
                                     "' (declare it under "
                                     "networks with mode: " +
                                     mode + ")");
          else if (net->mode != ad.attach)
            error(ad.attach_loc, who + ": network '" + ad.network + "' is a " +
                                     std::string(attach_mode_name(net->mode)) + " network, not " +
                                     mode);
          break;
      }
    }
  }
  for (const auto& n : c.networks)
    if (n.mode == AttachMode::kHostOnly) ++port_count;
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters)
      if (!ad.uplink.empty() && ad.attach != AttachMode::kNat)
        error(ad.uplink_loc, "vm '" + vm.name + "' adapter " + std::to_string(slot) +
                                 ": uplink: applies to attach: nat only");
  if (port_count > kMaxPorts)
    error({1, 1}, "the configuration needs " + std::to_string(port_count) +
                      " DPDK ports; this build supports " + std::to_string(kMaxPorts));
}

}  // namespace gp
