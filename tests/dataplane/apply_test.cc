// Re-applying configs to a running dataplane through the daemon's Applier: hundreds
// of random changes while a steady flow runs between two untouched ports (every frame
// arrives, no mbuf leaks), NAT sessions and learned MACs of untouched networks survive,
// a removed port forward or router stops at once and its sessions are swept, a refused
// config changes nothing, a port reopened on the same device comes back.
#include <netinet/in.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_tcp.h>

#include <chrono>
#include <random>
#include <string>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const char* kAB =
    "  a: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:01', port: ra}}}\n"
    "  b: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:02', port: rb}}}\n";

// a and b exactly as in kAB; up to six more VMs that come, go and change.
std::string random_config(std::mt19937& rng) {
  std::string y = "vms:\n" + std::string(kAB);
  const char* nets[] = {"internal:lab", "internal:lab2", "internal:lab3", "none"};
  const char* promisc[] = {"deny", "allow-vms", "allow-all"};
  for (int i = 0; i < 6; ++i) {
    if (rng() % 3 == 0) continue;  // this VM is absent
    const std::string n = std::to_string(i);
    std::string ad = "attach: " + std::string(nets[rng() % 4]) + ", mac: '08:00:27:00:01:0" + n +
                     "', promiscuous: " + promisc[rng() % 3];
    if (rng() % 2) ad += ", model: virtio-net, mtu: 9000";
    if (rng() % 4 == 0) ad += ", cable_connected: false";
    // The same device under other devargs: the applier closes the old port first.
    ad += std::string(", port: '") + "rc" + n + (rng() % 3 == 0 ? ",x=1'" : "'");
    y += "  c" + n + ": {adapters: {1: {" + ad + "}}}\n";
  }
  return y;
}

TEST(Apply, RandomAppliesUnderSteadyFlowLoseNothing) {
  unsigned worker_lcore = rte_get_next_lcore(-1, 1, 0);
  ASSERT_LT(worker_lcore, RTE_MAX_LCORE) << "needs a worker lcore (--lcores=0@0,1@1)";
  constexpr unsigned kFrames = 20000;
  constexpr unsigned kApplies = 300;
  unsigned received = 0, applies = 0;
  {
    Harness h(/*register_main=*/false);
    h.apply("vms:\n" + std::string(kAB));
    h.send("ra", mac(1), kBroadcast);  // both MACs learned: a -> b is known unicast
    h.send("rb", mac(2), kBroadcast);
    h.step();
    h.recv("ra");
    h.recv("rb");
    const uint64_t floods = h.event(WorkerEvent::kFloods);
    std::atomic<bool> stop{false};
    WorkerLaunch launch{&h.ctx(), &h.holder(), &stop};
    ASSERT_EQ(rte_eal_remote_launch(worker_main, &launch, worker_lcore), 0);
    std::mt19937 rng(12345);
    unsigned sent = 0;
    rte_ring* rx = h.rx_ring("ra");
    rte_ring* tx = h.tx_ring("rb");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while ((received < kFrames || applies < kApplies) &&
           std::chrono::steady_clock::now() < deadline) {
      for (int k = 0; k < 64 && sent < kFrames && sent - received < 512; ++k)
        if (rte_ring_enqueue(rx, h.frame(mac(1), mac(2))) == 0) ++sent;
      rte_mbuf* m = nullptr;
      while (rte_ring_dequeue(tx, reinterpret_cast<void**>(&m)) == 0) {
        rte_pktmbuf_free(m);
        ++received;
      }
      if (applies < kApplies && (sent >= kFrames || sent > applies * (kFrames / kApplies))) {
        ApplyOutcome o = h.try_apply(random_config(rng));
        ASSERT_TRUE(o.ok) << (o.errors.empty() ? "" : o.errors[0].to_string());
        ++applies;
      }
    }
    stop.store(true, std::memory_order_release);
    rte_eal_wait_lcore(worker_lcore);
    EXPECT_EQ(applies, kApplies);
    for (const char* port : {"ra", "rb"})
      for (size_t d = 0; d < kDropCount; ++d)
        if (h.totals(port).drops[d] != 0)
          ADD_FAILURE() << port << " drop " << kDropNames[d] << " " << h.totals(port).drops[d];
    EXPECT_GT(h.ports_closed(), 10u);  // ports really came and went
    EXPECT_EQ(h.totals("ra").drops_total(), 0u);
    EXPECT_EQ(h.totals("rb").drops_total(), 0u);
    EXPECT_EQ(h.totals("rb").tx_packets, kFrames + 1);  // + a's learning broadcast
    // b's MAC was never forgotten: not one frame of the flow was flooded.
    EXPECT_EQ(h.event(WorkerEvent::kFloods), floods);
  }
  EXPECT_EQ(received, kFrames);  // every frame, exactly
  EXPECT_EQ(pool_problems(test_pool()), "");
}

