// The one code path from a Config to the running dataplane: start-up is an apply from
// an empty appliance, and every re-apply (guestportctl apply, SIGHUP) goes the same
// way. An apply is a transaction (DESIGN.md): everything that can fail (restart-only
// settings, planning, device conflicts, NAT tables, opening ports, host addresses)
// happens before the publish; the publish and the retirement of what the new config
// no longer uses cannot fail. Ports the change does not touch keep their DPDK port id,
// their queues and their traffic; learned MACs, NAT sessions and DHCP leases of
// untouched networks survive because their identities (CompileState) do.
//
// Order of a re-apply: open new ports (a port whose device name an old one holds is
// closed first, after a snapshot without it has passed its grace period) -> compile ->
// publish -> link/MTU changes -> grace period -> close removed ports, flush their MACs.
// A failure before the publish closes what it opened and leaves the old config running.
//
// Threads: control thread only (it is also the FDB's single writer).
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/compile.h"
#include "control/diff.h"
#include "dataplane/core/counters.h"
#include "dataplane/core/snapshot_holder.h"
#include "dataplane/filter/acl_table.h"
#include "dataplane/filter/port_leases.h"
#include "dataplane/filter/token_bucket.h"

namespace gp {

class Fdb;
class Neighbors;
class PortSet;
class TxQueueMap;

// Opening and changing ports, so that the daemon uses DPDK devargs and the dataplane
// tests their own net_ring ports through the same applier.
class PortBackend {
 public:
  struct Opened {
    uint16_t port_id = 0;
    rte_ether_addr mac{};
    unsigned ifindex = 0;  // af_packet: the kernel interface it was opened on; else 0
  };
  virtual ~PortBackend() = default;
  virtual Opened open(const PortPlan& p) = 0;  // throws PortError
  virtual void close(uint16_t port_id) noexcept = 0;
  virtual std::string set_link(uint16_t port_id, bool up) noexcept = 0;      // "" or why not
  virtual std::string set_mtu(uint16_t port_id, uint16_t mtu) noexcept = 0;  // "" or why not
  // kHost ports: the kernel side's address. "" or why not.
  virtual std::string set_host_address(const PortPlan& p) noexcept = 0;
  // Two devargs naming the same device cannot be open at once.
  virtual std::string device_of(const std::string& devargs) const;
};

// DPDK ports from devargs (dataplane/io/ports.h), one rx/tx queue per worker.
class DpdkPorts : public PortBackend {
 public:
  // jumbo_pool: the pool for ports that carry jumbo frames but cannot scatter them
  // into chains (af_packet), made on first use; throws PortError when it cannot be.
  DpdkPorts(PortSet& set, rte_mempool* pool, uint16_t queues, TxQueueMap* tx_queues,
            std::function<rte_mempool*()> jumbo_pool = {})
      : set_(set),
        pool_(pool),
        queues_(queues),
        tx_queues_(tx_queues),
        jumbo_pool_(std::move(jumbo_pool)) {}
  Opened open(const PortPlan& p) override;
  void close(uint16_t port_id) noexcept override;
  std::string set_link(uint16_t port_id, bool up) noexcept override;
  std::string set_mtu(uint16_t port_id, uint16_t mtu) noexcept override;
  std::string set_host_address(const PortPlan& p) noexcept override;

 private:
  PortSet& set_;
  rte_mempool* pool_;
  uint16_t queues_;
  TxQueueMap* tx_queues_;
  std::function<rte_mempool*()> jumbo_pool_;
};

struct ApplierDeps {
  PortBackend* ports = nullptr;
  SnapshotHolder* holder = nullptr;
  Fdb* fdb = nullptr;              // MACs of ports that go or move are flushed
  Neighbors* neighbors = nullptr;  // own MACs of the ports opened
  // Makes the workers' NAT tables the first time a config needs NAT; "" or why not.
  std::function<std::string(std::vector<WorkerNatState>*)> nat_tables;
  // Counters of every worker: a port opened on a reused id starts from zero in views.
  const std::vector<const WorkerCounters*>* counters = nullptr;
  // Waits for a grace period; default holder->synchronize(). Tests whose own thread
  // is a registered reader report it quiescent first.
  std::function<void()> wait_grace;
  PortLeases* leases = nullptr;  // DHCP leases per port id: cleared when an id is reused
};

struct ApplyOutcome {
  bool ok = false;
  bool dry_run = false;
  std::vector<ConfigChange> changes;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;  // applied, but not all as asked (a link that stays up)
  uint64_t version = 0;              // the running snapshot's version afterwards
  unsigned opened = 0, closed = 0;
};

class Applier {
 public:
  explicit Applier(ApplierDeps deps) : d_(std::move(deps)) {}
  Applier(const Applier&) = delete;
  Applier& operator=(const Applier&) = delete;

