// latency_probe: per-packet latency through a switch, as a VM sees it. A DPDK process
// with two ports (in bench/run.py: virtio-user ports on a switch's vhost-user sockets)
// sends UDP frames on port 0 at a paced rate, each carrying a sequence number and the
// TSC at which it was handed to the port, and receives them on port 1: sender and
// receiver read one TSC, so latency = TSC at receipt - TSC in the frame.
//
//   latency_probe [EAL args] -- --rate-mpps R [--seconds S] [--size BYTES] [--warmup S]
//
// BYTES: 64..9018, the frame with its FCS as RFC 2544 counts it (default 64).
//
// R = 0 sends as fast as the probe can (the path's throughput, as received). Prints one
// JSON object: offered and received rates, sent/received/lost, latency min, median,
// p99, p99.9 and max in ns. The switch must deliver port 0's frames to port 1's MAC:
// the probe first sends a few frames from port 1 so that a learning switch knows it.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kMagic = 0x67706c74;  // "gplt"
constexpr uint16_t kBurst = 32;

struct Stamp {
  uint32_t magic;
  uint32_t seq;
  uint64_t tsc;
};

// Latency histogram: 10 ns steps to 100 us, then 1 us steps to 10 ms, then one bin.
class Histogram {
 public:
  Histogram() : fine_(10000, 0), coarse_(9900, 0) {}
  void add(uint64_t ns) {
    ++n_;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
    if (ns < 100000)
      ++fine_[ns / 10];
    else if (ns < 10000000)
      ++coarse_[(ns - 100000) / 1000];
    else
      ++over_;
  }
  // The smallest latency with at least q of the samples at or below it.
  uint64_t quantile(double q) const {
    if (n_ == 0) return 0;
    const auto want = static_cast<uint64_t>(q * static_cast<double>(n_) + 0.5);
    uint64_t seen = 0;
    for (size_t i = 0; i < fine_.size(); ++i)
      if ((seen += fine_[i]) >= want) return std::max<uint64_t>(i * 10 + 5, min_);
    for (size_t i = 0; i < coarse_.size(); ++i)
      if ((seen += coarse_[i]) >= want) return 100000 + i * 1000 + 500;
    return max_;
  }
  uint64_t count() const { return n_; }
  uint64_t min() const { return n_ ? min_ : 0; }
  uint64_t max() const { return max_; }

 private:
  std::vector<uint64_t> fine_, coarse_;
  uint64_t over_ = 0, n_ = 0, min_ = UINT64_MAX, max_ = 0;
};

bool start_port(uint16_t port, rte_mempool* pool) {
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0) return false;
  const int socket = rte_eth_dev_socket_id(port);
  if (rte_eth_rx_queue_setup(port, 0, 1024, socket, nullptr, pool) != 0) return false;
  if (rte_eth_tx_queue_setup(port, 0, 1024, socket, nullptr) != 0) return false;
  return rte_eth_dev_start(port) == 0;
}

// An Ethernet/IPv4/UDP frame of `size` bytes with the FCS (RFC 2544 sizes), stamped.
void build(rte_mbuf* m, const rte_ether_addr& src, const rte_ether_addr& dst, uint16_t size,
           uint32_t seq) {
  const uint16_t len = static_cast<uint16_t>(size - RTE_ETHER_CRC_LEN);
  auto* p = rte_pktmbuf_mtod(m, uint8_t*);
  m->data_len = m->pkt_len = len;
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  eth->src_addr = src;
  eth->dst_addr = dst;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  std::memset(ip, 0, sizeof(*ip));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(len - sizeof(*eth)));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(0x0a000001);
  ip->dst_addr = rte_cpu_to_be_32(0x0a000002);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(1000);
  udp->dst_port = rte_cpu_to_be_16(2000);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(len - sizeof(*eth) - sizeof(*ip)));
  udp->dgram_cksum = 0;
  Stamp st{kMagic, seq, 0};
  std::memcpy(udp + 1, &st, sizeof(st));
}

inline void stamp(rte_mbuf* m, uint64_t tsc) {
  constexpr size_t off =
      sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + offsetof(Stamp, tsc);
  std::memcpy(rte_pktmbuf_mtod_offset(m, uint8_t*, off), &tsc, sizeof(tsc));
}

// A received frame's stamp, if it is one of ours.
inline bool read_stamp(const rte_mbuf* m, Stamp* st) {
  constexpr size_t off = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
  if (rte_pktmbuf_data_len(m) < off + sizeof(Stamp)) return false;
  std::memcpy(st, rte_pktmbuf_mtod_offset(m, const uint8_t*, off), sizeof(*st));
  return st->magic == kMagic;
}

}  // namespace

