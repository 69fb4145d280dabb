// Control path: see ports.h.
#include "dataplane/io/ports.h"

#include <net/if.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_eth_vhost.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/core/tx_queues.h"

namespace gp {

namespace {
std::string err(const std::string& what, int rc) {
  return what + ": " + rte_strerror(rc < 0 ? -rc : rc);
}

bool is_vhost(const std::string& device) { return device.rfind("net_vhost", 0) == 0; }

// vhost-user, on the vhost events thread: the guest enabled or disabled rings, or went
// away. Workers may use tx queues 0..n-1, n being the first queue not enabled.
int on_vhost_event(uint16_t port, rte_eth_event_type type, void* arg, void*) {
  auto* w = static_cast<QueueWatch*>(arg);
  if (type == RTE_ETH_EVENT_QUEUE_STATE) {
    rte_eth_vhost_queue_event ev{};
    while (rte_eth_vhost_get_queue_event(port, &ev) == 0) {
      if (ev.rx || ev.queue_id >= 64) continue;  // our rx queues: polling finds nothing
      if (ev.enable)
        w->enabled |= uint64_t{1} << ev.queue_id;
      else
        w->enabled &= ~(uint64_t{1} << ev.queue_id);
    }
  } else if (type == RTE_ETH_EVENT_INTR_LSC) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_DOWN)
      w->enabled = 0;  // the guest is gone; its rings come back with events
  }
  uint16_t n = 0;
  while (n < w->queues && ((w->enabled >> n) & 1)) ++n;
  w->map->set(port, n);
  return 0;
}
}  // namespace

std::string devargs_value(const std::string& devargs, const std::string& key) {
  size_t pos = 0;
  while ((pos = devargs.find(',', pos)) != std::string::npos) {
    ++pos;
    if (devargs.compare(pos, key.size() + 1, key + "=") == 0) {
      size_t start = pos + key.size() + 1;
      return devargs.substr(start, devargs.find(',', start) - start);
    }
  }
  return "";
}

std::string devargs_device(const std::string& devargs) {
  return devargs.substr(0, devargs.find(','));
}

std::string normalize_devargs(const std::string& devargs, uint16_t queues, bool jumbo) {
  std::string out = devargs;
  if (devargs_device(devargs).rfind("net_af_packet", 0) == 0) {
    if (devargs_value(out, "qpairs").empty()) out += ",qpairs=" + std::to_string(queues);
    // Jumbo rings hold 2048 frames of 10 KiB (20 MiB each way per queue).
    if (devargs_value(out, "framecnt").empty()) out += jumbo ? ",framecnt=2048" : ",framecnt=4096";
    if (jumbo && devargs_value(out, "framesz").empty())
      out += ",framesz=" + std::to_string(kJumboFrameSize);
    if (jumbo && devargs_value(out, "blocksz").empty())
      out += ",blocksz=" + std::to_string(2 * kJumboFrameSize);  // a multiple of the page size
  }
  // net_vhost offers one queue pair unless told more: one per worker, of which the
  // guest enables what its driver asks for (core/tx_queues.h).
  if (devargs_device(devargs).rfind("net_vhost", 0) == 0 && devargs_value(out, "queues").empty())
    out += ",queues=" + std::to_string(queues);
  return out;
}

