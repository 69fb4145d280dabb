// Control path: see compile.h.
#include "control/compile.h"

#include <algorithm>

namespace gp {

namespace {
std::string segment_name(const NetworkConfig& n) {
  return std::string(attach_mode_name(n.mode)) + ":" + n.name;
}
}  // namespace

dhcp::Settings hostonly_dhcp(const NetworkConfig& n) {
  const Ipv4Cidr h = n.host_interface ? n.host_interface->address : HostInterface{}.address;
  const uint32_t mask = h.mask(), net = h.addr & mask, bcast = net | ~mask;
  dhcp::Settings s;
  s.netmask = mask;
  if (h.prefix <= 24) {
    s.server_ip = net + 100;
    s.lower = net + 101;
    s.upper = bcast - 1;
  } else {
    s.server_ip = bcast - 1;
    s.lower = net + 1;
    s.upper = bcast - 2;
  }
  if (n.dhcp.server) s.server_ip = *n.dhcp.server;
  if (n.dhcp.lower) s.lower = *n.dhcp.lower;
  if (n.dhcp.upper) s.upper = *n.dhcp.upper;
  s.lease_s = n.dhcp.lease_s;
  s.reserved = {h.addr};  // no router option on a host-only network
  return s;
}

std::map<std::string, SegmentPlan> plan_segments(const Config& c) {
  std::map<std::string, SegmentPlan> out;
  for (const auto& n : c.networks) {
    SegmentPlan sp;
    sp.ageing_s = n.mac_ageing_s;
    uint32_t h = 2166136261u;  // FNV-1a of the network name
    for (char ch : n.name) h = (h ^ static_cast<uint8_t>(ch)) * 16777619u;
    sp.service_mac =
        rte_ether_addr{{0x02, 0x47, 0x50, uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)}};
    if (n.mode == AttachMode::kHostOnly && n.dhcp.enabled.value_or(true))
      sp.dhcp = hostonly_dhcp(n);
    out[segment_name(n)] = sp;
  }
  return out;
}

std::vector<PortPlan> plan_ports(const Config& c, std::vector<Diagnostic>& errors) {
  std::vector<PortPlan> out;
  auto segment_of = segment_name;
  for (const auto& u : c.uplinks) {
    const NetworkConfig* owner = nullptr;
    for (const auto& n : c.networks)
      if (n.mode == AttachMode::kBridged && n.uplink == u.name) owner = &n;
    PortPlan p;
    p.key = "uplink/" + u.name;
    p.devargs = u.device;
    p.role = PortRole::kUplink;
    p.link_up = true;
    p.mtu = u.mtu;
    p.loc = u.device_loc;
    if (owner != nullptr) {
      p.segment = segment_of(*owner);
      p.ageing_s = owner->mac_ageing_s;
    }
    out.push_back(p);
  }
  unsigned tap_index = 0;
  for (const auto& n : c.networks) {
    if (n.mode != AttachMode::kHostOnly || !n.host_interface) continue;
    PortPlan p;
    p.key = "host/" + n.name;
    p.devargs = "net_tap" + std::to_string(tap_index++) + ",iface=" + n.host_interface->name;
    p.role = PortRole::kHost;
    p.link_up = true;
    p.segment = segment_of(n);
    p.ageing_s = n.mac_ageing_s;
    p.host_iface = n.host_interface->name;
    p.host_addr = n.host_interface->address;
    p.loc = n.host_interface->loc.line != 0 ? n.host_interface->loc : n.loc;
    out.push_back(p);
  }
  for (const auto& vm : c.vms) {
    for (const auto& [slot, ad] : vm.adapters) {
      if (ad.port.empty()) continue;
      if (ad.attach == AttachMode::kNat || ad.attach == AttachMode::kNatNetwork ||
          ad.attach == AttachMode::kGeneric) {
        errors.push_back({c.file, ad.attach_loc,
                          "attach: " + std::string(attach_mode_name(ad.attach)) +
                              " is not implemented in this build yet (vm '" + vm.name +
                              "' adapter " + std::to_string(slot) + ")"});
        continue;
      }
      PortPlan p;
      p.key = "vm/" + vm.name + "/" + std::to_string(slot);
      p.devargs = ad.port;
      p.role = PortRole::kGuest;
      p.promisc = ad.promiscuous;
      p.mac = ad.mac;
      p.link_up = ad.attach != AttachMode::kNone && ad.cable_connected;
      p.mtu = ad.mtu;
      p.loc = ad.port_loc;
      if (ad.attach != AttachMode::kNone) {
        const NetworkConfig* n = c.find_network(ad.network);
        if (n != nullptr) {
          p.segment = segment_of(*n);
          p.ageing_s = n->mac_ageing_s;
        }
      }
      out.push_back(p);
    }
  }
  return out;
}

std::unique_ptr<Snapshot> compile_snapshot(const std::vector<PortPlan>& plans,
                                           const std::map<std::string, uint16_t>& port_ids,
                                           uint64_t version,
                                           const std::map<std::string, SegmentPlan>& segments) {
  auto s = std::make_unique<Snapshot>();
  s->version = version;
  std::map<std::string, uint16_t> seg_index;
  for (const auto& p : plans) {
    auto id = port_ids.find(p.key);
    if (id == port_ids.end() || id->second >= kMaxPorts) continue;
    const uint16_t port = id->second;
    PortPolicy& pp = s->ports[port];
    pp.role = p.role;
    pp.promisc = p.promisc;
    pp.link_up = p.link_up;
    pp.max_frame = static_cast<uint16_t>(p.mtu + RTE_ETHER_HDR_LEN);
    pp.mac = p.mac;
    s->port_names[port] = p.key;
    s->rx_ports.push_back(port);
    if (p.segment.empty()) continue;
    auto [it, fresh] = seg_index.emplace(p.segment, static_cast<uint16_t>(s->segments.size()));
    if (fresh) {
      Segment& seg = s->segments.emplace_back();
      seg.ageing_s = p.ageing_s;
      s->segment_names.push_back(p.segment);
      auto sp = segments.find(p.segment);
      std::optional<dhcp::Settings> dhcp;
      if (sp != segments.end()) {
        seg.service_mac = sp->second.service_mac;
        if (sp->second.dhcp) {
          seg.services |= kServiceDhcp;
          seg.service_ips[seg.n_service_ips++] = rte_cpu_to_be_32(sp->second.dhcp->server_ip);
          dhcp = sp->second.dhcp;
        }
      }
      s->dhcp.push_back(dhcp);
    }
    Segment& seg = s->segments[it->second];
    pp.segment = it->second;
    seg.members[seg.n_members++] = port;
    if (p.role == PortRole::kGuest && p.promisc != Promiscuous::kDeny)
      seg.sniffers[seg.n_sniffers++] = port;
  }
  std::sort(s->rx_ports.begin(), s->rx_ports.end());
  return s;
}

}  // namespace gp
