// Control path: see daemon.h.
#include "control/daemon.h"

#include <net/if.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_pdump.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "control/applier.h"
#include "control/config_loader.h"
#include "control/control_protocol.h"
#include "control/control_socket.h"
#include "control/eal_args.h"
#include "control/metrics.h"
#include "control/port_watch.h"
#include "control/telemetry.h"
#include "control/views.h"
#include "dataplane/io/ports.h"
#include "dataplane/l2/fdb.h"
#include "dataplane/l2/learner.h"
#include "dataplane/nat/frag_table.h"
#include "dataplane/nat/nat_table.h"
#include "dataplane/nat/nat_view.h"
#include "dataplane/nat/neighbors.h"
#include "dataplane/pipeline.h"
#include "dataplane/services/slow_path.h"

namespace gp {

namespace {

constexpr unsigned kLearnRingSize = 4096;
constexpr unsigned kSlowRingSize = 1024;
constexpr uint32_t kFragEntries = 4096;  // datagrams in flight per worker (NAT fragments)

void print_errors(const std::vector<Diagnostic>& errs) {
  for (const auto& e : errs) std::fprintf(stderr, "%s\n", e.to_string().c_str());
}

void print_ports(const nlohmann::json& ports) {
  std::printf("%-22s %-24s %5s %12s %12s %10s\n", "port", "segment", "link", "rx_packets",
              "tx_packets", "drops");
  for (const auto& p : ports)
    std::printf("%-22s %-24s %5s %12llu %12llu %10llu\n", p["name"].get<std::string>().c_str(),
                p["segment"].get<std::string>().c_str(), p["link"].get<std::string>().c_str(),
                static_cast<unsigned long long>(p["rx_packets"].get<uint64_t>()),
                static_cast<unsigned long long>(p["tx_packets"].get<uint64_t>()),
                static_cast<unsigned long long>(p["drops"].get<uint64_t>()));
  std::fflush(stdout);
}

rte_ring* make_ring(const std::string& name, unsigned elem_size) {
  const int socket = static_cast<int>(rte_socket_id());
  rte_ring* r = elem_size == 0 ? rte_ring_create(name.c_str(), kSlowRingSize, socket,
                                                 RING_F_SP_ENQ | RING_F_SC_DEQ)
                               : rte_ring_create_elem(name.c_str(), elem_size, kSlowRingSize,
                                                      socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (r == nullptr) throw std::runtime_error("cannot create ring " + name);
  return r;
}

// Everything that lives between EAL init and cleanup, torn down in reverse order.
struct Runtime {
  unsigned n_workers = 0;
  rte_mempool* pool = nullptr;
  rte_mempool* jumbo_pool = nullptr;  // made when the first af_packet port needs it
  std::unique_ptr<SnapshotHolder> holder;
  std::unique_ptr<Fdb> fdb;
  std::unique_ptr<Learner> learner;
  std::vector<std::unique_ptr<WorkerCounters>> counters;
  std::vector<const WorkerCounters*> counter_view;
  std::vector<std::unique_ptr<WorkerContext>> contexts;
  std::vector<WorkerLaunch> launches;
  std::vector<rte_ring*> rings;       // learn rings (LearnEvent elements)
  std::vector<rte_ring*> mbuf_rings;  // punt, inject and handoff rings (mbuf pointers)
  std::vector<rte_ring*> tx_rings;    // tx handoff rings (TxHandoff elements)
  Neighbors neighbors;
  PortLeases leases;  // DHCP leases per port (port security)
  std::unique_ptr<SlowPath> slow;
  std::vector<std::unique_ptr<nat::NatTable>> nat_tables;
  std::vector<std::unique_ptr<nat::FragTable>> frag_tables;
  std::vector<std::unique_ptr<nat::NatViewRequest>> nat_views;
  TxQueueMap tx_queues;  // before ports: their vhost event callbacks write it
  PortSet ports;
  std::unique_ptr<DpdkPorts> backend;
  std::unique_ptr<Applier> applier;
  std::atomic<bool> stop_workers{false};
  bool launched = false;

  ~Runtime() {
    if (launched) {
      stop_workers.store(true, std::memory_order_release);
      rte_eal_mp_wait_lcore();
    }
    applier.reset();
    ports.close_all();
    nat_tables.clear();
    learner.reset();
    slow.reset();         // holds a pointer to neighbors
    neighbors.release();  // its hash reclaims through the holder's QSBR variable
    fdb.reset();
    holder.reset();
    // Workers are stopped: whatever is still queued between them and the slow path goes.
    for (rte_ring* r : mbuf_rings) {
      void* m = nullptr;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      rte_ring_free(r);
    }
    for (rte_ring* r : tx_rings) {
      TxHandoff h;
      while (rte_ring_dequeue_elem(r, &h, sizeof(h)) == 0) rte_pktmbuf_free(h.m);
      rte_ring_free(r);
    }
    for (rte_ring* r : rings) rte_ring_free(r);
    rte_mempool_free(pool);
    rte_mempool_free(jumbo_pool);
  }

  // One mbuf per jumbo frame for ports that cannot receive into chains (af_packet
  // copies each frame into one mbuf): made on first use, kept for the run. Sized for
  // what such ports hold at once: bursts in flight, handoff and slow-path rings.
  rte_mempool* jumbo() {
    if (jumbo_pool != nullptr) return jumbo_pool;
    const unsigned n = 4096 + n_workers * 1024;
    jumbo_pool = rte_pktmbuf_pool_create("gp_jumbo", n, 256, 0, kJumboDataRoom,
                                         static_cast<int>(rte_socket_id()));
    if (jumbo_pool == nullptr)
      throw PortError("cannot allocate " + std::to_string(n) + " jumbo mbufs of " +
                      std::to_string(kJumboDataRoom) +
                      " bytes for MTUs above 1500 (raise appliance.memory_mb)");
    return jumbo_pool;
  }

  // The workers' NAT tables, made the first time a config needs NAT (applier.h).
  std::string make_nat_tables(const Config& cfg, std::vector<WorkerNatState>* out) {
    try {
      for (unsigned w = 0; w < n_workers; ++w) {
        nat_tables.push_back(std::make_unique<nat::NatTable>(cfg.appliance.nat.sessions,
                                                             static_cast<uint16_t>(w),
                                                             static_cast<uint16_t>(n_workers)));
        frag_tables.push_back(std::make_unique<nat::FragTable>(kFragEntries));
        nat_views.push_back(std::make_unique<nat::NatViewRequest>());
        out->push_back({nat_tables.back().get(), frag_tables.back().get(), nat_views.back().get()});
      }
    } catch (const std::exception& e) {
      out->clear();
      nat_tables.clear();
      frag_tables.clear();
      nat_views.clear();
      return std::string(e.what()) + " (lower appliance.nat.sessions or raise memory_mb)";
    }
    return "";
  }
};

// Pool, tables, rings and worker contexts: everything sized from the appliance section
// at start, before any port exists.
void build_runtime(Runtime& rt, const Config& cfg) {
  const unsigned W = rt.n_workers;
  // Every port's rx and tx descriptors (those of the start config and of 8 more that a
  // re-apply may add) plus what waits in handoff and slow-path rings.
  std::vector<Diagnostic> unused;
  const auto n_ports = static_cast<unsigned>(plan_ports(cfg, unused).size());
  const unsigned n_mbufs = cfg.appliance.mbufs != 0
                               ? cfg.appliance.mbufs
                               : std::max(16384u, (n_ports + 8) * W * 2048 + W * 4096 + 4096);
  rt.pool = rte_pktmbuf_pool_create("gp_mbufs", n_mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    static_cast<int>(rte_socket_id()));
  if (rt.pool == nullptr)
    throw std::runtime_error("cannot allocate " + std::to_string(n_mbufs) +
                             " mbufs (raise appliance.memory_mb" +
                             (cfg.appliance.mbufs != 0 ? " or lower appliance.mbufs)" : ")"));
  rt.holder = std::make_unique<SnapshotHolder>(W);
  rt.fdb = std::make_unique<Fdb>(cfg.appliance.mac_table_size, rt.holder.get());
  if (!rt.neighbors.init_inside(cfg.appliance.mac_table_size, rt.holder.get()))
    throw std::runtime_error("cannot create the NAT inside-host table");
  rt.learner = std::make_unique<Learner>(*rt.fdb);
  rt.slow = std::make_unique<SlowPath>(&rt.neighbors, rt.pool);
  rt.slow->set_leases(&rt.leases);
  const uint64_t hz = rte_get_tsc_hz();
  for (unsigned w = 0; w < W; ++w) {
    const std::string n = std::to_string(w);
    rte_ring* learn =
        rte_ring_create_elem(("gp_learn" + n).c_str(), sizeof(LearnEvent), kLearnRingSize,
                             static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (learn == nullptr) throw std::runtime_error("cannot create learn ring gp_learn" + n);
    rt.rings.push_back(learn);
    rt.learner->add_ring(learn);
    rte_ring* punt = make_ring("gp_punt" + n, 0);
    rt.mbuf_rings.push_back(punt);
    rte_ring* inject = make_ring("gp_inject" + n, 0);
    rt.mbuf_rings.push_back(inject);
    rt.slow->add_worker(punt, inject);
    rt.counters.push_back(std::make_unique<WorkerCounters>());
    rt.counter_view.push_back(rt.counters.back().get());
    auto ctx = std::make_unique<WorkerContext>();
    ctx->worker_id = static_cast<uint16_t>(w);
    ctx->queue_id = static_cast<uint16_t>(w);
    ctx->tsc_hz = hz;
    ctx->fdb = rt.fdb.get();
    ctx->learn_ring = learn;
    ctx->punt_ring = punt;
    ctx->inject_ring = inject;
    ctx->n_workers = static_cast<uint16_t>(W);
    ctx->neighbors = &rt.neighbors;
    ctx->tx_queues = &rt.tx_queues;
    ctx->leases = &rt.leases;
    ctx->counters = rt.counters.back().get();
    rt.contexts.push_back(std::move(ctx));
  }
  // Handoff rings between every pair of workers: NAT packets to their session's owner,
  // and frames for ports that lack the sender's tx queue (TxHandoff elements).
  for (unsigned from = 0; from < W && W > 1; ++from) {
    for (unsigned to = 0; to < W; ++to) {
      if (from == to) continue;
      const std::string pair = std::to_string(from) + "_" + std::to_string(to);
      rte_ring* r = make_ring("gp_hand" + pair, 0);
      rt.mbuf_rings.push_back(r);
      rt.contexts[from]->handoff_to[to] = r;
      rt.contexts[to]->handoff_from[from] = r;
      rte_ring* t = make_ring("gp_txh" + pair, sizeof(TxHandoff));
      rt.tx_rings.push_back(t);
      rt.contexts[from]->tx_to[to] = t;
      rt.contexts[to]->tx_from[from] = t;
    }
  }
  rt.backend = std::make_unique<DpdkPorts>(rt.ports, rt.pool, static_cast<uint16_t>(W),
                                           &rt.tx_queues, [&rt] { return rt.jumbo(); });
  ApplierDeps deps;
  deps.ports = rt.backend.get();
  deps.holder = rt.holder.get();
  deps.fdb = rt.fdb.get();
  deps.neighbors = &rt.neighbors;
  deps.counters = &rt.counter_view;
  deps.leases = &rt.leases;
  const Config sizing = cfg;  // appliance settings cannot change while running
  deps.nat_tables = [&rt, sizing](std::vector<WorkerNatState>* out) {
    return rt.make_nat_tables(sizing, out);
  };
  rt.applier = std::make_unique<Applier>(std::move(deps));
}

// Asks every worker for a copy of its NAT sessions. Workers copy a slice of their
// table per poll loop; one that has not answered within the deadline (stuck, or not
// running) is reported in *late and its request left with it.
std::vector<std::vector<nat::SessionRow>> collect_nat(
    const std::vector<std::unique_ptr<nat::NatViewRequest>>& views, std::vector<size_t>* late) {
  constexpr uint32_t kMaxRows = 4096;
  std::vector<bool> asked(views.size());
  for (size_t w = 0; w < views.size(); ++w) asked[w] = views[w]->request(kMaxRows);
  const uint64_t deadline = rte_rdtsc() + rte_get_tsc_hz();  // 1 s
  std::vector<std::vector<nat::SessionRow>> out(views.size());
  for (size_t w = 0; w < views.size(); ++w) {
    while (asked[w] && !views[w]->done() && rte_rdtsc() < deadline) rte_pause();
    if (!asked[w] || !views[w]->done()) {
      late->push_back(w);
      continue;
    }
    out[w] = views[w]->rows();
    views[w]->finish();
  }
  return out;
}

nlohmann::json diagnostics_json(const std::vector<Diagnostic>& d) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : d) out.push_back(e.to_string());
  return out;
}

// Loads, validates and applies a config; the reply of an apply request, and one
// structured log line (who asked, the diff, the result).
nlohmann::json apply_text(Runtime& rt, const std::string& text, const std::string& file,
                          bool dry_run, const std::string& who) {
  LoadResult r = load_config_text(text, file);
  nlohmann::json reply = {{"ok", false}, {"dry_run", dry_run}};
  ApplyOutcome out;
  if (r.ok()) {
    out = rt.applier->apply(*r.config, dry_run);
  } else {
    out.errors = r.errors;
    out.version = rt.holder->current()->version;
  }
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : out.changes) changes.push_back(c.to_string());
  std::vector<Diagnostic> warnings = r.warnings;
  warnings.insert(warnings.end(), out.warnings.begin(), out.warnings.end());
  reply["ok"] = out.ok;
  reply["changes"] = changes;
  reply["errors"] = diagnostics_json(out.errors);
  reply["warnings"] = diagnostics_json(warnings);
  reply["version"] = out.version;
  reply["ports_opened"] = out.opened;
  reply["ports_closed"] = out.closed;
  if (!out.ok)
    reply["error"] = "configuration refused (" + std::to_string(out.errors.size()) + " error" +
                     (out.errors.size() == 1 ? "" : "s") + ")";
  nlohmann::json log = {{"event", "apply"},
                        {"source", who},
                        {"file", file},
                        {"dry_run", dry_run},
                        {"result", out.ok ? "ok" : "refused"},
                        {"version", out.version},
                        {"changes", changes},
                        {"errors", reply["errors"]}};
  std::printf("guestportd: %s\n", log.dump().c_str());
  std::fflush(stdout);
  return reply;
}

// A request from the control socket, the metrics endpoint or telemetry (JobQueue).
nlohmann::json handle(Runtime& rt, const RuntimeView& view, const nlohmann::json& req,
                      const std::string& peer) {
  const std::string cmd = req.value("cmd", "");
  if (cmd == "apply")
    return apply_text(rt, req["text"].get<std::string>(), req.value("file", "(socket)"),
                      req.value("dry_run", false), "socket " + peer);
  if (cmd == "metrics") {
    std::vector<uint32_t> capacity;
    for (const auto& t : rt.nat_tables) capacity.push_back(t->capacity());
    return metrics_snapshot(view, capacity);
  }
  if (cmd == "show" && req.value("what", "") == "nat") {
    std::string error;
    const NatFilter f =
        req.contains("filter") ? parse_nat_filter(req["filter"].dump(), &error) : NatFilter{};
    if (!error.empty()) return error_reply(error);
    std::vector<size_t> late;
    auto rows = collect_nat(rt.nat_views, &late);
    if (!late.empty())
      return error_reply("worker " + std::to_string(late[0]) +
                         " did not copy its NAT sessions within 1 s");
    return {{"ok", true}, {"data", view_nat(view, rows, f)}};
  }
  if (cmd == "show") return handle_show(view, req);
  return error_reply("unknown command '" + cmd + "'");
}

int run_with_eal(const Config& cfg, const DaemonOptions& opt, DaemonSignals& sig) {
  Runtime rt;
  rt.n_workers = cfg.appliance.workers;
  if (rte_lcore_count() < rt.n_workers + 1) {
    std::fprintf(stderr, "guestportd: EAL gave %u lcores, need %u\n", rte_lcore_count(),
                 rt.n_workers + 1);
    return 1;
  }
  try {
    build_runtime(rt, cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "guestportd: %s\n", e.what());
    return 1;
  }
  // Start-up is an apply from an empty appliance: the same path as every re-apply.
  ApplyOutcome first = rt.applier->apply(cfg);
  print_errors(first.warnings);
  if (!first.ok) {
    print_errors(first.errors);
    return 1;
  }
  JobQueue jobs;
  ControlServer server;
  if (std::string err = server.open(cfg.appliance.control_socket, &jobs); !err.empty()) {
    std::fprintf(stderr, "guestportd: %s\n", err.c_str());
    return 1;
  }
  MetricsServer metrics;
  if (cfg.appliance.metrics != "off") {
    if (std::string err = metrics.start(cfg.appliance.metrics, &jobs); !err.empty()) {
      std::fprintf(stderr, "guestportd: appliance.metrics: %s\n", err.c_str());
      return 1;
    }
  }
  register_telemetry(&jobs);

  unsigned w = 0;
  unsigned lcore = 0;
  const unsigned W = rt.n_workers;
  rt.launches.resize(W);
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (w == W) break;
    rt.launches[w] = WorkerLaunch{rt.contexts[w].get(), rt.holder.get(), &rt.stop_workers};
    rte_eal_remote_launch(worker_main, &rt.launches[w], lcore);
    ++w;
  }
  rt.launched = true;
  std::printf("guestportd: running %zu ports, %u worker(s); control socket %s; metrics %s\n",
              rt.applier->plans().size(), W, cfg.appliance.control_socket.c_str(),
              cfg.appliance.metrics == "off"
                  ? "off"
                  : ("http://" + cfg.appliance.metrics + "/metrics").c_str());
  std::fflush(stdout);

