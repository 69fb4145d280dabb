// Control path: see validate.h.
#include "control/validate.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "dataplane/io/ports.h"

namespace gp {

rte_ether_addr default_mac(const std::string& vm, unsigned slot) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char ch : vm + "/" + std::to_string(slot)) h = (h ^ static_cast<uint8_t>(ch)) * 16777619u;
  return rte_ether_addr{{0x08, 0x00, 0x27, uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)}};
}

namespace {

// NAT networks and port forwards (after adapters resolved their uplinks).
void validate_nat(const Config& c, const std::map<std::string, std::string>& uplink_owner,
                  std::vector<Diagnostic>& errors) {
  auto error = [&](SourceLoc loc, std::string msg) {
    errors.push_back({c.file, loc, std::move(msg)});
  };
  auto nat_uplink = [&](const std::string& name, SourceLoc at, const std::string& who) {
    const UplinkConfig* u = c.find_uplink(name);
    if (u == nullptr) return;  // reported already
    if (!u->address || !u->gateway)
      error(at, who + ": uplink '" + name + "' needs an address and a gateway for NAT");
    else if (uplink_owner.count(name))
      error(at, who + ": uplink '" + name + "' is bridged; NAT needs an uplink of its own");
  };
  // One owner per (uplink, proto, host port); a rule without host_ip takes every address.
  struct Claim {
    std::string uplink, proto, who;
    std::optional<uint32_t> host_ip;
    uint16_t port;
  };
  std::vector<Claim> claims;
  auto forwards = [&](const std::vector<PortForward>& pfs, const std::string& uplink,
                      const std::string& who, uint32_t net, uint32_t mask,
                      const std::vector<uint32_t>& taken, bool need_guest_ip) {
    const UplinkConfig* u = c.find_uplink(uplink);
    for (const PortForward& pf : pfs) {
      const std::string rule = who + " port forward '" + pf.name + "'";
      if (need_guest_ip && !pf.guest_ip)
        error(pf.loc, rule + " needs guest_ip (a NAT network has many guests)");
      if (pf.guest_ip) {
        const uint32_t g = *pf.guest_ip;
        bool bad = (g & mask) != net || g == net || g == (net | ~mask);
        for (uint32_t t : taken) bad |= g == t;
        if (bad)
          error(pf.loc, rule + ": guest_ip " + format_ipv4(g) + " must be a guest address in " +
                            Ipv4Cidr{net, uint8_t(__builtin_popcount(mask))}.to_string() +
                            " (not the network, broadcast, gateway or DHCP server address)");
      }
      if (pf.host_ip && u != nullptr && u->address && *pf.host_ip != u->address->addr)
        error(pf.loc, rule + ": host_ip " + format_ipv4(*pf.host_ip) + " is not uplink '" + uplink +
                          "''s address " + format_ipv4(u->address->addr));
      for (const Claim& cl : claims) {
        if (cl.uplink == uplink && cl.proto == pf.proto && cl.port == pf.host_port &&
            (!cl.host_ip || !pf.host_ip || *cl.host_ip == *pf.host_ip))
          error(pf.loc, rule + ": " + pf.proto + " host_port " + std::to_string(pf.host_port) +
                            " on uplink '" + uplink + "' is already forwarded by " + cl.who);
      }
      claims.push_back({uplink, pf.proto, rule, pf.host_ip, pf.host_port});
    }
  };

  for (const auto& n : c.networks) {
    const std::string where = "network '" + n.name + "'";
    if (n.mode != AttachMode::kNatNetwork) {
      if (n.endpoint_independent_filtering)
        error(n.filtering_loc, where + ": filtering applies to natnetwork networks only");
      if (!n.port_forwards.empty())
        error(n.port_forwards[0].loc,
              where + ": port_forwards apply to natnetwork networks and nat adapters only");
      continue;
    }
    if (!n.network) continue;  // reported already
    nat_uplink(n.uplink, n.uplink_loc.line != 0 ? n.uplink_loc : n.loc, where);
    const uint32_t mask = n.network->mask(), net = n.network->addr & mask, bcast = net | ~mask;
    if (n.network->prefix < 8 || n.network->prefix > 29) {
      error(n.loc,
            where + ": network " + n.network->to_string() +
                " must be a /8 to /29 (it needs .1 for the router, .3 for DHCP, and guests)");
      continue;
    }
    const uint32_t server = n.dhcp.server.value_or(net | 3);
    for (auto [a, nm] : {std::pair{n.dhcp.server, "server"}, std::pair{n.dhcp.lower, "lower"},
                         std::pair{n.dhcp.upper, "upper"}}) {
      if (a && ((*a & mask) != net || *a == net || *a == bcast || *a == (net | 1)))
        error(n.dhcp.loc, where + ": dhcp." + nm + " " + format_ipv4(*a) + " must be in " +
                              Ipv4Cidr{net, n.network->prefix}.to_string() +
                              " and not the network, broadcast or gateway (.1) address");
    }
    const uint32_t lower = n.dhcp.lower.value_or(server + 1);
    const uint32_t upper = n.dhcp.upper.value_or(bcast - 1);
    if (n.dhcp.enabled.value_or(true) && lower > upper)
      error(n.dhcp.loc.line != 0 ? n.dhcp.loc : n.loc, where + ": the DHCP range " +
                                                           format_ipv4(lower) + " - " +
                                                           format_ipv4(upper) + " is empty");
    std::vector<uint32_t> taken = {net | 1};
    if (n.dhcp.enabled.value_or(true)) taken.push_back(server);
    forwards(n.port_forwards, n.uplink, where, net, mask, taken, true);
  }
  for (const auto& vm : c.vms) {
    for (const auto& [slot, ad] : vm.adapters) {
      const std::string who = "vm '" + vm.name + "' adapter " + std::to_string(slot);
      if (ad.attach != AttachMode::kNat) {
        if (ad.endpoint_independent_filtering)
          error(ad.filtering_loc, who +
                                      ": filtering applies to attach: nat (a NAT network's "
                                      "filtering belongs to the network)");
        if (!ad.port_forwards.empty())
          error(ad.port_forwards[0].loc,
                who +
                    ": port_forwards apply to attach: nat (natnetwork forwards belong to the "
                    "network)");
        continue;
      }
      if (ad.uplink.empty()) continue;  // reported already
      const uint32_t net = (10u << 24) | ((slot + 1) << 8);
      forwards(ad.port_forwards, ad.uplink, who, net, 0xffffff00u, {net | 2, net | 3}, false);
    }
  }
}

}  // namespace

