// Control path: see diff.h.
#include "control/diff.h"

#include <map>
#include <sstream>

#include "control/compile.h"
#include "nic_models/nic_models.h"

namespace gp {

namespace {

std::string opt_ip(const std::optional<uint32_t>& a) { return a ? format_ipv4(*a) : "-"; }
std::string opt_cidr(const std::optional<Ipv4Cidr>& a) { return a ? a->to_string() : "-"; }
std::string opt_bool(const std::optional<bool>& b) { return b ? (*b ? "true" : "false") : "-"; }

std::string attach_of(const AdapterConfig& a) {
  std::string s(attach_mode_name(a.attach));
  if (!a.network.empty()) s += ":" + a.network;
  return s;
}

std::string ip_list(const std::vector<uint32_t>& v) {
  std::string s;
  for (uint32_t a : v) s += (s.empty() ? "" : ",") + format_ipv4(a);
  return s.empty() ? "-" : s;
}

std::string forward_text(const PortForward& f) {
  return f.proto + " " + opt_ip(f.host_ip) + ":" + std::to_string(f.host_port) + " -> " +
         opt_ip(f.guest_ip) + ":" + std::to_string(f.guest_port);
}

// Collects "field old -> new" for every field that differs.
class Fields {
 public:
  void add(const char* name, const std::string& a, const std::string& b) {
    if (a != b) parts_.push_back(std::string(name) + " " + a + " -> " + b);
  }
  template <typename T>
  void num(const char* name, T a, T b) {
    add(name, std::to_string(a), std::to_string(b));
  }
  bool empty() const { return parts_.empty(); }
  std::string text() const {
    std::string s;
    for (const auto& p : parts_) s += (s.empty() ? "" : ", ") + p;
    return s;
  }

