// Control path: see compile.h.
#include "control/compile.h"

#include <netinet/in.h>

#include <algorithm>
#include <set>

#include "control/validate.h"
#include "dataplane/io/ports.h"

namespace gp {

namespace {
std::string segment_name(const NetworkConfig& n) {
  return std::string(attach_mode_name(n.mode)) + ":" + n.name;
}

// Each `nat` adapter is a private router of its own (VirtualBox semantics).
std::string nat_segment_name(const std::string& vm, unsigned slot) {
  return "nat:" + vm + "/" + std::to_string(slot);
}

// VirtualBox's NAT gateway MAC (52:54:00:12:35:02); every NAT inside is its own
// segment, so they may all share it.
constexpr rte_ether_addr kNatGatewayMac{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
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
  unsigned n_nat = 0;
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters)
      n_nat += ad.attach == AttachMode::kNat || ad.attach == AttachMode::kNatNetwork;
  const NatConfig& nc = c.appliance.nat;
  const uint32_t share = nc.per_vm_sessions != 0
                             ? nc.per_vm_sessions
                             : std::max<uint32_t>(64, nc.sessions / std::max(1u, n_nat));
  for (const auto& n : c.networks) {
    if (n.mode != AttachMode::kNatNetwork || !n.network) continue;
    // VirtualBox's NAT Network: the router at .1 (also the DNS proxy), DHCP at .3,
    // leases from the address after the server up to broadcast - 1.
    const uint32_t mask = n.network->mask(), net = n.network->addr & mask, bcast = net | ~mask;
    SegmentPlan& sp = out[segment_name(n)];
    sp.nat = true;
    sp.uplink_key = "uplink/" + n.uplink;
    sp.port_forwards = n.port_forwards;
    NatSegment& ni = sp.nat_info;
    ni.shared = true;
    ni.network = rte_cpu_to_be_32(net);
    ni.netmask = rte_cpu_to_be_32(mask);
    ni.gateway = rte_cpu_to_be_32(net | 1);
    ni.dns = ni.gateway;
    ni.endpoint_independent_filtering =
        n.endpoint_independent_filtering.value_or(nc.endpoint_independent_filtering);
    ni.max_sessions = share;  // per VM adapter on the network, as on `nat` adapters
    if (n.dhcp.enabled.value_or(true)) {
      dhcp::Settings d;
      d.server_ip = n.dhcp.server.value_or(net | 3);
      d.netmask = mask;
      d.lower = n.dhcp.lower.value_or(d.server_ip + 1);
      d.upper = n.dhcp.upper.value_or(bcast - 1);
      d.router = net | 1;
      d.dns = {net | 1};
      d.lease_s = n.dhcp.lease_s;
      d.reserved = {net | 1};
      sp.dhcp = d;
    }
  }
  for (const auto& vm : c.vms) {
    for (const auto& [slot, ad] : vm.adapters) {
      if (ad.attach != AttachMode::kNat || ad.port.empty()) continue;
      // Adapter n gets 10.0.(n+1).0/24: gateway .2, DNS .3, the guest .15 (VirtualBox).
      const uint32_t net = (10u << 24) | ((slot + 1) << 8);
      SegmentPlan sp;
      sp.nat = true;
      sp.service_mac = kNatGatewayMac;
      sp.uplink_key = "uplink/" + ad.uplink;
      sp.guest_key = "vm/" + vm.name + "/" + std::to_string(slot);
      sp.port_forwards = ad.port_forwards;
      NatSegment& ni = sp.nat_info;
      ni.network = rte_cpu_to_be_32(net);
      ni.netmask = rte_cpu_to_be_32(0xffffff00u);
      ni.gateway = rte_cpu_to_be_32(net | 2);
      ni.dns = rte_cpu_to_be_32(net | 3);
      ni.endpoint_independent_filtering =
          ad.endpoint_independent_filtering.value_or(nc.endpoint_independent_filtering);
      ni.max_sessions = share;
      dhcp::Settings d;
      d.server_ip = net | 2;
      d.netmask = 0xffffff00u;
      d.lower = net | 15;
      d.upper = net | 254;
      d.router = net | 2;
      d.dns = {net | 3};
      d.lease_s = 86400;
      sp.dhcp = d;
      out[nat_segment_name(vm.name, slot)] = sp;
    }
  }
  return out;
}

GlobalPlan plan_globals(const Config& c) {
  GlobalPlan g;
  const NatConfig& nc = c.appliance.nat;
  g.timeouts = {nc.udp_timeout_s, nc.tcp_established_timeout_s, nc.tcp_transitory_timeout_s,
                nc.icmp_timeout_s};
  g.nat_sessions = nc.sessions;
  for (const auto& u : c.uplinks) {
    // An uplink with an address is an IP endpoint: ARP and pings answered, its gateway
    // and on-link hosts resolved; NAT (which also needs a gateway) and tunnels use it.
    if (!u.address) continue;
    UplinkNat un;
    un.enabled = true;
    un.address = rte_cpu_to_be_32(u.address->addr);
    un.netmask = rte_cpu_to_be_32(u.address->mask());
    un.gateway = u.gateway ? rte_cpu_to_be_32(*u.gateway) : 0;
    for (uint32_t d : u.dns)
      if (un.n_dns < un.dns.size()) un.dns[un.n_dns++] = rte_cpu_to_be_32(d);
    un.mtu = u.mtu;
    if (u.gateway_mac) {
      un.static_gateway = true;
      un.gateway_mac = *u.gateway_mac;
    }
    g.uplinks["uplink/" + u.name] = un;
  }
  return g;
}

std::string acl_signature(const std::vector<AclRule>& rules) {
  std::string sig;
  for (const AclRule& r : rules)
    sig += std::string(r.allow ? "A" : "D") + std::to_string(r.proto) + " " + r.src.to_string() +
           " " + r.dst.to_string() + " " + std::to_string(r.src_lo) + "-" +
           std::to_string(r.src_hi) + " " + std::to_string(r.dst_lo) + "-" +
           std::to_string(r.dst_hi) + ";";
  return sig;
}

std::string vlan_segment_name(const std::string& base, uint16_t vid) {
  return vid == 0 ? base : base + "/vlan" + std::to_string(vid);
}

namespace {
// The VLANs the adapters of each network use (empty: the network is not VLAN-aware).
std::map<std::string, std::set<uint16_t>> network_vlans(const Config& c) {
  std::map<std::string, std::set<uint16_t>> out;
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters) {
      if (!ad.vlan.set() || ad.network.empty()) continue;
      std::set<uint16_t>& v = out[ad.network];
      if (ad.vlan.access != 0) v.insert(ad.vlan.access);
      v.insert(ad.vlan.trunk.begin(), ad.vlan.trunk.end());
      if (ad.vlan.native != 0) v.insert(ad.vlan.native);
    }
  return out;
}

void place_vlans(PortPlan& p, const VlanConfig& v, const std::set<uint16_t>* network) {
  if (network == nullptr || network->empty()) return;
  p.vlan_aware = true;
  p.vlan_base = p.segment;
  if (p.role == PortRole::kUplink) {  // the wire: every VLAN of the network, tagged
    p.vlan_trunk = true;
    p.vlan_tagged.assign(network->begin(), network->end());
  } else if (v.access != 0) {
    p.segment_vid = v.access;
  } else if (!v.trunk.empty()) {
    p.vlan_trunk = true;
    p.vlan_tagged = v.trunk;
    p.segment_vid = v.native;
    p.vlan_untagged_drop = v.untagged_drop;
  }
  p.segment = vlan_segment_name(p.vlan_base, p.segment_vid);
}

// Every segment a port is in (its untagged one even where it takes no untagged frame:
// PortPolicy::segment names it).
std::vector<std::string> segments_of(const PortPlan& p) {
  std::vector<std::string> out;
  if (p.segment.empty()) return out;
  out.push_back(p.segment);
  for (uint16_t vid : p.vlan_tagged)
    if (vid != p.segment_vid) out.push_back(vlan_segment_name(p.vlan_base, vid));
  return out;
}
}  // namespace