const uint32_t kGuest = ip4(10, 0, 2, 15), kOut = ip4(198, 51, 100, 10), kS1 = ip4(203, 0, 113, 7);
const rte_ether_addr kGwMac{{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}};
const rte_ether_addr kRouter{{0x02, 0, 0, 0, 0, 0x01}};

std::string nat_config(const std::string& a_extra, const std::string& more = "") {
  return "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n"
         "vms:\n"
         "  a: {adapters: {1: {attach: nat, mac: '08:00:27:00:00:01', port: ra" +
         a_extra +
         "}}}\n"
         "  x: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:0a', port: rx}}}\n"
         "  y: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:0b', port: ry}}}\n" +
         more;
}

class ApplyNat : public HarnessTest {
 protected:
  void start(const std::string& cfg) {
    h->apply(cfg);
    h->enable_nat(1024);
    h->set_next_hop("rup", kRouter);
  }
  std::vector<Harness::Ipv4View> in(uint16_t sport, uint16_t dport, uint8_t proto,
                                    uint8_t flags = 0) {
    h->send("rup", h->ipv4(kRouter, h->own_mac("rup"), kS1, kOut, proto, sport, dport, flags));
    h->step(3);
    return h->recv_ipv4("ra");
  }
  std::vector<Harness::Ipv4View> out(uint8_t proto, uint16_t sport, uint16_t dport,
                                     uint8_t flags = 0) {
    h->send("ra", h->ipv4(mac(1), kGwMac, kGuest, kS1, proto, sport, dport, flags));
    h->step(3);
    return h->recv_ipv4("rup");
  }
};

TEST_F(ApplyNat, SessionsAndMacsOfUntouchedNetworksSurvive) {
  start(nat_config(""));
  ASSERT_EQ(out(IPPROTO_UDP, 40000, 53).size(), 1u);
  h->send("rx", mac(10), kBroadcast);
  h->send("ry", mac(11), kBroadcast);
  h->step();
  h->recv("rx");
  h->recv("ry");
  const uint64_t floods = h->event(WorkerEvent::kFloods);
  const uint64_t version = h->snap().version;
  // A new VM on a new network, and a port forward added to a's router.
  h->apply(nat_config(
      ", port_forwards: [{name: ssh, proto: tcp, host_port: 2222, guest_port: 22}]",
      "  z: {adapters: {1: {attach: internal:other, mac: '08:00:27:00:00:0c', port: rz}}}\n"));
  EXPECT_GT(h->snap().version, version);
  EXPECT_EQ(h->nat_table(0).size(), 1u);
  auto back = in(53, 40000, IPPROTO_UDP);
  ASSERT_EQ(back.size(), 1u) << "the session did not survive the apply";
  EXPECT_EQ(back[0].dst_ip, kGuest);
  EXPECT_EQ(back[0].dport, 40000);
  // x -> y is still known unicast: y gets it, nobody else does.
  h->send("rx", mac(10), mac(11));
  h->step();
  EXPECT_EQ(h->recv("ry").size(), 1u);
  EXPECT_TRUE(h->recv("rz").empty());
  EXPECT_EQ(h->event(WorkerEvent::kFloods), floods);
  // The forward added is live at once.
  auto syn = in(50000, 2222, IPPROTO_TCP, RTE_TCP_SYN_FLAG);
  ASSERT_EQ(syn.size(), 1u);
  EXPECT_EQ(syn[0].dport, 22);
}

