// The YAML loader's internals, shared by the files that parse parts of the config
// (config_loader.cc: the sections; config_filters.cc: ACLs, port security, bandwidth
// groups, VLANs). Control path only; not part of any public interface.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "control/config.h"

namespace gp::detail {

inline SourceLoc loc_of(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  return SourceLoc{m.line + 1, m.column + 1};
}

class Loader {
 public:
  Loader(std::string file, std::vector<Diagnostic>& errs) : file_(std::move(file)), errs_(errs) {}

  void error(SourceLoc loc, std::string msg) { errs_.push_back({file_, loc, std::move(msg)}); }
  void error(const YAML::Node& n, std::string msg) { error(loc_of(n), std::move(msg)); }

  bool is_map(const YAML::Node& n, const std::string& what) {
    if (n.IsMap()) return true;
    error(n, what + " must be a mapping (key: value)");
    return false;
  }

  // Reports unknown and duplicate keys; returns the key->node pairs in order.
  std::vector<std::pair<std::string, YAML::Node>> entries(const YAML::Node& map,
                                                          const std::string& where,
                                                          const std::set<std::string>& allowed) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        error(it->first, "keys in " + where + " must be plain names");
        continue;
      }
      std::string k = it->first.Scalar();
      if (!seen.insert(k).second) {
        error(it->first, "duplicate key '" + k + "' in " + where);
        continue;
      }
      if (!allowed.empty() && !allowed.count(k)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        error(it->first,
              "unknown key '" + k + "' in " + where + " (expected one of: " + list + ")");
        continue;
      }
      out.emplace_back(k, it->second);
    }
    return out;
  }

  std::optional<std::string> str(const YAML::Node& n, const std::string& what) {
    if (n.IsScalar()) return n.Scalar();
    error(n, what + " must be a string");
    return std::nullopt;
  }

  std::optional<uint64_t> uint(const YAML::Node& n, const std::string& what, uint64_t lo,
                               uint64_t hi) {
    uint64_t v = 0;
    std::string s = n.IsScalar() ? n.Scalar() : "";
    size_t used = 0;
    bool ok = !s.empty() && s[0] != '-';
    if (ok) {
      try {
        v = std::stoull(s, &used, 10);
      } catch (...) {
        ok = false;
      }
    }
    if (!ok || used != s.size() || v < lo || v > hi) {
      error(n, what + " must be a whole number from " + std::to_string(lo) + " to " +
                   std::to_string(hi) + (s.empty() ? "" : ", got '" + s + "'"));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& what) {
    bool b = false;
    if (n.IsScalar() && YAML::convert<bool>::decode(n, b)) return b;
    error(n, what + " must be true or false");
    return std::nullopt;
  }

  std::optional<uint32_t> ipv4(const YAML::Node& n, const std::string& what) {
    if (n.IsScalar())
      if (auto a = parse_ipv4(n.Scalar())) return a;
    error(n, what + " must be an IPv4 address like 198.51.100.1");
    return std::nullopt;
  }

  // A unicast MAC (not multicast, broadcast or zero).
  std::optional<rte_ether_addr> unicast_mac(const YAML::Node& n, const std::string& what) {
    auto s = str(n, what);
    auto mac = s ? parse_mac(*s) : std::nullopt;
    if (mac && !rte_is_multicast_ether_addr(&*mac) && !rte_is_zero_ether_addr(&*mac)) return mac;
    if (s)
      error(n, what + " must be a unicast MAC address like 08:00:27:00:00:01, got '" + *s + "'");
    return std::nullopt;
  }

  std::optional<Ipv4Cidr> cidr(const YAML::Node& n, const std::string& what) {
    if (n.IsScalar())
      if (auto c = parse_cidr(n.Scalar())) return c;
    error(n, what + " must be an IPv4 prefix like 192.168.22.0/24 (invalid CIDR)");
    return std::nullopt;
  }

  void appliance(const YAML::Node& n, ApplianceConfig& a);
  void uplink(const std::string& name, const YAML::Node& n, UplinkConfig& u);
  void nat(const YAML::Node& n, NatConfig& c);
  void network(const std::string& name, const YAML::Node& n, NetworkConfig& c);
  void vm(const std::string& name, const YAML::Node& n, VmConfig& v);
  void adapter(const std::string& vm, const YAML::Node& key, const YAML::Node& n, VmConfig& v);
  void port_forwards(const YAML::Node& n, std::vector<PortForward>& out);
  // RFC 4787 REQ-8 filtering: true for endpoint-independent.
  std::optional<bool> filtering(const YAML::Node& v, const std::string& what);
  void attach(const YAML::Node& n, AdapterConfig& a);
  // A generic network's tunnel keys (driver, vni, remotes, ...); false: not one of them.
  bool tunnel_key(const std::string& k, const YAML::Node& v, TunnelConfig& t);
  // config_filters.cc
  void acl(const YAML::Node& n, AdapterConfig& a);
  void acl_rules(const YAML::Node& n, const std::string& where, std::vector<AclRule>& out);
  void port_security(const YAML::Node& n, AdapterConfig& a);
  void bandwidth_groups(const YAML::Node& n, std::vector<BandwidthGroup>& out);
  void vlan(const YAML::Node& n, VlanConfig& v);
  void vhost(const YAML::Node& n, VhostConfig& v);
  std::optional<std::pair<uint16_t, uint16_t>> port_range(
      const YAML::Node& n, const std::string& what,
      const std::string& form = "a port (0-65535) or a range like 1000-2000");

 private:
  std::string file_;
  std::vector<Diagnostic>& errs_;
};

}  // namespace gp::detail