std::vector<PortPlan> plan_ports(const Config& c,
                                 std::vector<Diagnostic>& /*errors: none left to report*/) {
  std::vector<PortPlan> out;
  auto segment_of = segment_name;
  const auto vlans = network_vlans(c);
  auto vlans_of = [&](const NetworkConfig& n) -> const std::set<uint16_t>* {
    auto it = vlans.find(n.name);
    return it == vlans.end() ? nullptr : &it->second;
  };
  for (const auto& u : c.uplinks) {
    const NetworkConfig* owner = nullptr;
    for (const auto& n : c.networks)
      if (n.mode == AttachMode::kBridged && n.uplink == u.name) owner = &n;
    PortPlan p;
    p.key = "uplink/" + u.name;
    p.devargs = u.device;
    p.role = PortRole::kUplink;
    p.link_up = true;
    p.mtu = p.port_mtu = u.mtu;
    p.loc = u.device_loc;
    if (owner != nullptr) {
      p.segment = segment_of(*owner);
      p.ageing_s = owner->mac_ageing_s;
      place_vlans(p, VlanConfig{}, vlans_of(*owner));
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
    // DPDK's tap PMD carries at most 1500 (max_rx_pktlen 1522; it drops larger frames
    // on transmit and refuses a larger MTU): see host_interface_warnings.
    p.mtu = p.port_mtu = std::min<uint16_t>(network_mtu(c, n), kStandardMtu);
    p.loc = n.host_interface->loc.line != 0 ? n.host_interface->loc : n.loc;
    out.push_back(p);
  }
  for (const auto& vm : c.vms) {
    for (const auto& [slot, ad] : vm.adapters) {
      if (ad.port.empty()) continue;
      PortPlan p;
      p.key = "vm/" + vm.name + "/" + std::to_string(slot);
      p.devargs = ad.port;
      if (ad.vhost.client && devargs_value(ad.port, "client").empty()) p.devargs += ",client=1";
      p.vhost = ad.vhost;
      p.role = PortRole::kGuest;
      p.promisc = ad.promiscuous;
      p.mac = ad.mac;
      p.link_up = ad.attach != AttachMode::kNone && ad.cable_connected;
      p.mtu = effective_mtu(ad);
      p.model_capped = p.mtu != ad.mtu;
      p.port_mtu = ad.mtu;
      p.port_security = ad.port_security;
      p.acl_ingress = ad.acl_ingress;
      p.acl_egress = ad.acl_egress;
      p.bandwidth_group = ad.bandwidth_group;
      p.static_macs = ad.static_macs;
      p.mac_limit = ad.mac_limit;
      p.mac_limit_drop = ad.mac_limit_drop;
      p.dhcp_trusted = ad.dhcp_trusted;
      p.loc = ad.port_loc;
      if (ad.attach == AttachMode::kNat) {
        p.segment = nat_segment_name(vm.name, slot);
      } else if (ad.attach != AttachMode::kNone) {
        const NetworkConfig* n = c.find_network(ad.network);
        if (n != nullptr) {
          p.segment = segment_of(*n);
          p.ageing_s = n->mac_ageing_s;
          if (n->mode == AttachMode::kBridged || n->mode == AttachMode::kInternal)
            place_vlans(p, ad.vlan, vlans_of(*n));
        }
      }
      out.push_back(p);
    }
  }
  for (const auto& n : c.networks) {
    if (n.mode != AttachMode::kGeneric || n.tunnel.driver.empty()) continue;
    const bool vxlan = n.tunnel.driver == "vxlan";
    std::vector<uint32_t> remotes = n.tunnel.remotes;
    if (!vxlan && n.tunnel.dest) remotes = {*n.tunnel.dest};
    for (uint32_t r : remotes) {
      PortPlan p;
      p.key = "tunnel/" + n.name + "/" + format_ipv4(r);
      p.devargs = "gp_" + p.key;
      p.role = PortRole::kTunnel;
      p.link_up = true;
      p.segment = segment_of(n);
      p.ageing_s = n.mac_ageing_s;
      p.mtu = p.port_mtu = network_mtu(c, n);
      p.tunnel.driver = vxlan ? TunnelDriver::kVxlan : TunnelDriver::kUdp;
      p.tunnel.udp_checksum = vxlan && n.tunnel.udp_checksum;
      p.tunnel.remote = rte_cpu_to_be_32(r);
      p.tunnel.vni = vxlan ? rte_cpu_to_be_32(n.tunnel.vni << 8) : 0;
      p.tunnel.local_udp = rte_cpu_to_be_16(vxlan ? n.tunnel.udp_port : n.tunnel.sport);
      p.tunnel.remote_udp = rte_cpu_to_be_16(vxlan ? n.tunnel.udp_port : n.tunnel.dport);
      p.tunnel_uplink = "uplink/" + n.uplink;
      p.loc = vxlan ? n.tunnel.remotes_loc : n.tunnel.dest_loc;
      out.push_back(p);
    }
  }
  return out;
}

namespace {
uint16_t next_generation(uint16_t g) { return g == UINT16_MAX ? 1 : static_cast<uint16_t>(g + 1); }

// Indexes for the plans' segments: kept for names the state knows, the lowest free one
// for new names; indexes of names that are gone get a new generation (their MACs age
// out at once) and become free.
std::map<std::string, uint16_t> assign_segments(const std::vector<PortPlan>& plans,
                                                CompileState& st) {
  std::map<std::string, bool> wanted;
  for (const auto& p : plans)
    for (const std::string& name : segments_of(p)) wanted[name] = true;
  for (auto it = st.segments.begin(); it != st.segments.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    st.generations[it->second.index] = next_generation(st.generations[it->second.index]);
    it = st.segments.erase(it);
  }
  std::vector<bool> used(st.generations.size(), false);
  for (const auto& [name, id] : st.segments) used[id.index] = true;
  std::map<std::string, uint16_t> out;
  uint16_t free_from = 0;  // every index below is used
  for (const auto& p : plans) {
    for (const std::string& name : segments_of(p)) {
      if (out.count(name)) continue;
      auto known = st.segments.find(name);
      if (known != st.segments.end()) {
        out[name] = known->second.index;
        continue;
      }
      uint16_t i = free_from;
      while (i < used.size() && used[i]) ++i;
      if (i == used.size()) {
        used.push_back(false);
        st.generations.push_back(0);
      }
      used[i] = true;
      free_from = i;
      st.generations[i] = next_generation(st.generations[i]);
      st.segments[name] = CompileState::SegmentId{i, 0, ""};
      out[name] = i;
    }
  }
  return out;
}

uint16_t fresh_nat_id(CompileState& st) {
  std::vector<bool> taken(0x8000, false);
  for (const auto& [name, id] : st.segments) taken[id.nat_id & 0x7fff] = true;
  for (unsigned tries = 0; tries < 0x8000; ++tries) {
    st.last_nat_id = st.last_nat_id >= 0x7fff ? 1 : static_cast<uint16_t>(st.last_nat_id + 1);
    if (!taken[st.last_nat_id]) return st.last_nat_id;
  }
  return 0;  // 32767 routers at once: the validator allows far fewer ports than that
}

std::string nat_signature(const NatSegment& n) {
  return std::to_string(n.uplink_port) + "/" + std::to_string(n.guest_port) + "/" +
         std::to_string(n.network) + "/" + std::to_string(n.netmask) + "/" +
         std::to_string(n.shared);
}

std::string forward_signature(const std::string& segment, const PortForwardRule& r) {
  return segment + "|" + std::to_string(r.proto) + "|" + std::to_string(r.uplink_port) + "|" +
         std::to_string(r.host_ip) + "|" + std::to_string(r.host_port) + "|" +
         std::to_string(r.guest_ip) + "|" + std::to_string(r.guest_port);
}
}  // namespace

std::unique_ptr<Snapshot> compile_snapshot(const std::vector<PortPlan>& plans,
                                           const std::map<std::string, uint16_t>& port_ids,
                                           uint64_t version,
                                           const std::map<std::string, SegmentPlan>& segments,
                                           const GlobalPlan& globals, CompileState* state) {
  CompileState local;
  CompileState& st = state != nullptr ? *state : local;
  std::map<uint16_t, bool> old_nat_ids;
  for (const auto& [name, id] : st.segments)
    if (id.nat_id != 0) old_nat_ids[id.nat_id] = true;
  const std::map<std::string, uint32_t> old_forwards = st.forwards;
  const std::map<std::string, uint16_t> seg_index = assign_segments(plans, st);

  auto s = std::make_unique<Snapshot>();
  s->version = version;
  // Every index up to the highest has an entry; unused ones are empty segments with the
  // generation that retired their MACs.
  const size_t n_segments = st.generations.size();
  s->segments.resize(n_segments);
  s->segment_names.resize(n_segments);
  s->dhcp.resize(n_segments);
  s->nat.resize(n_segments);
  for (size_t i = 0; i < n_segments; ++i) s->segments[i].fdb_generation = st.generations[i];
  std::vector<bool> built(n_segments, false);
  std::map<std::string, uint32_t> forwards;
  for (const auto& p : plans) {
    auto id = port_ids.find(p.key);
    if (id == port_ids.end() || id->second >= kMaxPorts) continue;
    const uint16_t port = id->second;
    PortPolicy& pp = s->ports[port];
    pp.role = p.role;
    pp.promisc = p.promisc;
    pp.link_up = p.link_up;
    pp.max_frame = static_cast<uint16_t>(p.mtu + RTE_ETHER_HDR_LEN);
    if (p.model_capped) pp.features |= kFeatureModelCapped;
    if (p.dhcp_trusted) pp.features |= kFeatureDhcpTrusted;
    pp.mac = p.mac;
    s->mac_limit[port] = p.mac_limit;
    s->mac_limit_drop[port] = p.mac_limit_drop && p.mac_limit != 0;
    if (p.role == PortRole::kGuest) {
      PortGuard& g = s->guards[port];
      const PortSecurityConfig& ps = p.port_security;
      if (ps.enabled) g.flags |= kGuardMac;
      if (ps.enabled && (!ps.ipv4.empty() || ps.dhcp)) g.flags |= kGuardIpv4;
      if (ps.enabled && ps.dhcp) g.flags |= kGuardDhcp;
      for (uint32_t ip : ps.ipv4)
        if (g.n_ips < kMaxGuardIps) g.ips[g.n_ips++] = rte_cpu_to_be_32(ip);
      if (g.flags != 0 || !p.acl_ingress.empty()) pp.features |= kFeatureGuard;
    }
    s->port_names[port] = p.key;
    if (p.role == PortRole::kTunnel) {
      if (!is_tunnel_port(port)) continue;
      TunnelPort t = p.tunnel;
      auto up = port_ids.find(p.tunnel_uplink);
      t.uplink_port = up != port_ids.end() && up->second < kMaxEthPorts ? up->second : kNoPort;
      s->tunnels[port - kMaxEthPorts] = t;
      s->tunnel_ports.push_back(port);
      if (t.uplink_port != kNoPort) s->uplink_tunnels[t.uplink_port] = true;
    } else {
      s->rx_ports.push_back(port);
    }
    if (p.segment.empty()) continue;
    const uint16_t index = seg_index.at(p.segment);
    if (!built[index]) {
      built[index] = true;
      Segment& seg = s->segments[index];
      seg.ageing_s = p.ageing_s;
      s->segment_names[index] = p.segment;
      auto sp = segments.find(p.segment);
      std::optional<dhcp::Settings> dhcp;
      NatSegment nat;
      if (sp != segments.end()) {
        seg.service_mac = sp->second.service_mac;
        if (sp->second.dhcp) {
          seg.services |= kServiceDhcp;
          seg.service_ips[seg.n_service_ips++] = rte_cpu_to_be_32(sp->second.dhcp->server_ip);
          dhcp = sp->second.dhcp;
        }
        if (sp->second.nat) {
          auto up = port_ids.find(sp->second.uplink_key);
          auto gp = port_ids.find(sp->second.guest_key);
          const bool shared = sp->second.nat_info.shared;
          if (up != port_ids.end() && (shared || gp != port_ids.end())) {
            seg.kind = SegmentKind::kNat;
            seg.services |= kServiceGateway;
            nat = sp->second.nat_info;
            nat.uplink_port = up->second;
            nat.guest_port = shared ? kNoPort : gp->second;
            // The same router as before keeps its id, and with it its sessions.
            CompileState::SegmentId& sid = st.segments[p.segment];
            const std::string sig = nat_signature(nat);
            if (sid.nat_id == 0 || sid.nat_signature != sig) {
              sid.nat_id = fresh_nat_id(st);
              sid.nat_signature = sig;
            }
            nat.nat_id = sid.nat_id;
            seg.n_service_ips = 0;
            seg.service_ips[seg.n_service_ips++] = nat.gateway;
            if (nat.dns != nat.gateway) seg.service_ips[seg.n_service_ips++] = nat.dns;
            if (dhcp && rte_cpu_to_be_32(dhcp->server_ip) != nat.gateway)
              seg.service_ips[seg.n_service_ips++] = rte_cpu_to_be_32(dhcp->server_ip);
            for (const PortForward& pf : sp->second.port_forwards) {
              PortForwardRule r;
              r.proto = pf.proto == "tcp" ? IPPROTO_TCP : IPPROTO_UDP;
              r.uplink_port = up->second;
              r.segment = index;
              r.host_ip = pf.host_ip ? rte_cpu_to_be_32(*pf.host_ip) : 0;
              r.host_port = rte_cpu_to_be_16(pf.host_port);
              r.guest_ip = pf.guest_ip ? rte_cpu_to_be_32(*pf.guest_ip)
                                       : rte_cpu_to_be_32(rte_be_to_cpu_32(nat.network) | 15);
              r.guest_port = rte_cpu_to_be_16(pf.guest_port);
              const std::string fsig =
                  forward_signature(p.segment, r) + "|" + std::to_string(nat.nat_id);
              auto known = st.forwards.find(fsig);
              r.id = known != st.forwards.end() ? known->second : ++st.last_forward_id;
              if (r.id == 0) r.id = ++st.last_forward_id;  // wrapped past 2^32 rules
              forwards[fsig] = r.id;
              s->port_forwards.push_back(r);
            }
          }
        }
      }
      if (seg.kind != SegmentKind::kNat) st.segments[p.segment].nat_id = 0;
      s->dhcp[index] = dhcp;
      s->nat[index] = nat;
    }
    Segment& seg = s->segments[index];
    pp.segment = index;
    seg.vid = p.segment_vid;
    for (const rte_ether_addr& m : p.static_macs) s->static_macs.push_back({index, port, m});
    auto join = [&](Segment& sg) {
      sg.members[sg.n_members++] = port;
      if (p.role == PortRole::kGuest && p.promisc != Promiscuous::kDeny)
        sg.sniffers[sg.n_sniffers++] = port;
    };
    if (!p.vlan_untagged_drop) join(seg);
    if (!p.vlan_aware) continue;
    pp.features |= kFeatureVlan;
    pp.vlan = kVlanAware | (p.vlan_trunk ? kVlanTrunk : 0) |
              (p.vlan_untagged_drop ? kVlanDropUntagged : 0);
    if (p.vlan_tagged.empty()) continue;
    VlanMap map;
    map.fill(kNoPort);
    if (p.segment_vid != 0) map[p.segment_vid] = index;  // its native VLAN, tagged, too
    for (uint16_t vid : p.vlan_tagged) {
      if (vid == p.segment_vid) continue;
      const std::string name = vlan_segment_name(p.vlan_base, vid);
      const uint16_t vi = seg_index.at(name);
      Segment& vs = s->segments[vi];
      if (!built[vi]) {  // a VLAN no port has as its untagged one: nothing but switching
        built[vi] = true;
        vs.ageing_s = p.ageing_s;
        vs.vid = vid;
        s->segment_names[vi] = name;
        st.segments[name].nat_id = 0;
      }
      map[vid] = vi;
      join(vs);
    }
    s->vlan_maps.push_back(map);
    s->vlan_map[port] = static_cast<uint16_t>(s->vlan_maps.size());
  }
  // Sessions of a router or forward that is gone must not carry traffic: workers sweep.
  st.forwards = forwards;
  bool gone = false;
  for (const auto& [fsig, fid] : old_forwards) gone |= !forwards.count(fsig);
  std::map<uint16_t, bool> new_nat_ids;
  for (const auto& [name, id] : st.segments)
    if (id.nat_id != 0) new_nat_ids[id.nat_id] = true;
  for (const auto& [nid, unused] : old_nat_ids) gone |= !new_nat_ids.count(nid);
  if (gone) ++st.nat_epoch;
  s->nat_epoch = st.nat_epoch;
  std::sort(s->rx_ports.begin(), s->rx_ports.end());
  std::sort(s->tunnel_ports.begin(), s->tunnel_ports.end());
  s->nat_timeouts = globals.timeouts;
  s->nat_sessions = globals.nat_sessions;
  for (const auto& [key, un] : globals.uplinks) {
    auto id = port_ids.find(key);
    if (id != port_ids.end() && id->second < kMaxPorts) s->uplink_nat[id->second] = un;
  }
  return s;
}

}  // namespace gp
