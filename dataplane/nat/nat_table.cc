// Per-worker NAT state: see nat_table.h. Fast-path calls (find_*, touch, create_*,
// expire) do not allocate: every table and array is sized in the constructor.
#include "dataplane/nat/nat_table.h"

#include <netinet/in.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gp::nat {

namespace {
// CRC32-C of a 16-byte key (two crc32q instructions), as rte_hash hashes.
template <typename Key>
__rte_always_inline uint32_t key16_hash(const Key& k) noexcept {
  static_assert(sizeof(Key) == 16);
  uint64_t w[2];
  std::memcpy(w, &k, sizeof w);
  return rte_hash_crc_8byte(w[1], rte_hash_crc_8byte(w[0], 0x9747b28cu));
}
}  // namespace

uint32_t NatTable::key_hash(const InKey& k) noexcept { return key16_hash(k); }
uint32_t NatTable::key_hash(const OutKey& k) noexcept { return key16_hash(k); }

uint32_t FilterSlot::key_hash(uint32_t mapping, rte_be32_t remote_ip) noexcept {
  return rte_hash_crc_8byte((uint64_t{mapping} << 32) | remote_ip, 0x85ebca6bu);
}

namespace {
unsigned default_shift() {
  unsigned shift = 0;
  while ((uint64_t{1} << (shift + 1)) <= rte_get_tsc_hz() / 64) ++shift;
  return shift;
}
}  // namespace

NatTable::NatTable(uint32_t capacity, uint16_t worker, uint16_t workers, int time_shift)
    : capacity_(capacity),
      worker_(worker),
      workers_(workers == 0 ? 1 : workers),
      shift_(time_shift < 0 ? default_shift() : static_cast<unsigned>(time_shift)) {
  sessions_ = HugeArray<Session>(capacity);
  for (uint32_t i = capacity; i-- > 0;) free_session(i);
  // Each mapping holds an outside port of this worker's slice, of one of three protocols.
  const uint32_t slice_ports = (65535 + workers_ - 1) / workers_;
  const uint32_t n_maps = std::min<uint32_t>(capacity, 3 * slice_ports);
  maps_ = HugeArray<Mapping>(n_maps);
  for (uint32_t i = n_maps; i-- > 0;) {
    maps_[i].refs = free_maps_head_;
    free_maps_head_ = i;
  }
  by_in_ = IdIndex(capacity);
  by_out_ = IdIndex(capacity);
  mappings_ = IdIndex(n_maps);
  filter_ = CuckooTable<FilterSlot, FilterSlot::Traits>(capacity);
  for (auto& b : port_bits_) b.assign(65536 / 64, 0);
  for (auto& m : map_at_) m.assign(65536, kInvalid);
  for (auto& b : queued_) b.assign(65536 / 64, 0);
  for (unsigned pi = 0; pi < 3; ++pi) {
    for (unsigned r = 0; r < 2; ++r) fifo_[pi][r].ring.resize(r == 0 ? 1024 : 65536);
    for (uint32_t p = 1; p < 65536; ++p)
      if (p % workers_ == worker_) fifo_push(pi, p);
  }
}

NatTable::~NatTable() = default;

unsigned NatTable::proto_index(uint8_t proto) noexcept {
  return proto == IPPROTO_TCP ? 0 : proto == IPPROTO_UDP ? 1 : 2;
}

TimeoutClass NatTable::class_of(uint8_t proto, TcpState s) noexcept {
  if (proto == IPPROTO_UDP) return TimeoutClass::kUdp;
  if (proto == IPPROTO_ICMP) return TimeoutClass::kIcmp;
  return tcp_established(s) ? TimeoutClass::kTcpEstablished : TimeoutClass::kTcpTransitory;
}

InKey NatTable::mapping_key(const InKey& in) noexcept {
  InKey k{};
  k.src_ip = in.src_ip;
  k.src_port = in.src_port;
  k.nat_id = in.nat_id;
  k.proto = in.proto;
  return k;
}

