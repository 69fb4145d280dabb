// One worker's NAT state: sessions (one per flow), EIM mappings (one per inside
// endpoint, RFC 4787 REQ-1) with their outside port, and the counts behind
// address-dependent filtering (REQ-8). Owned by exactly one worker lcore: no locks,
// no sharing; the control thread never touches it while the worker runs.
//
// Outside ports are sliced between workers (port % workers == worker), so an inbound
// packet names its owner. Allocation keeps the inside port when it is free and in the
// slice (REQ-3 port preservation), else takes the longest-free port of the slice in the
// same range (1-1023 or 1024-65535, REQ-3/4) from a FIFO, in O(1). Sessions expire by a
// clock sweep over their slots, paced so that a pass takes a sixteenth of the shortest
// timeout. Memory is allocated once: sessions and their indexes by capacity, mappings
// by the ports there are (a mapping holds one outside port of the slice).
#pragma once

#include <netinet/in.h>
#include <rte_prefetch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/core/cuckoo_table.h"
#include "dataplane/core/huge_array.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/nat/tcp_state.h"
#include "dataplane/nat/translate.h"

namespace gp::nat {

// The inside view of a flow, as the guest's packets name it.
struct InKey {
  rte_be32_t src_ip, dst_ip;
  rte_be16_t src_port, dst_port;  // ICMP echo: the identifier in both
  uint16_t nat_id;
  uint8_t proto;
  uint8_t pad = 0;
};
static_assert(sizeof(InKey) == 16 && std::is_trivially_copyable_v<InKey>);

inline InKey in_key(rte_be32_t src_ip, rte_be16_t src_port, rte_be32_t dst_ip, rte_be16_t dst_port,
                    uint16_t nat_id, uint8_t proto) noexcept {
  InKey k{};
  k.src_ip = src_ip;
  k.dst_ip = dst_ip;
  k.src_port = src_port;
  k.dst_port = dst_port;
  k.nat_id = nat_id;
  k.proto = proto;
  return k;
}

// The outside view, as an inbound packet names it.
struct OutKey {
  rte_be32_t remote_ip, outside_ip;
  rte_be16_t remote_port, outside_port;
  uint8_t proto;
  uint8_t pad[3] = {0, 0, 0};
};
static_assert(sizeof(OutKey) == 16 && std::is_trivially_copyable_v<OutKey>);

// Address-dependent filtering (REQ-8): how many sessions of an EIM mapping go to one
// remote address, kept inline in the filter index (no record of its own).
struct FilterSlot {
  uint32_t mapping = 0;
  rte_be32_t remote_ip = 0;
  uint32_t count = 0;  // 0: empty
  static uint32_t key_hash(uint32_t mapping, rte_be32_t remote_ip) noexcept;
  struct Traits {
    static bool empty(const FilterSlot& s) noexcept { return s.count == 0; }
    static uint32_t hash(const FilterSlot& s) noexcept { return key_hash(s.mapping, s.remote_ip); }
  };
};

// Where the inside host of a flow sits: its segment, the port it was seen on, its MAC
// (the frame's source, or the inside neighbour table for port forwards), the uplink.
struct InsideRef {
  uint16_t segment = kNoPort, guest_port = kNoPort, uplink_port = kNoPort;
  rte_ether_addr guest_mac{};
};

enum class TimeoutClass : uint8_t { kUdp = 0, kTcpEstablished, kTcpTransitory, kIcmp, kCount };

// One flow, in one cache line: what every packet of it reads (the inside key, the
// outside endpoint, where the guest is), its TCP state and sequence tracking, and when
// it was last used (`last`, a coarse clock: NatTable::coarse()). Expiry sweeps the slots
// like a clock hand (NatTable::expire), so a packet writes only its own line.
//
// The outside key is not stored whole: the remote endpoint is the inside key's
// destination (a hairpin and a port forward alike), except for a DNS-proxy session
// (owns_port), whose remote address (the upstream resolver) is kept in `link`; ICMP
// echo has the identifier on both sides (remote_port = outside_port).
struct alignas(64) Session {
  InKey in;
  rte_be32_t outside_ip;
  rte_be16_t outside_port;
  uint16_t segment;  // snapshot segment of the inside (for nat_id -> ports)
  uint32_t last;     // when a packet last went through, in coarse ticks
  // The EIM mapping; or (forwarded) the PortForwardRule::id; or (owns_port) the remote
  // address; while unused, the next free session.
  uint32_t link;
  uint16_t guest_port, uplink_port;
  rte_ether_addr guest_mac;  // where inbound frames go (a NAT network has many guests)
  TcpState tcp;
  bool in_use : 1;
  bool owns_port : 1;  // a DNS-proxy session: its outside port is its own, not a mapping's
  bool forwarded : 1;  // a port forward let it in: `link` is the rule's id
  TcpTrack track;      // TCP only

