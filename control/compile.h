// Config -> what the dataplane runs: first the list of ports to open (plan_ports),
// then, once DPDK has given each a port id, the immutable Snapshot (compile_snapshot).
// Both are pure functions of their inputs; nothing here touches DPDK state, so a
// rejected config changes nothing.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/config.h"
#include "dataplane/core/snapshot.h"

namespace gp {

struct PortPlan {
  std::string key;      // stable identity: "vm/web1/1", "uplink/wan", "host/hostnet"
  std::string devargs;  // as the user wrote it (normalised when opened)
  PortRole role = PortRole::kGuest;
  Promiscuous promisc = Promiscuous::kDeny;
  rte_ether_addr mac{};
  bool link_up = false;
  uint16_t mtu = 1500;
  std::string segment;  // "internal:lab", "bridged:wan", "hostonly:hostnet"; empty = none
  unsigned ageing_s = 300;
  std::string host_iface;             // kHost: the tap's kernel name
  std::optional<Ipv4Cidr> host_addr;  // kHost: its address
  SourceLoc loc;                      // where the devargs are written
};

// Errors for what this build cannot run yet (nat, natnetwork, generic attachments).
std::vector<PortPlan> plan_ports(const Config& c, std::vector<Diagnostic>& errors);

// port_ids: PortPlan::key -> DPDK port id of the opened port.
std::unique_ptr<Snapshot> compile_snapshot(const std::vector<PortPlan>& plans,
                                           const std::map<std::string, uint16_t>& port_ids,
                                           uint64_t version);

}  // namespace gp
