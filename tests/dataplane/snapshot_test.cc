// The snapshot mechanism: grace periods hold retirement back, and snapshots churned
// while a real worker lcore forwards traffic lose no frame and leak nothing.
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <chrono>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const char* kPair =
    "vms:\n"
    "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra}}}\n"
    "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n";

TEST(Snapshot, RetiredOnlyAfterEveryReaderWasQuiescent) {
  {
    Harness h(/*register_main=*/false);
    h.apply(kPair);
    rte_rcu_qsbr* v = h.holder().qsbr();
    // Thread 1 plays a worker in the middle of a burst: online, not yet quiescent.
    rte_rcu_qsbr_thread_register(v, 1);
    rte_rcu_qsbr_thread_online(v, 1);
    const Snapshot* held = h.holder().acquire();
    h.holder().publish(std::make_unique<Snapshot>(*held));
    h.holder().reclaim();
    EXPECT_EQ(h.holder().retired_total(), 0u);  // still readable by thread 1
    EXPECT_EQ(held->version, 1u);
    rte_rcu_qsbr_quiescent(v, 1);
    h.holder().reclaim();
    EXPECT_EQ(h.holder().retired_total(), 1u);
    rte_rcu_qsbr_thread_offline(v, 1);
    rte_rcu_qsbr_thread_unregister(v, 1);
  }
  EXPECT_EQ(rte_mempool_in_use_count(test_pool()), 0u);
}

TEST(Snapshot, ChurnUnderForwardingTrafficLosesNothing) {
  unsigned worker_lcore = rte_get_next_lcore(-1, 1, 0);
  ASSERT_LT(worker_lcore, RTE_MAX_LCORE) << "needs a worker lcore (--lcores=0@0,1@1)";
  constexpr unsigned kFrames = 20000;
  unsigned received = 0;
  uint64_t published = 0;
  {
    Harness h(/*register_main=*/false);
    h.apply(kPair);
    // Teach the FDB both MACs so every frame is a known unicast a -> b.
    h.send("ra", mac(1), kBroadcast);
    h.send("rb", mac(2), kBroadcast);
    std::atomic<bool> stop{false};
    WorkerLaunch launch{&h.ctx(), &h.holder(), &stop};
    ASSERT_EQ(rte_eal_remote_launch(worker_main, &launch, worker_lcore), 0);

    unsigned sent = 0, published_at = 0;
    rte_ring* rx = h.rx_ring("ra");
    rte_ring* tx = h.tx_ring("rb");
    const Snapshot base = h.snap();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (received < kFrames + 1 && std::chrono::steady_clock::now() < deadline) {
      // In flight (rx ring + worker + tx ring) stays below the tx ring's size.
      if (sent < kFrames && static_cast<int>(sent) - static_cast<int>(received) < 512) {
        if (rte_ring_enqueue(rx, h.frame(mac(1), mac(2))) == 0) ++sent;
      }
      rte_mbuf* m = nullptr;
      while (rte_ring_dequeue(tx, reinterpret_cast<void**>(&m)) == 0) {
        rte_pktmbuf_free(m);
        ++received;
      }
      // A fresh snapshot every 8 frames, as a busy apply loop would publish.
      if (sent >= published_at + 8) {
        published_at = sent;
        auto next = std::make_unique<Snapshot>(base);
        next->version = ++published + 1;
        h.holder().publish(std::move(next));
        h.holder().reclaim();
      }
      h.drain_learner();
    }
    stop.store(true, std::memory_order_release);
    rte_eal_wait_lcore(worker_lcore);
    h.holder().reclaim();
    EXPECT_GT(published, 1000u);
    // Every snapshot but the running one went back once the worker was quiescent.
    EXPECT_EQ(h.holder().retired_total(), h.holder().published_total() - 1);
    EXPECT_EQ(h.totals("ra").drops_total(), 0u);
    EXPECT_EQ(h.totals("rb").drops_total(), 0u);
    EXPECT_EQ(h.totals("rb").tx_packets, kFrames + 1) << "rx on ra: " << h.totals("ra").rx_packets;
    h.recv("ra");
  }
  EXPECT_EQ(received, kFrames + 1);  // + a's learning broadcast
  EXPECT_EQ(pool_problems(test_pool()), "");
}

// Tables that reclaim through the QSBR variable are counted on it, so that freeing it
// first aborts (~SnapshotHolder): the harness and the daemon tear down in the right
// order, or every test and every daemon exit would fail loudly. (No death test: a
// forked child would allocate in the parent's shared DPDK memory.)
TEST(Snapshot, TablesReclaimingThroughTheQsbrAreCountedOnIt) {
  auto holder = std::make_unique<SnapshotHolder>(1);
  {
    Neighbors n;
    ASSERT_TRUE(n.init_inside(64, holder.get()));
    Fdb f(64, holder.get());
    EXPECT_EQ(holder->users(), 2);
    n.release();
    EXPECT_EQ(holder->users(), 1);
  }
  EXPECT_EQ(holder->users(), 0);
  holder.reset();
}

}  // namespace
}  // namespace gp::test
