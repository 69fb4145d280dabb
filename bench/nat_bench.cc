// Micro benchmark of the NAT fast path: bursts of 32 UDP packets of established flows
// (32 of them, or 16384 for a table that does not fit the caches) through process_batch (the NAT
// lane: parse, bulk session lookup, NAPT rewrite with incremental checksums, TTL, next hop)
// and flush_tx into net_ring ports, guest to outside and back, on one core with EAL --no-huge.
// Packets are rewritten in place, so each is rebuilt before every burst, outside the timed region.
// Never run as a test. Run: build/bench/nat_bench
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_udp.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "control/compile.h"
#include "control/config_loader.h"
#include "control/validate.h"
#include "dataplane/core/snapshot_holder.h"
#include "dataplane/l2/fdb.h"
#include "dataplane/nat/frag_table.h"
#include "dataplane/nat/nat_table.h"
#include "dataplane/nat/neighbors.h"
#include "dataplane/pipeline.h"

namespace {

using namespace gp;

rte_mempool* g_pool = nullptr;
constexpr uint32_t kGuest = 0x0a00020f, kServer = 0xcb007107, kOutside = 0xc633640a;
const rte_ether_addr kGuestMac{{0x08, 0, 0x27, 0, 0, 1}};
const rte_ether_addr kGwMac{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
const rte_ether_addr kRouterMac{{0x02, 0, 0, 0, 0, 1}};

const char* kConfig =
    "appliance: {nat: {sessions: 65536}}\n"
    "uplinks: {wan: {device: pw, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n"
    "vms:\n  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: pa}}}\n";

struct Bench {
  std::unique_ptr<SnapshotHolder> holder = std::make_unique<SnapshotHolder>(1);
  std::unique_ptr<Fdb> fdb = std::make_unique<Fdb>(4096, holder.get());
  nat::NatTable table{65536, 0, 1};
  nat::FragTable frags{1024};
  Neighbors neighbors;
  WorkerCounters counters;
  WorkerContext ctx;
  std::map<std::string, uint16_t> port_ids;
  std::map<std::string, rte_ring*> tx_rings;

  Bench() {
    ctx.fdb = fdb.get();
    ctx.counters = &counters;
    ctx.tsc_hz = rte_get_tsc_hz();
    ctx.nat = &table;
    ctx.frags = &frags;
    ctx.neighbors = &neighbors;
    LoadResult r = parse_config(kConfig, "bench.yaml");
    validate_config(*r.config, r.errors);
    std::vector<Diagnostic> errs;
    auto plans = plan_ports(*r.config, errs);
    std::map<std::string, uint16_t> ids;
    for (const auto& p : plans) {
      std::string n = "natbench_" + p.devargs;
      rte_ring* tx = nullptr;
      const uint16_t id = gp::bench::ring_port(n, g_pool, &tx);
      ids[p.key] = id;
      port_ids[p.devargs] = id;
      tx_rings[p.devargs] = tx;
      rte_ether_addr mac;
      rte_eth_macaddr_get(id, &mac);
      neighbors.set_own_mac(id, mac);
    }
    holder->publish(
        compile_snapshot(plans, ids, 1, plan_segments(*r.config), plan_globals(*r.config)));
    neighbors.set_next_hop(port_ids["pw"], kRouterMac);
    rte_rcu_qsbr_thread_register(holder->qsbr(), 0);
    rte_rcu_qsbr_thread_online(holder->qsbr(), 0);
  }

  std::vector<rte_mbuf*> drain(const std::string& port) {
    std::vector<rte_mbuf*> got;
    void* out[64];
    unsigned k;
    while ((k = rte_ring_dequeue_burst(tx_rings[port], out, 64, nullptr)) > 0)
      for (unsigned i = 0; i < k; ++i) got.push_back(static_cast<rte_mbuf*>(out[i]));
    return got;
  }
};

// Rebuilds a 64-byte UDP frame in place (the NAT rewrote it last time).
void fill(rte_mbuf* m, const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac, uint32_t src,
          uint32_t dst, uint16_t sport, uint16_t dport) {
  rte_pktmbuf_reset(m);
  if (rte_pktmbuf_append(m, 64) == nullptr) return;
  auto* p = rte_pktmbuf_mtod(m, uint8_t*);
  for (unsigned i = 0; i < 64; ++i) p[i] = 0;
  auto* eh = reinterpret_cast<rte_ether_hdr*>(p);
  eh->src_addr = src_mac;
  eh->dst_addr = dst_mac;
  eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(64 - 14);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(src);
  ip->dst_addr = rte_cpu_to_be_32(dst);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  u->src_port = rte_cpu_to_be_16(sport);
  u->dst_port = rte_cpu_to_be_16(dport);
  u->dgram_len = rte_cpu_to_be_16(64 - 14 - 20);
  u->dgram_cksum = rte_ipv4_udptcp_cksum(ip, u);
}

Bench* g_bench = nullptr;
constexpr unsigned kFlows = 16384;      // established before the runs
std::vector<uint16_t> g_outside_ports;  // the outside port of each flow

// Burst `k` uses flows [32k, 32k + 32) of the first `flows`.
void outbound(std::vector<rte_mbuf*>& f, unsigned flows, unsigned k) {
  for (unsigned i = 0; i < kBurst; ++i)
    fill(f[i], kGuestMac, kGwMac, kGuest, kServer,
         static_cast<uint16_t>(20000 + (k * kBurst + i) % flows), 53);
}
void inbound(std::vector<rte_mbuf*>& f, unsigned flows, unsigned k) {
  const rte_ether_addr up_mac = g_bench->neighbors.own_mac(g_bench->port_ids["pw"]);
  for (unsigned i = 0; i < kBurst; ++i)
    fill(f[i], kRouterMac, up_mac, kServer, kOutside, 53,
         g_outside_ports[(k * kBurst + i) % flows]);
}

// One burst of f (rebuilt by the caller) from in_port through process_batch and flush_tx;
// the TSC cycles that took. The frames that left out_port are freed; false unless all
// of them did.
bool timed_burst(Bench& b, std::vector<rte_mbuf*>& f, const std::string& in_port,
                 const std::string& out_port, uint64_t* cycles) {
  for (rte_mbuf* m : f) rte_mbuf_refcnt_update(m, 1);  // the tx ring's copy is freed below
  Batch batch;
  batch.in_port = b.port_ids[in_port];
  batch.n = kBurst;
  std::memcpy(batch.pkts, f.data(), sizeof(rte_mbuf*) * kBurst);
  b.ctx.now_tsc = rte_rdtsc();
  const uint64_t t0 = rte_rdtsc_precise();
  process_batch(b.ctx, *b.holder->acquire(), batch);
  flush_tx(b.ctx);
  *cycles += rte_rdtsc_precise() - t0;
  rte_rcu_qsbr_quiescent(b.holder->qsbr(), 0);
  auto sent = b.drain(out_port);
  rte_pktmbuf_free_bulk(sent.data(), static_cast<unsigned>(sent.size()));
  return sent.size() == kBurst;
}

void run(benchmark::State& state, bool out) {
  Bench& b = *g_bench;
  const auto flows = static_cast<unsigned>(state.range(0));
  std::vector<rte_mbuf*> f(kBurst);
  for (auto& m : f) m = rte_pktmbuf_alloc(g_pool);
  const std::string in_port = out ? "pa" : "pw", out_port = out ? "pw" : "pa";
  uint64_t cycles = 0;
  unsigned k = 0;
  for (auto _ : state) {
    out ? outbound(f, flows, k) : inbound(f, flows, k);
    ++k;
    if (!timed_burst(b, f, in_port, out_port, &cycles))
      state.SkipWithError("not every packet was translated");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
  state.counters["cycles/pkt"] =
      static_cast<double>(cycles) / static_cast<double>(state.iterations() * kBurst);
  rte_pktmbuf_free_bulk(f.data(), kBurst);
}

void BM_NatOutboundEstablished(benchmark::State& state) { run(state, true); }
void BM_NatInboundEstablished(benchmark::State& state) { run(state, false); }
BENCHMARK(BM_NatOutboundEstablished)->Arg(32)->Arg(kFlows);
BENCHMARK(BM_NatInboundEstablished)->Arg(32)->Arg(kFlows);

// New-session setup end to end: every packet of every burst opens a flow (a new inside
// port, so a new EIM mapping and outside port too) through process_batch. When the
// table nears full it is emptied, outside the timed region. Runs last: it empties the
// established flows of the runs above.
// Expires every session (the sweep looks at kScanMax slots a call: as many calls as
// the table needs).
void empty_table(nat::NatTable& t) {
  const std::array<uint64_t, 4> now_expires{0, 0, 0, 0};
  const uint64_t later = rte_rdtsc() + rte_get_tsc_hz();
  for (uint32_t i = 0; t.size() != 0 && i <= t.capacity() / nat::NatTable::kScanMax + 1; ++i)
    t.expire(later, now_expires, UINT32_MAX);
}

void BM_NatNewSessions(benchmark::State& state) {
  Bench& b = *g_bench;
  empty_table(b.table);
  std::vector<rte_mbuf*> f(kBurst);
  for (auto& m : f) m = rte_pktmbuf_alloc(g_pool);
  uint64_t cycles = 0, created = 0;
  uint32_t next = 0;
  const uint64_t before = b.counters.events[static_cast<size_t>(WorkerEvent::kNatCreated)].get();
  for (auto _ : state) {
    if (next + kBurst > 60000) {
      state.PauseTiming();
      empty_table(b.table);
      next = 0;
      state.ResumeTiming();
    }
    for (unsigned i = 0; i < kBurst; ++i)
      fill(f[i], kGuestMac, kGwMac, kGuest, kServer, static_cast<uint16_t>(1024 + next++), 53);
    if (!timed_burst(b, f, "pa", "pw", &cycles))
      state.SkipWithError("not every new flow was translated");
  }
  created = b.counters.events[static_cast<size_t>(WorkerEvent::kNatCreated)].get() - before;
  if (created != static_cast<uint64_t>(state.iterations()) * kBurst)
    state.SkipWithError("a burst went through sessions that were already there");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
  state.counters["cycles/session"] = static_cast<double>(cycles) / static_cast<double>(created);
  state.counters["sessions/s"] =
      benchmark::Counter(static_cast<double>(created), benchmark::Counter::kIsRate);
  rte_pktmbuf_free_bulk(f.data(), kBurst);
}
BENCHMARK(BM_NatNewSessions);

// What a session costs in memory: a table of 2^20 sessions (its hashes on the DPDK heap,
// port pools and free lists on the C heap, its session and mapping arrays
// mapped apart), divided by its capacity.
void BM_NatBytesPerSession(benchmark::State& state) {
  for (auto _ : state) {
    const uint64_t before = gp::bench::heap_bytes();
    auto t = std::make_unique<nat::NatTable>(1u << 20, 0, 1);
    const uint64_t used = gp::bench::heap_bytes() - before + t->array_bytes();
    state.counters["bytes/session"] = static_cast<double>(used) / double(1u << 20);
  }
}
BENCHMARK(BM_NatBytesPerSession)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  g_pool = gp::bench::init_eal("natbench", 1024);
  if (g_pool == nullptr) return 1;
  g_bench = new Bench();
  // Establish the flows once; remember their outside ports for the inbound runs.
  std::vector<rte_mbuf*> f(kBurst);
  for (unsigned k = 0; k < kFlows / kBurst; ++k) {
    for (auto& m : f) m = rte_pktmbuf_alloc(g_pool);
    outbound(f, kFlows, k);
    Batch batch;
    batch.in_port = g_bench->port_ids["pa"];
    batch.n = kBurst;
    std::memcpy(batch.pkts, f.data(), sizeof(rte_mbuf*) * kBurst);
    g_bench->ctx.now_tsc = rte_rdtsc();
    process_batch(g_bench->ctx, *g_bench->holder->acquire(), batch);
    flush_tx(g_bench->ctx);
    for (rte_mbuf* m : g_bench->drain("pw")) {
      const auto* u = rte_pktmbuf_mtod_offset(m, const rte_udp_hdr*, 14 + 20);
      g_outside_ports.push_back(rte_be_to_cpu_16(u->src_port));
      rte_pktmbuf_free(m);
    }
  }
  if (g_outside_ports.size() != kFlows) {
    std::fprintf(stderr, "nat_bench: the NAT did not translate the warm-up bursts\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  rte_eal_cleanup();
  return 0;
}
