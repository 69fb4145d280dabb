// Control path: the checks of generic networks (see validate.h). Kept apart from
// validate.cc, which checks everything else, as tunnel/ is apart in the dataplane.
#include <initializer_list>
#include <map>
#include <set>

#include "control/validate.h"
#include "dataplane/core/snapshot.h"

namespace gp {

uint16_t tunnel_overhead(const NetworkConfig& n) {
  if (n.mode != AttachMode::kGeneric) return 0;
  return n.tunnel.driver == "udp" ? kUdpTunnelOverhead : kVxlanOverhead;
}

namespace {
// The first of the given locations that the file sets (line 0: not written).
SourceLoc first_set(std::initializer_list<SourceLoc> locs) {
  for (const SourceLoc& l : locs)
    if (l.line != 0) return l;
  return {};
}

bool usable_remote(uint32_t a) {
  const uint32_t top = a >> 24;
  return a != 0 && a != 0xffffffffu && top != 127 && (a >> 28) != 0xe;  // unicast, not loopback
}
}  // namespace

void validate_tunnels(const Config& c, const std::map<std::string, std::string>& uplink_owner,
                      std::vector<Diagnostic>& errors) {
  auto error = [&](SourceLoc loc, std::string msg) {
    errors.push_back({c.file, loc, std::move(msg)});
  };
  // Who listens on (uplink, UDP port): a VXLAN port may be shared by networks of other VNIs.
  struct Claim {
    std::string who;
    bool vxlan;
  };
  std::map<std::pair<std::string, uint16_t>, Claim> ports;
  std::map<std::tuple<std::string, uint16_t, uint32_t>, std::string> vnis;
  size_t remotes = 0;
  for (const NetworkConfig& n : c.networks) {
    const std::string where = "network '" + n.name + "'";
    const TunnelConfig& t = n.tunnel;
    const SourceLoc any_key = t.driver_loc.line != 0    ? t.driver_loc
                              : t.vni_loc.line != 0     ? t.vni_loc
                              : t.remotes_loc.line != 0 ? t.remotes_loc
                              : t.sport_loc.line != 0   ? t.sport_loc
                                                        : t.dest_loc;
    if (n.mode != AttachMode::kGeneric) {
      if (any_key.line != 0)
        error(any_key, where +
                           ": driver, vni, remotes, udp_port, sport, dest and dport apply to "
                           "generic networks only");
      continue;
    }
    if (t.driver.empty()) {
      if (t.driver_loc.line == 0) error(n.loc, where + " (generic) needs driver: vxlan or udp");
      continue;
    }
    const UplinkConfig* u = c.find_uplink(n.uplink);
    if (u != nullptr && !u->address)
      error(n.uplink_loc, where + ": uplink '" + n.uplink +
                              "' needs an address: it is the local tunnel endpoint");
    if (u != nullptr && uplink_owner.count(n.uplink))
      error(n.uplink_loc, where + ": uplink '" + n.uplink + "' is bridged by network '" +
                              uplink_owner.at(n.uplink) +
                              "'; a tunnel needs an uplink that is not bridged");
    const bool vxlan = t.driver == "vxlan";
    std::vector<uint32_t> ends;
    uint16_t local = 0;
    if (vxlan) {
      if (t.sport_loc.line != 0 || t.dest_loc.line != 0 || t.dport != 0)
        error(first_set({t.sport_loc, t.dest_loc, n.loc}),
              where +
                  ": sport, dest and dport are the udp driver's; vxlan takes vni, remotes "
                  "and udp_port");
      if (t.vni == 0 && t.vni_loc.line == 0) error(n.loc, where + " (vxlan) needs vni: 1-16777215");
      if (t.remotes.empty() && t.remotes_loc.line == 0)
        error(n.loc, where + " (vxlan) needs remotes: a list of remote tunnel endpoints");
      ends = t.remotes;
      local = t.udp_port;
    } else {
      if (t.vni_loc.line != 0 || t.remotes_loc.line != 0 || t.udp_port_loc.line != 0)
        error(first_set({t.vni_loc, t.remotes_loc, t.udp_port_loc}),
              where +
                  ": vni, remotes and udp_port are the vxlan driver's; udp takes sport, "
                  "dest and dport");
      if (t.sport == 0 || !t.dest || t.dport == 0)
        error(t.driver_loc, where +
                                " (udp) needs sport, dest and dport, as VirtualBox's UDP "
                                "Tunnel does");
      if (t.dest) ends.push_back(*t.dest);
      local = t.sport;
    }
    std::set<uint32_t> seen;
    for (size_t i = 0; i < ends.size(); ++i) {
      const uint32_t r = ends[i];
      const SourceLoc at = vxlan && i < t.remote_locs.size() ? t.remote_locs[i] : t.dest_loc;
      if (!usable_remote(r))
        error(at, where + ": " + format_ipv4(r) + " cannot be a tunnel endpoint (unicast only)");
      else if (u != nullptr && u->address && r == u->address->addr)
        error(at, where + ": " + format_ipv4(r) + " is uplink '" + n.uplink +
                      "''s own address, the local endpoint");
      else if (!seen.insert(r).second)
        error(at, where + ": remote " + format_ipv4(r) + " is listed twice");
      else if (u != nullptr && u->address && !u->gateway &&
               (r & u->address->mask()) != (u->address->addr & u->address->mask()))
        error(at, where + ": remote " + format_ipv4(r) + " is not on uplink '" + n.uplink +
                      "''s subnet " + u->address->to_string() + " and the uplink has no gateway");
    }
    remotes += ends.size();
    if (local == 0) continue;
    const SourceLoc port_at =
        vxlan ? (t.udp_port_loc.line != 0 ? t.udp_port_loc : n.loc) : t.sport_loc;
    auto [it, fresh] = ports.emplace(std::pair{n.uplink, local}, Claim{where, vxlan});
    if (!fresh && !(vxlan && it->second.vxlan))
      error(port_at, where + ": UDP port " + std::to_string(local) + " on uplink '" + n.uplink +
                         "' is already " + it->second.who + "'s");
    if (vxlan) {
      auto [vit, vfresh] = vnis.emplace(std::tuple{n.uplink, local, t.vni}, where);
      if (!vfresh)
        error(t.vni_loc.line != 0 ? t.vni_loc : n.loc,
              where + ": vni " + std::to_string(t.vni) + " on uplink '" + n.uplink + "' port " +
                  std::to_string(local) + " is already " + vit->second + "'s");
    }
  }
  if (remotes > kMaxTunnelPorts)
    error({1, 1}, "the configuration has " + std::to_string(remotes) +
                      " tunnel endpoints in all; this build supports " +
                      std::to_string(kMaxTunnelPorts));
  // A UDP port forward on a tunnel's port would never see a datagram.
  auto forwards = [&](const std::vector<PortForward>& pfs, const std::string& uplink,
                      const std::string& who) {
    for (const PortForward& pf : pfs) {
      auto it = ports.find({uplink, pf.host_port});
      if (pf.proto == "udp" && it != ports.end())
        error(pf.loc, who + " port forward '" + pf.name + "': udp host_port " +
                          std::to_string(pf.host_port) + " on uplink '" + uplink +
                          "' is the tunnel port of " + it->second.who);
    }
  };
  for (const NetworkConfig& n : c.networks)
    if (n.mode == AttachMode::kNatNetwork)
      forwards(n.port_forwards, n.uplink, "network '" + n.name + "'");
  for (const VmConfig& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters)
      if (ad.attach == AttachMode::kNat)
        forwards(ad.port_forwards, ad.uplink,
                 "vm '" + vm.name + "' adapter " + std::to_string(slot));
}

void tunnel_warnings(const Config& c, std::vector<Diagnostic>& warnings) {
  for (const NetworkConfig& n : c.networks) {
    if (n.mode != AttachMode::kGeneric || !n.mtu) continue;
    const UplinkConfig* u = c.find_uplink(n.uplink);
    if (u == nullptr || *n.mtu + tunnel_overhead(n) <= u->mtu) continue;
    warnings.push_back({c.file, n.mtu_loc.line != 0 ? n.mtu_loc : n.loc,
                        "network '" + n.name + "': mtu " + std::to_string(*n.mtu) + " plus the " +
                            std::to_string(tunnel_overhead(n)) + " bytes of " + n.tunnel.driver +
                            " encapsulation (the inner Ethernet header, outer IPv4, UDP" +
                            (n.tunnel.driver == "vxlan" ? ", VXLAN" : "") + ") exceeds uplink '" +
                            u->name + "''s mtu " + std::to_string(u->mtu) +
                            ": larger frames are dropped as tunnel_too_big; use mtu " +
                            std::to_string(u->mtu - tunnel_overhead(n)) + " or raise the uplink's",
                        true});
  }
}

}  // namespace gp
