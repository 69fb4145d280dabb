// See frag_table.h. remember/find run on the worker (fast path): no allocation there.
#include "dataplane/nat/frag_table.h"

#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include <atomic>
#include <stdexcept>
#include <string>

namespace gp::nat {

namespace {
std::atomic<unsigned> g_seq{0};
}

FragTable::FragTable(uint32_t capacity) : capacity_(capacity < 64 ? 64 : capacity) {
  const std::string name = "gp_frag" + std::to_string(g_seq.fetch_add(1));
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = capacity_;
  p.key_len = sizeof(FragKey);
  p.hash_func = rte_hash_crc;
  p.socket_id = static_cast<int>(rte_socket_id());
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;  // never full before `capacity` keys
  h_ = rte_hash_create(&p);
  if (h_ == nullptr) throw std::runtime_error("cannot create the NAT fragment table " + name);
  ring_ = std::make_unique<FragEntry[]>(capacity_);
}

FragTable::~FragTable() { rte_hash_free(h_); }

void FragTable::remember(const FragKey& k, uint32_t session, uint16_t owner,
                         uint64_t expires) noexcept {
  void* d = nullptr;
  uint32_t slot;
  if (rte_hash_lookup_data(h_, &k, &d) >= 0) {
    slot = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(d));  // the same datagram again
  } else {
    slot = next_;
    next_ = (next_ + 1) % capacity_;
    if (ring_[slot].used) rte_hash_del_key(h_, &ring_[slot].key);  // the oldest goes
    if (rte_hash_add_key_data(h_, &k, reinterpret_cast<void*>(uintptr_t{slot})) != 0) {
      ring_[slot].used = false;
      return;
    }
  }
  FragEntry& e = ring_[slot];
  e.key = k;
  e.expires_tsc = expires;
  e.session = session;
  e.owner = owner;
  e.used = true;
}

const FragEntry* FragTable::find(const FragKey& k, uint64_t now) const noexcept {
  void* d = nullptr;
  if (rte_hash_lookup_data(h_, &k, &d) < 0) return nullptr;
  const FragEntry& e = ring_[static_cast<uint32_t>(reinterpret_cast<uintptr_t>(d))];
  return now < e.expires_tsc ? &e : nullptr;
}

}  // namespace gp::nat