uint32_t NatTable::find_in(const InKey& k) const noexcept {
  const IdSlot* s = by_in_.find(key16_hash(k), [&](const IdSlot& c) {
    return std::memcmp(&sessions_[c.id].in, &k, sizeof k) == 0;
  });
  return s != nullptr ? s->id : kInvalid;
}

uint32_t NatTable::find_out(const OutKey& k) const noexcept {
  const IdSlot* s =
      by_out_.find(key16_hash(k), [&](const IdSlot& c) { return sessions_[c.id].has_out(k); });
  return s != nullptr ? s->id : kInvalid;
}

uint32_t NatTable::find_mapping(const InKey& mk) const noexcept {
  const IdSlot* s = mappings_.find(key16_hash(mk), [&](const IdSlot& c) {
    const InKey k = maps_[c.id].inside();
    return std::memcmp(&k, &mk, sizeof mk) == 0;
  });
  return s != nullptr ? s->id : kInvalid;
}

namespace {
// A burst's lookups in stages, so that its cache misses overlap: every key's primary
// bucket is fetched, then the alternates of the keys not found there, then the records
// the hits name; a record whose key differs (a 32-bit hash collision) falls back to
// find(), which checks every candidate.
template <typename Key, typename Match, typename Record>
void lookup_bulk(const IdIndex& index, const Key* keys, uint32_t n, uint32_t* ids,
                 const Record& records, Match match) noexcept {
  uint32_t h[NatTable::kBulkMax], b[NatTable::kBulkMax];
  for (uint32_t i = 0; i < n; ++i) {
    h[i] = key16_hash(keys[i]);
    b[i] = index.primary(h[i]);
    index.prefetch(b[i]);
  }
  auto any = [](const IdSlot&) { return true; };
  uint32_t again = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const IdSlot* s = index.find_in(b[i], h[i], any);
    ids[i] = s != nullptr ? s->id : NatTable::kInvalid;
    if (s == nullptr) {
      const uint32_t alt = index.alternate(b[i], h[i]);
      b[i] = alt != b[i] ? alt : UINT32_MAX;
      if (b[i] != UINT32_MAX) index.prefetch(b[i]), ++again;
    } else {
      rte_prefetch0(&records[s->id]);
    }
  }
  if (again != 0)
    for (uint32_t i = 0; i < n; ++i) {
      if (ids[i] != NatTable::kInvalid || b[i] == UINT32_MAX) continue;
      const IdSlot* s = index.find_in(b[i], h[i], any);
      if (s != nullptr) ids[i] = s->id, rte_prefetch0(&records[s->id]);
    }
  for (uint32_t i = 0; i < n; ++i) {
    if (ids[i] == NatTable::kInvalid || match(records[ids[i]], keys[i])) continue;
    const IdSlot* s =
        index.find(h[i], [&](const IdSlot& c) { return match(records[c.id], keys[i]); });
    ids[i] = s != nullptr ? s->id : NatTable::kInvalid;
  }
}
}  // namespace

void NatTable::find_in_bulk(const InKey* keys, uint32_t n, uint32_t* ids) const noexcept {
  lookup_bulk(by_in_, keys, n, ids, sessions_, [](const Session& s, const InKey& k) {
    return std::memcmp(&s.in, &k, sizeof k) == 0;
  });
}

void NatTable::find_out_bulk(const OutKey* keys, uint32_t n, uint32_t* ids) const noexcept {
  lookup_bulk(by_out_, keys, n, ids, sessions_,
              [](const Session& s, const OutKey& k) { return s.has_out(k); });
}

uint32_t NatTable::mapping_at(rte_be32_t outside_ip, rte_be16_t port,
                              uint8_t proto) const noexcept {
  // A port is allocated once per protocol, whatever the outside address.
  const uint32_t m = map_at_[proto_index(proto)][rte_be_to_cpu_16(port)];
  return m != kInvalid && maps_[m].outside_ip == outside_ip ? m : kInvalid;
}

