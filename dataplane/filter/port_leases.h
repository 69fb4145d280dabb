// The IPv4 address the appliance's DHCP server last acknowledged to each port's guest:
// written by the slow path (on DHCPACK), cleared by the applier when a port id is
// given to a new port, read by workers for port security (kGuardDhcp). One writer at a
// time, relaxed atomics: a worker sees a new lease a moment late at worst.
#pragma once

#include <rte_byteorder.h>

#include <array>
#include <atomic>

#include "dataplane/core/types.h"

namespace gp {

class PortLeases {
 public:
  void set(uint16_t port, rte_be32_t ip) noexcept {
    if (port < kMaxPorts) ip_[port].store(ip, std::memory_order_relaxed);
  }
  void clear(uint16_t port) noexcept { set(port, 0); }
  rte_be32_t get(uint16_t port) const noexcept {
    return port < kMaxPorts ? ip_[port].load(std::memory_order_relaxed) : 0;
  }

 private:
  std::array<std::atomic<rte_be32_t>, kMaxPorts> ip_{};
};

}  // namespace gp
