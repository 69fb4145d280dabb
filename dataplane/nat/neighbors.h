// Link-layer addresses the NAT needs at run time: each port's own MAC (set when the
// port is opened, before any worker sees the port), each NAT uplink's next hop (the
// gateway's MAC, learned by the slow path from ARP), the inside hosts of NAT routers (a
// NAT network has many guests: port forwards name them by IP, and the router must know
// their MAC and port; learned by the slow path from the guests' ARP), and the hosts on
// an uplink's own subnet, which are sent to directly.
//
// Ordering: next_hop_ is written by the control thread with release and read by
// workers with acquire; bit 63 marks a valid entry, so a reader sees either nothing or
// a whole MAC. own_mac_ is written before the snapshot naming the port is published
// (whose release store orders it) and never changes while the port exists. The inside
// table is an rte_hash with lock-free readers (workers) and one writer (the control
// thread); deleted slots are recycled after an RCU grace period on the workers' QSBR.
#pragma once

#include <rte_hash.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>

#include "dataplane/core/snapshot_holder.h"
#include "dataplane/core/types.h"

namespace gp {

class Neighbors {
 public:
  Neighbors() = default;
  ~Neighbors();
  Neighbors(const Neighbors&) = delete;
  Neighbors& operator=(const Neighbors&) = delete;

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
    *out = u64_to_mac(v);
    return true;
  }

  // --- inside hosts of NAT routers: (nat_id, IPv4) -> (MAC, port) ---
  // Creates the table (control thread, before workers start). rcu may be null in
  // single-threaded tests. Returns false when DPDK cannot create it.
  bool init_inside(uint32_t capacity, SnapshotHolder* rcu) noexcept;
  // Frees the table (before the SnapshotHolder whose QSBR it reclaims through).
  void release() noexcept;
  // Workers: false when unknown (or no table).
  bool inside(uint16_t nat_id, rte_be32_t ip, rte_ether_addr* mac, uint16_t* port) const noexcept {
    if (inside_ == nullptr) return false;
    const uint64_t k = inside_key(nat_id, ip);
    void* d = nullptr;
    if (rte_hash_lookup_data(inside_, &k, &d) < 0) return false;
    const auto v = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(d));
    *mac = u64_to_mac(v >> 16);
    *port = static_cast<uint16_t>(v);
    return true;
  }
  // Hosts on an uplink's own subnet (sent to directly, not through the gateway) share
  // the table under a scope of their own: the uplink port with the top bit set.
  static constexpr uint16_t onlink_scope(uint16_t uplink) noexcept { return 0x8000 | uplink; }
  bool onlink(uint16_t uplink, rte_be32_t ip, rte_ether_addr* mac) const noexcept {
    uint16_t unused;
    return inside(onlink_scope(uplink), ip, mac, &unused);
  }
  // The single writer (control thread). learn: true when new or changed; false also
  // when the table is full.
  bool learn_inside(uint16_t nat_id, rte_be32_t ip, const rte_ether_addr& mac,
                    uint16_t port) noexcept;
  void forget_inside(uint16_t nat_id, rte_be32_t ip) noexcept;
  void for_each_inside(
      const std::function<void(uint16_t nat_id, rte_be32_t ip, const rte_ether_addr& mac,
                               uint16_t port)>& fn) const;

 private:
  static constexpr uint64_t kValid = uint64_t{1} << 63;
  static uint64_t inside_key(uint16_t nat_id, rte_be32_t ip) noexcept {
    return (uint64_t{nat_id} << 32) | ip;
  }
  static rte_ether_addr u64_to_mac(uint64_t v) noexcept {
    rte_ether_addr m;
    for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i)
      m.addr_bytes[i] = static_cast<uint8_t>(v >> (8 * (RTE_ETHER_ADDR_LEN - 1 - i)));
    return m;
  }
  std::array<rte_ether_addr, kMaxPorts> own_{};
  std::array<std::atomic<uint64_t>, kMaxPorts> next_hop_{};
  rte_hash* inside_ = nullptr;
  SnapshotHolder* rcu_ = nullptr;
};

}  // namespace gp