bool NatTable::mapping_has_sent_to(rte_be32_t outside_ip, rte_be16_t port, uint8_t proto,
                                   rte_be32_t remote_ip) const noexcept {
  const uint32_t m = mapping_at(outside_ip, port, proto);
  if (m == kInvalid) return false;
  return filter_.find(FilterSlot::key_hash(m, remote_ip), [&](const FilterSlot& f) {
    return f.mapping == m && f.remote_ip == remote_ip;
  }) != nullptr;
}

void NatTable::add_filter_ref(uint32_t m, rte_be32_t remote_ip) noexcept {
  const uint32_t h = FilterSlot::key_hash(m, remote_ip);
  FilterSlot* f = filter_.find(
      h, [&](const FilterSlot& c) { return c.mapping == m && c.remote_ip == remote_ip; });
  if (f != nullptr) {
    ++f->count;
    return;
  }
  FilterSlot n;
  n.mapping = m;
  n.remote_ip = remote_ip;
  n.count = 1;
  // Sized like the sessions it counts (at most one entry each): never full.
  filter_.insert(h, n);
}

void NatTable::drop_filter_ref(uint32_t m, rte_be32_t remote_ip) noexcept {
  FilterSlot* f = filter_.find(FilterSlot::key_hash(m, remote_ip), [&](const FilterSlot& c) {
    return c.mapping == m && c.remote_ip == remote_ip;
  });
  if (f != nullptr && --f->count == 0) filter_.erase(f);
}

bool NatTable::port_used(uint8_t proto, uint16_t port) const noexcept {
  return (port_bits_[proto_index(proto)][port >> 6] >> (port & 63)) & 1;
}

void NatTable::fifo_push(unsigned pi, uint32_t port) noexcept {
  auto& q = queued_[pi];
  if ((q[port >> 6] >> (port & 63)) & 1) return;  // already waiting
  PortFifo& f = fifo_[pi][port < 1024 ? 0 : 1];
  f.ring[(f.head + f.count) % f.ring.size()] = static_cast<uint16_t>(port);
  ++f.count;
  q[port >> 6] |= uint64_t{1} << (port & 63);
}

void NatTable::release_port(uint8_t proto, uint16_t port) noexcept {
  const unsigned pi = proto_index(proto);
  port_bits_[pi][port >> 6] &= ~(uint64_t{1} << (port & 63));
  fifo_push(pi, port);
}

bool NatTable::forwarded(uint8_t proto, uint32_t port, const Snapshot& snap,
                         rte_be32_t outside_ip) const noexcept {
  for (const PortForwardRule& r : snap.port_forwards)
    if (r.proto == proto && rte_be_to_cpu_16(r.host_port) == port &&
        (r.host_ip == 0 || r.host_ip == outside_ip))
      return true;
  return false;
}

uint16_t NatTable::allocate_port(uint8_t proto, uint16_t wanted, const Snapshot& snap,
                                 rte_be32_t outside_ip) noexcept {
  const unsigned pi = proto_index(proto);
  auto& bits = port_bits_[pi];
  auto take = [&](uint32_t p) {
    bits[p >> 6] |= uint64_t{1} << (p & 63);
    return static_cast<uint16_t>(p);
  };
  if (wanted != 0 && wanted % workers_ == worker_ && !((bits[wanted >> 6] >> (wanted & 63)) & 1) &&
      !forwarded(proto, wanted, snap, outside_ip))
    return take(wanted);  // stays queued; skipped when its turn comes while in use
  PortFifo& f = fifo_[pi][wanted != 0 && wanted < 1024 ? 0 : 1];
  auto& q = queued_[pi];
  for (uint32_t probes = 0; f.count != 0 && probes < kMaxProbes; ++probes) {
    const uint32_t p = f.ring[f.head];
    f.head = (f.head + 1) % static_cast<uint32_t>(f.ring.size());
    --f.count;
    q[p >> 6] &= ~(uint64_t{1} << (p & 63));
    if ((bits[p >> 6] >> (p & 63)) & 1) continue;  // taken by preservation meanwhile
    if (forwarded(proto, p, snap, outside_ip)) {
      fifo_push(pi, p);  // a forward owns it now; it may not later
      continue;
    }
    return take(p);
  }
  return 0;
}

