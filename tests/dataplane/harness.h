// Dataplane test harness: EAL (--no-huge, set up once per binary), a real mempool,
// net_ring ports created from the config's port names, and the real worker code
// (poll_once, learner) driven step by step from the test thread with an injected
// clock. Tests write their config as users do; every `port:` becomes a net_ring port.
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control/applier.h"
#include "control/compile.h"
#include "dataplane/core/snapshot_holder.h"
#include "dataplane/l2/fdb.h"
#include "dataplane/l2/learner.h"
#include "dataplane/nat/frag_table.h"
#include "dataplane/nat/nat_table.h"
#include "dataplane/nat/neighbors.h"
#include "dataplane/pipeline.h"
#include "dataplane/services/dhcp_message.h"
#include "dataplane/services/slow_path.h"

namespace gp::test {

rte_mempool* test_pool();  // shared by all tests of the binary
// EAL (--no-huge, its own file prefix) and the shared pool; the dataplane tests call it
// once before any test, a fuzz target from LLVMFuzzerInitialize.
bool init_eal(const std::string& program);

struct Frame {
  rte_ether_addr src, dst;
  uint32_t len;
};

rte_ether_addr mac(uint8_t last);  // 08:00:27:00:00:<last>
// a.b.c.d in host byte order, as the harness's frame builders take addresses.
constexpr uint32_t ip4(int a, int b, int c, int d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d);
}

// The frame's bytes, across all its segments.
std::vector<uint8_t> bytes_of(const rte_mbuf* m);
// Every mbuf of the pool taken out and checked: none still in use (a leak), none
// handed out twice (a double free puts one mbuf in the pool twice), none with a
// reference count other than 1. "" when all is well, else what is wrong.
std::string pool_problems(rte_mempool* pool);
inline const rte_ether_addr kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

class Harness {
 public:
  // register_main: the test thread itself is QSBR thread 0 and runs the worker code.
  explicit Harness(bool register_main = true);
  ~Harness();

  // Ring ports made from now on get n rx and n tx queues, and worker w (enable_nat)
  // uses queue w of each (by default every worker shares queue 0: they run in turn).
  void set_queues(uint16_t n) { queues_ = n; }
  // Frames on rx queue q of `port` (polled by worker q); what left tx queue q.
  void send_on(const std::string& port, uint16_t q, rte_mbuf* m);
  std::vector<Frame> recv_queue(const std::string& port, uint16_t q);
  TxQueueMap& tx_map() { return tx_map_; }
  // Parses, validates and applies `yaml` through the daemon's Applier, whose ports are
  // ring ports made as needed; publishes. The test fails if the config is refused.
  void apply(const std::string& yaml);
  // The same, for configs a test expects to be refused: the outcome as it is. A port
  // whose devargs start with "broken" cannot be opened.
  ApplyOutcome try_apply(const std::string& yaml);
  Applier& applier() { return *applier_; }
  // Ring ports the applier "closed" (a re-apply removed them).
  unsigned ports_closed() const { return closed_; }
  // While set, every port open fails (an interface that is not there).
  void fail_opens(bool on) { fail_opens_ = on; }
  const Snapshot& snap() const { return *holder_->current(); }
  // A ring port by name, or a tunnel port by its key ("tunnel/NETWORK/REMOTE").
  uint16_t port_id(const std::string& name) const;

  rte_mbuf* frame(const rte_ether_addr& src, const rte_ether_addr& dst, uint32_t len = 60);
  void send(const std::string& port, rte_mbuf* m);
  void send(const std::string& port, const rte_ether_addr& src, const rte_ether_addr& dst,
            uint32_t len = 60) {
    send(port, frame(src, dst, len));
  }
  // One poll pass of every worker, a quiescent state, a learner drain, the slow path.
  void step(unsigned passes = 2);
  // One poll pass of every worker and nothing else (the learner and the slow path wait).
  void poll();
  void poll_worker(uint16_t w);  // worker w alone (after enable_nat with workers > w)
  rte_ring* handoff_ring(uint16_t from, uint16_t to) const {
    return (from == 0 ? *ctx_ : *extra_ctx_.at(from - 1)).handoff_to[to];
  }
  rte_ring* learn_ring() const { return learn_ring_; }
  rte_ring* punt_ring() const { return punt_ring_; }
  // NAT: a table per worker (`workers` contexts, polled one after the other by step()),
  // the uplink's MAC and its gateway's MAC as if learned.
  void enable_nat(uint32_t sessions, uint16_t workers = 1);
  void set_next_hop(const std::string& uplink, const rte_ether_addr& mac) {
    neighbors_.set_next_hop(port_id(uplink), mac);
  }
  // An on-link host of the uplink's subnet, as if it had answered ARP.
  void set_onlink(const std::string& uplink, uint32_t ip, const rte_ether_addr& mac) {
    neighbors_.learn_inside(Neighbors::onlink_scope(port_id(uplink)), rte_cpu_to_be_32(ip), mac,
                            port_id(uplink));
  }
  const rte_ether_addr& own_mac(const std::string& port) {
    return neighbors_.own_mac(port_id(port));
  }
  nat::NatTable& nat_table(uint16_t worker) { return *nat_tables_.at(worker); }
  WorkerCounters& counters(uint16_t worker) {
    return worker == 0 ? *counters_ : *extra_counters_[worker - 1];
  }
  uint64_t event(WorkerEvent e) const;
  // An Ethernet/IPv4 frame with a UDP, TCP (flags) or ICMP echo (type) header; the
  // payload is a fixed pattern; a frame larger than one mbuf's room comes as a chain.
  rte_mbuf* ipv4(const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac, uint32_t src_ip,
                 uint32_t dst_ip, uint8_t proto, uint16_t sport, uint16_t dport,
                 uint8_t flags_or_type = 0, uint16_t payload = 10, bool dont_fragment = false,
                 uint8_t ttl = 64);
  // A frame from raw bytes: segments of seg_len (0: as large as the pool's data room).
  rte_mbuf* from_bytes(const std::vector<uint8_t>& bytes, uint16_t seg_len = 0);
  // An ARP request or reply (op: RTE_ARP_OP_*), sender sha/sip, target tha/tip.
  rte_mbuf* arp(const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac, uint16_t op,
                uint32_t sip, uint32_t tip, const rte_ether_addr& tha = {});
  // What the switch sent out of `port` since the last call (mbufs are freed).
  std::vector<Frame> recv(const std::string& port);
  // The mbufs themselves; the caller frees them.
  std::vector<rte_mbuf*> recv_mbufs(const std::string& port);
  PortTotals totals(const std::string& port) const;
  struct Ipv4View {
    uint32_t src_ip, dst_ip;
    uint16_t sport, dport;
    uint8_t proto, ttl;
    rte_ether_addr src_mac, dst_mac;
    bool checksums_ok;          // IP header; L4 too for unfragmented packets
    uint32_t frame_len;         // bytes on the wire, all segments
    uint16_t ip_len, id, frag;  // total length, identification, flags+offset (host order)
  };
  // Frames sent out of `port`, parsed (and freed).
  std::vector<Ipv4View> recv_ipv4(const std::string& port);
  uint64_t drops(const std::string& port, Drop d) const {
    return totals(port).drops[static_cast<size_t>(d)];
  }
  void advance_seconds(uint64_t s) { now_ += s * kHz; }
  void advance_ms(uint64_t ms) { now_ += ms * kHz / 1000; }
  uint64_t tsc_hz() const { return kHz; }
  void age() { learner_->age(snap(), now_, kHz); }
  void drain_learner() { learner_->drain(snap(), now_); }

