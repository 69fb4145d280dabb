// Control path: the parts of an adapter that filter, shape and segment what it carries
// (ACLs, port security, VLANs) and the appliance's bandwidth groups. See config.h for the model.
#include <netinet/in.h>

#include <cctype>

#include "control/loader.h"

namespace gp::detail {

std::optional<std::pair<uint16_t, uint16_t>> Loader::port_range(const YAML::Node& n,
                                                                const std::string& what,
                                                                const std::string& form) {
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  const size_t dash = s.find('-');
  auto num = [](const std::string& t) -> std::optional<uint32_t> {
    if (t.empty() || t.size() > 5) return std::nullopt;
    for (char ch : t)
      if (!std::isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
    const uint32_t v = static_cast<uint32_t>(std::stoul(t));
    return v <= 65535 ? std::optional<uint32_t>(v) : std::nullopt;
  };
  auto lo = num(dash == std::string::npos ? s : s.substr(0, dash));
  auto hi = dash == std::string::npos ? lo : num(s.substr(dash + 1));
  if (!lo || !hi || *lo > *hi) {
    error(n, what + " must be " + form + (s.empty() ? std::string() : ", got '" + s + "'"));
    return std::nullopt;
  }
  return std::pair<uint16_t, uint16_t>{static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
}

void Loader::acl_rules(const YAML::Node& n, const std::string& where, std::vector<AclRule>& out) {
  if (!n.IsSequence()) {
    error(n, where + " must be a list of rules ({action: allow|deny, proto, src, dst, ...})");
    return;
  }
  for (const auto& r : n) {
    AclRule rule;
    rule.loc = loc_of(r);
    if (!is_map(r, "an ACL rule")) continue;
    bool have_action = false, have_ports = false;
    SourceLoc ports_at;
    for (auto& [k, v] : entries(
             r, "ACL rule", {"name", "action", "proto", "src", "dst", "src_port", "dst_port"})) {
      if (k == "name") {
        if (auto s = str(v, "name")) rule.name = *s;
      } else if (k == "action") {
        have_action = true;
        auto s = str(v, "action");
        if (s && (*s == "allow" || *s == "deny"))
          rule.allow = *s == "allow";
        else if (s)
          error(v, "action must be allow or deny, got '" + *s + "'");
      } else if (k == "proto") {
        auto s = str(v, "proto");
        if (!s) continue;
        if (*s == "tcp") {
          rule.proto = IPPROTO_TCP;
        } else if (*s == "udp") {
          rule.proto = IPPROTO_UDP;
        } else if (*s == "icmp") {
          rule.proto = IPPROTO_ICMP;
        } else if (*s == "any") {
          rule.proto = 0;
        } else if (auto x = uint(v, "proto (tcp, udp, icmp, any or a protocol number)", 1, 255)) {
          rule.proto = static_cast<uint8_t>(*x);
        }
      } else if (k == "src" || k == "dst") {
        Ipv4Cidr& c = k == "src" ? rule.src : rule.dst;
        if (v.IsScalar() && v.Scalar().find('/') == std::string::npos) {
          if (auto a = ipv4(v, k)) c = Ipv4Cidr{*a, 32};
        } else if (auto x = cidr(v, k)) {
          c = *x;
        }
      } else {
        have_ports = true;
        ports_at = loc_of(v);
        auto p = port_range(v, k);
        if (p && k == "src_port") rule.src_lo = p->first, rule.src_hi = p->second;
        if (p && k == "dst_port") rule.dst_lo = p->first, rule.dst_hi = p->second;
      }
    }
    if (!have_action) error(r, "an ACL rule needs action: allow or deny");
    if (have_ports && rule.proto != IPPROTO_TCP && rule.proto != IPPROTO_UDP)
      error(ports_at, "src_port and dst_port need proto: tcp or udp");
    out.push_back(rule);
  }
}

void Loader::acl(const YAML::Node& n, AdapterConfig& a) {
  if (!is_map(n, "acl ({ingress: [rules], egress: [rules]})")) return;
  for (auto& [k, v] : entries(n, "acl", {"ingress", "egress"}))
    acl_rules(v, "acl." + k, k == "ingress" ? a.acl_ingress : a.acl_egress);
  if (a.acl_ingress.size() + a.acl_egress.size() > 4096)
    error(n, "an adapter takes at most 4096 ACL rules");
}

void Loader::port_security(const YAML::Node& n, AdapterConfig& a) {
  PortSecurityConfig& p = a.port_security;
  p.loc = loc_of(n);
  if (n.IsScalar()) {
    if (auto b = boolean(n, "port_security (true, false or {ipv4: [addresses], dhcp: true})"))
      p.enabled = *b;
    return;
  }
  if (!is_map(n, "port_security")) return;
  p.enabled = true;
  for (auto& [k, v] : entries(n, "port_security", {"ipv4", "dhcp"})) {
    if (k == "dhcp") {
      if (auto b = boolean(v, "port_security.dhcp")) p.dhcp = *b;
    } else if (!v.IsSequence()) {
      error(v, "port_security.ipv4 must be a list of addresses");
    } else {
      for (const auto& x : v)
        if (auto ip = ipv4(x, "port_security.ipv4")) p.ipv4.push_back(*ip);
      if (p.ipv4.size() > 8) error(v, "port_security.ipv4 takes at most 8 addresses");
    }
  }
}

void Loader::bandwidth_groups(const YAML::Node& n, std::vector<BandwidthGroup>& out) {
  if (!is_map(n, "bandwidth_groups")) return;
  for (auto& [name, v] : entries(n, "bandwidth_groups", {})) {
    BandwidthGroup g;
    g.name = name;
    g.loc = loc_of(v);
    // VBoxManage bandwidthctl's units: k, m, g are kilo-, mega-, gigabits (x1000);
    // K, M, G kilo-, mega-, gigabytes (x1024, times 8); a plain number is bits/s.
    std::string s = v.IsScalar() ? v.Scalar() : "";
    uint64_t mult = 1;
    if (!s.empty() && std::isalpha(static_cast<unsigned char>(s.back()))) {
      switch (s.back()) {
        case 'k':
          mult = 1000;
          break;
        case 'm':
          mult = 1000 * 1000;
          break;
        case 'g':
          mult = 1000 * 1000 * 1000;
          break;
        case 'K':
          mult = 8ull << 10;
          break;
        case 'M':
          mult = 8ull << 20;
          break;
        case 'G':
          mult = 8ull << 30;
          break;
        default:
          mult = 0;
      }
      s.pop_back();
    }
    bool ok = mult != 0 && !s.empty() && s.size() <= 12;
    for (char ch : s) ok = ok && std::isdigit(static_cast<unsigned char>(ch));
    if (!ok) {
      error(v, "bandwidth group '" + name +
                   "' needs a limit in bits per second: a number, or one with k, m, g "
                   "(kilo-, mega-, gigabits) or K, M, G (kilo-, mega-, gigabytes); 0: no limit");
      continue;
    }
    g.bits_per_s = std::stoull(s) * mult;
    out.push_back(g);
  }
}

}  // namespace gp::detail

namespace gp::detail {

// vlan: 10 | {access: 10} | {trunk: [10, 20, 100-199], native: 1, untagged: accept|drop}
void Loader::vlan(const YAML::Node& n, VlanConfig& v) {
  v.loc = loc_of(n);
  const std::string ids = "a VLAN id (1-4094)";
  if (n.IsScalar()) {
    if (auto x = uint(n, "vlan (" + ids + ", or {access: ID} or {trunk: [IDs]})", 1, 4094))
      v.access = static_cast<uint16_t>(*x);
    return;
  }
  if (!is_map(n, "vlan (an id, {access: ID} or {trunk: [IDs], native: ID, untagged: drop})"))
    return;
  bool have_native = false, have_untagged = false;
  const size_t errors_before = errs_.size();
  for (auto& [k, val] : entries(n, "vlan", {"access", "trunk", "native", "untagged"})) {
    if (k == "access") {
      if (auto x = uint(val, "vlan.access (" + ids + ")", 1, 4094))
        v.access = static_cast<uint16_t>(*x);
    } else if (k == "native") {
      have_native = true;
      if (auto x = uint(val, "vlan.native (" + ids + ")", 1, 4094))
        v.native = static_cast<uint16_t>(*x);
    } else if (k == "untagged") {
      have_untagged = true;
      auto s = str(val, "vlan.untagged");
      if (s && (*s == "accept" || *s == "drop"))
        v.untagged_drop = *s == "drop";
      else if (s)
        error(val, "vlan.untagged must be accept or drop, got '" + *s + "'");
    } else {
      if (!val.IsSequence() || val.size() == 0) {
        error(val, "vlan.trunk must be a list of VLAN ids and ranges, like [10, 20, 100-199]");
        continue;
      }
      std::set<uint16_t> vids;
      for (const auto& e : val) {
        const std::string form = ids + " or a range like 100-199";
        auto r = port_range(e, "a vlan.trunk entry", form);
        if (!r) continue;
        if (r->first < 1 || r->second > 4094) {
          error(e, "a vlan.trunk entry must be " + form + ", got '" + e.Scalar() + "'");
          continue;
        }
        for (uint32_t id = r->first; id <= r->second; ++id) vids.insert(static_cast<uint16_t>(id));
      }
      v.trunk.assign(vids.begin(), vids.end());
    }
  }
  if (errs_.size() != errors_before) return;  // one mistake, one message
  if (v.access != 0 && !v.trunk.empty())
    error(n, "vlan: an adapter is either an access port (access) or a trunk (trunk), not both");
  if (v.trunk.empty() && (have_native || have_untagged))
    error(n, "vlan: native and untagged belong to a trunk (vlan: {trunk: [IDs], ...})");
  if (v.native != 0 && v.untagged_drop)
    error(n, "vlan: untagged: drop leaves the native VLAN nothing to carry; give one of them");
  if (v.access == 0 && v.trunk.empty() && !have_native && !have_untagged)
    error(n, "vlan needs access: ID or trunk: [IDs]");
}

}  // namespace gp::detail