  // kInvalid for port-forward and DNS-proxy sessions.
  uint32_t mapping() const noexcept { return forwarded || owns_port ? UINT32_MAX : link; }
  // The PortForwardRule::id that let it in; 0 for none.
  uint32_t forward_id() const noexcept { return forwarded ? link : 0; }
  rte_be32_t remote_ip() const noexcept { return owns_port ? link : in.dst_ip; }
  rte_be16_t remote_port() const noexcept {
    return in.proto == IPPROTO_ICMP ? outside_port : in.dst_port;
  }
  // The outside view of the flow, as an inbound packet names it.
  OutKey out() const noexcept {
    OutKey k{};
    k.remote_ip = remote_ip();
    k.outside_ip = outside_ip;
    k.remote_port = remote_port();
    k.outside_port = outside_port;
    k.proto = in.proto;
    return k;
  }
  bool has_out(const OutKey& k) const noexcept {
    return k.outside_port == outside_port && k.outside_ip == outside_ip && k.proto == in.proto &&
           k.remote_ip == remote_ip() && k.remote_port == remote_port();
  }
};
static_assert(sizeof(Session) == 64);

// Does the running config still have the session's router (same nat_id) and, for a
// port-forward session, its rule? A re-apply that removed or changed either leaves
// sessions that must carry nothing more (Drop::kNatStale) until the worker sweeps them.
inline bool session_live(const Snapshot& snap, const Session& s) noexcept {
  if (s.segment >= snap.nat.size() || snap.nat[s.segment].nat_id != s.in.nat_id) return false;
  if (!s.forwarded) return true;
  for (const PortForwardRule& r : snap.port_forwards)
    if (r.id == s.link) return true;
  return false;
}

// What the plain rewrite of an established flow asks, shared by the NAT lane
// (nat_lane.cc) and the NAT stage's own fast lane: anything else takes the full path.
// A packet of session s may be rewritten and sent on: not a DNS-proxy session (its own
// outside port, another remote), not a stale one; inbound, one with a guest port.
inline bool rewrite_serves_out(const Snapshot& snap, const Session& s) noexcept {
  return !s.owns_port && session_live(snap, s);
}
inline bool rewrite_serves_in(const Snapshot& snap, const Session& s) noexcept {
  return !s.owns_port && s.guest_port < kMaxPorts && session_live(snap, s);
}
// An outbound destination routed out of the uplink: not our outside address (a
// hairpin), not the inside network (the DNS proxy included), not a group address.
inline bool routed_out(const NatSegment& ns, const UplinkNat& up, rte_be32_t dst) noexcept {
  return dst != up.address && (dst & ns.netmask) != ns.network && !group_address(dst);
}

// kConflict: the flow's keys are taken by another session (never overwritten), or its
// outside view is one a session cannot rebuild (Session::out()).
enum class Refusal : uint8_t { kNone, kTableFull, kVmLimit, kPortsExhausted, kConflict };

// An EIM mapping: one inside endpoint of one NAT router, one outside port.
// Half a cache line.
struct Mapping {
  rte_be32_t inside_ip = 0, outside_ip = 0;
  rte_be16_t inside_port = 0, outside_port = 0;
  uint16_t nat_id = 0;
  uint16_t segment = kNoPort, guest_port = kNoPort, uplink_port = kNoPort;
  rte_ether_addr guest_mac{};
  uint8_t proto = 0;
  uint32_t refs = 0;  // sessions using it; while unused, the next free mapping

  // The mapping key: (nat_id, proto, inside ip, inside port), the destination zero.
  InKey inside() const noexcept { return in_key(inside_ip, inside_port, 0, 0, nat_id, proto); }
};
static_assert(sizeof(Mapping) == 32);

class NatTable {
 public:
  static constexpr uint32_t kInvalid = UINT32_MAX;
  static constexpr uint32_t kBulkMax = 64;  // keys of one find_*_bulk

  // capacity: sessions; worker/workers: this table's slice of outside ports.
  // time_shift: TSC cycles per coarse tick are 2^time_shift (default: 1/128..1/64 s, so
  // the 2^31 ticks a wrapping uint32 clock compares across span the longest timeout, 2^24 s).
  NatTable(uint32_t capacity, uint16_t worker, uint16_t workers, int time_shift = -1);
  ~NatTable();
  NatTable(const NatTable&) = delete;
  NatTable& operator=(const NatTable&) = delete;

  // The 32-bit hash that places a key in its index (CRC32-C); public for tests.
  static uint32_t key_hash(const InKey& k) noexcept;
  static uint32_t key_hash(const OutKey& k) noexcept;

