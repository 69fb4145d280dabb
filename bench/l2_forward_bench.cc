// Micro benchmark of the L2 forward path: one burst of 32 real mbufs through
// process_batch (classify + L2 stage with bulk FDB lookup) and flush_tx into net_ring
// ports, on one core with EAL --no-huge; classify alone, the handoff ring alone. Reports ns and TSC
// cycles per packet. Never run as a test. Run: build/bench/l2_forward_bench
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
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
#include "dataplane/l2/learner.h"
#include "dataplane/parse/classify_stage.h"
#include "dataplane/pipeline.h"

namespace {

using namespace gp;

rte_mempool* g_pool = nullptr;

struct Bench {
  std::unique_ptr<SnapshotHolder> holder = std::make_unique<SnapshotHolder>(1);
  std::unique_ptr<Fdb> fdb = std::make_unique<Fdb>(4096, holder.get());
  Learner learner{*fdb};
  WorkerCounters counters;
  WorkerContext ctx;
  rte_ring* learn = nullptr;
  std::map<std::string, uint16_t> port_ids;
  std::map<std::string, rte_ring*> tx_rings;

  explicit Bench(const std::string& yaml) {
    static int seq = 0;
    std::string ln = "bench_learn" + std::to_string(seq++);
    learn = rte_ring_create_elem(ln.c_str(), sizeof(LearnEvent), 1024, SOCKET_ID_ANY,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
    learner.add_ring(learn);
    ctx.fdb = fdb.get();
    ctx.learn_ring = learn;
    ctx.counters = &counters;
    ctx.tsc_hz = rte_get_tsc_hz();
    LoadResult r = parse_config(yaml, "bench.yaml");
    validate_config(*r.config, r.errors);
    std::vector<Diagnostic> errs;
    auto plans = plan_ports(*r.config, errs);
    std::map<std::string, uint16_t> ids;
    for (const auto& p : plans) {
      std::string n = "bench_" + p.devargs + std::to_string(seq);
      rte_ring* tx = nullptr;
      const uint16_t id = gp::bench::ring_port(n, g_pool, &tx);
      ids[p.key] = id;
      port_ids[p.devargs] = id;
      tx_rings[p.devargs] = tx;
    }
    holder->publish(compile_snapshot(plans, ids, 1));
    rte_rcu_qsbr_thread_register(holder->qsbr(), 0);
    rte_rcu_qsbr_thread_online(holder->qsbr(), 0);
  }

  void drain() {
    void* out[64];
    for (auto& [n, r] : tx_rings) {
      unsigned k;
      while ((k = rte_ring_dequeue_burst(r, out, 64, nullptr)) > 0)
        rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(out), k);
    }
  }
};

std::vector<rte_mbuf*> frames(const rte_ether_addr& src, const rte_ether_addr& dst) {
  std::vector<rte_mbuf*> v(kBurst);
  for (auto& m : v) {
    m = rte_pktmbuf_alloc(g_pool);
    char* p = rte_pktmbuf_append(m, 64);
    std::memset(p, 0, 64);
    auto* eh = reinterpret_cast<rte_ether_hdr*>(p);
    eh->src_addr = src;
    eh->dst_addr = dst;
    eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  }
  return v;
}

const char* kFour =
    "vms:\n"
    "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: pa}}}\n"
    "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: pb}}}\n"
    "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: pc}}}\n"
    "  d: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:04', port: pd, "
    "mac_limit: 0}}}\n";  // d: a router with any number of MACs behind it (BM_LearnRate)

// One switch for all runs: Google Benchmark calls each function several times and
// this DPDK build has only 32 ports.
Bench* g_bench = nullptr;

void run(benchmark::State& state, const rte_ether_addr& dst, unsigned copies) {
  Bench& b = *g_bench;
  const rte_ether_addr a{{0x08, 0, 0x27, 0, 0, 1}}, bm{{0x08, 0, 0x27, 0, 0, 2}};
  // Learn a and b first.
  for (const auto* m : {&a, &bm}) {
    auto f = frames(*m, rte_ether_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}});
    Batch batch;
    batch.in_port = b.port_ids[m == &a ? "pa" : "pb"];
    batch.n = 1;
    batch.pkts[0] = f[0];
    rte_pktmbuf_free_bulk(f.data() + 1, kBurst - 1);
    process_batch(b.ctx, *b.holder->acquire(), batch);
    flush_tx(b.ctx);
    b.learner.drain(*b.holder->acquire(), 0);
    b.drain();
  }
  auto f = frames(a, dst);
  Batch batch;
  uint64_t cycles = 0;
  for (auto _ : state) {
    // Each frame is reused: hold a reference per copy the switch will send.
    for (rte_mbuf* m : f) rte_mbuf_refcnt_update(m, static_cast<int16_t>(copies));
    batch.in_port = b.port_ids["pa"];
    batch.n = kBurst;
    std::memcpy(batch.pkts, f.data(), sizeof(rte_mbuf*) * kBurst);
    const uint64_t t0 = rte_rdtsc_precise();
    process_batch(b.ctx, *b.holder->acquire(), batch);
    flush_tx(b.ctx);
    cycles += rte_rdtsc_precise() - t0;
    rte_rcu_qsbr_quiescent(b.holder->qsbr(), 0);
    b.drain();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
  state.counters["cycles/pkt"] =
      static_cast<double>(cycles) / static_cast<double>(state.iterations() * kBurst);
  state.counters["ns/pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBurst),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  rte_pktmbuf_free_bulk(f.data(), kBurst);
}

void BM_L2KnownUnicast(benchmark::State& state) {
  run(state, rte_ether_addr{{0x08, 0, 0x27, 0, 0, 2}}, 1);
}
void BM_L2Broadcast4Ports(benchmark::State& state) {
  run(state, rte_ether_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, 3);
}
BENCHMARK(BM_L2KnownUnicast);
BENCHMARK(BM_L2Broadcast4Ports);

// Classify alone (parse Ethernet and IPv4/UDP, record offsets) over a burst of 32
// 64-byte IPv4 frames: what every port pays before any other stage.
void BM_Classify(benchmark::State& state) {
  Bench& b = *g_bench;
  auto f =
      frames(rte_ether_addr{{0x08, 0, 0x27, 0, 0, 1}}, rte_ether_addr{{0x08, 0, 0x27, 0, 0, 2}});
  for (rte_mbuf* m : f) {
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(64 - 14);
    ip->next_proto_id = IPPROTO_UDP;
  }
  const Snapshot& snap = *b.holder->acquire();
  Batch batch;
  uint64_t cycles = 0, parsed = 0;
  for (auto _ : state) {
    batch.in_port = b.port_ids["pa"];
    batch.n = kBurst;
    std::memcpy(batch.pkts, f.data(), sizeof(rte_mbuf*) * kBurst);
    const uint64_t t0 = rte_rdtsc_precise();
    classify_stage(b.ctx, snap, batch);
    cycles += rte_rdtsc_precise() - t0;
    parsed += batch.n;
    benchmark::DoNotOptimize(batch.meta[kBurst - 1]);
  }
  if (parsed != static_cast<uint64_t>(state.iterations()) * kBurst)
    state.SkipWithError("classify dropped frames");
  state.counters["cycles/pkt"] =
      static_cast<double>(cycles) / static_cast<double>(state.iterations() * kBurst);
  rte_pktmbuf_free_bulk(f.data(), kBurst);
}
BENCHMARK(BM_Classify);

// The NAT handoff between workers: a burst of 32 mbufs through an SP/SC rte_ring (what
// a packet whose session another worker owns costs in transit, both ends on one core).
void BM_HandoffRing(benchmark::State& state) {
  rte_ring* r =
      rte_ring_create("bench_handoff", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  auto f =
      frames(rte_ether_addr{{0x08, 0, 0x27, 0, 0, 1}}, rte_ether_addr{{0x08, 0, 0x27, 0, 0, 2}});
  void* out[kBurst];
  uint64_t cycles = 0, moved = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc_precise();
    rte_ring_sp_enqueue_burst(r, reinterpret_cast<void* const*>(f.data()), kBurst, nullptr);
    moved += rte_ring_sc_dequeue_burst(r, out, kBurst, nullptr);
    cycles += rte_rdtsc_precise() - t0;
  }
  if (moved != static_cast<uint64_t>(state.iterations()) * kBurst)
    state.SkipWithError("the ring lost frames");
  state.counters["cycles/pkt"] =
      static_cast<double>(cycles) / static_cast<double>(state.iterations() * kBurst);
  rte_pktmbuf_free_bulk(f.data(), kBurst);
  rte_ring_free(r);
}
BENCHMARK(BM_HandoffRing);

// The shared MAC table alone: bulk lookups of 32 keys in a table of N learned MACs
// (1k, 100k, 1M), all hits or all misses, and what an entry costs in memory (the
// table's bytes over its capacity). No MAC cache in front: this is its miss path.
void BM_FdbLookup(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  const bool hit = state.range(1) != 0;
  const uint64_t before = gp::bench::heap_bytes();
  auto fdb = std::make_unique<Fdb>(n + n / 4, nullptr);
  state.counters["bytes/entry"] =
      static_cast<double>(gp::bench::heap_bytes() - before) / static_cast<double>(n + n / 4);
  auto mac_of = [](uint32_t i) {
    return rte_ether_addr{
        {0x02, 0x10, uint8_t(i >> 24), uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)}};
  };
  for (uint32_t i = 0; i < n; ++i)
    if (fdb->learn(Fdb::make_key(0, mac_of(i)), 1, 1, 0) != Fdb::Learned::kNew)
      return state.SkipWithError("the table refused an entry");
  std::vector<uint64_t> keys(65536);
  uint64_t x = 88172645463325252ull;  // xorshift: spread over the table, no cache luck
  for (auto& k : keys) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const uint32_t i = static_cast<uint32_t>(x % n);
    k = Fdb::make_key(hit ? 0 : 1, mac_of(i));  // segment 1 holds nothing: a miss
  }
  const void* ptrs[kBurst];
  uint64_t data[kBurst];
  uint64_t found = 0;
  size_t at = 0;
  for (auto _ : state) {
    for (unsigned i = 0; i < kBurst; ++i) ptrs[i] = &keys[(at + i) % keys.size()];
    at += kBurst;
    found += __builtin_popcountll(fdb->lookup_bulk(ptrs, kBurst, data));
    benchmark::DoNotOptimize(data);
  }
  if ((found != 0) != hit) state.SkipWithError("hits and misses are not what was asked");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
}
// RFC 2889 in the small (sections 5.7 and 5.8, without the traffic generator): the
// learning rate of the learner (bursts of 32 new MACs through a learn ring, as workers
// queue them, applied by Learner::drain), and the address caching capacity, how many
// distinct MACs a table of 65536 takes before it refuses one.
void BM_LearnRate(benchmark::State& state) {
  const uint32_t cap = 1u << 20;
  auto fdb = std::make_unique<Fdb>(cap, nullptr);
  Learner learner(*fdb);
  rte_ring* ring = rte_ring_create_elem("bench_learn_rate", sizeof(LearnEvent), 1024, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
  learner.add_ring(ring);
  const Snapshot& snap = *g_bench->holder->current();
  if (snap.segments.empty()) return state.SkipWithError("no segment");
  const uint16_t gen = snap.segments[0].fdb_generation, port = g_bench->port_ids["pd"];
  uint32_t next = 0;
  LearnEvent ev[kBurst];
  for (auto _ : state) {
    if (next + kBurst > cap - cap / 8) {
      state.PauseTiming();
      fdb = std::make_unique<Fdb>(cap, nullptr);  // a fresh table: keep learning new MACs
      learner.~Learner();
      new (&learner) Learner(*fdb);
      learner.add_ring(ring);
      next = 0;
      state.ResumeTiming();
    }
    for (unsigned i = 0; i < kBurst; ++i, ++next) {
      const rte_ether_addr m{{0x02, 0x20, uint8_t(next >> 24), uint8_t(next >> 16),
                              uint8_t(next >> 8), uint8_t(next)}};
      ev[i] = LearnEvent{Fdb::make_key(0, m), port, gen, 0};
    }
    rte_ring_sp_enqueue_bulk_elem(ring, ev, sizeof(LearnEvent), kBurst, nullptr);
    if (learner.drain(snap, 0) != kBurst) return state.SkipWithError("a learn was not applied");
  }
  state.counters["macs/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * kBurst,
                                                benchmark::Counter::kIsRate);
  rte_ring_free(ring);
}
BENCHMARK(BM_LearnRate);

void BM_AddressCachingCapacity(benchmark::State& state) {
  for (auto _ : state) {
    Fdb fdb(65536, nullptr);
    uint32_t n = 0;
    for (;; ++n) {
      const rte_ether_addr m{
          {0x02, 0x30, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)}};
      if (fdb.learn(Fdb::make_key(0, m), 1, 1, 0) != Fdb::Learned::kNew) break;
    }
    state.counters["macs_held"] = n;
    state.counters["of_capacity_%"] = 100.0 * n / 65536;
  }
}
BENCHMARK(BM_AddressCachingCapacity)->Iterations(1);

BENCHMARK(BM_FdbLookup)->ArgsProduct({{1024, 100000, 1000000}, {1, 0}})->ArgNames({"macs", "hit"});

}  // namespace

int main(int argc, char** argv) {
  g_pool = gp::bench::init_eal("l2bench", 1024);
  if (g_pool == nullptr) return 1;
  g_bench = new Bench(kFour);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  rte_eal_cleanup();
  return 0;
}
