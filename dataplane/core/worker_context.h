// Everything one worker lcore owns: its queue index, its counters, its learn ring and
// its tx staging buffers. Exactly one thread uses a WorkerContext at a time; the
// control thread only reads `counters` (relaxed, see counters.h).
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>

#include "dataplane/core/counters.h"
#include "dataplane/core/tx_queues.h"
#include "dataplane/core/types.h"
#include "dataplane/l2/mac_cache.h"

namespace gp {

class Fdb;
class Neighbors;
class PortLeases;
struct Snapshot;
namespace nat {
class NatTable;
class NatViewRequest;
class FragTable;
}  // namespace nat

// A MAC learned or moved, from a worker to the single FDB writer (l2/learner.h).
struct LearnEvent {
  uint64_t key;  // Fdb::make_key(segment, mac)
  uint16_t port;
  uint16_t generation;
  uint32_t pad_;
};
static_assert(sizeof(LearnEvent) == 16);

// Frames staged per egress port during a burst. A port is listed in `dirty` once per
// flush however often its queue fills and is sent in between, so neither array can
// overflow whatever a stage stages (flooding, fragments, hairpins, injections).
struct TxStaging {
  struct Queue {
    uint16_t n = 0;
    bool listed = false;  // in `dirty` since the last flush_tx
    rte_mbuf* pkts[kBurst];
  };
  std::array<Queue, kMaxPorts> q;
  std::array<uint16_t, kMaxPorts> dirty{};
  uint16_t n_dirty = 0;
};

// A token bucket per ingress port for frames to the slow path (see punt_admit).
struct PuntBucket {
  uint64_t last_tsc = 0;
  uint32_t tokens = 0;
};

struct alignas(64) WorkerContext {
  uint16_t worker_id = 0;
  uint16_t queue_id = 0;  // this worker's rx and tx queue on every port
  uint64_t now_tsc = 0;   // set once per poll loop (tests inject it)
  uint64_t tsc_hz = 1;
  Fdb* fdb = nullptr;
  rte_ring* learn_ring = nullptr;   // SP/SC, elements are LearnEvent
  rte_ring* punt_ring = nullptr;    // SP/SC mbufs to the slow path (mbuf->port = ingress)
  rte_ring* inject_ring = nullptr;  // SP/SC mbufs from the slow path (mbuf->port = egress)
  uint16_t n_workers = 1;
  nat::NatTable* nat = nullptr;             // this worker's NAT sessions (owned)
  nat::FragTable* frags = nullptr;          // its fragment tracking (with nat)
  nat::NatViewRequest* nat_view = nullptr;  // `show nat` requests for this worker
  // The Snapshot::nat_epoch this worker's table was last swept for, and where a sweep
  // in progress has got to (>= capacity: none in progress). See nat_expire.
  uint64_t nat_swept_epoch = 0, nat_sweeping_epoch = 0;
  uint32_t nat_sweep_cursor = UINT32_MAX;
  const Neighbors* neighbors = nullptr;  // own MACs, uplink next hops
  // SP/SC mbuf rings to and from every other worker, for NAT packets whose session
  // another worker owns (mbuf->port = ingress port). Index = the other worker.
  std::array<rte_ring*, kMaxWorkers> handoff_to{};
  std::array<rte_ring*, kMaxWorkers> handoff_from{};
  WorkerCounters* counters = nullptr;
  // Tx queues each port really has (null: every worker has its own on every port), and
  // SP/SC rings of TxHandoff elements to and from every other worker for the frames of
  // ports that lack this worker's queue. Index = the other worker.
  const TxQueueMap* tx_queues = nullptr;
  const PortLeases* leases = nullptr;  // DHCP leases per port, for port security
  // The snapshot of the current poll loop (set by poll_once): send_staged applies the
  // egress ACL of a port from it. Null: no egress filtering.
  const Snapshot* snap = nullptr;
  std::array<rte_ring*, kMaxWorkers> tx_to{};
  std::array<rte_ring*, kMaxWorkers> tx_from{};
  // Sends what is staged for a tunnel port (is_tunnel_port): encapsulates it and stages
  // the result on the uplink. Set by the pipeline (poll_once), which knows the tunnel
  // stages; null: such frames are dropped as tx_no_queue.
  void (*tunnel_tx)(WorkerContext& ctx, uint16_t port) noexcept = nullptr;
  uint16_t ip_id = 0;  // the IPv4 identification of the next outer header this worker makes
  TxStaging tx;
  std::array<PuntBucket, kMaxPorts> punt_buckets{};
  MacCache mac_cache;  // this worker's cache in front of fdb (l2_stage)
};

// May one more frame from `port` go to the slow path now? `pps` tokens a second, at
// most `burst` saved up. Integer TSC arithmetic, no system call.
inline bool punt_admit(WorkerContext& ctx, uint16_t port, uint32_t pps, uint32_t burst) noexcept {
  if (pps == 0) return true;  // no limit
  PuntBucket& b = ctx.punt_buckets[port];
  const uint64_t per_token = ctx.tsc_hz / pps == 0 ? 1 : ctx.tsc_hz / pps;
  if (b.tokens >= burst) {
    b.last_tsc = ctx.now_tsc;
  } else if (ctx.now_tsc > b.last_tsc) {
    const uint64_t add = (ctx.now_tsc - b.last_tsc) / per_token;
    if (add != 0) {
      b.tokens = add >= burst - b.tokens ? burst : b.tokens + static_cast<uint32_t>(add);
      b.last_tsc += add * per_token;
    }
  }
  if (b.tokens == 0) return false;
  --b.tokens;
  return true;
}

// Why a frame was punted, when the slow path cannot tell from the frame itself
// (stored in mbuf->hash.usr, which nothing else in guestport uses).
enum PuntReason : uint32_t {
  kPuntAnswer = 0,         // ARP, DHCP, ping for the appliance: look at the frame
  kPuntNeedsFrag = 1,      // NAT: DF set and larger than the uplink MTU (RFC 1191)
  kPuntTtlExpired = 2,     // NAT: TTL would reach 0 at the gateway (RFC 792 time exceeded)
  kPuntDnsNoUpstream = 3,  // NAT: a UDP query to the DNS proxy, no resolver: SERVFAIL
  kPuntResolve = 4,        // NAT: to an on-link host of the uplink whose MAC is unknown
  kPuntNeedsFragOut = 5,   // NAT: from outside, DF set, larger than the guest's MTU; the
                           // MTU rides in the upper 16 bits of mbuf->hash.usr
};

// Sends what is staged for `port` now (worker.cc); the port stays listed for flush_tx.
void send_staged(WorkerContext& ctx, uint16_t port) noexcept;

// Queues m for `port`. A full queue is sent first, so staging is safe whatever the
// number of frames a burst turns into (kBurst frames at most wait per port).
inline void stage_tx(WorkerContext& ctx, uint16_t port, rte_mbuf* m) noexcept {
  TxStaging::Queue& q = ctx.tx.q[port];
  if (!q.listed) {
    q.listed = true;
    ctx.tx.dirty[ctx.tx.n_dirty++] = port;
  }
  if (q.n == kBurst) send_staged(ctx, port);
  q.pkts[q.n++] = m;
}

}  // namespace gp