const OpenPort& PortSet::open(const std::string& user_devargs, rte_mempool* pool,
                              const PortOptions& opt) {
  const bool jumbo = opt.mtu > 1500;
  const std::string devargs = normalize_devargs(user_devargs, opt.queues, jumbo);
  const std::string device = devargs_device(devargs);
  uint16_t pid = 0;
  if (rte_eth_dev_get_port_by_name(device.c_str(), &pid) == 0)
    throw PortError("device " + device + " is already open");
  int rc = rte_dev_probe(devargs.c_str());
  if (rc != 0) throw PortError(err("DPDK cannot open port '" + devargs + "'", rc));
  if (rte_eth_dev_get_port_by_name(device.c_str(), &pid) != 0) {
    // PCI devices may be named differently from their devargs; nothing else is expected.
    throw PortError("port '" + devargs + "' probed but no ethdev named " + device + " appeared");
  }
  rte_eth_dev_info info{};
  rc = rte_eth_dev_info_get(pid, &info);
  rte_device* dev = rc == 0 ? info.device : nullptr;
  auto fail = [&](const std::string& what, int code) {
    rte_eth_dev_stop(pid);
    rte_eth_dev_close(pid);
    if (dev != nullptr) rte_dev_remove(dev);
    throw PortError(err("port " + device + ": " + what, code));
  };
  if (rc != 0) fail("cannot read device info", rc);
  if (info.max_rx_queues < opt.queues || info.max_tx_queues < opt.queues)
    fail("needs " + std::to_string(opt.queues) + " rx and tx queues (one per worker), device has " +
             std::to_string(info.max_rx_queues) + "/" + std::to_string(info.max_tx_queues),
         EINVAL);
  rte_eth_conf conf{};
  // Jumbo frames: into chains of standard mbufs where the PMD scatters, else into the
  // jumbo pool's (af_packet); a PMD that can do neither would truncate or drop them.
  rte_mempool* rx_pool = pool;
  if (jumbo) {
    const uint32_t room = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
    if (room >= max_frame_for_mtu(opt.mtu)) {
      // one mbuf holds it
    } else if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) {
      conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
    } else if (opt.jumbo_pool != nullptr) {
      rx_pool = opt.jumbo_pool;
    } else {
      fail("cannot receive frames of MTU " + std::to_string(opt.mtu) +
               " (the PMD takes no multi-segment mbufs and no jumbo mbufs are available)",
           EINVAL);
    }
  }
  if ((rc = rte_eth_dev_configure(pid, opt.queues, opt.queues, &conf)) != 0)
    fail("configure failed", rc);
  uint16_t rxd = opt.rx_desc, txd = opt.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rxd, &txd);
  const int socket = rte_eth_dev_socket_id(pid);
  const unsigned sock = socket < 0 ? SOCKET_ID_ANY : static_cast<unsigned>(socket);
  for (uint16_t q = 0; q < opt.queues; ++q) {
    if ((rc = rte_eth_rx_queue_setup(pid, q, rxd, sock, nullptr, rx_pool)) != 0)
      fail("rx queue setup failed", rc);
    if ((rc = rte_eth_tx_queue_setup(pid, q, txd, sock, nullptr)) != 0)
      fail("tx queue setup failed", rc);
  }
  if (opt.tx_queues != nullptr && is_vhost(device)) {
    // No queue until the guest enables its rings (events follow rte_eth_dev_start).
    auto w = std::make_unique<QueueWatch>();
    w->map = opt.tx_queues;
    w->queues = opt.queues;
    opt.tx_queues->set(pid, 0);
    for (auto ev : {RTE_ETH_EVENT_QUEUE_STATE, RTE_ETH_EVENT_INTR_LSC})
      if ((rc = rte_eth_dev_callback_register(pid, ev, on_vhost_event, w.get())) != 0)
        fail("cannot follow the guest's queues", rc);
    watches_.emplace_back(pid, std::move(w));
  } else if (opt.tx_queues != nullptr) {
    opt.tx_queues->set(pid, opt.queues);
  }
  if ((rc = rte_eth_dev_start(pid)) != 0) fail("start failed", rc);
  if (opt.promiscuous) rte_eth_promiscuous_enable(pid);
  if (device.rfind("net_af_packet", 0) == 0) {
    // DPDK 22.11's af_packet PMD creates each ETH_P_ALL socket and its rx ring before
    // it binds the socket to the interface: in between, the socket takes copies of
    // frames on every interface of the namespace. Left in the ring, they would look
    // like frames the guest sent (other guests' MACs learned on this port, duplicates
    // delivered). No worker polls the port yet: its rings are emptied here.
    rte_mbuf* junk[32];
    for (uint16_t q = 0; q < opt.queues; ++q) {
      uint16_t n;
      while ((n = rte_eth_rx_burst(pid, q, junk, 32)) != 0) rte_pktmbuf_free_bulk(junk, n);
    }
  }
  OpenPort p{pid, device, devargs, {}, dev};
  rte_eth_macaddr_get(pid, &p.mac);
  // The switch enforces each adapter's MTU itself; this is so that the port passes
  // what the adapter may carry (af_packet and tap: the kernel interface's MTU).
  const std::string mtu_err = set_mtu(p, opt.mtu);
  if (!mtu_err.empty() && opt.mtu > 1500 && !devargs_value(devargs, "iface").empty())
    fail(mtu_err, EINVAL);
  ports_.push_back(p);
  return ports_.back();
}

