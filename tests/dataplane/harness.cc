// See harness.h.
#include "tests/dataplane/harness.h"

#include <rte_arp.h>
#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_rcu_qsbr.h>
#include <rte_tcp.h>
#include <rte_udp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

#include "control/config_loader.h"
#include "control/validate.h"
#include "dataplane/io/ports.h"

namespace gp::test {

namespace {
std::atomic<unsigned> g_seq{0};
rte_mempool* g_pool = nullptr;

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_TRUE(init_eal("dataplane_tests")) << "EAL init failed"; }
  void TearDown() override {
    rte_mempool_free(g_pool);
    rte_eal_cleanup();
  }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new EalEnvironment);
}  // namespace

rte_mempool* test_pool() { return g_pool; }

bool init_eal(const std::string& program) {
  std::string prefix = "--file-prefix=gp-" + program + "-" + std::to_string(getpid());
  std::vector<std::string> args = {program,
                                   "--no-huge",
                                   "-m",
                                   "512",
                                   "--no-pci",
                                   "--lcores=0@0,1@1",
                                   "--log-level=lib.eal:error",
                                   "--log-level=pmd.net.ring:error",
                                   prefix};
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) args[5] = "--lcores=0@0,1@0";
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) return false;
  g_pool = rte_pktmbuf_pool_create("gp_test_pool", 16383, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   SOCKET_ID_ANY);
  return g_pool != nullptr;
}

rte_ether_addr mac(uint8_t last) { return rte_ether_addr{{0x08, 0x00, 0x27, 0, 0, last}}; }

std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
  std::vector<uint8_t> b(rte_pktmbuf_pkt_len(m));
  const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(b.size()), b.data());
  if (p != b.data()) std::memcpy(b.data(), p, b.size());
  return b;
}

std::string pool_problems(rte_mempool* pool) {
  std::vector<rte_mbuf*> all;
  for (rte_mbuf* m; (m = rte_pktmbuf_alloc(pool)) != nullptr;) all.push_back(m);
  std::string problems;
  if (all.size() < pool->size)
    problems += std::to_string(pool->size - all.size()) + " mbufs still in use (leak); ";
  if (all.size() > pool->size) problems += "more mbufs than the pool holds (double free); ";
  std::vector<rte_mbuf*> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  const auto dup_end = std::unique(sorted.begin(), sorted.end());
  if (dup_end != sorted.end())
    problems += std::to_string(sorted.end() - dup_end) + " mbufs handed out twice (double free); ";
  size_t bad_refs = 0;
  for (auto it = sorted.begin(); it != dup_end; ++it) {
    if (rte_mbuf_refcnt_read(*it) != 1) ++bad_refs;
    rte_mbuf_refcnt_set(*it, 1);
    rte_pktmbuf_free(*it);  // each one once
  }
  if (bad_refs != 0)
    problems += std::to_string(bad_refs) + " free mbufs with a reference count != 1";
  return problems;
}

