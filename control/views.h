// JSON views of the running appliance for `guestportctl show ...`: ports with summed
// counters, the FDB, networks (segments) and appliance-wide statistics. Runs on the
// control thread, the only thread that may read the FDB iterator and the learner.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "dataplane/core/counters.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/snapshot_holder.h"
#include "dataplane/l2/fdb.h"
#include "dataplane/l2/learner.h"
#include "dataplane/nat/nat_view.h"
#include "dataplane/services/slow_path.h"

namespace gp {

class Applier;

struct RuntimeView {
  const Snapshot& snap;
  const std::vector<const WorkerCounters*>& workers;
  const Fdb& fdb;
  const Learner& learner;
  const SnapshotHolder& holder;
  const SlowPath& slow;
  uint64_t now_tsc;
  uint64_t tsc_hz;
  const Applier* applier = nullptr;  // the running config; port counter baselines
};

// One port's counters since it was opened (a reused port id starts from zero).
PortTotals port_totals(const RuntimeView& v, uint16_t port);

nlohmann::json view_ports(const RuntimeView& v);
nlohmann::json view_fdb(const RuntimeView& v);
nlohmann::json view_networks(const RuntimeView& v);
nlohmann::json view_stats(const RuntimeView& v);
nlohmann::json view_dhcp(const RuntimeView& v);
// VMs of the running config and their adapters, with the port each one runs on.
nlohmann::json view_vms(const RuntimeView& v);
// Every adapter's ACLs, per direction: the rules in order, each with its matches.
nlohmann::json view_acl(const RuntimeView& v);
// Which sessions `show nat` lists; empty fields match everything.
struct NatFilter {
  std::string network;  // segment name ("nat:web1/1", "natnetwork:lab")
  std::string vm;       // the VM whose adapter holds the session
  std::string proto;    // tcp | udp | icmp
  std::string ip;       // an address on any side (inside, outside or remote)
};
// The filter of a "show nat {json}" request; a message in *error when malformed.
NatFilter parse_nat_filter(const std::string& json_text, std::string* error);
// rows: each worker's NAT sessions, as collected by the daemon.
nlohmann::json view_nat(const RuntimeView& v, const std::vector<std::vector<nat::SessionRow>>& rows,
                        const NatFilter& filter = {});

// A "show" request (control_protocol.h) but `show nat`, which needs the workers: the
// reply {"ok": true, "data": ...} or an error reply.
nlohmann::json handle_show(const RuntimeView& v, const nlohmann::json& request);

}  // namespace gp
