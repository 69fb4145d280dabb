// Control path: see applier.h.
#include "control/applier.h"

#include <net/if.h>
#include <rte_ethdev.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "control/netdev.h"
#include "dataplane/io/ports.h"
#include "dataplane/l2/fdb.h"
#include "dataplane/nat/neighbors.h"

namespace gp {

std::string PortBackend::device_of(const std::string& devargs) const {
  return devargs_device(devargs);
}

PortBackend::Opened DpdkPorts::open(const PortPlan& p) {
  PortOptions po;
  po.queues = queues_;
  po.mtu = p.port_mtu;
  po.tx_queues = tx_queues_;
  if (p.port_mtu > 1500 && jumbo_pool_) po.jumbo_pool = jumbo_pool_();  // throws PortError
  // The interface as it is now, before the PMD binds to it (PortWatch compares).
  const std::string iface =
      p.devargs.rfind("net_af_packet", 0) == 0 ? devargs_value(p.devargs, "iface") : std::string();
  const unsigned ifindex = iface.empty() ? 0 : if_nametoindex(iface.c_str());
  const OpenPort& op = set_.open(p.devargs, pool_, po);
  const VhostConfig& v = p.vhost;
  if (!v.client && (v.uid || v.gid || v.permissions)) {
    // A server-mode vhost-user socket exists once the port is open: hand it to QEMU's user.
    const std::string path = devargs_value(p.devargs, "iface");
    const uid_t uid = v.uid ? static_cast<uid_t>(*v.uid) : static_cast<uid_t>(-1);
    const gid_t gid = v.gid ? static_cast<gid_t>(*v.gid) : static_cast<gid_t>(-1);
    std::string why;
    if ((v.uid || v.gid) && chown(path.c_str(), uid, gid) != 0)
      why = "cannot give vhost socket " + path + " to " + v.owner + ":" + v.group;
    else if (v.permissions && chmod(path.c_str(), static_cast<mode_t>(*v.permissions)) != 0)
      why = "cannot set the permissions of vhost socket " + path;
    if (!why.empty()) {
      why += std::string(": ") + std::strerror(errno);
      set_.close(op.port_id);
      throw PortError(why);
    }
  }
  return {op.port_id, op.mac, ifindex};
}

void DpdkPorts::close(uint16_t port_id) noexcept { set_.close(port_id); }

std::string DpdkPorts::set_link(uint16_t port_id, bool up) noexcept {
  const OpenPort* op = set_.find(port_id);
  return op == nullptr ? "no such port" : PortSet::set_link(*op, up);
}

std::string DpdkPorts::set_mtu(uint16_t port_id, uint16_t mtu) noexcept {
  const OpenPort* op = set_.find(port_id);
  return op == nullptr ? "no such port" : PortSet::set_mtu(*op, mtu);
}

std::string DpdkPorts::set_host_address(const PortPlan& p) noexcept {
  if (!p.host_addr) return "";
  return set_interface_ipv4(p.host_iface, *p.host_addr);
}

namespace {
bool needs_nat(const Config& c) {
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters)
      if (ad.attach == AttachMode::kNat || ad.attach == AttachMode::kNatNetwork) return true;
  return false;
}
}  // namespace

std::map<std::string, uint16_t> Applier::port_ids() const {
  std::map<std::string, uint16_t> ids;
  for (const auto& [key, l] : live_) ids[key] = l.port_id;
  return ids;
}

ApplyOutcome Applier::refuse(ApplyOutcome out) {
  ++refused_;
  out.ok = false;
  out.version = version_;
  return out;
}

namespace {
std::string acl_key(const PortPlan& p, bool ingress, const std::vector<AclRule>& rules) {
  return p.key + (ingress ? "|in|" : "|out|") + acl_signature(rules);
}

AclRuleSpec spec_of(const AclRule& r) {
  AclRuleSpec s;
  s.allow = r.allow;
  s.proto = r.proto;
  s.src = r.src.addr & r.src.mask();
  s.src_prefix = r.src.prefix;
  s.dst = r.dst.addr & r.dst.mask();
  s.dst_prefix = r.dst.prefix;
  s.src_lo = r.src_lo, s.src_hi = r.src_hi, s.dst_lo = r.dst_lo, s.dst_hi = r.dst_hi;
  return s;
}
}  // namespace

