// Link-layer addresses the NAT needs at run time: each port's own MAC (set when the
// port is opened, before any worker sees the port) and each NAT uplink's next hop
// (the gateway's MAC, learned by the slow path from ARP).
//
// Ordering: next_hop_ is written by the control thread with release and read by
// workers with acquire; bit 63 marks a valid entry, so a reader sees either nothing or
// a whole MAC. own_mac_ is written before the snapshot naming the port is published
// (whose release store orders it) and never changes while the port exists.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "dataplane/core/types.h"

namespace gp {

class Neighbors {
 public:
  void set_own_mac(uint16_t port, const rte_ether_addr& mac) noexcept { own_[port] = mac; }
  const rte_ether_addr& own_mac(uint16_t port) const noexcept { return own_[port]; }

  void set_next_hop(uint16_t port, const rte_ether_addr& mac) noexcept {
    next_hop_[port].store(kValid | mac_to_u64(mac), std::memory_order_release);
  }
  void clear_next_hop(uint16_t port) noexcept {
    next_hop_[port].store(0, std::memory_order_release);
  }
  // False when the next hop is not resolved yet.
  bool next_hop(uint16_t port, rte_ether_addr* out) const noexcept {
    const uint64_t v = next_hop_[port].load(std::memory_order_acquire);
    if (!(v & kValid)) return false;
    for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i)
      out->addr_bytes[i] = static_cast<uint8_t>(v >> (8 * (RTE_ETHER_ADDR_LEN - 1 - i)));
    return true;
  }

 private:
  static constexpr uint64_t kValid = uint64_t{1} << 63;
  std::array<rte_ether_addr, kMaxPorts> own_{};
  std::array<std::atomic<uint64_t>, kMaxPorts> next_hop_{};
};

}  // namespace gp
