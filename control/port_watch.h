// Control path: follows the kernel interfaces behind af_packet ports. A hypervisor that
// deletes a VM's tap or veth and makes it again under the same name leaves the PMD's
// socket bound to an interface that no longer exists; the watch notices (the name now
// has another ifindex) and has the applier reopen the port, the rest of the appliance
// forwarding throughout. A port whose interface is gone is retried until it is back.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "control/applier.h"

namespace gp {

// "eth1" of "net_af_packet0,iface=eth1,qpairs=1"; "" for other devices.
std::string af_packet_iface(const std::string& devargs);

class PortWatch {
 public:
  // ifindex_of: the kernel's index of an interface name, 0 when there is none (tests
  // pass their own). Returns what happened, one line each, for the log.
  using IndexOf = unsigned (*)(const char*);
  explicit PortWatch(IndexOf ifindex_of);
  std::vector<std::string> check(Applier& a);

 private:
  struct Seen {
    uint16_t port_id = 0;
    unsigned ifindex = 0;
    bool gone = false;
  };
  IndexOf index_of_;
  std::map<std::string, Seen> seen_;  // by port key
};

}  // namespace gp