Harness::Harness(bool register_main) : register_main_(register_main) {
  holder_ = std::make_unique<SnapshotHolder>(2);
  fdb_ = std::make_unique<Fdb>(1024, holder_.get());
  learner_ = std::make_unique<Learner>(*fdb_);
  std::string rn = "gp_t_learn" + std::to_string(g_seq.fetch_add(1));
  learn_ring_ = rte_ring_create_elem(rn.c_str(), sizeof(LearnEvent), 1024, SOCKET_ID_ANY,
                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
  learner_->add_ring(learn_ring_);
  punt_ring_ =
      rte_ring_create((rn + "p").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  inject_ring_ =
      rte_ring_create((rn + "i").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  // The slow path learns into the shared tables; it sends nothing of its own (ARP for
  // gateways and forward targets) unless a test calls enable_probes().
  slow_ = SlowPath(&neighbors_, nullptr);
  slow_.add_worker(punt_ring_, inject_ring_);
  slow_.set_leases(&leases_);
  EXPECT_TRUE(neighbors_.init_inside(1024, holder_.get()));
  counters_ = std::make_unique<WorkerCounters>();
  ctx_ = std::make_unique<WorkerContext>();
  ctx_->fdb = fdb_.get();
  ctx_->learn_ring = learn_ring_;
  ctx_->punt_ring = punt_ring_;
  ctx_->inject_ring = inject_ring_;
  ctx_->counters = counters_.get();
  ctx_->tsc_hz = kHz;
  ctx_->neighbors = &neighbors_;
  ctx_->tx_queues = &tx_map_;
  ctx_->leases = &leases_;
  if (register_main_) {
    rte_rcu_qsbr_thread_register(holder_->qsbr(), 0);
    rte_rcu_qsbr_thread_online(holder_->qsbr(), 0);
  }
}

Harness::~Harness() {
  if (register_main_) {
    rte_rcu_qsbr_thread_offline(holder_->qsbr(), 0);
    rte_rcu_qsbr_thread_unregister(holder_->qsbr(), 0);
  }
  for (auto& [name, p] : ports_) {
    rte_eth_dev_stop(p.id);
    rte_eth_dev_close(p.id);
    rte_vdev_uninit(p.name.c_str());
    for (auto* rings : {&p.rxq, &p.txq})
      for (rte_ring* r : *rings) {
        rte_mbuf* m = nullptr;
        while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
        rte_ring_free(r);
      }
  }
  for (rte_ring* r : tx_rings_) {
    TxHandoff th;
    while (rte_ring_dequeue_elem(r, &th, sizeof(th)) == 0) rte_pktmbuf_free(th.m);
    rte_ring_free(r);
  }
  for (rte_ring* r : extra_rings_) {
    rte_mbuf* m = nullptr;
    while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
    rte_ring_free(r);
  }
  if (register_main_)
    for (size_t i = 0; i < extra_ctx_.size(); ++i) {
      rte_rcu_qsbr_thread_offline(holder_->qsbr(), static_cast<unsigned>(i + 1));
      rte_rcu_qsbr_thread_unregister(holder_->qsbr(), static_cast<unsigned>(i + 1));
    }
  nat_tables_.clear();
  learner_.reset();
  neighbors_.release();  // before the QSBR variable it reclaims through
  fdb_.reset();
  holder_.reset();
  rte_ring_free(learn_ring_);
  service_rings_.push_back(punt_ring_);
  service_rings_.push_back(inject_ring_);
  for (rte_ring* r : service_rings_) {
    rte_mbuf* m = nullptr;
    while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
    rte_ring_free(r);
  }
}

Harness::RingPort& Harness::ring_port(const std::string& name) {
  auto it = ports_.find(name);
  if (it != ports_.end()) return it->second;
  unsigned n = g_seq.fetch_add(1);
  RingPort p{};
  p.name = "gp_t_port" + std::to_string(n);
  for (uint16_t q = 0; q < queues_; ++q) {
    const std::string sfx = std::to_string(n) + "_" + std::to_string(q);
    p.rxq.push_back(rte_ring_create(("gp_t_rx" + sfx).c_str(), 1024, SOCKET_ID_ANY,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ));
    p.txq.push_back(rte_ring_create(("gp_t_tx" + sfx).c_str(), 1024, SOCKET_ID_ANY,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ));
    EXPECT_TRUE(p.rxq.back() != nullptr && p.txq.back() != nullptr);
  }
  p.rx = p.rxq[0];
  p.tx = p.txq[0];
  int id = rte_eth_from_rings(p.name.c_str(), p.rxq.data(), queues_, p.txq.data(), queues_,
                              SOCKET_ID_ANY);
  EXPECT_GE(id, 0) << "rte_eth_from_rings failed";
  p.id = static_cast<uint16_t>(id);
  rte_eth_conf conf{};
  EXPECT_EQ(rte_eth_dev_configure(p.id, queues_, queues_, &conf), 0);
  for (uint16_t q = 0; q < queues_; ++q) {
    EXPECT_EQ(rte_eth_rx_queue_setup(p.id, q, 1024, SOCKET_ID_ANY, nullptr, g_pool), 0);
    EXPECT_EQ(rte_eth_tx_queue_setup(p.id, q, 1024, SOCKET_ID_ANY, nullptr), 0);
  }
  EXPECT_EQ(rte_eth_dev_start(p.id), 0);
  return ports_.emplace(name, p).first->second;
}

void Harness::send_on(const std::string& port, uint16_t q, rte_mbuf* m) {
  RingPort& p = known_port(port);
  ASSERT_LT(q, p.rxq.size());
  ASSERT_EQ(rte_ring_enqueue(p.rxq[q], m), 0);
}

namespace {
// What recv() reports of a frame; the mbuf is freed.
Frame take_frame(rte_mbuf* m) {
  Frame f{};
  f.len = rte_pktmbuf_pkt_len(m);
  if (f.len >= sizeof(rte_ether_hdr)) {
    const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    f.src = eh->src_addr;
    f.dst = eh->dst_addr;
  }
  rte_pktmbuf_free(m);
  return f;
}
}  // namespace

std::vector<Frame> Harness::recv_queue(const std::string& port, uint16_t q) {
  RingPort& p = known_port(port);
  std::vector<Frame> out;
  rte_mbuf* m = nullptr;
  while (q < p.txq.size() && rte_ring_dequeue(p.txq[q], reinterpret_cast<void**>(&m)) == 0)
    out.push_back(take_frame(m));
  return out;
}

// The applier's ports: ring ports by devargs, alive for the harness's lifetime.
class Harness::RingBackend : public PortBackend {
 public:
  explicit RingBackend(Harness& h) : h_(h) {}
  Opened open(const PortPlan& p) override {
    // A port DPDK refuses, for tests of an apply that fails half-way.
    if (p.devargs.rfind("broken", 0) == 0 || h_.fail_opens_)
      throw PortError("DPDK cannot open port '" + p.devargs + "'");
    const uint16_t id = h_.ring_port(p.devargs).id;
    return {id, rte_ether_addr{{0x02, 0xaa, 0, 0, 0, static_cast<uint8_t>(id)}}};
  }
  void close(uint16_t) noexcept override { ++h_.closed_; }
  std::string set_link(uint16_t, bool) noexcept override { return ""; }
  std::string set_mtu(uint16_t, uint16_t) noexcept override { return ""; }
  std::string set_host_address(const PortPlan&) noexcept override { return ""; }

 private:
  Harness& h_;
};

ApplyOutcome Harness::try_apply(const std::string& yaml) {
  if (!applier_) {
    backend_ = std::make_unique<RingBackend>(*this);
    ApplierDeps d;
    d.ports = backend_.get();
    d.holder = holder_.get();
    d.fdb = fdb_.get();
    d.neighbors = &neighbors_;
    d.leases = &leases_;
    d.nat_tables = [](std::vector<WorkerNatState>*) { return std::string(); };  // enable_nat
    d.wait_grace = [this] {
      // This thread holds no snapshot pointer while it applies: it reports so for the
      // grace period it starts, then waits for the other readers (a worker lcore).
      rte_rcu_qsbr* v = holder_->qsbr();
      const uint64_t token = rte_rcu_qsbr_start(v);
      if (register_main_) {
        rte_rcu_qsbr_quiescent(v, 0);
        for (size_t k = 0; k < extra_ctx_.size(); ++k)
          rte_rcu_qsbr_quiescent(v, static_cast<unsigned>(k + 1));
      }
      rte_rcu_qsbr_check(v, token, true);
      holder_->reclaim();
    };
    applier_ = std::make_unique<Applier>(std::move(d));
  }
  LoadResult r = parse_config(yaml, "test.yaml");
  if (r.errors.empty() && r.config) validate_config(*r.config, r.errors);
  if (!r.errors.empty() || !r.config) {
    ApplyOutcome out;
    out.errors = r.errors;
    return out;
  }
  ApplyOutcome out = applier_->apply(*r.config);
  plans_ = applier_->plans();
  return out;
}

void Harness::apply(const std::string& yaml) {
  ApplyOutcome out = try_apply(yaml);
  ASSERT_TRUE(out.ok) << (out.errors.empty() ? "refused" : out.errors[0].to_string());
}

rte_mbuf* Harness::frame(const rte_ether_addr& src, const rte_ether_addr& dst, uint32_t len) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  EXPECT_NE(m, nullptr);
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
  EXPECT_NE(p, nullptr);
  std::memset(p, 0, len);
  if (len >= sizeof(rte_ether_hdr)) {
    auto* eh = reinterpret_cast<rte_ether_hdr*>(p);
    eh->dst_addr = dst;
    eh->src_addr = src;
    eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  } else {
    std::memcpy(p, &dst, std::min<uint32_t>(len, 6));
  }
  return m;
}

rte_mbuf* Harness::arp(const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac, uint16_t op,
                       uint32_t sip, uint32_t tip, const rte_ether_addr& tha) {
  rte_mbuf* m = frame(src_mac, dst_mac, 60);
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* a = reinterpret_cast<rte_arp_hdr*>(eh + 1);
  a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  a->arp_hlen = RTE_ETHER_ADDR_LEN;
  a->arp_plen = 4;
  a->arp_opcode = rte_cpu_to_be_16(op);
  a->arp_data.arp_sha = src_mac;
  a->arp_data.arp_sip = rte_cpu_to_be_32(sip);
  a->arp_data.arp_tha = tha;
  a->arp_data.arp_tip = rte_cpu_to_be_32(tip);
  return m;
}

Harness::RingPort& Harness::known_port(const std::string& name) {
  auto it = ports_.find(name);
  if (it == ports_.end()) {
    ADD_FAILURE() << "no port '" << name << "' in the applied config";
    throw std::invalid_argument("unknown test port " + name);
  }
  return it->second;
}

const Harness::RingPort& Harness::known_port(const std::string& name) const {
  return const_cast<Harness*>(this)->known_port(name);
}

void Harness::send(const std::string& port, rte_mbuf* m) {
  RingPort& p = known_port(port);
  ASSERT_EQ(rte_ring_enqueue(p.rx, m), 0);
}

void Harness::enable_nat(uint32_t sessions, uint16_t workers) {
  nat_tables_.clear();
  frag_tables_.clear();
  for (uint16_t w = 0; w < workers; ++w) {
    nat_tables_.push_back(std::make_unique<nat::NatTable>(sessions, w, workers));
    frag_tables_.push_back(std::make_unique<nat::FragTable>(256));
  }
  ctx_->nat = nat_tables_[0].get();
  ctx_->frags = frag_tables_[0].get();
  ctx_->n_workers = workers;
  for (uint16_t w = 1; w < workers; ++w) {
    extra_counters_.push_back(std::make_unique<WorkerCounters>());
    auto c = std::make_unique<WorkerContext>();
    c->worker_id = w;
    c->queue_id = queues_ > 1 ? w : 0;  // by default all share queue 0: they run in turn
    c->tx_queues = &tx_map_;
    c->tsc_hz = kHz;
    c->fdb = fdb_.get();
    c->learn_ring = learn_ring_;  // single producer still: workers run one at a time here
    c->counters = extra_counters_.back().get();
    c->neighbors = &neighbors_;
    c->leases = &leases_;
    c->nat = nat_tables_[w].get();
    c->frags = frag_tables_[w].get();
    c->n_workers = workers;
    // Its own rings to and from the slow path, as every worker of the daemon has.
    const std::string rn = "gp_t_svc" + std::to_string(g_seq.fetch_add(1));
    c->punt_ring =
        rte_ring_create((rn + "p").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    c->inject_ring =
        rte_ring_create((rn + "i").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    service_rings_.push_back(c->punt_ring);
    service_rings_.push_back(c->inject_ring);
    slow_.add_worker(c->punt_ring, c->inject_ring);
    extra_ctx_.push_back(std::move(c));
    if (register_main_) {
      rte_rcu_qsbr_thread_register(holder_->qsbr(), w);
      rte_rcu_qsbr_thread_online(holder_->qsbr(), w);
    }
  }
  std::vector<WorkerContext*> all = {ctx_.get()};
  for (auto& c : extra_ctx_) all.push_back(c.get());
  for (WorkerContext* from : all)
    for (WorkerContext* to : all) {
      if (from == to) continue;
      std::string n = "gp_t_hand" + std::to_string(g_seq.fetch_add(1));
      rte_ring* r = rte_ring_create(n.c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
      extra_rings_.push_back(r);
      from->handoff_to[to->worker_id] = r;
      to->handoff_from[from->worker_id] = r;
      rte_ring* t = rte_ring_create_elem(("gp_t_txh" + std::to_string(g_seq.fetch_add(1))).c_str(),
                                         sizeof(TxHandoff), 1024, SOCKET_ID_ANY,
                                         RING_F_SP_ENQ | RING_F_SC_DEQ);
      tx_rings_.push_back(t);
      from->tx_to[to->worker_id] = t;
      to->tx_from[from->worker_id] = t;
    }
}

uint64_t Harness::event(WorkerEvent e) const {
  uint64_t t = counters_->events[static_cast<size_t>(e)].get();
  for (const auto& c : extra_counters_) t += c->events[static_cast<size_t>(e)].get();
  return t;
}

rte_mbuf* Harness::ipv4(const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                        uint32_t src_ip, uint32_t dst_ip, uint8_t proto, uint16_t sport,
                        uint16_t dport, uint8_t flags_or_type, uint16_t payload, bool dont_fragment,
                        uint8_t ttl) {
  const uint32_t l4 = proto == IPPROTO_TCP ? 20 : 8;
  const uint32_t len = 14 + 20 + l4 + payload;
  // Built in plain memory first: a frame larger than one data room becomes a chain.
  std::vector<uint8_t> b(len, 0);
  for (uint32_t i = 14 + 20 + l4; i < len; ++i) b[i] = static_cast<uint8_t>(i * 7);
  auto* eh = reinterpret_cast<rte_ether_hdr*>(b.data());
  eh->dst_addr = dst_mac;
  eh->src_addr = src_mac;
  eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(len - 14));
  ip->time_to_live = ttl;
  ip->fragment_offset = dont_fragment ? rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG) : 0;
  ip->next_proto_id = proto;
  ip->src_addr = rte_cpu_to_be_32(src_ip);
  ip->dst_addr = rte_cpu_to_be_32(dst_ip);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  void* p = ip + 1;
  if (proto == IPPROTO_TCP) {
    auto* t = static_cast<rte_tcp_hdr*>(p);
    t->src_port = rte_cpu_to_be_16(sport);
    t->dst_port = rte_cpu_to_be_16(dport);
    t->data_off = 5 << 4;
    t->tcp_flags = flags_or_type;
    t->rx_win = RTE_BE16(65535);
    t->cksum = rte_ipv4_udptcp_cksum(ip, t);
  } else if (proto == IPPROTO_UDP) {
    auto* u = static_cast<rte_udp_hdr*>(p);
    u->src_port = rte_cpu_to_be_16(sport);
    u->dst_port = rte_cpu_to_be_16(dport);
    u->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(l4 + payload));
    u->dgram_cksum = rte_ipv4_udptcp_cksum(ip, u);
  } else {
    auto* ic = static_cast<rte_icmp_hdr*>(p);
    ic->icmp_type = flags_or_type;
    ic->icmp_ident = rte_cpu_to_be_16(sport);
    ic->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(ic, l4 + payload));
  }
  return from_bytes(b);
}

rte_mbuf* Harness::from_bytes(const std::vector<uint8_t>& b, uint16_t seg_len) {
  const uint16_t room =
      static_cast<uint16_t>(rte_pktmbuf_data_room_size(g_pool) - RTE_PKTMBUF_HEADROOM);
  if (seg_len == 0) seg_len = room;
  rte_mbuf* head = nullptr;
  for (size_t off = 0; off < b.size() || head == nullptr;) {
    const size_t n = std::min<size_t>(seg_len, b.size() - off);
    rte_mbuf* seg = rte_pktmbuf_alloc(g_pool);
    EXPECT_NE(seg, nullptr);
    char* p = rte_pktmbuf_append(seg, static_cast<uint16_t>(n));
    EXPECT_NE(p, nullptr);
    if (n != 0) std::memcpy(p, b.data() + off, n);
    off += n;
    if (head == nullptr)
      head = seg;
    else
      EXPECT_EQ(rte_pktmbuf_chain(head, seg), 0);
  }
  return head;
}

std::vector<Harness::Ipv4View> Harness::recv_ipv4(const std::string& port) {
  std::vector<Ipv4View> out;
  for (rte_mbuf* m : recv_mbufs(port)) {
    std::vector<uint8_t> b = bytes_of(m);  // whole frame, whatever its segments
    rte_pktmbuf_free(m);
    Ipv4View v{};
    v.frame_len = static_cast<uint32_t>(b.size());
    if (b.size() < sizeof(rte_ether_hdr)) {
      out.push_back(v);
      continue;
    }
    auto* eh = reinterpret_cast<rte_ether_hdr*>(b.data());
    v.src_mac = eh->src_addr;
    v.dst_mac = eh->dst_addr;
    if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) && b.size() >= 14 + 20) {
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
      v.src_ip = rte_be_to_cpu_32(ip->src_addr);
      v.dst_ip = rte_be_to_cpu_32(ip->dst_addr);
      v.proto = ip->next_proto_id;
      v.ttl = ip->time_to_live;
      v.ip_len = rte_be_to_cpu_16(ip->total_length);
      v.id = rte_be_to_cpu_16(ip->packet_id);
      v.frag = rte_be_to_cpu_16(ip->fragment_offset);
      void* l4 = ip + 1;
      const bool whole = v.ip_len <= b.size() - 14 && v.ip_len >= 20;
      const uint32_t l4len = whole ? v.ip_len - 20u : 0;
      v.checksums_ok = whole && rte_ipv4_cksum(ip) == 0;
      const bool first = (v.frag & RTE_IPV4_HDR_OFFSET_MASK) == 0;
      const bool unfragmented = first && !(v.frag & RTE_IPV4_HDR_MF_FLAG);
      if (first && l4len >= 4 && (v.proto == IPPROTO_TCP || v.proto == IPPROTO_UDP)) {
        uint16_t ports[2];
        std::memcpy(ports, l4, 4);
        v.sport = rte_be_to_cpu_16(ports[0]);
        v.dport = rte_be_to_cpu_16(ports[1]);
        if (unfragmented) v.checksums_ok &= rte_ipv4_udptcp_cksum_verify(ip, l4) == 0;
      } else if (first && l4len >= 8 && v.proto == IPPROTO_ICMP) {
        v.sport = v.dport = rte_be_to_cpu_16(static_cast<rte_icmp_hdr*>(l4)->icmp_ident);
        if (unfragmented) v.checksums_ok &= rte_raw_cksum(l4, l4len) == 0xffff;
      }
    }
    out.push_back(v);
  }
  return out;
}

