// Small value helpers of the config model (formatting and parsing addresses).
#include "control/config.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstdio>

namespace gp {

std::string Diagnostic::to_string() const {
  const std::string kind = warning ? ": warning: " : ": error: ";
  if (loc.line == 0) return file + kind + message;
  return file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column) + kind + message;
}

std::string_view attach_mode_name(AttachMode m) {
  switch (m) {
    case AttachMode::kNone:
      return "none";
    case AttachMode::kNat:
      return "nat";
    case AttachMode::kNatNetwork:
      return "natnetwork";
    case AttachMode::kBridged:
      return "bridged";
    case AttachMode::kInternal:
      return "internal";
    case AttachMode::kHostOnly:
      return "hostonly";
    case AttachMode::kGeneric:
      return "generic";
  }
  return "?";
}

const char* promiscuous_name(Promiscuous p) {
  switch (p) {
    case Promiscuous::kDeny:
      return "deny";
    case Promiscuous::kAllowVms:
      return "allow-vms";
    case Promiscuous::kAllowAll:
      return "allow-all";
  }
  return "?";
}

std::optional<rte_ether_addr> parse_mac(const std::string& s) {
  rte_ether_addr a{};
  unsigned b[6];
  char tail = 0;
  if (s.size() != 17) return std::nullopt;
  for (size_t i = 2; i < 17; i += 3)
    if (s[i] != ':' && s[i] != '-') return std::nullopt;
  if (std::sscanf(s.c_str(), "%2x%*c%2x%*c%2x%*c%2x%*c%2x%*c%2x%c", &b[0], &b[1], &b[2], &b[3],
                  &b[4], &b[5], &tail) != 6)
    return std::nullopt;
  for (size_t i = 0; i < 17; ++i)
    if (i % 3 != 2 && !std::isxdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  for (int i = 0; i < 6; ++i) a.addr_bytes[i] = static_cast<uint8_t>(b[i]);
  return a;
}

std::string format_mac(const rte_ether_addr& a) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", a.addr_bytes[0], a.addr_bytes[1],
                a.addr_bytes[2], a.addr_bytes[3], a.addr_bytes[4], a.addr_bytes[5]);
  return buf;
}

std::optional<uint32_t> parse_ipv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string format_ipv4(uint32_t a) {
  char buf[INET_ADDRSTRLEN];
  in_addr x{htonl(a)};
  inet_ntop(AF_INET, &x, buf, sizeof buf);
  return buf;
}

std::optional<Ipv4Cidr> parse_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto addr = parse_ipv4(s.substr(0, slash));
  std::string p = s.substr(slash + 1);
  if (!addr || p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  int prefix = std::stoi(p);
  if (prefix < 1 || prefix > 32) return std::nullopt;
  return Ipv4Cidr{*addr, static_cast<uint8_t>(prefix)};
}

std::string VlanConfig::to_string() const {
  if (access != 0) return "access " + std::to_string(access);
  if (trunk.empty()) return "-";
  std::string t = "trunk ";
  for (size_t i = 0; i < trunk.size();) {
    size_t j = i;
    while (j + 1 < trunk.size() && trunk[j + 1] == trunk[j] + 1) ++j;
    if (i != 0) t += ",";
    t += std::to_string(trunk[i]) + (j > i ? "-" + std::to_string(trunk[j]) : "");
    i = j + 1;
  }
  if (native != 0) t += " native " + std::to_string(native);
  if (untagged_drop) t += " untagged drop";
  return t;
}

std::string Ipv4Cidr::to_string() const { return format_ipv4(addr) + "/" + std::to_string(prefix); }

const UplinkConfig* Config::find_uplink(const std::string& n) const {
  for (const auto& u : uplinks)
    if (u.name == n) return &u;
  return nullptr;
}

const NetworkConfig* Config::find_network(const std::string& n) const {
  for (const auto& x : networks)
    if (x.name == n) return &x;
  return nullptr;
}

}  // namespace gp