uint16_t network_mtu(const Config& c, const NetworkConfig& n) {
  if (n.mtu) return *n.mtu;
  if (n.mode == AttachMode::kBridged)
    if (const UplinkConfig* u = c.find_uplink(n.uplink)) return u->mtu;
  if (n.mode == AttachMode::kGeneric)  // as a Linux vxlan device over a 1500 link: 1450
    if (const UplinkConfig* u = c.find_uplink(n.uplink))
      return static_cast<uint16_t>(std::max(576, int{u->mtu} - int{tunnel_overhead(n)}));
  return kStandardMtu;
}

uint16_t effective_mtu(const AdapterConfig& ad) {
  if (ad.mtu <= kStandardMtu || nic_carries_jumbo(ad.model, ad.attach == AttachMode::kBridged))
    return ad.mtu;
  return kStandardMtu;
}

void host_interface_warnings(const Config& c, std::vector<Diagnostic>& warnings) {
  for (const NetworkConfig& n : c.networks)
    if (n.mode == AttachMode::kHostOnly && n.host_interface && network_mtu(c, n) > kStandardMtu)
      warnings.push_back({c.file, n.mtu_loc.line != 0 ? n.mtu_loc : n.loc,
                          "network '" + n.name + "': mtu " + std::to_string(network_mtu(c, n)) +
                              " but the host interface " + n.host_interface->name +
                              " (a DPDK tap) carries at most 1500: larger frames between it "
                              "and the guests are dropped (oversize); guests still carry "
                              "jumbo frames among themselves",
                          true});
}

void nic_model_warnings(const Config& c, std::vector<Diagnostic>& warnings) {
  host_interface_warnings(c, warnings);
  tunnel_warnings(c, warnings);
  for (const VmConfig& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters) {
      if (ad.attach == AttachMode::kNone || effective_mtu(ad) == ad.mtu) continue;
      const NicProfile& p = nic_profile(ad.model);
      const std::string why = p.jumbo_bridged
                                  ? std::string(p.name) + " (" + std::string(p.description) +
                                        ") carries jumbo frames only on bridged attachments"
                                  : std::string(p.name) + " (" + std::string(p.description) +
                                        ") never carries jumbo frames";
      Diagnostic d{c.file, ad.mtu_loc.line != 0 ? ad.mtu_loc : ad.loc,
                   "vm '" + vm.name + "' adapter " + std::to_string(slot) + ": mtu " +
                       std::to_string(ad.mtu) + " but " + why +
                       ": the adapter carries at most 1500 bytes, larger frames are dropped "
                       "both ways (counted as nic_model_mtu); use model virtio-net for jumbo "
                       "frames",
                   true};
      warnings.push_back(std::move(d));
    }
}

