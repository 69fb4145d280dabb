// Control path: see daemon.h.
#include "control/daemon.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>

#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "control/compile.h"
#include "control/control_socket.h"
#include "control/eal_args.h"
#include "control/netdev.h"
#include "control/views.h"
#include "dataplane/core/worker.h"
#include "dataplane/io/ports.h"
#include "dataplane/l2/fdb.h"
#include "dataplane/l2/learner.h"
#include "dataplane/nat/frag_table.h"
#include "dataplane/nat/nat_table.h"
#include "dataplane/nat/nat_view.h"
#include "dataplane/nat/neighbors.h"
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

// Everything that lives between EAL init and cleanup, torn down in reverse order.
struct Runtime {
  unsigned n_workers = 0;
  rte_mempool* pool = nullptr;
  std::unique_ptr<SnapshotHolder> holder;
  std::unique_ptr<Fdb> fdb;
  std::unique_ptr<Learner> learner;
  std::vector<std::unique_ptr<WorkerCounters>> counters;
  std::vector<std::unique_ptr<WorkerContext>> contexts;
  std::vector<WorkerLaunch> launches;
  std::vector<rte_ring*> rings;       // learn rings (LearnEvent elements)
  std::vector<rte_ring*> mbuf_rings;  // punt, inject and handoff rings (mbuf pointers)
  std::vector<rte_ring*> tx_rings;    // tx handoff rings (TxHandoff elements)
  Neighbors neighbors;
  std::unique_ptr<SlowPath> slow;
  std::vector<std::unique_ptr<nat::NatTable>> nat_tables;
  std::vector<std::unique_ptr<nat::FragTable>> frag_tables;
  std::vector<std::unique_ptr<nat::NatViewRequest>> nat_views;
  TxQueueMap tx_queues;  // before ports: their vhost event callbacks write it
  PortSet ports;
  std::atomic<bool> stop_workers{false};
  bool launched = false;

  ~Runtime() {
    if (launched) {
      stop_workers.store(true, std::memory_order_release);
      rte_eal_mp_wait_lcore();
    }
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
  }
};

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