int main(int argc, char** argv) {
  const int used = rte_eal_init(argc, argv);
  if (used < 0) {
    std::fprintf(stderr, "latency_probe: EAL init failed\n");
    return 1;
  }
  argc -= used;
  argv += used;
  double rate_mpps = 0, seconds = 5, warmup = 1;
  unsigned size = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--rate-mpps")
      rate_mpps = std::atof(argv[i + 1]);
    else if (k == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else if (k == "--size")
      size = static_cast<unsigned>(std::atoi(argv[i + 1]));
    else if (k == "--warmup")
      warmup = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "latency_probe: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (size < 64 || size > 9018 || rte_eth_dev_count_avail() < 2) {
    std::fprintf(stderr, "latency_probe: needs two ports and a size of 64..9018\n");
    return 2;
  }
  // One mbuf per frame sent, whatever its size (received jumbo frames may come chained).
  const auto room = static_cast<uint16_t>(std::max<unsigned>(size, 2048) + RTE_PKTMBUF_HEADROOM);
  rte_mempool* pool =
      rte_pktmbuf_pool_create("lp_pool", size > 2048 ? 8191 : 16383, 256, 0, room, rte_socket_id());
  if (pool == nullptr || !start_port(0, pool) || !start_port(1, pool)) {
    std::fprintf(stderr, "latency_probe: cannot start the ports\n");
    return 1;
  }
  rte_ether_addr mac0, mac1;
  rte_eth_macaddr_get(0, &mac0);
  rte_eth_macaddr_get(1, &mac1);
  const uint64_t hz = rte_get_tsc_hz();
  rte_mbuf* burst[kBurst];

  // Wait for both links (a virtio-user port is up once the switch has taken it), then
  // let the switch learn port 1's MAC (and port 0's) from a few frames each way.
  const uint64_t link_deadline = rte_rdtsc() + 30 * hz;
  for (;;) {
    rte_eth_link l0{}, l1{};
    rte_eth_link_get_nowait(0, &l0);
    rte_eth_link_get_nowait(1, &l1);
    if (l0.link_status && l1.link_status) break;
    if (rte_rdtsc() > link_deadline) {
      std::fprintf(stderr, "latency_probe: links not up after 30 s\n");
      return 1;
    }
    rte_delay_ms(50);
  }
  for (int round = 0; round < 5; ++round) {
    for (uint16_t port = 0; port < 2; ++port) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (m == nullptr) continue;
      build(m, port ? mac1 : mac0, port ? mac0 : mac1, 64, UINT32_MAX);
      if (rte_eth_tx_burst(port, 0, &m, 1) == 0) rte_pktmbuf_free(m);
    }
    rte_delay_ms(20);
    for (uint16_t port = 0; port < 2; ++port) {
      const uint16_t n = rte_eth_rx_burst(port, 0, burst, kBurst);
      rte_pktmbuf_free_bulk(burst, n);
    }
  }

  Histogram hist;
  uint64_t sent = 0, sent_measured = 0, received = 0, received_measured = 0, foreign = 0;
  const uint64_t start = rte_rdtsc();
  const uint64_t measure_from = start + static_cast<uint64_t>(warmup * static_cast<double>(hz));
  const uint64_t stop = measure_from + static_cast<uint64_t>(seconds * static_cast<double>(hz));
  const uint64_t drain_until = stop + hz / 5;
  const double per_cycle = rate_mpps * 1e6 / static_cast<double>(hz);
  for (;;) {
    const uint64_t now = rte_rdtsc();
    if (now >= drain_until) break;
    if (now < stop) {
      uint64_t due = kBurst;
      if (rate_mpps > 0) {
        const auto target = static_cast<uint64_t>(static_cast<double>(now - start) * per_cycle);
        due = target > sent ? std::min<uint64_t>(target - sent, kBurst) : 0;
      }
      if (due != 0 && rte_pktmbuf_alloc_bulk(pool, burst, static_cast<unsigned>(due)) == 0) {
        for (uint64_t i = 0; i < due; ++i)
          build(burst[i], mac0, mac1, static_cast<uint16_t>(size), static_cast<uint32_t>(sent + i));
        const uint64_t t = rte_rdtsc();
        for (uint64_t i = 0; i < due; ++i) stamp(burst[i], t);
        const uint16_t n = rte_eth_tx_burst(0, 0, burst, static_cast<uint16_t>(due));
        if (n < due) rte_pktmbuf_free_bulk(burst + n, static_cast<unsigned>(due - n));
        if (t >= measure_from && t < stop) sent_measured += n;
        sent += n;
      }
    }
    const uint16_t n = rte_eth_rx_burst(1, 0, burst, kBurst);
    const uint64_t t = rte_rdtsc();
    for (uint16_t i = 0; i < n; ++i) {
      Stamp st;
      if (!read_stamp(burst[i], &st) || st.seq == UINT32_MAX) {
        ++foreign;
        continue;
      }
      ++received;
      if (st.tsc >= measure_from && st.tsc < stop) {
        ++received_measured;
        hist.add((t - st.tsc) * 1000000000ull / hz);
      }
    }
    rte_pktmbuf_free_bulk(burst, n);
    const uint16_t back = rte_eth_rx_burst(0, 0, burst, kBurst);  // floods back to us
    rte_pktmbuf_free_bulk(burst, back);
  }
  const double window = seconds;
  std::printf("{\"size\": %u, \"offered_mpps\": %.4f, \"received_mpps\": %.4f, \"sent\": %" PRIu64
              ", \"received\": %" PRIu64 ", \"lost\": %" PRId64 ", \"foreign\": %" PRIu64
              ", \"samples\": %" PRIu64 ", \"min_ns\": %" PRIu64 ", \"p50_ns\": %" PRIu64
              ", \"p99_ns\": %" PRIu64 ", \"p999_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64 "}\n",
              size, static_cast<double>(sent_measured) / window / 1e6,
              static_cast<double>(received_measured) / window / 1e6, sent_measured,
              received_measured,
              static_cast<int64_t>(sent_measured) - static_cast<int64_t>(received_measured),
              foreign, hist.count(), hist.min(), hist.quantile(0.5), hist.quantile(0.99),
              hist.quantile(0.999), hist.max());
  std::fflush(stdout);
  rte_eth_dev_stop(0);
  rte_eth_dev_stop(1);
  rte_eth_dev_close(0);
  rte_eth_dev_close(1);
  rte_eal_cleanup();
  return 0;
}