bool Applier::build_acls(const std::vector<PortPlan>& plans, const Config& cfg,
                         std::vector<Diagnostic>* errors) {
  const auto workers = static_cast<uint16_t>(d_.counters != nullptr ? d_.counters->size() : 1);
  for (const PortPlan& p : plans) {
    for (bool in : {true, false}) {
      const std::vector<AclRule>& rules = in ? p.acl_ingress : p.acl_egress;
      if (rules.empty()) continue;
      const std::string key = acl_key(p, in, rules);
      if (acl_cache_.count(key)) continue;
      std::vector<AclRuleSpec> specs;
      for (const AclRule& r : rules) specs.push_back(spec_of(r));
      std::string err;
      auto t = AclTable::build(specs, workers, &err);
      if (!t) {
        errors->push_back({cfg.file, rules[0].loc, p.key + ": cannot build its ACL: " + err});
        return false;
      }
      acl_cache_[key] = std::move(t);
    }
  }
  return true;
}

void Applier::attach_acls(const std::vector<PortPlan>& plans, Snapshot& snap) {
  for (const PortPlan& p : plans) {
    auto id = live_.find(p.key);
    if (id == live_.end()) continue;
    const uint16_t port = id->second.port_id;
    for (bool in : {true, false}) {
      const std::vector<AclRule>& rules = in ? p.acl_ingress : p.acl_egress;
      if (rules.empty()) continue;
      auto t = acl_cache_.find(acl_key(p, in, rules));
      if (t == acl_cache_.end()) continue;  // build_acls ran first; never here
      (in ? snap.acl_in : snap.acl_out)[port] = t->second.get();
      snap.acl_tables.push_back(t->second);
    }
  }
}

const AclTable* Applier::acl(const std::string& key, bool ingress) const {
  for (const PortPlan& p : plans_) {
    if (p.key != key) continue;
    auto t = acl_cache_.find(acl_key(p, ingress, ingress ? p.acl_ingress : p.acl_egress));
    return t == acl_cache_.end() ? nullptr : t->second.get();
  }
  return nullptr;
}

void Applier::publish(const std::vector<PortPlan>& plans, const Config& cfg) {
  auto snap = compile_snapshot(plans, port_ids(), ++version_, plan_segments(cfg), plan_globals(cfg),
                               &state_);
  attach_acls(plans, *snap);
  for (const BandwidthGroup& g : cfg.bandwidth_groups) {
    auto& b = buckets_[g.name];
    if (!b) b = std::make_unique<TokenBucket>();
    b->set_rate(g.bits_per_s);
  }
  for (const PortPlan& p : plans) {
    auto b = buckets_.find(p.bandwidth_group);
    auto id = live_.find(p.key);
    if (p.bandwidth_group.empty() || b == buckets_.end() || id == live_.end()) continue;
    if (b->second->rate_bytes() != 0) snap->shapers[id->second.port_id] = b->second.get();
  }
  snap->worker_nat = nat_;
  d_.holder->publish(std::move(snap));
}

PortBackend::Opened Applier::open_port(const PortPlan& p) {
  if (p.role != PortRole::kTunnel) return d_.ports->open(p);
  // A tunnel port has no device: the lowest id above the DPDK ports that is free.
  for (uint16_t i = 0; i < kMaxTunnelPorts; ++i) {
    if (tunnel_ids_[i]) continue;
    tunnel_ids_[i] = true;
    return {static_cast<uint16_t>(kMaxEthPorts + i), rte_ether_addr{}, 0};
  }
  throw PortError("more than " + std::to_string(kMaxTunnelPorts) + " tunnel endpoints");
}

void Applier::close_port(uint16_t id) noexcept {
  if (is_tunnel_port(id))
    tunnel_ids_[id - kMaxEthPorts] = false;
  else
    d_.ports->close(id);
}

std::string Applier::open_one(const PortPlan& p, std::vector<uint16_t>* opened_now) {
  try {
    const PortBackend::Opened o = open_port(p);
    opened_now->push_back(o.port_id);
    if (d_.leases != nullptr) d_.leases->clear(o.port_id);  // the last guest's lease is not ours
    if (d_.counters != nullptr)
      baselines_[o.port_id % kMaxPorts] = sum_port(*d_.counters, o.port_id);
    if (d_.neighbors != nullptr) d_.neighbors->set_own_mac(o.port_id, o.mac);
    live_[p.key] = Live{o.port_id, p, o.ifindex};
    if (p.role == PortRole::kHost && p.host_addr) {
      const std::string err = d_.ports->set_host_address(p);
      if (!err.empty()) return "host interface " + err;
    }
    return "";
  } catch (const PortError& e) {
    return e.what();
  }
}