int run_with_eal(const Config& cfg, const DaemonOptions& opt, const std::atomic<bool>& stop,
                 const std::vector<PortPlan>& plans) {
  Runtime rt;
  rt.n_workers = cfg.appliance.workers;
  if (rte_lcore_count() < rt.n_workers + 1) {
    std::fprintf(stderr, "guestportd: EAL gave %u lcores, need %u\n", rte_lcore_count(),
                 rt.n_workers + 1);
    return 1;
  }
  const unsigned W = rt.n_workers;
  const unsigned n_ports = static_cast<unsigned>(plans.size());
  const unsigned n_mbufs = std::max(8192u, n_ports * W * (1024 + 1024) + W * 1024 + 4096);
  rt.pool = rte_pktmbuf_pool_create("gp_mbufs", n_mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    static_cast<int>(rte_socket_id()));
  if (rt.pool == nullptr) {
    std::fprintf(stderr, "guestportd: cannot allocate %u mbufs (raise appliance.memory_mb)\n",
                 n_mbufs);
    return 1;
  }
  try {
    rt.holder = std::make_unique<SnapshotHolder>(W);
    rt.fdb = std::make_unique<Fdb>(cfg.appliance.mac_table_size, rt.holder.get());
    if (!rt.neighbors.init_inside(cfg.appliance.mac_table_size, rt.holder.get()))
      throw std::runtime_error("cannot create the NAT inside-host table");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "guestportd: %s\n", e.what());
    return 1;
  }
  rt.learner = std::make_unique<Learner>(*rt.fdb);
  rt.slow = std::make_unique<SlowPath>(&rt.neighbors, rt.pool);
  bool any_nat = false;
  for (const auto& vm : cfg.vms)
    for (const auto& [slot, ad] : vm.adapters)
      any_nat |= ad.attach == AttachMode::kNat || ad.attach == AttachMode::kNatNetwork;
  const uint64_t hz = rte_get_tsc_hz();
  for (unsigned w = 0; w < W; ++w) {
    std::string name = "gp_learn" + std::to_string(w);
    rte_ring* r =
        rte_ring_create_elem(name.c_str(), sizeof(LearnEvent), kLearnRingSize,
                             static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (r == nullptr) {
      std::fprintf(stderr, "guestportd: cannot create learn ring %s\n", name.c_str());
      return 1;
    }
    rt.rings.push_back(r);
    rt.learner->add_ring(r);
    rte_ring* punt =
        rte_ring_create(("gp_punt" + std::to_string(w)).c_str(), kSlowRingSize,
                        static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* inject =
        rte_ring_create(("gp_inject" + std::to_string(w)).c_str(), kSlowRingSize,
                        static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (punt == nullptr || inject == nullptr) {
      std::fprintf(stderr, "guestportd: cannot create slow-path rings\n");
      return 1;
    }
    rt.mbuf_rings.push_back(punt);
    rt.mbuf_rings.push_back(inject);
    rt.slow->add_worker(punt, inject);
    rt.counters.push_back(std::make_unique<WorkerCounters>());
    auto ctx = std::make_unique<WorkerContext>();
    ctx->worker_id = static_cast<uint16_t>(w);
    ctx->queue_id = static_cast<uint16_t>(w);
    ctx->tsc_hz = hz;
    ctx->fdb = rt.fdb.get();
    ctx->learn_ring = r;
    ctx->punt_ring = punt;
    ctx->inject_ring = inject;
    ctx->n_workers = static_cast<uint16_t>(W);
    ctx->neighbors = &rt.neighbors;
    ctx->tx_queues = &rt.tx_queues;
    if (any_nat) {
      try {
        rt.nat_tables.push_back(std::make_unique<nat::NatTable>(
            cfg.appliance.nat.sessions, static_cast<uint16_t>(w), static_cast<uint16_t>(W)));
        rt.frag_tables.push_back(std::make_unique<nat::FragTable>(kFragEntries));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "guestportd: %s (lower appliance.nat.sessions or raise memory_mb)\n",
                     e.what());
        return 1;
      }
      ctx->nat = rt.nat_tables.back().get();
      ctx->frags = rt.frag_tables.back().get();
      rt.nat_views.push_back(std::make_unique<nat::NatViewRequest>());
      ctx->nat_view = rt.nat_views.back().get();
    }
    ctx->counters = rt.counters.back().get();
    rt.contexts.push_back(std::move(ctx));
  }

  // Handoff rings between every pair of workers (NAT sessions have one owner).
  for (unsigned from = 0; from < W && W > 1; ++from) {
    for (unsigned to = 0; to < W; ++to) {
      if (from == to) continue;
      const std::string name = "gp_hand" + std::to_string(from) + "_" + std::to_string(to);
      rte_ring* r = rte_ring_create(name.c_str(), kSlowRingSize, static_cast<int>(rte_socket_id()),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r == nullptr) {
        std::fprintf(stderr, "guestportd: cannot create handoff ring %s\n", name.c_str());
        return 1;
      }
      rt.mbuf_rings.push_back(r);
      rt.contexts[from]->handoff_to[to] = r;
      rt.contexts[to]->handoff_from[from] = r;
      // Frames for ports that lack the sender's tx queue (TxHandoff elements).
      const std::string tname = "gp_txh" + std::to_string(from) + "_" + std::to_string(to);
      rte_ring* t =
          rte_ring_create_elem(tname.c_str(), sizeof(TxHandoff), kSlowRingSize,
                               static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (t == nullptr) {
        std::fprintf(stderr, "guestportd: cannot create tx handoff ring %s\n", tname.c_str());
        return 1;
      }
      rt.tx_rings.push_back(t);
      rt.contexts[from]->tx_to[to] = t;
      rt.contexts[to]->tx_from[from] = t;
    }
  }

  std::map<std::string, uint16_t> ids;
  for (const PortPlan& p : plans) {
    try {
      PortOptions po;
      po.queues = static_cast<uint16_t>(W);
      po.mtu = p.mtu;
      po.tx_queues = &rt.tx_queues;
      const OpenPort& op = rt.ports.open(p.devargs, rt.pool, po);
      ids[p.key] = op.port_id;
      rt.neighbors.set_own_mac(op.port_id, op.mac);
      if (!p.link_up) {
        std::string err = PortSet::set_link(op, false);
        if (!err.empty())
          std::fprintf(stderr,
                       "guestportd: %s: link stays up for the guest (%s); the switch "
                       "still passes no frame\n",
                       p.key.c_str(), err.c_str());
      }
      if (p.role == PortRole::kHost && p.host_addr) {
        std::string err = set_interface_ipv4(p.host_iface, *p.host_addr);
        if (!err.empty()) throw PortError("host interface " + err);
      }
    } catch (const PortError& e) {
      print_errors({{cfg.file, p.loc, e.what()}});
      return 1;
    }
  }
  rt.holder->publish(compile_snapshot(plans, ids, 1, plan_segments(cfg), plan_globals(cfg)));

  ControlServer server;
  if (std::string err = server.open(cfg.appliance.control_socket); !err.empty()) {
    std::fprintf(stderr, "guestportd: %s\n", err.c_str());
    return 1;
  }

  unsigned w = 0;
  unsigned lcore = 0;
  rt.launches.resize(W);
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (w == W) break;
    rt.launches[w] = WorkerLaunch{rt.contexts[w].get(), rt.holder.get(), &rt.stop_workers};
    rte_eal_remote_launch(worker_main, &rt.launches[w], lcore);
    ++w;
  }
  rt.launched = true;
  std::printf("guestportd: running %zu ports, %u worker(s); control socket %s\n", plans.size(), W,
              cfg.appliance.control_socket.c_str());
  std::fflush(stdout);

  std::vector<const WorkerCounters*> counter_view;
  for (const auto& c : rt.counters) counter_view.push_back(c.get());
  uint64_t next_age = rte_rdtsc() + hz;
  uint64_t next_stats = rte_rdtsc() + hz * static_cast<uint64_t>(opt.stats_interval_s);
  while (!stop.load(std::memory_order_relaxed)) {
    const Snapshot& snap = *rt.holder->current();
    const uint64_t now = rte_rdtsc();
    RuntimeView view{snap, counter_view, *rt.fdb, *rt.learner, *rt.holder, *rt.slow, now, hz};
    server.poll_once(1, [&](const std::string& req) {
      if (req == "show nat" || req.rfind("show nat ", 0) == 0) {
        std::string error;
        const NatFilter f = req.size() > 9 ? parse_nat_filter(req.substr(9), &error) : NatFilter{};
        if (!error.empty()) return nlohmann::json({{"error", error}}).dump();
        std::vector<size_t> late;
        auto rows = collect_nat(rt.nat_views, &late);
        if (!late.empty())
          return nlohmann::json({{"error", "worker " + std::to_string(late[0]) +
                                               " did not copy its NAT sessions within 1 s"}})
              .dump();
        return view_nat(view, rows, f).dump();
      }
      return handle_request(view, req);
    });
    rt.learner->drain(snap, rte_rdtsc());
    rt.slow->run(snap, now / hz);
    if (now >= next_age) {
      rt.learner->age(snap, now, hz);
      rt.holder->reclaim();
      next_age = now + hz;
    }
    if (opt.stats_interval_s > 0 && now >= next_stats) {
      print_ports(view_ports(view));
      next_stats = now + hz * static_cast<uint64_t>(opt.stats_interval_s);
    }
  }
  std::printf("guestportd: stopping\n");
  server.close();
  return 0;
}

}  // namespace

int run_daemon(const Config& cfg, const DaemonOptions& opt, const std::atomic<bool>& stop) {
  std::vector<Diagnostic> errs;
  std::vector<PortPlan> plans = plan_ports(cfg, errs);
  if (!errs.empty()) {
    print_errors(errs);
    return 1;
  }
  EalPlan eal = eal_args(cfg, read_machine_facts(), opt.argv0);
  if (!eal.error.empty()) {
    std::fprintf(stderr, "guestportd: %s\n", eal.error.c_str());
    return 1;
  }
  std::printf("guestportd: memory: %u MB %s\n", cfg.appliance.memory_mb,
              eal.hugepages ? "in hugepages (--in-memory)" : "without hugepages (--no-huge)");
  std::fflush(stdout);
  std::vector<char*> argv;
  for (auto& a : eal.args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "guestportd: DPDK EAL initialisation failed: %s\n",
                 rte_strerror(rte_errno));
    return 1;
  }
  int rc = run_with_eal(cfg, opt, stop, plans);
  rte_eal_cleanup();
  return rc;
}

}  // namespace gp