  // next: a config that load_config accepted. dry_run: the diff and every check that
  // needs no resource; nothing changes.
  ApplyOutcome apply(const Config& next, bool dry_run = false);

  const Config* running() const { return running_ ? &*running_ : nullptr; }
  // key ("vm/web1/1") -> DPDK port id of every open port.
  std::map<std::string, uint16_t> port_ids() const;
  const std::vector<PortPlan>& plans() const { return plans_; }
  // The running ACL table of a port (by key) in one direction; null: none.
  const AclTable* acl(const std::string& key, bool ingress) const;
  // What the port's counters said when it was opened (views subtract it).
  const PortTotals& baseline(uint16_t port) const { return baselines_[port % kMaxPorts]; }
  uint64_t applies_ok() const { return ok_; }
  uint64_t applies_refused() const { return refused_; }

  // Closes a running port and opens it again from the same plan, the rest of the config
  // forwarding throughout (a snapshot without it, its grace period, close, open, a
  // snapshot with it): for a port whose kernel interface was deleted and made again.
  // "" when it is back; else why not, and the port stays out (lost()) until a later
  // reopen or apply opens it.
  std::string reopen(const std::string& key);
  // Plans of ports of the running config that a failed reopen left closed.
  std::vector<PortPlan> lost() const;
  // How often a port was reopened since its key first ran (views).
  // The kernel interface an af_packet port was opened on (0: unknown, another kind).
  unsigned opened_ifindex(const std::string& key) const {
    auto it = live_.find(key);
    return it == live_.end() ? 0 : it->second.ifindex;
  }
  uint64_t reopened(const std::string& key) const {
    auto it = reopens_.find(key);
    return it == reopens_.end() ? 0 : it->second;
  }

  // Shutdown, workers stopped: closes every port.
  void close_all() noexcept;

 private:
  struct Live {
    uint16_t port_id;
    PortPlan plan;
    unsigned ifindex = 0;
  };
  std::string open_one(const PortPlan& p, std::vector<uint16_t>* opened_now);
  // The backend's ports, and tunnel ports (ids from tunnel_ids_, no device).
  PortBackend::Opened open_port(const PortPlan& p);  // throws PortError
  void close_port(uint16_t id) noexcept;
  // Builds the ACL tables the plans need that acl_cache_ lacks; false and errors when
  // DPDK refuses one. Tables are keyed by port key, direction and rules, so an
  // unchanged ACL keeps its table and its counters across applies.
  bool build_acls(const std::vector<PortPlan>& plans, const Config& cfg,
                  std::vector<Diagnostic>* errors);
  void attach_acls(const std::vector<PortPlan>& plans, Snapshot& snap);
  void publish(const std::vector<PortPlan>& plans, const Config& cfg);
  ApplyOutcome refuse(ApplyOutcome out);
  void grace() {
    if (d_.wait_grace)
      d_.wait_grace();
    else
      d_.holder->synchronize();
  }

  ApplierDeps d_;
  std::optional<Config> running_;
  std::vector<PortPlan> plans_;
  std::map<std::string, Live> live_;      // by PortPlan::key
  std::map<std::string, PortPlan> lost_;  // running ports a failed reopen left closed
  std::map<std::string, uint64_t> reopens_;
  CompileState state_;
  std::map<std::string, std::shared_ptr<const AclTable>> acl_cache_;
  // One bucket per bandwidth group name ever configured: a group keeps its bucket (and
  // its tokens) across applies, and snapshots point at buckets without owning them, so
  // none is ever freed while the appliance runs (a name costs 64 bytes).
  std::map<std::string, std::unique_ptr<TokenBucket>> buckets_;
  std::vector<WorkerNatState> nat_;
  bool nat_ready_ = false;
  uint64_t version_ = 0;
  uint64_t ok_ = 0, refused_ = 0;
  std::array<PortTotals, kMaxPorts> baselines_{};
  std::array<bool, kMaxTunnelPorts> tunnel_ids_{};  // tunnel port ids in use
};

}  // namespace gp
