// Control path: see config_loader.h. Uses yaml-cpp's node marks for locations.
#include "control/config_loader.h"

#include <grp.h>
#include <pwd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "control/loader.h"
#include "control/validate.h"

namespace gp {

namespace detail {

void Loader::appliance(const YAML::Node& n, ApplianceConfig& a) {
  a.loc = loc_of(n);
  if (!is_map(n, "appliance")) return;
  for (auto& [k, v] : entries(n, "appliance",
                              {"workers", "worker_cpus", "control_socket", "hugepages", "memory_mb",
                               "file_prefix", "mac_table_size", "metrics", "nat", "mbufs"})) {
    if (k == "workers") {
      if (auto x = uint(v, "appliance.workers", 1, kMaxWorkers)) a.workers = unsigned(*x);
    } else if (k == "worker_cpus") {
      if (!v.IsSequence()) {
        error(v, "appliance.worker_cpus must be a list of CPU numbers");
        continue;
      }
      for (const auto& c : v)
        if (auto x = uint(c, "a CPU number", 0, 4095)) a.worker_cpus.push_back(unsigned(*x));
    } else if (k == "control_socket") {
      if (auto s = str(v, "appliance.control_socket")) {
        if (s->empty() || (*s)[0] != '/')
          error(v, "appliance.control_socket must be an absolute path");
        else
          a.control_socket = *s;
      }
    } else if (k == "hugepages") {
      std::string s = v.IsScalar() ? v.Scalar() : "";
      bool b = false;
      if (s == "auto")
        a.hugepages = "auto";
      else if (v.IsScalar() && YAML::convert<bool>::decode(v, b))
        a.hugepages = b ? "on" : "off";
      else
        error(v, "appliance.hugepages must be auto, true or false");
    } else if (k == "memory_mb") {
      if (auto x = uint(v, "appliance.memory_mb", 64, 1u << 20)) a.memory_mb = unsigned(*x);
    } else if (k == "file_prefix") {
      if (auto s = str(v, "appliance.file_prefix")) {
        bool ok = !s->empty() && s->find('/') == std::string::npos;
        if (ok)
          a.file_prefix = *s;
        else
          error(v, "appliance.file_prefix must be a non-empty name without '/'");
      }
    } else if (k == "mbufs") {
      a.mbufs_loc = loc_of(v);
      if (auto x = uint(v, "appliance.mbufs", 4096, 1u << 26)) a.mbufs = uint32_t(*x);
    } else if (k == "mac_table_size") {
      if (auto x = uint(v, "appliance.mac_table_size", 64, 1u << 24)) a.mac_table_size = *x;
    } else if (k == "metrics") {
      bool b = true;
      const std::string s = v.IsScalar() ? v.Scalar() : "";
      const auto colon = s.rfind(':');
      const std::string port = colon == std::string::npos ? "" : s.substr(colon + 1);
      const bool port_ok = !port.empty() && port.size() <= 5 &&
                           port.find_first_not_of("0123456789") == std::string::npos &&
                           std::stoul(port) >= 1 && std::stoul(port) <= 65535;
      if (v.IsScalar() && YAML::convert<bool>::decode(v, b) && !b)
        a.metrics = "off";
      else if (port_ok && parse_ipv4(s.substr(0, colon)))
        a.metrics = s;
      else
        error(v,
              "appliance.metrics must be ADDRESS:PORT (an IPv4 address) or off, got '" + s + "'");
    } else if (k == "nat") {
      nat(v, a.nat);
    }
  }
}

void Loader::nat(const YAML::Node& n, NatConfig& c) {
  c.loc = loc_of(n);
  if (!is_map(n, "appliance.nat")) return;
  for (auto& [k, v] :
       entries(n, "appliance.nat", {"sessions", "per_vm_sessions", "filtering", "timeouts"})) {
    if (k == "sessions") {
      if (auto x = uint(v, "nat.sessions", 1024, 1u << 24)) c.sessions = uint32_t(*x);
    } else if (k == "per_vm_sessions") {
      if (auto x = uint(v, "nat.per_vm_sessions", 0, 1u << 24)) c.per_vm_sessions = uint32_t(*x);
    } else if (k == "filtering") {
      if (auto f = filtering(v, "nat.filtering")) c.endpoint_independent_filtering = *f;
    } else if (k == "timeouts") {
      if (!is_map(v, "nat.timeouts")) continue;
      for (auto& [tk, tv] :
           entries(v, "nat.timeouts", {"udp", "tcp_established", "tcp_transitory", "icmp"})) {
        auto x = uint(tv, "nat.timeouts." + tk + " (seconds)", 1, 1u << 24);
        if (!x) continue;
        if (tk == "udp") c.udp_timeout_s = uint32_t(*x);
        if (tk == "tcp_established") c.tcp_established_timeout_s = uint32_t(*x);
        if (tk == "tcp_transitory") c.tcp_transitory_timeout_s = uint32_t(*x);
        if (tk == "icmp") c.icmp_timeout_s = uint32_t(*x);
      }
    }
  }
}

void Loader::uplink(const std::string& name, const YAML::Node& n, UplinkConfig& u) {
  u.name = name;
  u.loc = loc_of(n);
  if (!is_map(n, "uplink '" + name + "'")) return;
  bool has_device = false;
  for (auto& [k, v] : entries(n, "uplink '" + name + "'",
                              {"device", "address", "gateway", "gateway_mac", "dns", "mtu"})) {
    if (k == "device") {
      if (auto s = str(v, "device")) {
        u.device = *s;
        u.device_loc = loc_of(v);
        has_device = true;
      }
    } else if (k == "address") {
      u.address = cidr(v, "address");
    } else if (k == "gateway") {
      u.gateway = ipv4(v, "gateway");
    } else if (k == "gateway_mac") {
      u.gateway_mac = unicast_mac(v, "gateway_mac");
      u.gateway_mac_loc = loc_of(v);
    } else if (k == "dns") {
      if (!v.IsSequence()) {
        error(v, "dns must be a list of IPv4 addresses");
        continue;
      }
      for (const auto& d : v)
        if (auto a = ipv4(d, "a dns server")) u.dns.push_back(*a);
      if (u.dns.size() > 3) error(v, "dns takes at most 3 upstream resolvers");
    } else if (k == "mtu") {
      if (auto x = uint(v, "mtu", 68, 9000)) u.mtu = uint16_t(*x);
    }
  }
  if (!has_device) error(n, "uplink '" + name + "' needs a device (DPDK devargs)");
}

std::optional<bool> Loader::filtering(const YAML::Node& v, const std::string& what) {
  auto s = str(v, what);
  if (s && *s == "endpoint-independent") return true;
  if (s && *s == "address-dependent") return false;
  if (s) error(v, what + " must be address-dependent or endpoint-independent, got '" + *s + "'");
  return std::nullopt;
}

void Loader::port_forwards(const YAML::Node& n, std::vector<PortForward>& out) {
  if (!n.IsSequence()) {
    error(n, "port_forwards must be a list");
    return;
  }
  for (const auto& r : n) {
    PortForward pf;
    pf.loc = loc_of(r);
    if (!is_map(r, "a port forward")) continue;
    bool have_hp = false, have_gp = false, have_proto = false;
    for (auto& [k, v] :
         entries(r, "port forward",
                 {"name", "proto", "host_ip", "host_port", "guest_ip", "guest_port"})) {
      if (k == "name") {
        if (auto s = str(v, "name")) pf.name = *s;
      } else if (k == "proto") {
        have_proto = true;
        auto s = str(v, "proto");
        if (s && (*s == "tcp" || *s == "udp"))
          pf.proto = *s;
        else if (s)
          error(v, "proto must be tcp or udp");
      } else if (k == "host_ip") {
        pf.host_ip = ipv4(v, "host_ip");
      } else if (k == "host_port") {
        if (auto x = uint(v, "host_port", 1, 65535)) pf.host_port = uint16_t(*x), have_hp = true;
      } else if (k == "guest_ip") {
        pf.guest_ip = ipv4(v, "guest_ip");
      } else if (k == "guest_port") {
        if (auto x = uint(v, "guest_port", 1, 65535)) pf.guest_port = uint16_t(*x), have_gp = true;
      }
    }
    if (!have_proto) error(r, "a port forward needs proto (tcp or udp)");
    if (!have_hp || !have_gp) error(r, "a port forward needs host_port and guest_port");
    out.push_back(pf);
  }
}

std::optional<AttachMode> mode_from_name(const std::string& s) {
  static const std::map<std::string, AttachMode> m = {{"none", AttachMode::kNone},
                                                      {"nat", AttachMode::kNat},
                                                      {"natnetwork", AttachMode::kNatNetwork},
                                                      {"bridged", AttachMode::kBridged},
                                                      {"internal", AttachMode::kInternal},
                                                      {"intnet", AttachMode::kInternal},
                                                      {"hostonly", AttachMode::kHostOnly},
                                                      {"generic", AttachMode::kGeneric}};
  auto it = m.find(s);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

void Loader::network(const std::string& name, const YAML::Node& n, NetworkConfig& c) {
  c.name = name;
  c.loc = loc_of(n);
  const std::string where = "network '" + name + "'";
  if (!is_map(n, where)) return;
  bool has_mode = false;
  for (auto& [k, v] : entries(n, where,
                              {"mode", "uplink", "network", "dhcp", "mac_ageing", "host_interface",
                               "port_forwards", "filtering", "mtu", "driver", "vni", "remotes",
                               "udp_port", "udp_checksum", "sport", "dest", "dport"})) {
    if (tunnel_key(k, v, c.tunnel)) continue;
    if (k == "mtu") {
      if (auto x = uint(v, "mtu", 68, 9000)) c.mtu = uint16_t(*x), c.mtu_loc = loc_of(v);
    } else if (k == "mode") {
      auto s = str(v, "mode");
      auto m = s ? mode_from_name(*s) : std::nullopt;
      if (m && *m != AttachMode::kNone && *m != AttachMode::kNat) {
        c.mode = *m;
        has_mode = true;
      } else if (s) {
        error(v, "mode must be one of natnetwork, bridged, internal, hostonly, generic, got '" +
                     *s + "'");
      }
    } else if (k == "uplink") {
      if (auto s = str(v, "uplink")) c.uplink = *s, c.uplink_loc = loc_of(v);
    } else if (k == "network") {
      c.network = cidr(v, "network");
    } else if (k == "dhcp") {
      c.dhcp.loc = loc_of(v);
      if (v.IsMap()) {
        c.dhcp.enabled = true;
        for (auto& [dk, dv] :
             entries(v, "dhcp", {"enabled", "server", "lower", "upper", "lease_time"})) {
          if (dk == "enabled") c.dhcp.enabled = boolean(dv, "dhcp.enabled");
          if (dk == "server") c.dhcp.server = ipv4(dv, "dhcp.server");
          if (dk == "lower") c.dhcp.lower = ipv4(dv, "dhcp.lower");
          if (dk == "upper") c.dhcp.upper = ipv4(dv, "dhcp.upper");
          if (dk == "lease_time")
            if (auto x = uint(dv, "dhcp.lease_time (seconds)", 60, 1u << 30))
              c.dhcp.lease_s = uint32_t(*x);
        }
      } else {
        c.dhcp.enabled = boolean(v, "dhcp (true, false, or {server, lower, upper, lease_time})");
      }
    } else if (k == "mac_ageing") {
      if (auto x = uint(v, "mac_ageing (seconds)", 1, 1000000)) c.mac_ageing_s = unsigned(*x);
    } else if (k == "host_interface") {
      HostInterface h;
      h.loc = loc_of(v);
      if (is_map(v, "host_interface")) {
        for (auto& [hk, hv] : entries(v, "host_interface", {"name", "address"})) {
          if (hk == "name") {
            auto s = str(hv, "host_interface.name");
            if (s && !s->empty() && s->size() < 16)
              h.name = *s;
            else if (s)
              error(hv, "host_interface.name must be an interface name of 1 to 15 characters");
          } else if (hk == "address") {
            if (auto a = cidr(hv, "host_interface.address")) h.address = *a;
          }
        }
      }
      c.host_interface = h;
    } else if (k == "port_forwards") {
      port_forwards(v, c.port_forwards);
    } else if (k == "filtering") {
      c.endpoint_independent_filtering = filtering(v, "filtering");
      c.filtering_loc = loc_of(v);
    }
  }
  if (!has_mode)
    error(n, where + " needs a mode (natnetwork, bridged, internal, hostonly, generic)");
}

bool Loader::tunnel_key(const std::string& k, const YAML::Node& v, TunnelConfig& t) {
  if (k == "driver") {
    t.driver_loc = loc_of(v);
    auto s = str(v, "driver");
    if (s && (*s == "vxlan" || *s == "udp"))
      t.driver = *s;
    else if (s)
      error(v, "driver must be vxlan or udp, got '" + *s + "'");
  } else if (k == "vni") {
    t.vni_loc = loc_of(v);
    if (auto x = uint(v, "vni", 1, 16777215)) t.vni = uint32_t(*x);
  } else if (k == "remotes") {
    t.remotes_loc = loc_of(v);
    if (!v.IsSequence()) {
      error(v, "remotes must be a list of IPv4 addresses, like [198.51.100.1]");
      return true;
    }
    for (const auto& r : v)
      if (auto a = ipv4(r, "a remote")) t.remotes.push_back(*a), t.remote_locs.push_back(loc_of(r));
  } else if (k == "udp_port") {
    t.udp_port_loc = loc_of(v);
    if (auto x = uint(v, "udp_port", 1, 65535)) t.udp_port = uint16_t(*x);
  } else if (k == "udp_checksum") {
    if (auto b = boolean(v, "udp_checksum")) t.udp_checksum = *b;
  } else if (k == "sport") {
    t.sport_loc = loc_of(v);
    if (auto x = uint(v, "sport", 1, 65535)) t.sport = uint16_t(*x);
  } else if (k == "dport") {
    if (auto x = uint(v, "dport", 1, 65535)) t.dport = uint16_t(*x);
  } else if (k == "dest") {
    t.dest_loc = loc_of(v);
    t.dest = ipv4(v, "dest");
  } else {
    return false;
  }
  return true;
}

void Loader::attach(const YAML::Node& v, AdapterConfig& a) {
  a.attach_loc = loc_of(v);
  auto s = str(v, "attach");
  if (!s) return;
  auto colon = s->find(':');
  std::string mode = s->substr(0, colon);
  std::string net = colon == std::string::npos ? "" : s->substr(colon + 1);
  auto m = mode_from_name(mode);
  const char* expected =
      "attach must be none, nat, natnetwork:NAME, bridged:NAME, internal:NAME, hostonly:NAME or "
      "generic:NAME";
  if (!m) {
    error(v, std::string(expected) + ", got '" + *s + "'");
    return;
  }
  bool named = *m != AttachMode::kNone && *m != AttachMode::kNat;
  if (named && net.empty()) {
    error(v, "attach: " + mode + " needs a network name, as in " + mode + ":NAME");
    return;
  }
  if (!named && colon != std::string::npos) {
    error(v, "attach: " + mode + " takes no network name");
    return;
  }
  a.attach = *m;
  a.network = net;
}

void Loader::vhost(const YAML::Node& n, VhostConfig& v) {
  v.loc = loc_of(n);
  v.given = true;
  if (!is_map(n, "vhost")) return;
  for (auto& [k, val] : entries(n, "vhost", {"mode", "owner", "group", "permissions"})) {
    if (k == "mode") {
      auto s = str(val, "vhost.mode");
      if (s && (*s == "server" || *s == "client"))
        v.client = *s == "client";
      else if (s)
        error(val, "vhost.mode must be server or client, got '" + *s + "'");
    } else if (k == "owner") {
      auto s = str(val, "vhost.owner (a user name)");
      if (!s) continue;
      v.owner = *s;
      if (const passwd* pw = getpwnam(s->c_str()))
        v.uid = pw->pw_uid;
      else
        error(val, "vhost.owner: no user named '" + *s + "' on this host");
    } else if (k == "group") {
      auto s = str(val, "vhost.group (a group name)");
      if (!s) continue;
      v.group = *s;
      if (const group* gr = getgrnam(s->c_str()))
        v.gid = gr->gr_gid;
      else
        error(val, "vhost.group: no group named '" + *s + "' on this host");
    } else {
      auto s = str(val, "vhost.permissions (octal, as '0660')");
      if (!s) continue;
      char* end = nullptr;
      const unsigned long m = std::strtoul(s->c_str(), &end, 8);
      if (s->empty() || *end != '\0' || m > 0777)
        error(val,
              "vhost.permissions must be octal file permissions such as '0660', got '" + *s + "'");
      else
        v.permissions = static_cast<uint32_t>(m);
    }
  }
}

void Loader::adapter(const std::string& vm, const YAML::Node& key, const YAML::Node& n,
                     VmConfig& v) {
  auto slot = uint(key, "adapter slot", 1, kMaxAdapters);
  if (!slot) return;
  AdapterConfig a;
  a.slot = unsigned(*slot);
  a.loc = loc_of(n);
  const std::string where = "vm '" + vm + "' adapter " + std::to_string(a.slot);
  if (!is_map(n, where)) return;
  bool has_attach = false;
  for (auto& [k, val] :
       entries(n, where,
               {"attach", "model", "mac", "promiscuous", "mtu", "cable_connected", "port", "uplink",
                "port_forwards", "filtering", "acl", "port_security", "bandwidth_group",
                "mac_limit", "mac_limit_action", "vlan", "static_macs", "dhcp_trusted", "vhost"})) {
    if (k == "vhost") {
      vhost(val, a.vhost);
    } else if (k == "dhcp_trusted") {
      if (auto b = boolean(val, "dhcp_trusted")) a.dhcp_trusted = *b;
    } else if (k == "static_macs") {
      a.static_macs_loc = loc_of(val);
      if (!val.IsSequence()) {
        error(val, "static_macs must be a list of MAC addresses");
        continue;
      }
      for (const auto& e : val)
        if (auto m = unicast_mac(e, "a static_macs entry")) a.static_macs.push_back(*m);
      if (a.static_macs.size() > 16384) error(val, "static_macs takes at most 16384 addresses");
    } else if (k == "vlan") {
      vlan(val, a.vlan);
    } else if (k == "mac_limit_action") {
      auto s = str(val, "mac_limit_action");
      if (s && (*s == "flood" || *s == "drop"))
        a.mac_limit_drop = *s == "drop";
      else if (s)
        error(val, "mac_limit_action must be flood or drop, got '" + *s + "'");
    } else if (k == "mac_limit") {
      if (auto x = uint(val, "mac_limit (0: no limit)", 0, 1u << 24)) a.mac_limit = uint32_t(*x);
    } else if (k == "acl") {
      acl(val, a);
    } else if (k == "port_security") {
      port_security(val, a);
    } else if (k == "bandwidth_group") {
      if (auto s = str(val, "bandwidth_group")) a.bandwidth_group = *s, a.bw_loc = loc_of(val);
    } else if (k == "attach") {
      attach(val, a);
      has_attach = true;
    } else if (k == "model") {
      auto s = str(val, "model");
      auto m = s ? nic_model_from_name(*s) : std::nullopt;
      if (m) {
        a.model = *m;
      } else if (s) {
        std::string list;
        for (auto nm : nic_model_names()) list += (list.empty() ? "" : ", ") + std::string(nm);
        error(val, "unknown NIC model '" + *s + "' (expected one of: " + list + ")");
      }
    } else if (k == "mac") {
      auto s = str(val, "mac");
      auto mac = s ? parse_mac(*s) : std::nullopt;
      if (mac && !rte_is_multicast_ether_addr(&*mac) && !rte_is_zero_ether_addr(&*mac)) {
        a.mac = *mac;
        a.mac_given = true;
        a.mac_loc = loc_of(val);
      } else if (s) {
        error(val, "mac must be a unicast MAC address like 08:00:27:00:00:01, got '" + *s + "'");
      }
    } else if (k == "promiscuous") {
      auto s = str(val, "promiscuous");
      if (s && *s == "deny")
        a.promiscuous = Promiscuous::kDeny;
      else if (s && *s == "allow-vms")
        a.promiscuous = Promiscuous::kAllowVms;
      else if (s && *s == "allow-all")
        a.promiscuous = Promiscuous::kAllowAll;
      else if (s)
        error(val, "promiscuous must be deny, allow-vms or allow-all, got '" + *s + "'");
    } else if (k == "mtu") {
      if (auto x = uint(val, "mtu", 68, 9000)) a.mtu = uint16_t(*x), a.mtu_loc = loc_of(val);
    } else if (k == "cable_connected") {
      if (auto b = boolean(val, "cable_connected")) a.cable_connected = *b;
    } else if (k == "port") {
      if (auto s = str(val, "port")) a.port = *s, a.port_loc = loc_of(val);
    } else if (k == "uplink") {
      if (auto s = str(val, "uplink")) a.uplink = *s, a.uplink_loc = loc_of(val);
    } else if (k == "port_forwards") {
      port_forwards(val, a.port_forwards);
    } else if (k == "filtering") {
      a.endpoint_independent_filtering = filtering(val, "filtering");
      a.filtering_loc = loc_of(val);
    }
  }
  if (!has_attach) error(n, where + " needs attach (none, nat, internal:NAME, ...)");
  if (a.attach != AttachMode::kNone && a.port.empty())
    error(n, where + " needs a port (DPDK devargs of the guest's port)");
  v.adapters[a.slot] = a;
}

void Loader::vm(const std::string& name, const YAML::Node& n, VmConfig& v) {
  v.name = name;
  v.loc = loc_of(n);
  const std::string where = "vm '" + name + "'";
  if (!is_map(n, where)) return;
  for (auto& [k, val] : entries(n, where, {"adapters"})) {
    if (!is_map(val, where + " adapters")) continue;
    std::set<std::string> seen;
    for (auto it = val.begin(); it != val.end(); ++it) {
      std::string slot = it->first.IsScalar() ? it->first.Scalar() : "";
      if (!seen.insert(slot).second) {
        error(it->first, "duplicate adapter slot " + slot + " in " + where);
        continue;
      }
      adapter(name, it->first, it->second, v);
    }
  }
}

template <typename T, typename Fn>
void named_section(Loader& L, const YAML::Node& n, const std::string& section, std::vector<T>& out,
                   Fn fn) {
  if (!L.is_map(n, section)) return;
  for (auto& [name, val] : L.entries(n, section, {})) {
    if (name.empty()) {
      L.error(val, "names in " + section + " must not be empty");
      continue;
    }
    T item;
    fn(name, val, item);
    out.push_back(std::move(item));
  }
}

}  // namespace detail

using detail::Loader;

LoadResult parse_config(const std::string& text, const std::string& file) {
  LoadResult r;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    r.errors.push_back({file, {e.mark.line + 1, e.mark.column + 1}, "YAML syntax: " + e.msg});
    return r;
  }
  Config c;
  c.file = file;
  Loader L(file, r.errors);
  if (!root.IsMap()) {
    L.error(SourceLoc{1, 1},
            "the configuration must be a mapping with appliance, uplinks, "
            "networks and vms");
    return r;
  }
  for (auto& [k, v] : L.entries(root, "the top level",
                                {"appliance", "uplinks", "networks", "vms", "bandwidth_groups"})) {
    if (k == "bandwidth_groups") {
      L.bandwidth_groups(v, c.bandwidth_groups);
    } else if (k == "appliance") {
      L.appliance(v, c.appliance);
    } else if (k == "uplinks") {
      named_section(
          L, v, "uplinks", c.uplinks,
          [&](const std::string& nm, const YAML::Node& n, UplinkConfig& u) { L.uplink(nm, n, u); });
    } else if (k == "networks") {
      named_section(L, v, "networks", c.networks,
                    [&](const std::string& nm, const YAML::Node& n, NetworkConfig& x) {
                      L.network(nm, n, x);
                    });
    } else if (k == "vms") {
      named_section(
          L, v, "vms", c.vms,
          [&](const std::string& nm, const YAML::Node& n, VmConfig& x) { L.vm(nm, n, x); });
    }
  }
  r.config = std::move(c);
  return r;
}

LoadResult load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    LoadResult r;
    r.errors.push_back({path, {0, 0}, "cannot read the configuration file"});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_config_text(ss.str(), path);
}

LoadResult load_config_text(const std::string& text, const std::string& file) {
  LoadResult r = parse_config(text, file);
  if (r.errors.empty() && r.config) validate_config(*r.config, r.errors);
  if (r.errors.empty() && r.config) nic_model_warnings(*r.config, r.warnings);
  return r;
}

}  // namespace gp