TEST_F(ApplyNat, RemovedForwardStopsAtOnceAndItsSessionIsSwept) {
  start(nat_config(", port_forwards: [{name: ssh, proto: tcp, host_port: 2222, guest_port: 22}]"));
  ASSERT_EQ(in(50000, 2222, IPPROTO_TCP, RTE_TCP_SYN_FLAG).size(), 1u);
  ASSERT_EQ(out(IPPROTO_TCP, 22, 50000, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG).size(), 1u);
  ASSERT_EQ(out(IPPROTO_UDP, 40000, 53).size(), 1u);  // an ordinary session beside it
  EXPECT_EQ(h->nat_table(0).size(), 2u);
  h->apply(nat_config(""));
  // The established connection through the removed forward carries nothing more (the
  // worker swept its session before its next burst: a table this small takes one
  // slice), and a new connection to the old host port is unsolicited.
  EXPECT_TRUE(in(50000, 2222, IPPROTO_TCP, RTE_TCP_ACK_FLAG).empty());
  EXPECT_TRUE(in(50001, 2222, IPPROTO_TCP, RTE_TCP_SYN_FLAG).empty());
  EXPECT_EQ(h->drops("rup", Drop::kNatStale) + h->drops("rup", Drop::kNatUnsolicited), 2u);
  EXPECT_EQ(h->nat_table(0).size(), 1u);
  EXPECT_EQ(h->event(WorkerEvent::kNatSwept), 1u);
  // The ordinary session is untouched.
  EXPECT_EQ(in(53, 40000, IPPROTO_UDP).size(), 1u);
}

TEST_F(ApplyNat, RemovedRouterStopsAtOnce) {
  start(nat_config(""));
  ASSERT_EQ(out(IPPROTO_UDP, 40000, 53).size(), 1u);
  // a's adapter goes: its router and every session of it.
  h->apply(
      "uplinks: {wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n"
      "vms:\n"
      "  x: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:0a', port: rx}}}\n");
  h->send("rup", h->ipv4(kRouter, h->own_mac("rup"), kS1, kOut, IPPROTO_UDP, 53, 40000));
  h->step(4);
  EXPECT_TRUE(h->recv("rx").empty());
  EXPECT_EQ(h->nat_table(0).size(), 0u);
  EXPECT_EQ(h->event(WorkerEvent::kNatSwept), 1u);
  EXPECT_GE(h->ports_closed(), 1u);
}

// Both MACs learned: a -> b is known unicast from now on.
void learn_ab(Harness& h) {
  h.send("ra", mac(1), kBroadcast);
  h.send("rb", mac(2), kBroadcast);
  h.step();
  h.recv("ra");
  h.recv("rb");
}

TEST_F(HarnessTest, RefusedApplyChangesNothing) {
  h->apply("vms:\n" + std::string(kAB));
  learn_ab(*h);
  const uint64_t version = h->snap().version;
  // A restart-only setting, and a new port on a device another port holds.
  ApplyOutcome o = h->try_apply("appliance: {workers: 2}\nvms:\n" + std::string(kAB));
  EXPECT_FALSE(o.ok);
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_NE(o.errors[0].to_string().find("test.yaml:1:12: error: appliance.workers cannot change"),
            std::string::npos)
      << o.errors[0].to_string();
  o = h->try_apply(
      "vms:\n" + std::string(kAB) +
      "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: 'rb,x=1'}}}\n");
  EXPECT_FALSE(o.ok);
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_NE(o.errors[0].message.find("port device 'rb' is already used by vm 'b'"),
            std::string::npos)
      << o.errors[0].to_string();
  EXPECT_EQ(o.errors[0].loc.line, 4);
  EXPECT_EQ(h->snap().version, version);
  EXPECT_EQ(h->applier().applies_refused(), 1u);  // the second never reached it
  h->send("ra", mac(1), mac(2));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
}

