// Basic fixed-size types shared by the fast path and the control plane that compiles
// snapshots for it. Nothing here allocates; everything is trivially copyable.
#pragma once

#include <rte_build_config.h>
#include <rte_ether.h>

#include <cstdint>
#include <type_traits>

namespace gp {

// Port ids index every per-port table. Ids below kMaxEthPorts are DPDK ports (Debian's
// DPDK is built with 32); the ones above are tunnel ports (dataplane/tunnel/): one per
// remote endpoint of a generic network, switched like any port, sent by encapsulation.
inline constexpr uint16_t kMaxEthPorts = RTE_MAX_ETHPORTS;
inline constexpr uint16_t kMaxTunnelPorts = 32;
inline constexpr uint16_t kMaxPorts = kMaxEthPorts + kMaxTunnelPorts;
inline constexpr bool is_tunnel_port(uint16_t port) noexcept {
  return port >= kMaxEthPorts && port < kMaxPorts;
}
inline constexpr uint16_t kBurst = 32;
inline constexpr uint16_t kNoPort = 0xffff;
inline constexpr uint16_t kMaxWorkers = 16;

// Which side of the switch a port is on. Decides policy (see l2/policy.h).
enum class PortRole : uint8_t {
  kUnused = 0,  // not part of the running config: every frame is dropped
  kGuest,       // a VM / namespace adapter
  kUplink,      // a physical NIC or kernel interface (bridged segments)
  kHost,        // the host's own interface on a host-only network (net_tap)
  kTunnel,      // a remote tunnel endpoint of a generic network (no DPDK port behind it)
};

// VirtualBox's promiscuous policies for a guest adapter.
enum class Promiscuous : uint8_t { kDeny = 0, kAllowVms, kAllowAll };

// 48-bit MAC in a 64-bit word, network byte order in the low 6 bytes as stored by
// rte_ether_addr. Used in hash keys; comparison is by value.
inline uint64_t mac_to_u64(const rte_ether_addr& a) noexcept {
  uint64_t v = 0;
  for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i) v = (v << 8) | a.addr_bytes[i];
  return v;
}

inline bool mac_equal(const rte_ether_addr& a, const rte_ether_addr& b) noexcept {
  return rte_is_same_ether_addr(&a, &b) != 0;
}

}  // namespace gp