ApplyOutcome Applier::apply(const Config& next, bool dry_run) {
  ApplyOutcome out;
  out.dry_run = dry_run;
  out.changes = diff_configs(running(), next);
  if (running_) out.errors = restart_only_changes(*running_, next);
  std::vector<PortPlan> plans = plan_ports(next, out.errors);
  if (!out.errors.empty()) return refuse(std::move(out));

  // Which ports stay (same devargs), which are new or replaced, which go.
  std::vector<const PortPlan*> to_open;
  std::set<std::string> replaced, wanted;
  for (const PortPlan& p : plans) {
    wanted.insert(p.key);
    auto it = live_.find(p.key);
    // Same devargs and the same side of 1500: the port stays. Crossing it changes the
    // port's rx mbufs and af_packet ring (normalize_devargs), so it is reopened.
    if (it != live_.end() && it->second.plan.devargs == p.devargs &&
        (it->second.plan.port_mtu > 1500) == (p.port_mtu > 1500) &&
        it->second.plan.vhost.uid == p.vhost.uid && it->second.plan.vhost.gid == p.vhost.gid &&
        it->second.plan.vhost.permissions == p.vhost.permissions)
      continue;
    to_open.push_back(&p);
    if (it != live_.end()) replaced.insert(p.key);
  }
  std::vector<std::string> removed;
  for (const auto& [key, l] : live_)
    if (!wanted.count(key)) removed.push_back(key);
  std::map<std::string, std::string> held, closing;  // device -> key
  for (const auto& [key, l] : live_) {
    const std::string dev = d_.ports->device_of(l.plan.devargs);
    if (replaced.count(key) || !wanted.count(key))
      closing[dev] = key;
    else
      held[dev] = key;
  }
  std::set<std::string> early;  // replaced or removed ports whose device a new one reuses
  std::map<std::string, std::string> fresh;
  for (const PortPlan* p : to_open) {
    const std::string dev = d_.ports->device_of(p->devargs);
    if (held.count(dev))
      out.errors.push_back({next.file, p->loc,
                            "device " + dev + " is already used by " + held[dev] +
                                " (each port needs a device name of its own)"});
    else if (fresh.count(dev))
      out.errors.push_back(
          {next.file, p->loc,
           "device " + dev + " is given to both " + fresh[dev] + " and " + p->key});
    fresh[dev] = p->key;
    if (closing.count(dev)) early.insert(closing[dev]);
  }
  if (!out.errors.empty()) return refuse(std::move(out));
  if (dry_run) {
    out.ok = true;
    out.version = version_;
    return out;
  }
  if (!build_acls(plans, next, &out.errors)) return refuse(std::move(out));
  if (needs_nat(next) && !nat_ready_) {
    const std::string err = d_.nat_tables ? d_.nat_tables(&nat_) : "no NAT tables in this build";
    if (!err.empty()) {
      nat_.clear();
      out.errors.push_back({next.file, next.appliance.nat.loc, err});
      return refuse(std::move(out));
    }
    nat_ready_ = true;
  }

  // A port whose device a new port reuses goes first: a snapshot without it, its grace
  // period, then it is closed. The rest of the old config keeps forwarding meanwhile.
  std::map<std::string, PortPlan> early_plans;
  if (!early.empty()) {
    std::vector<PortPlan> interim;
    for (const PortPlan& p : plans_)
      if (!early.count(p.key)) interim.push_back(p);
    for (const auto& key : early) early_plans[key] = live_[key].plan;
    std::vector<uint16_t> ids;
    for (const auto& key : early) ids.push_back(live_[key].port_id);
    for (const auto& key : early) live_.erase(key);
    publish(interim, *running_);
    grace();
    for (uint16_t id : ids) {
      if (d_.fdb != nullptr) d_.fdb->flush_port(id);
      close_port(id);
      ++out.closed;
    }
    plans_ = interim;
  }

  // Open what is new. Any failure: close it all again and restore what went early.
  std::map<std::string, Live> replaced_live;
  for (const auto& key : replaced)
    if (live_.count(key)) replaced_live[key] = live_[key];
  std::vector<uint16_t> opened_now;
  for (const PortPlan* p : to_open) {
    const std::string err = open_one(*p, &opened_now);
    if (err.empty()) continue;
    out.errors.push_back({next.file, p->loc, err});
    for (uint16_t id : opened_now) close_port(id);
    for (const PortPlan* q : to_open) live_.erase(q->key);
    for (const auto& [key, l] : replaced_live) live_[key] = l;
    if (!early_plans.empty()) {
      std::vector<uint16_t> unused;
      for (const auto& [key, plan] : early_plans) {
        const std::string again = open_one(plan, &unused);
        if (!again.empty())
          out.errors.push_back(
              {running_->file, plan.loc, "could not reopen " + key + ": " + again});
      }
      std::vector<Diagnostic> unused_errs;
      const std::vector<PortPlan> restored = plan_ports(*running_, unused_errs);
      std::vector<PortPlan> present;
      for (const PortPlan& q : restored)
        if (live_.count(q.key)) present.push_back(q);
      publish(present, *running_);
      plans_ = present;
    }
    return refuse(std::move(out));
  }
  out.opened = static_cast<unsigned>(opened_now.size());
  // Replaced ports: the new one is in live_ now; the old one closes after the publish.
  std::vector<uint16_t> retire;
  for (const auto& [key, l] : replaced_live) retire.push_back(l.port_id);
  for (const auto& key : removed)
    if (!early.count(key)) retire.push_back(live_[key].port_id);
  for (const auto& key : removed) live_.erase(key);

  std::map<std::string, PortPlan> before;
  for (const PortPlan& p : plans_) before[p.key] = p;
  publish(plans, next);

  // After the publish: what the guest sees of its link, and port MTUs.
  for (const PortPlan& p : plans) {
    const uint16_t id = live_[p.key].port_id;
    auto old = before.find(p.key);
    const bool is_new = old == before.end() || replaced.count(p.key);
    if (p.role == PortRole::kTunnel) {  // no device: no link or MTU of its own to set
      if (!is_new && d_.fdb != nullptr && old->second.segment != p.segment) d_.fdb->flush_port(id);
      live_[p.key].plan = p;
      continue;
    }
    if (is_new ? !p.link_up : old->second.link_up != p.link_up) {
      const std::string err = d_.ports->set_link(id, p.link_up);
      if (!err.empty() && !p.link_up)
        out.warnings.push_back({next.file, p.loc,
                                p.key + ": link stays up for the guest (" + err +
                                    "); the switch still passes no frame",
                                true});
    }
    if (!is_new && old->second.port_mtu != p.port_mtu) {
      const std::string err = d_.ports->set_mtu(id, p.port_mtu);
      if (!err.empty()) out.warnings.push_back({next.file, p.loc, p.key + ": " + err, true});
    }
    if (!is_new && p.role == PortRole::kHost && p.host_addr &&
        (!old->second.host_addr ||
         old->second.host_addr->to_string() != p.host_addr->to_string())) {
      const std::string err = d_.ports->set_host_address(p);
      if (!err.empty()) out.warnings.push_back({next.file, p.loc, "host interface " + err, true});
    }
    // MACs learned on a port that left its segment or lost its link go now.
    if (!is_new && d_.fdb != nullptr && (old->second.segment != p.segment || !p.link_up))
      d_.fdb->flush_port(id);
    live_[p.key].plan = p;
  }
  if (!retire.empty()) {
    grace();  // no worker polls or sends on them any more
    for (uint16_t id : retire) {
      if (d_.fdb != nullptr) d_.fdb->flush_port(id);
      close_port(id);
      ++out.closed;
    }
  }
  plans_ = std::move(plans);
  running_ = next;
  lost_.clear();  // every port of the new config is open
  // Tables no running port uses any more go once the snapshots that hold them retire.
  std::set<std::string> used;
  for (const PortPlan& p : plans_)
    for (bool in : {true, false}) used.insert(acl_key(p, in, in ? p.acl_ingress : p.acl_egress));
  for (auto it = acl_cache_.begin(); it != acl_cache_.end();)
    it = used.count(it->first) ? std::next(it) : acl_cache_.erase(it);
  ++ok_;
  out.ok = true;
  out.version = version_;
  return out;
}