TEST_F(HarnessTest, ApplyThatFailsHalfWayClosesWhatItOpenedAndKeepsForwarding) {
  h->apply("vms:\n" + std::string(kAB));
  learn_ab(*h);
  const uint64_t version = h->snap().version;
  ApplyOutcome o = h->try_apply(
      "vms:\n" + std::string(kAB) +
      "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: rc}}}\n"
      "  d: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:04', port: broken0}}}\n");
  EXPECT_FALSE(o.ok);
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0].to_string(), "test.yaml:5:76: error: DPDK cannot open port 'broken0'");
  EXPECT_EQ(h->ports_closed(), 1u);  // c's port, opened for the new config, closed again
  EXPECT_EQ(h->snap().version, version);
  EXPECT_EQ(h->applier().running()->vms.size(), 2u);
  EXPECT_EQ(h->applier().port_ids().count("vm/c/1"), 0u);
  h->send("ra", mac(1), mac(2));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_TRUE(h->recv("rc").empty());
}

TEST_F(HarnessTest, PortReopenedOnTheSameDeviceComesBack) {
  const std::string c1 =
      "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: rc}}}\n";
  const std::string c2 =
      "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: 'rc,x=1'}}}\n";
  h->apply("vms:\n" + std::string(kAB) + c1);
  const uint16_t old_id = h->port_id("rc");
  h->apply("vms:\n" + std::string(kAB) + c2);
  EXPECT_EQ(h->ports_closed(), 1u);
  EXPECT_NE(h->port_id("rc,x=1"), old_id);
  EXPECT_EQ(h->snap().ports[old_id].role, PortRole::kUnused);
  h->send("ra", mac(1), kBroadcast);
  h->step();
  EXPECT_EQ(h->recv("rc,x=1").size(), 1u);
  EXPECT_EQ(h->recv("rb").size(), 1u);
}

// What PortWatch does when a port's interface was deleted and made again.
TEST_F(HarnessTest, AReopenedPortForwardsAgainAndTheRestNeverStopped) {
  const std::string c =
      "  c: {adapters: {1: {attach: internal:lab, mac: '08:00:27:00:00:03', port: rc}}}\n";
  h->apply("vms:\n" + std::string(kAB) + c);
  EXPECT_EQ(h->applier().reopen("vm/b/1"), "");
  EXPECT_EQ(h->ports_closed(), 1u);
  EXPECT_EQ(h->applier().reopened("vm/b/1"), 1u);
  EXPECT_TRUE(h->applier().lost().empty());
  h->send("ra", mac(1), kBroadcast);
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->recv("rc").size(), 1u);

  // The interface is not back yet: the port stays out, the others forward.
  h->fail_opens(true);
  EXPECT_NE(h->applier().reopen("vm/b/1"), "");
  ASSERT_EQ(h->applier().lost().size(), 1u);
  EXPECT_EQ(h->applier().lost()[0].key, "vm/b/1");
  EXPECT_EQ(h->applier().port_ids().count("vm/b/1"), 0u);
  EXPECT_EQ(h->snap().ports[h->port_id("rb")].role, PortRole::kUnused);
  h->send("ra", mac(1), kBroadcast);
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 0u);
  EXPECT_EQ(h->recv("rc").size(), 1u);
  // It is back: a retry opens it.
  h->fail_opens(false);
  EXPECT_EQ(h->applier().reopen("vm/b/1"), "");
  EXPECT_TRUE(h->applier().lost().empty());
  EXPECT_EQ(h->applier().reopened("vm/b/1"), 2u);
  h->send("ra", mac(1), kBroadcast);
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->recv("rc").size(), 1u);
  EXPECT_NE(h->applier().reopen("vm/nobody/1"), "");
}

}  // namespace
}  // namespace gp::test
