// Control path: the inside-host table of Neighbors (see neighbors.h).
#include "dataplane/nat/neighbors.h"

#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_rcu_qsbr.h>

#include <string>

namespace gp {

namespace {
std::atomic<unsigned> g_inside_seq{0};
}

Neighbors::~Neighbors() { release(); }

void Neighbors::release() noexcept {
  rte_hash_free(inside_);  // runs its defer queue: the QSBR variable must still be there
  inside_ = nullptr;
  if (rcu_ != nullptr) rcu_->detach_user();
  rcu_ = nullptr;
}

bool Neighbors::init_inside(uint32_t capacity, SnapshotHolder* rcu) noexcept {
  const std::string name = "gp_inside" + std::to_string(g_inside_seq.fetch_add(1));
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = capacity < 64 ? 64 : capacity;  // rte_hash's smallest useful table
  p.key_len = sizeof(uint64_t);
  p.hash_func = rte_hash_crc;
  p.socket_id = static_cast<int>(rte_socket_id());
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  inside_ = rte_hash_create(&p);
  if (inside_ == nullptr) return false;
  if (rcu != nullptr) {
    rte_hash_rcu_config rc{};
    rc.v = rcu->attach_user();
    rc.mode = RTE_HASH_QSBR_MODE_DQ;
    rcu_ = rcu;
    if (rte_hash_rcu_qsbr_add(inside_, &rc) != 0) {
      release();
      return false;
    }
  }
  return true;
}

bool Neighbors::learn_inside(uint16_t nat_id, rte_be32_t ip, const rte_ether_addr& mac,
                             uint16_t port) noexcept {
  if (inside_ == nullptr) return false;
  const uint64_t k = inside_key(nat_id, ip);
  const uint64_t v = (mac_to_u64(mac) << 16) | port;
  void* d = nullptr;
  if (rte_hash_lookup_data(inside_, &k, &d) >= 0 &&
      static_cast<uint64_t>(reinterpret_cast<uintptr_t>(d)) == v)
    return false;
  // With RW_CONCURRENCY_LF an update of an existing key's data is one atomic store.
  return rte_hash_add_key_data(inside_, &k, reinterpret_cast<void*>(static_cast<uintptr_t>(v))) ==
         0;
}

void Neighbors::forget_inside(uint16_t nat_id, rte_be32_t ip) noexcept {
  if (inside_ == nullptr) return;
  const uint64_t k = inside_key(nat_id, ip);
  rte_hash_del_key(inside_, &k);  // the slot is reused after the workers' grace period
}

void Neighbors::for_each_inside(
    const std::function<void(uint16_t, rte_be32_t, const rte_ether_addr&, uint16_t)>& fn) const {
  if (inside_ == nullptr) return;
  const void* k = nullptr;
  void* d = nullptr;
  uint32_t next = 0;
  while (rte_hash_iterate(inside_, &k, &d, &next) >= 0) {
    const uint64_t key = *static_cast<const uint64_t*>(k);
    const auto v = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(d));
    fn(static_cast<uint16_t>(key >> 32), static_cast<rte_be32_t>(key), u64_to_mac(v >> 16),
       static_cast<uint16_t>(v));
  }
}

}  // namespace gp