  uint32_t find_in(const InKey& k) const noexcept;
  uint32_t find_out(const OutKey& k) const noexcept;
  // Bulk forms for a burst (n <= kBulkMax): ids[i] = session or kInvalid.
  void find_in_bulk(const InKey* keys, uint32_t n, uint32_t* ids) const noexcept;
  void find_out_bulk(const OutKey* keys, uint32_t n, uint32_t* ids) const noexcept;
  // The mapping on this outside port (EIF), kInvalid if none; has it sent to remote_ip (ADF)?
  uint32_t mapping_at(rte_be32_t outside_ip, rte_be16_t port, uint8_t proto) const noexcept;
  const Mapping& mapping(uint32_t id) const noexcept { return maps_[id]; }
  bool mapping_has_sent_to(rte_be32_t outside_ip, rte_be16_t port, uint8_t proto,
                           rte_be32_t remote_ip) const noexcept;

  // Creates a session for an outbound flow; the outside endpoint comes from the flow's
  // mapping (EIM), made on first use. `out_remote` is where it really goes (the DNS
  // proxy sends .3's queries to an upstream resolver). Returns kInvalid and why not.
  uint32_t create_outbound(const InKey& in, rte_be32_t out_remote_ip, rte_be16_t out_remote_port,
                           rte_be32_t outside_ip, const InsideRef& at, uint32_t vm_limit,
                           const Snapshot& snap, uint64_t now, Refusal* why) noexcept;
  // Creates a session for an inbound packet allowed by filtering (mapping != kInvalid)
  // or by a port forward (mapping == kInvalid): `out` is the packet's outside view, `in`
  // the same flow seen from the inside.
  uint32_t create_inbound(const OutKey& out, const InKey& in, uint32_t mapping, const InsideRef& at,
                          uint32_t vm_limit, uint64_t now, Refusal* why,
                          uint32_t forward_id = 0) noexcept;

  Session& session(uint32_t id) noexcept { return sessions_[id]; }
  // Brings a session's cache line in ahead of use (a burst's hits, found in bulk).
  void prefetch(uint32_t id) const noexcept { rte_prefetch0(&sessions_[id]); }
  const Session& session(uint32_t id) const noexcept { return sessions_[id]; }
  const TcpTrack& tcp_track(uint32_t id) const noexcept { return sessions_[id].track; }
  // The coarse clock of `last`, and how long a session has been idle (TSC cycles).
  uint32_t coarse(uint64_t tsc) const noexcept { return static_cast<uint32_t>(tsc >> shift_); }
  uint64_t idle_tsc(uint32_t id, uint64_t now) const noexcept {
    return uint64_t{static_cast<uint32_t>(coarse(now) - sessions_[id].last)} << shift_;
  }
  // A packet went through: refresh, advance TCP state. A TCP RST
  // the receiver would not accept (TcpTrack::rst_acceptable) changes nothing and
  // returns false. seg: nullptr for UDP and ICMP.
  bool touch(uint32_t id, uint64_t now, Dir d, const TcpSegment* seg) noexcept {
    if (seg == nullptr || sessions_[id].in.proto != IPPROTO_TCP) {
      // Written only when the coarse clock moved: a line left clean needs no write-back.
      const uint32_t c = coarse(now);
      if (sessions_[id].last != c) sessions_[id].last = c;
      return true;
    }
    return touch_tcp(id, now, d, *seg);
  }
  bool touch(uint32_t id, uint64_t now, Dir d, uint8_t tcp_flags) noexcept {
    TcpSegment seg;
    seg.flags = tcp_flags;
    return touch(id, now, d, &seg);
  }
  // The clock hand: looks at the slots due since the last call (a whole pass takes a
  // sixteenth of the shortest timeout; at most kScanMax slots a call) and removes the
  // sessions idle past their class's timeout, at most `budget`. Returns how many.
  uint32_t expire(uint64_t now, const std::array<uint64_t, 4>& timeout_tsc,
                  uint32_t budget) noexcept;
  void remove(uint32_t id) noexcept;
  // Removes the sessions among slots [from, from + count) that are not session_live in
  // `snap`; returns how many. Call between bursts (hints of a burst stay valid).
  uint32_t sweep(const Snapshot& snap, uint32_t from, uint32_t count) noexcept;