void Harness::poll() {
  ctx_->now_tsc = now_;
  poll_once(*ctx_, *holder_->acquire());
  for (auto& c : extra_ctx_) {
    c->now_tsc = now_;
    poll_once(*c, *holder_->acquire());
  }
}

void Harness::poll_worker(uint16_t w) {
  WorkerContext& c = w == 0 ? *ctx_ : *extra_ctx_.at(w - 1);
  c.now_tsc = now_;
  poll_once(c, *holder_->acquire());
}

void Harness::step(unsigned passes) {
  for (unsigned i = 0; i < passes; ++i) {
    ctx_->now_tsc = now_;
    poll_once(*ctx_, *holder_->acquire());
    for (auto& c : extra_ctx_) {
      c->now_tsc = now_;
      poll_once(*c, *holder_->acquire());
    }
    if (register_main_) {
      rte_rcu_qsbr_quiescent(holder_->qsbr(), 0);
      for (size_t k = 0; k < extra_ctx_.size(); ++k)
        rte_rcu_qsbr_quiescent(holder_->qsbr(), static_cast<unsigned>(k + 1));
    }
    learner_->drain(snap(), now_);
    slow_.run(snap(), now_ / kHz);
  }
}

std::vector<rte_mbuf*> Harness::recv_mbufs(const std::string& port) {
  std::vector<rte_mbuf*> out;
  rte_mbuf* m = nullptr;
  for (rte_ring* r : known_port(port).txq)
    while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) out.push_back(m);
  return out;
}