 private:
  std::vector<std::string> parts_;
};

std::string acl_rules_text(const std::vector<AclRule>& rules) {
  return rules.empty() ? "-" : std::to_string(rules.size()) + " rule(s) " + acl_signature(rules);
}

std::string mac_list(const std::vector<rte_ether_addr>& macs) {
  std::string t;
  for (const auto& m : macs) t += (t.empty() ? "" : ",") + format_mac(m);
  return t.empty() ? "-" : t;
}

std::string port_security_text(const PortSecurityConfig& p) {
  if (!p.enabled) return "off";
  std::string t = "mac";
  for (uint32_t ip : p.ipv4) t += " " + format_ipv4(ip);
  return p.dhcp ? t + " dhcp" : t;
}

void fields_of(const UplinkConfig& a, const UplinkConfig& b, Fields& f) {
  f.add("device", a.device, b.device);
  f.add("address", opt_cidr(a.address), opt_cidr(b.address));
  f.add("gateway", opt_ip(a.gateway), opt_ip(b.gateway));
  f.add("dns", ip_list(a.dns), ip_list(b.dns));
  f.num("mtu", a.mtu, b.mtu);
  f.add("gateway_mac", a.gateway_mac ? format_mac(*a.gateway_mac) : "-",
        b.gateway_mac ? format_mac(*b.gateway_mac) : "-");
}

void fields_of(const NetworkConfig& a, const NetworkConfig& b, Fields& f) {
  f.add("mode", std::string(attach_mode_name(a.mode)), std::string(attach_mode_name(b.mode)));
  f.add("uplink", a.uplink, b.uplink);
  f.add("network", opt_cidr(a.network), opt_cidr(b.network));
  f.add("dhcp", opt_bool(a.dhcp.enabled), opt_bool(b.dhcp.enabled));
  f.add("dhcp.server", opt_ip(a.dhcp.server), opt_ip(b.dhcp.server));
  f.add("dhcp.lower", opt_ip(a.dhcp.lower), opt_ip(b.dhcp.lower));
  f.add("dhcp.upper", opt_ip(a.dhcp.upper), opt_ip(b.dhcp.upper));
  f.num("dhcp.lease_s", a.dhcp.lease_s, b.dhcp.lease_s);
  f.num("mac_ageing_s", a.mac_ageing_s, b.mac_ageing_s);
  f.num("mtu", a.mtu.value_or(0), b.mtu.value_or(0));
  auto host = [](const NetworkConfig& n) {
    return n.host_interface ? n.host_interface->name + " " + n.host_interface->address.to_string()
                            : std::string("-");
  };
  f.add("host_interface", host(a), host(b));
  f.add("endpoint_independent_filtering", opt_bool(a.endpoint_independent_filtering),
        opt_bool(b.endpoint_independent_filtering));
  f.add("driver", a.tunnel.driver, b.tunnel.driver);
  f.num("vni", a.tunnel.vni, b.tunnel.vni);
  f.add("remotes", ip_list(a.tunnel.remotes), ip_list(b.tunnel.remotes));
  f.num("udp_port", a.tunnel.udp_port, b.tunnel.udp_port);
  f.add("udp_checksum", a.tunnel.udp_checksum ? "true" : "false",
        b.tunnel.udp_checksum ? "true" : "false");
  f.num("sport", a.tunnel.sport, b.tunnel.sport);
  f.add("dest", opt_ip(a.tunnel.dest), opt_ip(b.tunnel.dest));
  f.num("dport", a.tunnel.dport, b.tunnel.dport);
}

void fields_of(const AdapterConfig& a, const AdapterConfig& b, Fields& f) {
  f.add("attach", attach_of(a), attach_of(b));
  f.add("model", std::string(nic_profile(a.model).name), std::string(nic_profile(b.model).name));
  f.add("mac", format_mac(a.mac), format_mac(b.mac));
  f.add("promiscuous", promiscuous_name(a.promiscuous), promiscuous_name(b.promiscuous));
  f.num("mtu", a.mtu, b.mtu);
  f.add("cable_connected", a.cable_connected ? "true" : "false",
        b.cable_connected ? "true" : "false");
  f.add("port", a.port, b.port);
  f.add("uplink", a.uplink, b.uplink);
  f.add("endpoint_independent_filtering", opt_bool(a.endpoint_independent_filtering),
        opt_bool(b.endpoint_independent_filtering));
  f.add("acl.ingress", acl_rules_text(a.acl_ingress), acl_rules_text(b.acl_ingress));
  f.add("acl.egress", acl_rules_text(a.acl_egress), acl_rules_text(b.acl_egress));
  f.add("port_security", port_security_text(a.port_security), port_security_text(b.port_security));
  f.add("bandwidth_group", a.bandwidth_group, b.bandwidth_group);
  f.add("vlan", a.vlan.to_string(), b.vlan.to_string());
  f.add("static_macs", mac_list(a.static_macs), mac_list(b.static_macs));
  f.num("mac_limit", a.mac_limit, b.mac_limit);
  f.add("dhcp_trusted", a.dhcp_trusted ? "true" : "false", b.dhcp_trusted ? "true" : "false");
  auto vhost = [](const VhostConfig& v) {
    if (!v.given) return std::string();
    std::string s = v.client ? "client" : "server";
    if (!v.owner.empty() || !v.group.empty()) s += " " + v.owner + ":" + v.group;
    if (v.permissions)
      s += " " + std::to_string(*v.permissions / 64) + std::to_string(*v.permissions / 8 % 8) +
           std::to_string(*v.permissions % 8);
    return s;
  };
  f.add("vhost", vhost(a.vhost), vhost(b.vhost));
  f.add("mac_limit_action", a.mac_limit_drop ? "drop" : "flood",
        b.mac_limit_drop ? "drop" : "flood");
}

void fields_of(const BandwidthGroup& a, const BandwidthGroup& b, Fields& f) {
  f.num("bits_per_s", a.bits_per_s, b.bits_per_s);
}

void fields_of(const ApplianceConfig& a, const ApplianceConfig& b, Fields& f) {
  f.num("nat.per_vm_sessions", a.nat.per_vm_sessions, b.nat.per_vm_sessions);
  f.add("nat.endpoint_independent_filtering",
        a.nat.endpoint_independent_filtering ? "true" : "false",
        b.nat.endpoint_independent_filtering ? "true" : "false");
  f.num("nat.udp_timeout_s", a.nat.udp_timeout_s, b.nat.udp_timeout_s);
  f.num("nat.tcp_established_timeout_s", a.nat.tcp_established_timeout_s,
        b.nat.tcp_established_timeout_s);
  f.num("nat.tcp_transitory_timeout_s", a.nat.tcp_transitory_timeout_s,
        b.nat.tcp_transitory_timeout_s);
  f.num("nat.icmp_timeout_s", a.nat.icmp_timeout_s, b.nat.icmp_timeout_s);
}

// Adds, removes and modifications of one kind of named item.
template <typename Item, typename Name, typename Summary>
void diff_named(const std::vector<Item>& old_items, const std::vector<Item>& new_items,
                const std::string& kind, Name name, Summary summary,
                std::vector<ConfigChange>& out) {
  std::map<std::string, const Item*> before, after;
  for (const Item& i : old_items) before[name(i)] = &i;
  for (const Item& i : new_items) after[name(i)] = &i;
  for (const auto& [n, item] : before)
    if (!after.count(n)) out.push_back({ConfigChange::Kind::kRemoved, kind + " " + n, ""});
  for (const auto& [n, item] : after) {
    auto b = before.find(n);
    if (b == before.end()) {
      out.push_back({ConfigChange::Kind::kAdded, kind + " " + n, summary(*item)});
      continue;
    }
    Fields f;
    fields_of(*b->second, *item, f);
    if (!f.empty()) out.push_back({ConfigChange::Kind::kModified, kind + " " + n, f.text()});
  }
}

void diff_forwards(const std::string& owner, const std::vector<PortForward>& a,
                   const std::vector<PortForward>& b, std::vector<ConfigChange>& out) {
  std::map<std::string, const PortForward*> before, after;
  for (const auto& f : a) before[f.name] = &f;
  for (const auto& f : b) after[f.name] = &f;
  const std::string kind = "port_forward " + owner + "/";
  for (const auto& [n, f] : before)
    if (!after.count(n)) out.push_back({ConfigChange::Kind::kRemoved, kind + n, forward_text(*f)});
  for (const auto& [n, f] : after) {
    auto old = before.find(n);
    if (old == before.end())
      out.push_back({ConfigChange::Kind::kAdded, kind + n, forward_text(*f)});
    else if (forward_text(*old->second) != forward_text(*f))
      out.push_back({ConfigChange::Kind::kModified, kind + n,
                     forward_text(*old->second) + " -> " + forward_text(*f)});
  }
}

struct NamedAdapter {
  std::string name;  // VM/slot
  const AdapterConfig* a;
};
void fields_of(const NamedAdapter& a, const NamedAdapter& b, Fields& f) {
  fields_of(*a.a, *b.a, f);
}

std::vector<NamedAdapter> adapters_of(const Config& c) {
  std::vector<NamedAdapter> out;
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters)
      out.push_back({vm.name + "/" + std::to_string(slot), &ad});
  return out;
}

// A VM is "modified" only through its adapters, which are listed on their own.
void fields_of(const VmConfig&, const VmConfig&, Fields&) {}

}  // namespace