  SnapshotHolder& holder() { return *holder_; }
  WorkerContext& ctx() { return *ctx_; }
  Fdb& fdb() { return *fdb_; }
  const Learner& learner() const { return *learner_; }
  rte_ring* tx_ring(const std::string& port) const { return known_port(port).tx; }
  rte_ring* rx_ring(const std::string& port) const { return known_port(port).rx; }
  const std::vector<PortPlan>& plans() const { return plans_; }
  const SlowPath& slow() const { return slow_; }
  unsigned run_slow() { return slow_.run(snap(), now_ / kHz); }  // one turn of the slow path
  // The slow path also sends its own ARP requests (uplink gateways, forward targets).
  void enable_probes() {
    slow_ = SlowPath(&neighbors_, test_pool());
    slow_.add_worker(punt_ring_, inject_ring_);
    slow_.set_leases(&leases_);
  }
  PortLeases& leases() { return leases_; }
  Neighbors& neighbors() { return neighbors_; }
  uint64_t now_seconds() const { return now_ / kHz; }

  static constexpr uint64_t kHz = 1000000;  // injected TSC: 1 MHz

 private:
  struct RingPort {
    uint16_t id;
    std::string name;
    rte_ring* rx;  // queue 0
    rte_ring* tx;
    std::vector<rte_ring*> rxq, txq;  // every queue (set_queues)
  };
  RingPort& ring_port(const std::string& name);
  // A port of the applied config; an unknown name fails the test (a misspelt port
  // would otherwise make "nothing arrived" checks pass).
  RingPort& known_port(const std::string& name);
  const RingPort& known_port(const std::string& name) const;

  bool register_main_;
  uint16_t queues_ = 1;
  TxQueueMap tx_map_;
  uint64_t now_ = kHz;
  std::unique_ptr<SnapshotHolder> holder_;
  std::unique_ptr<Fdb> fdb_;
  std::unique_ptr<Learner> learner_;
  std::unique_ptr<WorkerCounters> counters_;
  std::unique_ptr<WorkerContext> ctx_;
  rte_ring* learn_ring_ = nullptr;
  rte_ring* punt_ring_ = nullptr;
  rte_ring* inject_ring_ = nullptr;
  SlowPath slow_;
  std::map<std::string, RingPort> ports_;
  Neighbors neighbors_;
  PortLeases leases_;
  std::vector<std::unique_ptr<nat::NatTable>> nat_tables_;
  std::vector<std::unique_ptr<nat::FragTable>> frag_tables_;
  std::vector<std::unique_ptr<WorkerContext>> extra_ctx_;
  std::vector<std::unique_ptr<WorkerCounters>> extra_counters_;
  std::vector<rte_ring*> extra_rings_;
  std::vector<rte_ring*> service_rings_;  // extra workers' punt and inject rings
  std::vector<rte_ring*> tx_rings_;       // TxHandoff elements
  std::vector<PortPlan> plans_;
  class RingBackend;
  std::unique_ptr<RingBackend> backend_;
  std::unique_ptr<Applier> applier_;
  unsigned closed_ = 0;
  bool fail_opens_ = false;
};

// Base fixture: a fresh Harness per test; afterwards no mbuf may be in use, freed
// twice or left with a stray reference.
class HarnessTest : public ::testing::Test {
 protected:
  void SetUp() override { h = std::make_unique<Harness>(); }
  void TearDown() override {
    h.reset();
    EXPECT_EQ(pool_problems(test_pool()), "");
  }
  std::unique_ptr<Harness> h;
};

// A DHCP client's message (from 0.0.0.0 to broadcast, UDP 68 -> 67), from chaddr.
rte_mbuf* dhcp_frame(Harness& h, const dhcp::Request& r);

}  // namespace gp::test