uint32_t NatTable::alloc_session(uint16_t guest_port, uint32_t vm_limit, Refusal* why) noexcept {
  if (free_head_ == kInvalid) {
    *why = Refusal::kTableFull;
    return kInvalid;
  }
  if (vm_limit != 0 && per_vm_[guest_port % kMaxPorts] >= vm_limit) {
    *why = Refusal::kVmLimit;
    return kInvalid;
  }
  const uint32_t id = free_head_;
  free_head_ = sessions_[id].link;
  return id;
}

Refusal NatTable::finish_session(uint32_t id, const InKey& in, const OutKey& out, uint32_t link,
                                 bool owns_port, const InsideRef& at, uint64_t now) noexcept {
  // A key another session holds is never overwritten: replies would go to the wrong
  // session, and removing one would delete the other's key.
  if (find_in(in) != kInvalid || find_out(out) != kInvalid) return Refusal::kConflict;
  Session& s = sessions_[id];
  s = Session{};
  s.in = in;
  s.outside_ip = out.outside_ip;
  s.outside_port = out.outside_port;
  s.owns_port = owns_port;
  s.link = owns_port ? out.remote_ip : link;
  // The session keeps what the outside key has beyond the inside one (Session::out()):
  // a flow whose outside view it cannot rebuild would be unreachable.
  if (!s.has_out(out)) return Refusal::kConflict;
  const uint32_t hin = key16_hash(in);
  if (!by_in_.insert(hin, IdSlot{hin, id})) return Refusal::kTableFull;
  const uint32_t hout = key16_hash(out);
  if (!by_out_.insert(hout, IdSlot{hout, id})) {
    by_in_.erase(by_in_.find(hin, [&](const IdSlot& c) { return c.id == id; }));
    return Refusal::kTableFull;
  }
  s.last = coarse(now);
  s.segment = at.segment;
  s.guest_port = at.guest_port;
  s.uplink_port = at.uplink_port;
  s.guest_mac = at.guest_mac;
  s.tcp = TcpState::kNone;
  s.in_use = true;
  if (!owns_port && link != kInvalid) add_filter_ref(link, out.remote_ip);
  ++per_vm_[at.guest_port % kMaxPorts];
  ++used_;
  return Refusal::kNone;
}

uint32_t NatTable::new_mapping(const InKey& mk, rte_be32_t outside_ip, const InsideRef& at,
                               const Snapshot& snap) noexcept {
  if (free_maps_head_ == kInvalid) return kInvalid;
  const uint16_t port = allocate_port(mk.proto, rte_be_to_cpu_16(mk.src_port), snap, outside_ip);
  if (port == 0) return kInvalid;
  const uint32_t m = free_maps_head_;
  Mapping& mp = maps_[m];
  const uint32_t next_free = mp.refs;
  mp = Mapping{};
  mp.inside_ip = mk.src_ip;
  mp.inside_port = mk.src_port;
  mp.nat_id = mk.nat_id;
  mp.proto = mk.proto;
  mp.outside_ip = outside_ip;
  mp.outside_port = rte_cpu_to_be_16(port);
  mp.segment = at.segment;
  mp.guest_port = at.guest_port;
  mp.uplink_port = at.uplink_port;
  mp.guest_mac = at.guest_mac;
  const uint32_t h = key16_hash(mk);
  if (!mappings_.insert(h, IdSlot{h, m})) {
    release_port(mk.proto, port);
    mp.refs = next_free;  // stays on the free list
    return kInvalid;
  }
  map_at_[proto_index(mk.proto)][port] = m;
  free_maps_head_ = next_free;
  return m;
}