namespace {
// What the user pinned by hand: the mbuf pool's size, static next hops and static MAC
// entries.
void validate_pins(const Config& c, std::vector<Diagnostic>& errors) {
  auto error = [&](SourceLoc loc, std::string msg) {
    errors.push_back({c.file, loc, std::move(msg)});
  };
  const ApplianceConfig& a = c.appliance;
  if (a.mbufs != 0) {
    const unsigned each = a.hugepages == "off" ? kMbufFootprintNoHuge : kMbufFootprint;
    const uint64_t need_mb = (uint64_t{a.mbufs} * each + (1u << 20) - 1) >> 20;
    if (need_mb + kMemoryReserveMb > a.memory_mb)
      error(a.mbufs_loc,
            "appliance.mbufs: " + std::to_string(a.mbufs) + " mbufs take about " +
                std::to_string(need_mb) + " MB" +
                (a.hugepages == "off" ? " without hugepages (4 KiB each)" : "") +
                ", and tables and rings need about " + std::to_string(kMemoryReserveMb) +
                " MB more; appliance.memory_mb is " + std::to_string(a.memory_mb) +
                " (raise it to at least " + std::to_string(need_mb + kMemoryReserveMb) + ")");
  }
  for (const auto& u : c.uplinks)
    if (u.gateway_mac && !u.gateway)
      error(u.gateway_mac_loc,
            "uplink '" + u.name + "': gateway_mac is the MAC of its gateway: give gateway too");
  // A pinned MAC has one owner per network.
  std::map<std::string, std::map<uint64_t, std::string>> owner;  // network -> mac -> who
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters) {
      const std::string who = "vm '" + vm.name + "' adapter " + std::to_string(slot);
      if (!ad.network.empty() && ad.attach != AttachMode::kNone)
        owner[ad.network].emplace(mac_to_u64(ad.mac), who);
    }
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters) {
      if (!ad.vhost.given) continue;
      const std::string who = "vm '" + vm.name + "' adapter " + std::to_string(slot);
      if (ad.port.rfind("net_vhost", 0) != 0)
        error(ad.vhost.loc,
              who + ": vhost settings need a net_vhost port (port: \"" + ad.port + "\")");
      else if (ad.vhost.client &&
               (!ad.vhost.owner.empty() || !ad.vhost.group.empty() || ad.vhost.permissions))
        error(ad.vhost.loc, who +
                                ": in client mode QEMU makes the socket; owner, group and "
                                "permissions apply to server mode only");
    }
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters) {
      if (ad.static_macs.empty()) continue;
      const std::string who = "vm '" + vm.name + "' adapter " + std::to_string(slot);
      if (ad.network.empty() || ad.attach == AttachMode::kNone) {
        error(ad.static_macs_loc, who + ": static_macs need a network to be pinned in");
        continue;
      }
      for (const auto& m : ad.static_macs) {
        auto [it, fresh] = owner[ad.network].emplace(mac_to_u64(m), who);
        if (!fresh && it->second != who)
          error(ad.static_macs_loc, who + ": static MAC " + format_mac(m) + " is already " +
                                        it->second + "'s on network '" + ad.network + "'");
      }
    }
}
}  // namespace

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
    bool wants_uplink = n.mode == AttachMode::kBridged || n.mode == AttachMode::kNatNetwork ||
                        n.mode == AttachMode::kGeneric;
    if (wants_uplink && n.uplink.empty())
      error(n.loc, where + " (" + std::string(attach_mode_name(n.mode)) + ") needs an uplink");
    if (!n.uplink.empty() && !wants_uplink)
      error(n.uplink_loc, where + ": only bridged, natnetwork and generic networks take an uplink");
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
  std::set<std::string> groups;
  for (const auto& g : c.bandwidth_groups) groups.insert(g.name);
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters)
      if (!ad.bandwidth_group.empty() && !groups.count(ad.bandwidth_group))
        error(ad.bw_loc, "vm '" + vm.name + "' adapter " + std::to_string(slot) +
                             ": unknown bandwidth group '" + ad.bandwidth_group +
                             "' (declare it under bandwidth_groups)");
  // VLANs segment a switched network; a NAT router or a host-only network's services
  // serve one untagged segment.
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters)
      if (ad.vlan.set() && ad.attach != AttachMode::kBridged && ad.attach != AttachMode::kInternal)
        error(ad.vlan.loc, "vm '" + vm.name + "' adapter " + std::to_string(slot) +
                               ": vlan applies to bridged and internal networks, not attach: " +
                               std::string(attach_mode_name(ad.attach)));
  // Adapters that set no MTU take their network's (a bridged network's: its uplink's).
  for (auto& vm : c.vms)
    for (auto& [slot, ad] : vm.adapters) {
      if (ad.mtu_loc.line != 0 || ad.network.empty()) continue;
      const NetworkConfig* n = c.find_network(ad.network);
      if (n == nullptr) continue;
      ad.mtu = network_mtu(c, *n);
    }
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters)
      if (!ad.uplink.empty() && ad.attach != AttachMode::kNat)
        error(ad.uplink_loc, "vm '" + vm.name + "' adapter " + std::to_string(slot) +
                                 ": uplink: applies to attach: nat only");
  validate_nat(c, uplink_owner, errors);
  validate_tunnels(c, uplink_owner, errors);
  validate_pins(c, errors);
  if (port_count > kMaxEthPorts)
    error({1, 1}, "the configuration needs " + std::to_string(port_count) +
                      " DPDK ports; this build supports " + std::to_string(kMaxEthPorts));
}

}  // namespace gp
