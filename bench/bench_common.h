// What the benchmarks share: EAL on one core without hugepages, the mbuf pool, and
// net_ring ports (one queue each) whose tx ring the benchmark drains itself.
#pragma once

#include <malloc.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace gp::bench {

// EAL (--no-huge, lcore 0, its own file prefix) and an 8191-mbuf pool; nullptr on failure.
inline rte_mempool* init_eal(const std::string& name, unsigned memory_mb) {
  std::vector<std::string> args = {name,
                                   "--no-huge",
                                   "-m",
                                   std::to_string(memory_mb),
                                   "--no-pci",
                                   "-l",
                                   "0",
                                   "--log-level=lib.eal:error",
                                   "--file-prefix=gp-" + name + "-" + std::to_string(getpid())};
  std::vector<char*> eal;
  for (auto& s : args) eal.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) return nullptr;
  return rte_pktmbuf_pool_create((name + "_pool").c_str(), 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                 SOCKET_ID_ANY);
}

// A started net_ring port named `name`; *tx is the ring its transmissions land in.
inline uint16_t ring_port(const std::string& name, rte_mempool* pool, rte_ring** tx) {
  rte_ring* rx = rte_ring_create((name + "rx").c_str(), 1024, SOCKET_ID_ANY, 0);
  *tx = rte_ring_create((name + "tx").c_str(), 1024, SOCKET_ID_ANY, 0);
  const int id = rte_eth_from_rings(name.c_str(), &rx, 1, tx, 1, SOCKET_ID_ANY);
  rte_eth_conf conf{};
  rte_eth_dev_configure(static_cast<uint16_t>(id), 1, 1, &conf);
  rte_eth_rx_queue_setup(static_cast<uint16_t>(id), 0, 1024, SOCKET_ID_ANY, nullptr, pool);
  rte_eth_tx_queue_setup(static_cast<uint16_t>(id), 0, 1024, SOCKET_ID_ANY, nullptr);
  rte_eth_dev_start(static_cast<uint16_t>(id));
  return static_cast<uint16_t>(id);
}

// Bytes in use on the DPDK heap (socket 0) and the C heap, its large blocks included
// (malloc serves those by mmap: uordblks alone misses them): the difference around a
// table's construction is what it costs.
inline uint64_t heap_bytes() {
  rte_malloc_socket_stats st{};
  rte_malloc_get_socket_stats(0, &st);
  const struct mallinfo2 mi = mallinfo2();
  return st.heap_allocsz_bytes + mi.uordblks + mi.hblkhd;
}

}  // namespace gp::bench
