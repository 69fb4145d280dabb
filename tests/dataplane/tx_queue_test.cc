// Workers and the tx queues a port really has: worker w sends on queue w; a port with
// fewer queues (a vhost-user guest that enabled one queue pair with two workers) gets
// the other workers' frames through the worker that owns a queue it has, and a port
// with none drops them under their own name. Two workers, ports with two queues.
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const char* kPair =
    "vms:\n"
    "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra}}}\n"
    "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n";

class TxQueueTest : public HarnessTest {
 protected:
  void SetUp() override {
    HarnessTest::SetUp();
    h->set_queues(2);
    h->apply(kPair);
    h->enable_nat(64, 2);  // two worker contexts; worker w polls and sends on queue w
  }
};

TEST_F(TxQueueTest, EachWorkerSendsOnItsOwnQueue) {
  h->send_on("ra", 0, h->frame(mac(1), kBroadcast));
  h->send_on("ra", 1, h->frame(mac(1), kBroadcast));
  h->step();
  EXPECT_EQ(h->recv_queue("rb", 0).size(), 1u);
  EXPECT_EQ(h->recv_queue("rb", 1).size(), 1u);
  EXPECT_EQ(h->event(WorkerEvent::kTxRedirected), 0u);
}

TEST_F(TxQueueTest, APortWithOneQueueGetsTheOtherWorkersFramesThroughWorkerZero) {
  h->tx_map().set(h->port_id("rb"), 1);  // b's guest enabled one queue pair
  for (int i = 0; i < 40; ++i) h->send_on("ra", 1, h->frame(mac(1), kBroadcast));  // worker 1
  h->send_on("ra", 0, h->frame(mac(1), kBroadcast));                               // worker 0
  h->step(3);
  EXPECT_EQ(h->recv_queue("rb", 1).size(), 0u) << "queue 1 is not enabled";
  EXPECT_EQ(h->recv_queue("rb", 0).size(), 41u) << "nothing lost";
  EXPECT_EQ(h->event(WorkerEvent::kTxRedirected), 40u);
  EXPECT_EQ(h->totals("rb").tx_packets, 41u);
  EXPECT_EQ(h->totals("rb").drops_total(), 0u);
}

TEST_F(TxQueueTest, APortWithNoQueueDropsUnderItsOwnName) {
  h->tx_map().set(h->port_id("rb"), 0);  // the guest has not enabled any queue yet
  h->send_on("ra", 0, h->frame(mac(1), kBroadcast));
  h->send_on("ra", 1, h->frame(mac(1), kBroadcast));
  h->step(3);
  EXPECT_EQ(h->recv("rb").size(), 0u);
  EXPECT_EQ(h->drops("rb", Drop::kTxNoQueue), 2u);
  EXPECT_EQ(h->drops("rb", Drop::kTxFull), 0u);
}

}  // namespace
}  // namespace gp::test