  uint32_t size() const noexcept { return used_; }
  // The session and mapping arrays and the indexes (mapped apart from the heaps).
  size_t array_bytes() const noexcept {
    return sessions_.bytes() + maps_.bytes() + by_in_.bytes() + by_out_.bytes() +
           mappings_.bytes() + filter_.bytes();
  }
  uint32_t capacity() const noexcept { return capacity_; }
  // Mappings there is room for: no more than the sessions, nor than the outside ports of
  // this worker's slice (three protocols), as each holds one.
  uint32_t mapping_capacity() const noexcept { return static_cast<uint32_t>(maps_.size()); }
  static constexpr uint32_t kScanMax = 4096;
  static constexpr uint32_t kScanMin = 64;  // the hand moves by at least this many slots
  // Sessions of one VM adapter (its guest port): the per-VM limit counts these, on a
  // `nat` adapter and on a NAT network alike.
  uint32_t vm_sessions(uint16_t guest_port) const noexcept {
    return per_vm_[guest_port % kMaxPorts];
  }

  // Port allocation, exposed for tests. `wanted` if it is free and ours (REQ-3), else
  // the longest-free port of the slice in the same range, from a FIFO of free ports:
  // O(1), at most kMaxProbes candidates looked at (ports taken by preservation or by a
  // port-forward rule are skipped). Returns 0 when none is found.
  uint16_t allocate_port(uint8_t proto, uint16_t wanted, const Snapshot& snap,
                         rte_be32_t outside_ip) noexcept;
  void release_port(uint8_t proto, uint16_t port) noexcept;
  bool port_used(uint8_t proto, uint16_t port) const noexcept;
  static constexpr uint32_t kMaxProbes = 64;

 private:
  static unsigned proto_index(uint8_t proto) noexcept;
  static TimeoutClass class_of(uint8_t proto, TcpState s) noexcept;
  bool touch_tcp(uint32_t id, uint64_t now, Dir d, const TcpSegment& seg) noexcept;
  uint32_t alloc_session(uint16_t guest_port, uint32_t vm_limit, Refusal* why) noexcept;
  void free_session(uint32_t id) noexcept {
    sessions_[id].link = free_head_;
    free_head_ = id;
  }
  // mapping key (nat_id, proto, inside ip, inside port) packed in an InKey
  static InKey mapping_key(const InKey& in) noexcept;
  uint32_t find_mapping(const InKey& mk) const noexcept;
  void add_filter_ref(uint32_t mapping, rte_be32_t remote_ip) noexcept;
  void drop_filter_ref(uint32_t mapping, rte_be32_t remote_ip) noexcept;
  // A new EIM mapping for mapping key mk (refs 0), or kInvalid when no port is left.
  uint32_t new_mapping(const InKey& mk, rte_be32_t outside_ip, const InsideRef& at,
                       const Snapshot& snap) noexcept;
  void unref_mapping(uint32_t m) noexcept;  // frees it with its port when unused
  // Indexes and fills session `id`; kConflict or kTableFull (an index had no room) if not.
  Refusal finish_session(uint32_t id, const InKey& in, const OutKey& out, uint32_t link,
                         bool owns_port, const InsideRef& at, uint64_t now) noexcept;

  uint32_t capacity_;
  uint16_t worker_, workers_;
  unsigned shift_;
  HugeArray<Session> sessions_;
  uint32_t free_head_ = kInvalid;  // free sessions, linked through Session::link
  uint32_t used_ = 0;
  IdIndex by_in_, by_out_;                              // sessions by InKey, by OutKey
  IdIndex mappings_;                                    // mappings by mapping_key
  CuckooTable<FilterSlot, FilterSlot::Traits> filter_;  // (mapping, remote) -> sessions
  HugeArray<Mapping> maps_;
  uint32_t free_maps_head_ = kInvalid;              // free mappings, linked through Mapping::refs
  std::array<std::vector<uint64_t>, 3> port_bits_;  // per proto: TCP, UDP, ICMP
  std::array<std::vector<uint32_t>, 3> map_at_;     // per proto and outside port: Mapping
  // Free ports of this worker's slice, per proto and range (0: 1-1023, 1: 1024-65535),
  // oldest first; a port is in its FIFO at most once (queued_ bits).
  struct PortFifo {
    std::vector<uint16_t> ring;
    uint32_t head = 0, count = 0;
  };
  std::array<std::array<PortFifo, 2>, 3> fifo_;
  std::array<std::vector<uint64_t>, 3> queued_;
  bool forwarded(uint8_t proto, uint32_t port, const Snapshot& snap,
                 rte_be32_t outside_ip) const noexcept;
  void fifo_push(unsigned proto_idx, uint32_t port) noexcept;
  uint32_t hand_ = 0;                         // the next slot the expiry sweep looks at
  uint64_t hand_tsc_ = 0;                     // the time up to which the sweep is done
  std::array<uint32_t, kMaxPorts> per_vm_{};  // by guest port
};

}  // namespace gp::nat
