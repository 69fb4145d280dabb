// Writer side of the FDB (control thread only): create, learn, age, flush, iterate.
#include "dataplane/l2/fdb.h"

#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_rcu_qsbr.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/core/snapshot.h"

namespace gp {

namespace {
std::atomic<unsigned> g_fdb_seq{0};

uint64_t encode(uint16_t port, uint16_t generation, uint32_t position) {
  return (static_cast<uint64_t>(position) << 32) | (static_cast<uint64_t>(generation) << 16) | port;
}
}  // namespace

Fdb::Fdb(uint32_t capacity, SnapshotHolder* rcu) : capacity_(capacity) {
  std::string name = "gp_fdb" + std::to_string(g_fdb_seq.fetch_add(1));
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = capacity;
  p.key_len = sizeof(uint64_t);
  p.hash_func = rte_hash_crc;
  p.hash_func_init_val = 0;
  p.socket_id = static_cast<int>(rte_socket_id());
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  h_ = rte_hash_create(&p);
  if (h_ == nullptr) throw std::runtime_error("cannot create the MAC table (" + name + ")");
  if (rcu != nullptr) {
    rte_hash_rcu_config rc{};
    rc.v = rcu->attach_user();
    rc.mode = RTE_HASH_QSBR_MODE_DQ;
    if (rte_hash_rcu_qsbr_add(h_, &rc) != 0) {
      rte_hash_free(h_);
      rcu->detach_user();
      throw std::runtime_error("cannot attach RCU reclamation to the MAC table");
    }
    rcu_ = rcu;
  }
  int32_t max_id = rte_hash_max_key_id(h_);
  seen_ = std::make_unique<std::atomic<uint64_t>[]>(static_cast<size_t>(max_id) + 1);
}

Fdb::~Fdb() {
  rte_hash_free(h_);  // runs its defer queue: the QSBR variable must still be there
  if (rcu_ != nullptr) rcu_->detach_user();
}

Fdb::Learned Fdb::learn(uint64_t key, uint16_t port, uint16_t generation, uint64_t now,
                        uint32_t port_limit) noexcept {
  if (!static_.empty()) {
    auto pin = static_.find(key);
    if (pin != static_.end() && pin->second != port) return Learned::kStatic;
  }
  void* old = nullptr;
  int32_t pos = rte_hash_lookup_data(h_, &key, &old);  // the key's slot when found
  const uint64_t before = reinterpret_cast<uintptr_t>(old);
  const bool ours = pos >= 0 && before != 0 && data_port(before) == port;
  if (port_limit != 0 && !ours && port < kMaxPorts && per_port_[port] >= port_limit) {
    full_[port].store(1, std::memory_order_relaxed);
    return Learned::kPortLimit;
  }
  Learned what = Learned::kRefreshed;
  if (pos < 0) {
    // New key: insert with data 0 first to learn its slot. Generation 0 never matches
    // a segment (generations start at 1), so a reader seeing 0 treats it as a miss.
    pos = rte_hash_add_key(h_, &key);
    if (pos < 0) return Learned::kTableFull;
    ++live_;
    what = Learned::kNew;
  } else if (data_generation(before) != generation) {
    what = Learned::kNew;
  } else if (data_port(before) != port) {
    what = Learned::kMoved;
  }
  if (!ours) {
    if (pos >= 0 && before != 0 && data_port(before) < kMaxPorts) {
      --per_port_[data_port(before)];  // moved away: room on the old port again
      full_[data_port(before)].store(0, std::memory_order_relaxed);
    }
    if (port < kMaxPorts) ++per_port_[port];
  }
  seen_[static_cast<uint32_t>(pos)].store(now, std::memory_order_relaxed);
  const uint64_t d = encode(port, generation, static_cast<uint32_t>(pos));
  if (d != before) {
    rte_hash_add_key_data(h_, &key, reinterpret_cast<void*>(static_cast<uintptr_t>(d)));
    if (before != 0) bump_epoch();  // workers may have cached the old data
  }
  return what;
}

uint32_t Fdb::age(const Snapshot& snap, uint64_t now, uint64_t tsc_hz) noexcept {
  std::vector<std::pair<uint64_t, uint16_t>> doomed;  // key, port
  const void* k = nullptr;
  void* d = nullptr;
  uint32_t next = 0;
  while (rte_hash_iterate(h_, &k, &d, &next) >= 0) {
    uint64_t key = *static_cast<const uint64_t*>(k);
    uint64_t data = reinterpret_cast<uintptr_t>(d);
    auto seg = static_cast<uint16_t>(key >> 48);
    bool stale = seg >= snap.segments.size();
    if (!stale) {
      const Segment& s = snap.segments[seg];
      uint64_t idle = now - seen_[data_position(data)].load(std::memory_order_relaxed);
      stale = data_generation(data) != s.fdb_generation || !s.has_member(data_port(data)) ||
              idle > static_cast<uint64_t>(s.ageing_s) * tsc_hz;
    }
    if (stale) doomed.emplace_back(key, data_port(data));
  }
  for (auto it = doomed.begin(); it != doomed.end();) {  // pinned: never idle
    auto pin = static_.find(it->first);
    const bool keep =
        pin != static_.end() && pin->second == it->second && it->first >> 48 < snap.segments.size();
    it = keep ? doomed.erase(it) : it + 1;
  }
  for (const auto& [key, port] : doomed) forget(key, port);
  return static_cast<uint32_t>(doomed.size());
}

uint32_t Fdb::set_static(const Snapshot& snap, uint64_t now) noexcept {
  std::unordered_map<uint64_t, std::pair<uint16_t, uint16_t>> wanted;  // key -> port, gen
  for (const StaticMac& s : snap.static_macs)
    if (s.segment < snap.segments.size() && s.port < kMaxPorts)
      wanted[make_key(s.segment, s.mac)] = {s.port, snap.segments[s.segment].fdb_generation};
  for (auto it = static_.begin(); it != static_.end();) {
    auto w = wanted.find(it->first);
    if (w != wanted.end() && w->second.first == it->second) {
      ++it;
      continue;
    }
    const uint64_t key = it->first;
    const uint16_t port = it->second;
    it = static_.erase(it);
    void* d = nullptr;
    if (rte_hash_lookup_data(h_, &key, &d) >= 0 &&
        data_port(reinterpret_cast<uintptr_t>(d)) == port)
      forget(key, port);
  }
  uint32_t failed = 0;
  for (const auto& [key, pg] : wanted) {
    static_.erase(key);  // learn() below may take it over from any port
    if (learn(key, pg.first, pg.second, now) == Learned::kTableFull) {
      ++failed;
      continue;
    }
    static_[key] = pg.first;
  }
  return failed;
}

void Fdb::forget(uint64_t key, uint16_t port) noexcept {
  if (rte_hash_del_key(h_, &key) < 0) return;
  bump_epoch();
  --live_;
  if (port < kMaxPorts && per_port_[port] > 0) --per_port_[port];
  if (port < kMaxPorts) full_[port].store(0, std::memory_order_relaxed);  // room again
}

uint32_t Fdb::flush_port(uint16_t port) noexcept {
  std::vector<uint64_t> doomed;
  const void* k = nullptr;
  void* d = nullptr;
  uint32_t next = 0;
  while (rte_hash_iterate(h_, &k, &d, &next) >= 0) {
    if (data_port(reinterpret_cast<uintptr_t>(d)) == port &&
        !static_.count(*static_cast<const uint64_t*>(k)))
      doomed.push_back(*static_cast<const uint64_t*>(k));
  }
  for (uint64_t key : doomed) forget(key, port);
  return static_cast<uint32_t>(doomed.size());
}

void Fdb::for_each(uint64_t now, const std::function<void(const FdbEntryView&)>& fn) const {
  const void* k = nullptr;
  void* d = nullptr;
  uint32_t next = 0;
  while (rte_hash_iterate(h_, &k, &d, &next) >= 0) {
    uint64_t key = *static_cast<const uint64_t*>(k);
    uint64_t data = reinterpret_cast<uintptr_t>(d);
    if (data_generation(data) == 0) continue;  // half-inserted
    FdbEntryView v{};
    v.segment = static_cast<uint16_t>(key >> 48);
    for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i)
      v.mac.addr_bytes[i] = static_cast<uint8_t>(key >> (8 * (RTE_ETHER_ADDR_LEN - 1 - i)));
    v.port = data_port(data);
    v.generation = data_generation(data);
    v.age_tsc = now - seen_[data_position(data)].load(std::memory_order_relaxed);
    auto pin = static_.find(key);
    v.is_static = pin != static_.end() && pin->second == v.port;
    fn(v);
  }
}

}  // namespace gp
