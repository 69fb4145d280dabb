// Opening and closing DPDK ports from devargs (control path, start-up and shutdown).
// Each port gets `queues` rx and `queues` tx queues: worker w polls rx queue w and
// sends on tx queue w of every port that has it (core/tx_queues.h for those that do
// not), so no queue is ever shared between lcores.
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct rte_device;

namespace gp {

struct PortError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class TxQueueMap;

// A vhost-user port's tx queues (the guest's rx rings) as the guest enables them.
// Written only by the PMD's event callbacks (the vhost events thread).
struct QueueWatch {
  TxQueueMap* map = nullptr;
  uint16_t queues = 0;   // configured
  uint64_t enabled = 0;  // bit q: tx queue q is enabled
};

struct PortOptions {
  uint16_t queues = 1;
  // Where the port's usable tx queues are published for the workers: `queues` for
  // most ports; for vhost-user, the queue pairs the guest has enabled, followed from
  // the PMD's queue-state events (0 until the guest is up).
  TxQueueMap* tx_queues = nullptr;
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  // The interface MTU the port is set to (its kernel interface's for af_packet and
  // tap, where the PMD's own MTU control refuses jumbo sizes: see set_mtu).
  uint16_t mtu = 1500;
  bool promiscuous = true;
  // Mbufs for frames larger than one standard mbuf (mtu above 1500), for PMDs that
  // cannot receive into a chain of segments (af_packet copies each frame into one
  // mbuf). Ports whose PMD scatters (tap, vhost-user) get chains from `pool` instead.
  // Null: jumbo frames only where the PMD scatters.
  rte_mempool* jumbo_pool = nullptr;
};

// Ethernet header + 802.1Q tag + the largest IP packet: the largest frame a port with
// this MTU must carry (DPDK's frames have no FCS).
inline uint32_t max_frame_for_mtu(uint16_t mtu) { return mtu + 14u + 4u; }

// The data room the jumbo pool's mbufs need: one af_packet frame of kJumboFrameSize
// (its 32 bytes of tpacket header excepted) after the headroom.
inline constexpr uint16_t kJumboFrameSize = 10240;  // af_packet framesz for MTU 9000
inline constexpr uint16_t kJumboDataRoom = 128 /* RTE_PKTMBUF_HEADROOM */ + kJumboFrameSize;

struct OpenPort {
  uint16_t port_id;
  std::string device;   // DPDK device name (first devargs field)
  std::string devargs;  // as probed, after normalize_devargs
  rte_ether_addr mac;
  rte_device* dev;  // for rte_dev_remove at close
};

// Adds the options guestport needs to a user's devargs when they are missing:
// net_af_packet gets qpairs=<queues> (one socket per worker, PACKET_FANOUT) and
// framecnt=4096 (the default 512 loses frames silently under load) and, when the
// port carries jumbo frames, framesz/blocksz large enough for a whole 9022-byte frame
// (the defaults truncate anything above 1982 bytes silently; TESTING.md); net_vhost
// gets queues=<queues>.
std::string normalize_devargs(const std::string& devargs, uint16_t queues, bool jumbo = false);

// The value of key=... in devargs, or "".
std::string devargs_value(const std::string& devargs, const std::string& key);

// The device name part of devargs ("net_tap0" of "net_tap0,iface=x").
std::string devargs_device(const std::string& devargs);

class PortSet {
 public:
  PortSet() = default;
  ~PortSet() { close_all(); }
  PortSet(const PortSet&) = delete;
  PortSet& operator=(const PortSet&) = delete;

  // Probes, configures and starts a port. Throws PortError saying what DPDK refused.
  const OpenPort& open(const std::string& devargs, rte_mempool* pool, const PortOptions& opt);
  // Link state as the guest sees it: the PMD's own link control, or, for ports on a
  // kernel interface (af_packet, af_xdp) whose PMD has none, the interface's IFF_UP
  // (a veth peer then loses carrier, as with an unplugged cable). Returns "" or why not.
  static std::string set_link(const OpenPort& port, bool up) noexcept;
  // The port's MTU: the PMD's, or, where the PMD refuses (af_packet and tap report a
  // 1518-byte limit although larger frames pass), its kernel interface's, so that the
  // kernel hands over and takes whole jumbo frames. Returns "" or why not.
  static std::string set_mtu(const OpenPort& port, uint16_t mtu) noexcept;
  // Stops and closes one port and removes its device (a re-apply dropped it); no
  // worker may poll or send on it any more. Unknown ids are ignored.
  void close(uint16_t port_id) noexcept;
  void close_all() noexcept;
  const OpenPort* find(uint16_t port_id) const noexcept;
  const std::vector<OpenPort>& ports() const noexcept { return ports_; }

 private:
  std::vector<OpenPort> ports_;
  std::vector<std::pair<uint16_t, std::unique_ptr<QueueWatch>>> watches_;
};

}  // namespace gp