void NatTable::unref_mapping(uint32_t m) noexcept {
  Mapping& mp = maps_[m];
  if (--mp.refs != 0) return;
  mappings_.erase(
      mappings_.find(key16_hash(mp.inside()), [&](const IdSlot& c) { return c.id == m; }));
  map_at_[proto_index(mp.proto)][rte_be_to_cpu_16(mp.outside_port)] = kInvalid;
  release_port(mp.proto, rte_be_to_cpu_16(mp.outside_port));
  mp.refs = free_maps_head_;
  free_maps_head_ = m;
}

uint32_t NatTable::create_outbound(const InKey& in, rte_be32_t out_remote_ip,
                                   rte_be16_t out_remote_port, rte_be32_t outside_ip,
                                   const InsideRef& at, uint32_t vm_limit, const Snapshot& snap,
                                   uint64_t now, Refusal* why) noexcept {
  const uint32_t id = alloc_session(at.guest_port, vm_limit, why);
  if (id == kInvalid) return kInvalid;
  OutKey out{};
  out.remote_ip = out_remote_ip;
  out.outside_ip = outside_ip;
  out.proto = in.proto;
  if (out_remote_ip != in.dst_ip) {
    // The DNS proxy: .3's query goes to the resolver from an outside port of its own.
    // Sharing the guest's EIM mapping would give it the same outside view as a query
    // the guest sends the resolver directly from the same port.
    const uint16_t port = allocate_port(in.proto, rte_be_to_cpu_16(in.src_port), snap, outside_ip);
    if (port == 0) {
      free_session(id);
      *why = Refusal::kPortsExhausted;
      return kInvalid;
    }
    out.remote_port = out_remote_port;
    out.outside_port = rte_cpu_to_be_16(port);
    if ((*why = finish_session(id, in, out, kInvalid, /*owns_port=*/true, at, now)) !=
        Refusal::kNone) {
      release_port(in.proto, port);
      free_session(id);
      return kInvalid;
    }
    *why = Refusal::kNone;
    return id;
  }
  const InKey mk = mapping_key(in);
  uint32_t m = find_mapping(mk);
  if (m == kInvalid && (m = new_mapping(mk, outside_ip, at, snap)) == kInvalid) {
    free_session(id);
    *why = Refusal::kPortsExhausted;
    return kInvalid;
  }
  Mapping& mp = maps_[m];
  ++mp.refs;
  // ICMP echo has no ports: the identifier stands on both sides.
  out.remote_port = in.proto == IPPROTO_ICMP ? mp.outside_port : out_remote_port;
  out.outside_port = mp.outside_port;
  if ((*why = finish_session(id, in, out, m, false, at, now)) != Refusal::kNone) {
    unref_mapping(m);
    free_session(id);
    return kInvalid;
  }
  *why = Refusal::kNone;
  return id;
}

uint32_t NatTable::create_inbound(const OutKey& out, const InKey& in, uint32_t mapping,
                                  const InsideRef& at, uint32_t vm_limit, uint64_t now,
                                  Refusal* why, uint32_t forward_id) noexcept {
  const uint32_t id = alloc_session(at.guest_port, vm_limit, why);
  if (id == kInvalid) return kInvalid;
  if (mapping != kInvalid) ++maps_[mapping].refs;
  if ((*why = finish_session(id, in, out, mapping, false, at, now)) != Refusal::kNone) {
    if (mapping != kInvalid) unref_mapping(mapping);
    free_session(id);
    return kInvalid;
  }
  if (forward_id != 0) {
    sessions_[id].forwarded = true;  // mapping is kInvalid: the rule's id takes its place
    sessions_[id].link = forward_id;
  }
  *why = Refusal::kNone;
  return id;
}