std::string ConfigChange::to_string() const {
  const char* k = kind == Kind::kAdded ? "added" : kind == Kind::kRemoved ? "removed" : "modified";
  return std::string(k) + " " + what + (detail.empty() ? "" : ": " + detail);
}

std::vector<ConfigChange> diff_configs(const Config* old, const Config& next) {
  static const Config kEmpty;
  const Config& a = old != nullptr ? *old : kEmpty;
  std::vector<ConfigChange> out;
  if (old != nullptr) {
    Fields f;
    fields_of(a.appliance, next.appliance, f);
    if (!f.empty()) out.push_back({ConfigChange::Kind::kModified, "appliance", f.text()});
  }
  diff_named(
      a.uplinks, next.uplinks, "uplink", [](const UplinkConfig& u) { return u.name; },
      [](const UplinkConfig& u) { return u.device; }, out);
  diff_named(
      a.networks, next.networks, "network", [](const NetworkConfig& n) { return n.name; },
      [](const NetworkConfig& n) { return std::string(attach_mode_name(n.mode)); }, out);
  diff_named(
      a.bandwidth_groups, next.bandwidth_groups, "bandwidth_group",
      [](const BandwidthGroup& g) { return g.name; },
      [](const BandwidthGroup& g) { return std::to_string(g.bits_per_s) + " bit/s"; }, out);
  diff_named(
      a.vms, next.vms, "vm", [](const VmConfig& v) { return v.name; },
      [](const VmConfig& v) { return std::to_string(v.adapters.size()) + " adapter(s)"; }, out);
  diff_named(
      adapters_of(a), adapters_of(next), "adapter", [](const NamedAdapter& n) { return n.name; },
      [](const NamedAdapter& n) { return attach_of(*n.a) + " " + n.a->port; }, out);
  std::map<std::string, const std::vector<PortForward>*> fa, fb;
  for (const auto& n : a.networks) fa[n.name] = &n.port_forwards;
  for (const auto& n : next.networks) fb[n.name] = &n.port_forwards;
  for (const auto& [name, ad] : adapters_of(a)) fa[name] = &ad->port_forwards;
  for (const auto& [name, ad] : adapters_of(next)) fb[name] = &ad->port_forwards;
  static const std::vector<PortForward> kNone;
  std::map<std::string, bool> owners;
  for (const auto& [n, v] : fa) owners[n] = true;
  for (const auto& [n, v] : fb) owners[n] = true;
  for (const auto& [n, unused] : owners)
    diff_forwards(n, fa.count(n) ? *fa[n] : kNone, fb.count(n) ? *fb[n] : kNone, out);
  return out;
}

std::vector<Diagnostic> restart_only_changes(const Config& old, const Config& next) {
  std::vector<Diagnostic> out;
  const ApplianceConfig &a = old.appliance, &b = next.appliance;
  auto check = [&](bool differs, const std::string& field, const std::string& was) {
    if (differs)
      out.push_back({next.file, b.loc,
                     "appliance." + field + " cannot change while guestportd runs (running: " +
                         was + "); restart the daemon to change it"});
  };
  check(a.workers != b.workers, "workers", std::to_string(a.workers));
  check(a.worker_cpus != b.worker_cpus, "worker_cpus",
        std::to_string(a.worker_cpus.size()) + " cpus");
  check(a.control_socket != b.control_socket, "control_socket", a.control_socket);
  check(a.hugepages != b.hugepages, "hugepages", a.hugepages);
  check(a.memory_mb != b.memory_mb, "memory_mb", std::to_string(a.memory_mb));
  check(a.file_prefix != b.file_prefix, "file_prefix", a.file_prefix);
  check(a.mac_table_size != b.mac_table_size, "mac_table_size", std::to_string(a.mac_table_size));
  check(a.mbufs != b.mbufs, "mbufs", a.mbufs == 0 ? "auto" : std::to_string(a.mbufs));
  check(a.nat.sessions != b.nat.sessions, "nat.sessions", std::to_string(a.nat.sessions));
  check(a.metrics != b.metrics, "metrics", a.metrics.empty() ? "off" : a.metrics);
  return out;
}

}  // namespace gp