  const uint64_t hz = rte_get_tsc_hz();
  uint64_t next_age = rte_rdtsc() + hz;
  PortWatch watch(+[](const char* name) { return if_nametoindex(name); });
  uint64_t next_stats = rte_rdtsc() + hz * static_cast<uint64_t>(opt.stats_interval_s);
  while (!sig.stop.load(std::memory_order_relaxed)) {
    if (sig.reload.exchange(false)) {
      std::ifstream in(opt.config_path);
      std::stringstream text;
      text << in.rdbuf();
      if (!in)
        std::printf("guestportd: SIGHUP: cannot read %s; the running config stays\n",
                    opt.config_path.c_str());
      else
        apply_text(rt, text.str(), opt.config_path, false, "SIGHUP");
      std::fflush(stdout);
    }
    const uint64_t now = rte_rdtsc();
    {
      const Snapshot& snap = *rt.holder->current();
      RuntimeView view{snap, rt.counter_view, *rt.fdb, *rt.learner, *rt.holder, *rt.slow, now,
                       hz,   rt.applier.get()};
      // A learn or slow-path backlog (a MAC flood, a burst of punts): answer what is
      // queued, do not wait for more.
      const bool backlog = rt.learner->backlog() || rt.slow->backlog();
      jobs.serve(std::chrono::milliseconds(backlog ? 0 : 1),
                 [&](const nlohmann::json& req, const std::string& peer) {
                   return handle(rt, view, req, peer);
                 });
    }
    // An apply above may have published: everything below reads the newest snapshot.
    const Snapshot& snap = *rt.holder->current();
    rt.learner->drain(snap, rte_rdtsc());
    rt.slow->run(snap, now / hz);
    if (now >= next_age) {
      for (const std::string& line : watch.check(*rt.applier))
        std::printf("guestportd: %s\n", line.c_str());
      std::fflush(stdout);
      rt.learner->age(*rt.holder->current(), now, hz);
      rt.holder->reclaim();
      next_age = now + hz;
    }
    if (opt.stats_interval_s > 0 && now >= next_stats) {
      RuntimeView view{*rt.holder->current(),
                       rt.counter_view,
                       *rt.fdb,
                       *rt.learner,
                       *rt.holder,
                       *rt.slow,
                       now,
                       hz,
                       rt.applier.get()};
      print_ports(view_ports(view));
      next_stats = now + hz * static_cast<uint64_t>(opt.stats_interval_s);
    }
  }
  std::printf("guestportd: stopping\n");
  std::fflush(stdout);
  unregister_telemetry();
  jobs.close();
  metrics.stop();
  server.close();
  return 0;
}

}  // namespace

int run_daemon(const Config& cfg, const DaemonOptions& opt, DaemonSignals& sig) {
  EalPlan eal = eal_args(cfg, read_machine_facts(), opt.argv0);
  if (!eal.error.empty()) {
    std::fprintf(stderr, "guestportd: %s\n", eal.error.c_str());
    return 1;
  }
  std::printf("guestportd: memory: %u MB %s\n", cfg.appliance.memory_mb,
              eal.hugepages ? "in hugepages" : "without hugepages (--no-huge)");
  std::fflush(stdout);
  std::vector<char*> argv;
  for (auto& a : eal.args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "guestportd: DPDK EAL initialisation failed: %s\n",
                 rte_strerror(rte_errno));
    return 1;
  }
  // dpdk-dumpcap (a secondary process) captures any port through rte_pdump.
  const bool pdump = rte_pdump_init() == 0;
  int rc = run_with_eal(cfg, opt, sig);
  if (pdump) rte_pdump_uninit();
  rte_eal_cleanup();
  if (eal.hugepages) remove_hugepage_files(cfg.appliance.file_prefix);
  return rc;
}

}  // namespace gp