uint32_t NatTable::sweep(const Snapshot& snap, uint32_t from, uint32_t count) noexcept {
  uint32_t removed = 0;
  const uint32_t end = from + count < capacity_ ? from + count : capacity_;
  for (uint32_t id = from; id < end; ++id)
    if (sessions_[id].in_use && !session_live(snap, sessions_[id])) {
      remove(id);
      ++removed;
    }
  return removed;
}

bool NatTable::touch_tcp(uint32_t id, uint64_t now, Dir d, const TcpSegment& seg) noexcept {
  Session& s = sessions_[id];
  if ((seg.flags & RTE_TCP_RST_FLAG) && !s.track.rst_acceptable(d, seg))
    return false;  // blind or stale: the session keeps its state and its time
  s.track.update(d, seg);
  s.tcp = tcp_next(s.tcp, d, seg.flags);
  s.last = coarse(now);
  return true;
}

void NatTable::remove(uint32_t id) noexcept {
  Session& s = sessions_[id];
  if (!s.in_use) return;
  by_in_.erase(by_in_.find(key16_hash(s.in), [&](const IdSlot& c) { return c.id == id; }));
  by_out_.erase(by_out_.find(key16_hash(s.out()), [&](const IdSlot& c) { return c.id == id; }));
  if (s.mapping() != kInvalid) {
    drop_filter_ref(s.mapping(), s.remote_ip());
    unref_mapping(s.mapping());
  }
  if (s.owns_port) release_port(s.in.proto, rte_be_to_cpu_16(s.outside_port));
  --per_vm_[s.guest_port % kMaxPorts];
  --used_;
  s.in_use = false;
  free_session(id);
}

uint32_t NatTable::expire(uint64_t now, const std::array<uint64_t, 4>& timeout_tsc,
                          uint32_t budget) noexcept {
  // The hand goes round once per pass, a sixteenth of the shortest timeout: a session
  // leaves at most that long after its timeout. Time owed beyond one pass is forgiven
  // (one pass looks at everything).
  uint64_t pass = *std::min_element(timeout_tsc.begin(), timeout_tsc.end()) / 16;
  if (pass == 0) pass = 1;
  const uint64_t elapsed = now - hand_tsc_;
  const uint64_t from_tsc = elapsed >= pass ? now - pass : hand_tsc_;
  uint64_t due = capacity_;
  if (elapsed < pass) {
    // Called every poll loop: wait until kScanMin slots are due (one multiplication
    // to find out; the division only when the hand moves).
    const unsigned __int128 owed = static_cast<unsigned __int128>(elapsed) * capacity_;
    if (owed < static_cast<unsigned __int128>(pass) * std::min(kScanMin, capacity_)) return 0;
    due = static_cast<uint64_t>(owed / pass);
  }
  const uint64_t slots = std::min<uint64_t>(due, kScanMax);
  if (slots == 0 || capacity_ == 0) return 0;
  uint32_t limit[4];
  for (size_t c = 0; c < 4; ++c)  // ticks compare across 2^31 of them (a wrapping clock)
    limit[c] = static_cast<uint32_t>(std::min<uint64_t>(timeout_tsc[c] >> shift_, INT32_MAX));
  const uint32_t now_c = coarse(now);
  uint32_t removed = 0;
  uint64_t looked = 0;
  for (; looked < slots && removed < budget; ++looked) {
    const uint32_t id = hand_;
    hand_ = hand_ + 1 < capacity_ ? hand_ + 1 : 0;
    const Session& s = sessions_[id];
    if (!s.in_use) continue;
    const auto c = static_cast<size_t>(class_of(s.in.proto, s.tcp));
    if (static_cast<uint32_t>(now_c - s.last) > limit[c]) {
      remove(id);
      ++removed;
    }
  }
  hand_tsc_ =
      from_tsc + static_cast<uint64_t>(static_cast<unsigned __int128>(looked) * pass / capacity_);
  return removed;
}

}  // namespace gp::nat