std::vector<PortPlan> Applier::lost() const {
  std::vector<PortPlan> out;
  for (const auto& [key, plan] : lost_) out.push_back(plan);
  return out;
}

std::string Applier::reopen(const std::string& key) {
  if (!running_) return "no running config";
  std::vector<Diagnostic> unused;
  std::vector<PortPlan> full;  // the running config's plans, this port included
  for (const PortPlan& p : plan_ports(*running_, unused))
    if (live_.count(p.key) || p.key == key) full.push_back(p);
  auto live = live_.find(key);
  if (live != live_.end()) {
    const uint16_t id = live->second.port_id;
    lost_[key] = live->second.plan;
    live_.erase(live);
    std::vector<PortPlan> without;
    for (const PortPlan& p : full)
      if (p.key != key) without.push_back(p);
    publish(without, *running_);
    plans_ = without;
    grace();  // no worker polls or sends on it any more
    if (d_.fdb != nullptr) d_.fdb->flush_port(id);
    close_port(id);
  }
  auto it = lost_.find(key);
  if (it == lost_.end()) return "no such port: " + key;
  std::vector<uint16_t> opened;
  const std::string err = open_one(it->second, &opened);
  if (!err.empty()) {
    for (uint16_t id : opened) close_port(id);
    live_.erase(key);
    return err;
  }
  const PortPlan plan = it->second;
  lost_.erase(it);
  publish(full, *running_);
  plans_ = full;
  if (!plan.link_up && plan.role != PortRole::kTunnel)
    d_.ports->set_link(live_[key].port_id, false);
  ++reopens_[key];
  return "";
}

void Applier::close_all() noexcept {
  for (const auto& [key, l] : live_) close_port(l.port_id);
  live_.clear();
}

}  // namespace gp