std::string PortSet::set_link(const OpenPort& port, bool up) noexcept {
  int rc = up ? rte_eth_dev_set_link_up(port.port_id) : rte_eth_dev_set_link_down(port.port_id);
  if (rc == 0) return "";
  const std::string iface = devargs_value(port.devargs, "iface");
  if (iface.empty()) return err("port " + port.device + ": cannot change link state", rc);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, iface.c_str(), IFNAMSIZ - 1);
  std::string result;
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
    if (up)
      ifr.ifr_flags |= IFF_UP;
    else
      ifr.ifr_flags &= ~IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) result = iface + ": " + std::strerror(errno);
  } else {
    result = iface + ": " + std::strerror(errno);
  }
  ::close(fd);
  return result;
}

std::string PortSet::set_mtu(const OpenPort& port, uint16_t mtu) noexcept {
  const std::string iface = devargs_value(port.devargs, "iface");
  int rc = rte_eth_dev_set_mtu(port.port_id, mtu);
  // vhost-user: `iface` is the socket, and the guest's driver sets its own MTU (the PMD
  // has no MTU to set); frames are held to the adapter's MTU by the switch all the same.
  if (is_vhost(port.device))
    return rc == 0 || rc == -ENOTSUP
               ? ""
               : err("port " + port.device + ": cannot set MTU " + std::to_string(mtu), rc);
  if (iface.empty())
    return rc == 0 ? ""
                   : err("port " + port.device + ": cannot set MTU " + std::to_string(mtu), rc);
  // af_packet and tap: the PMD refuses above 1500 (it reports max_rx_pktlen 1518) or
  // set it already; the kernel interface is what decides which frames pass.
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, iface.c_str(), IFNAMSIZ - 1);
  ifr.ifr_mtu = mtu;
  std::string result;
  if (ioctl(fd, SIOCSIFMTU, &ifr) != 0)
    result = iface + ": cannot set MTU " + std::to_string(mtu) + ": " + std::strerror(errno);
  ::close(fd);
  return result;
}

const OpenPort* PortSet::find(uint16_t port_id) const noexcept {
  for (const OpenPort& p : ports_)
    if (p.port_id == port_id) return &p;
  return nullptr;
}

void PortSet::close(uint16_t port_id) noexcept {
  for (auto it = watches_.begin(); it != watches_.end(); ++it) {
    if (it->first != port_id) continue;
    for (auto ev : {RTE_ETH_EVENT_QUEUE_STATE, RTE_ETH_EVENT_INTR_LSC})
      rte_eth_dev_callback_unregister(port_id, ev, on_vhost_event, it->second.get());
    watches_.erase(it);
    break;
  }
  for (auto it = ports_.begin(); it != ports_.end(); ++it) {
    if (it->port_id != port_id) continue;
    rte_eth_dev_stop(port_id);
    rte_eth_dev_close(port_id);
    if (it->dev != nullptr) rte_dev_remove(it->dev);
    ports_.erase(it);
    return;
  }
}

void PortSet::close_all() noexcept {
  for (auto& [pid, w] : watches_)
    for (auto ev : {RTE_ETH_EVENT_QUEUE_STATE, RTE_ETH_EVENT_INTR_LSC})
      rte_eth_dev_callback_unregister(pid, ev, on_vhost_event, w.get());
  watches_.clear();
  for (auto it = ports_.rbegin(); it != ports_.rend(); ++it) {
    rte_eth_dev_stop(it->port_id);
    rte_eth_dev_close(it->port_id);
    if (it->dev != nullptr) rte_dev_remove(it->dev);
  }
  ports_.clear();
}

}  // namespace gp