std::vector<Frame> Harness::recv(const std::string& port) {
  std::vector<Frame> out;
  for (rte_mbuf* m : recv_mbufs(port)) out.push_back(take_frame(m));
  return out;
}

PortTotals Harness::totals(const std::string& port) const {
  std::vector<const WorkerCounters*> w = {counters_.get()};
  for (const auto& c : extra_counters_) w.push_back(c.get());
  return sum_port(w, port_id(port));
}

uint16_t Harness::port_id(const std::string& name) const {
  if (name.rfind("tunnel/", 0) == 0) {  // a tunnel port: by its key, it has no ring
    const auto ids = applier_->port_ids();
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
  }
  return known_port(name).id;
}

// A DHCP client's message (from 0.0.0.0 to broadcast, UDP 68 -> 67), from chaddr.
rte_mbuf* dhcp_frame(Harness& h, const dhcp::Request& r) {
  std::vector<uint8_t> payload = dhcp::build_request(r);
  const uint32_t len = 14 + 20 + 8 + static_cast<uint32_t>(payload.size());
  rte_ether_addr src;
  std::copy(r.chaddr.begin(), r.chaddr.end(), src.addr_bytes);
  rte_mbuf* m = h.frame(src, kBroadcast, len);
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(len - 14));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = 0;
  ip->dst_addr = RTE_BE32(0xffffffff);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  u->src_port = rte_cpu_to_be_16(68);
  u->dst_port = rte_cpu_to_be_16(67);
  u->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(8 + payload.size()));
  std::memcpy(u + 1, payload.data(), payload.size());
  u->dgram_cksum = rte_ipv4_udptcp_cksum(ip, u);
  return m;
}

}  // namespace gp::test
