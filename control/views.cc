// Control path: see views.h.
#include "control/views.h"

#include <netinet/in.h>
#include <rte_ethdev.h>

#include "control/applier.h"
#include "control/config.h"
#include "control/control_protocol.h"
#include "nic_models/nic_models.h"

namespace gp {

namespace {
const char* role_name(PortRole r) {
  switch (r) {
    case PortRole::kGuest:
      return "guest";
    case PortRole::kUplink:
      return "uplink";
    case PortRole::kHost:
      return "host";
    case PortRole::kTunnel:
      return "tunnel";
    case PortRole::kUnused:
      break;
  }
  return "unused";
}
std::string segment_name(const Snapshot& s, uint16_t seg) {
  return seg < s.segment_names.size() ? s.segment_names[seg] : "";
}
}  // namespace

PortTotals port_totals(const RuntimeView& v, uint16_t port) {
  PortTotals t = sum_port(v.workers, port);
  return v.applier != nullptr ? t.since(v.applier->baseline(port)) : t;
}

namespace {
const char* vlan_mode_name(uint8_t flags) {
  if (!(flags & kVlanAware)) return "-";
  return (flags & kVlanTrunk) ? "trunk" : "access";
}
}  // namespace

// What the device itself says of its link: a vhost-user port is up while a VM is
// connected and has its queues running, an af_packet port follows its interface.
static const char* carrier(uint16_t port) {
  if (is_tunnel_port(port)) return "-";  // no device: a remote endpoint
  rte_eth_link link{};
  if (!rte_eth_dev_is_valid_port(port) || rte_eth_link_get_nowait(port, &link) != 0)
    return "unknown";
  return link.link_status == RTE_ETH_LINK_UP ? "up" : "down";
}

nlohmann::json view_ports(const RuntimeView& v) {
  nlohmann::json out = nlohmann::json::array();
  std::vector<uint16_t> ports = v.snap.rx_ports;
  ports.insert(ports.end(), v.snap.tunnel_ports.begin(), v.snap.tunnel_ports.end());
  for (uint16_t port : ports) {
    const PortPolicy& p = v.snap.ports[port];
    PortTotals t = port_totals(v, port);
    nlohmann::json drops = nlohmann::json::object();
    for (size_t d = 0; d < kDropCount; ++d)
      if (t.drops[d] != 0) drops[std::string(kDropNames[d])] = t.drops[d];
    out.push_back(
        {{"port_id", port},
         {"name", v.snap.port_names[port]},
         {"role", role_name(p.role)},
         {"segment", segment_name(v.snap, p.segment)},
         {"vlan", vlan_mode_name(p.vlan)},
         {"mac", p.role == PortRole::kGuest ? format_mac(p.mac) : ""},
         {"link", p.link_up ? "up" : "down"},
         {"carrier", carrier(port)},
         {"promiscuous", promiscuous_name(p.promisc)},
         {"mtu", p.max_frame - RTE_ETHER_HDR_LEN},
         {"rx_packets", t.rx_packets},
         {"rx_bytes", t.rx_bytes},
         {"tx_packets", t.tx_packets},
         {"tx_bytes", t.tx_bytes},
         {"drops", t.drops_total()},
         {"drop_reasons", drops},
         {"reopened", v.applier != nullptr ? v.applier->reopened(v.snap.port_names[port]) : 0}});
  }
  return out;
}

nlohmann::json view_fdb(const RuntimeView& v) {
  nlohmann::json out = nlohmann::json::array();
  v.fdb.for_each(v.now_tsc, [&](const FdbEntryView& e) {
    bool current = e.segment < v.snap.segments.size() &&
                   v.snap.segments[e.segment].fdb_generation == e.generation;
    if (!current) return;
    out.push_back({{"segment", segment_name(v.snap, e.segment)},
                   {"mac", format_mac(e.mac)},
                   {"port", e.port < kMaxPorts ? v.snap.port_names[e.port] : ""},
                   {"port_id", e.port},
                   {"static", e.is_static},
                   {"age_s", e.is_static ? 0 : e.age_tsc / v.tsc_hz}});
  });
  return out;
}

nlohmann::json view_networks(const RuntimeView& v) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < v.snap.segments.size(); ++i) {
    const Segment& s = v.snap.segments[i];
    if (v.snap.segment_names[i].empty()) continue;  // an index no network uses now
    nlohmann::json members = nlohmann::json::array();
    for (uint16_t m = 0; m < s.n_members; ++m) members.push_back(v.snap.port_names[s.members[m]]);
    out.push_back({{"name", v.snap.segment_names[i]},
                   {"mac_ageing_s", s.ageing_s},
                   {"vlan", s.vid},
                   {"members", members}});
  }
  return out;
}

nlohmann::json view_stats(const RuntimeView& v) {
  nlohmann::json workers = nlohmann::json::array();
  for (const WorkerCounters* w : v.workers) {
    uint64_t rx = 0;
    for (uint16_t p = 0; p < kMaxEthPorts; ++p) rx += w->ports[p].rx_packets.get();
    nlohmann::json e = {{"loops", w->loops.get()},
                        {"rx_packets", rx},
                        {"busy_cycles", w->busy_tsc.get()},
                        {"idle_cycles", w->idle_tsc.get()}};
    for (size_t i = 0; i < kWorkerEventCount; ++i)
      e[std::string(kWorkerEventNames[i])] = w->events[i].get();
    workers.push_back(e);
  }
  return {{"snapshot_version", v.snap.version},
          {"applies_ok", v.applier != nullptr ? v.applier->applies_ok() : 0},
          {"applies_refused", v.applier != nullptr ? v.applier->applies_refused() : 0},
          {"tsc_hz", v.tsc_hz},
          {"snapshots_published", v.holder.published_total()},
          {"snapshots_retired", v.holder.retired_total()},
          {"fdb_entries", v.fdb.count()},
          {"fdb_capacity", v.fdb.capacity()},
          {"fdb_learned", v.learner.learned()},
          {"fdb_moves", v.learner.moves()},
          {"fdb_aged", v.learner.aged()},
          {"fdb_table_full", v.learner.table_full()},
          {"fdb_port_limit", v.learner.port_limit()},
          {"fdb_static_refused", v.learner.static_refused()},
          {"slow_path",
           {{"arp_replies", v.slow.stats().arp_replies},
            {"dhcp_replies", v.slow.stats().dhcp_replies},
            {"icmp_replies", v.slow.stats().icmp_replies},
            {"frag_needed_sent", v.slow.stats().frag_needed_sent},
            {"frag_needed_out", v.slow.stats().frag_needed_out},
            {"time_exceeded_sent", v.slow.stats().time_exceeded_sent},
            {"arp_requests", v.slow.stats().arp_requests},
            {"gateways_learned", v.slow.stats().gateways_learned},
            {"inside_learned", v.slow.stats().inside_learned},
            {"inside_probes", v.slow.stats().inside_probes},
            {"onlink_unresolved", v.slow.stats().onlink_unresolved},
            {"dns_servfail", v.slow.stats().dns_servfail},
            {"dhcp_silent", v.slow.stats().dhcp_silent},
            {"malformed", v.slow.stats().malformed},
            {"inject_full", v.slow.stats().inject_full}}},
          {"workers", workers}};
}

nlohmann::json view_dhcp(const RuntimeView& v) {
  nlohmann::json out = nlohmann::json::array();
  const uint64_t now_s = v.now_tsc / v.tsc_hz;
  for (const auto& [segment, server] : v.slow.dhcp_servers()) {
    for (const auto& [ip, l] : server.leases()) {
      rte_ether_addr mac;
      std::copy(l.mac.begin(), l.mac.end(), mac.addr_bytes);
      out.push_back({{"segment", segment},
                     {"ip", format_ipv4(ip)},
                     {"mac", format_mac(mac)},
                     {"state", dhcp::lease_state_name(l.state)},
                     {"expires_in_s", l.expires_s > now_s ? l.expires_s - now_s : 0},
                     {"hostname", l.hostname}});
    }
  }
  return out;
}

NatFilter parse_nat_filter(const std::string& json_text, std::string* error) {
  NatFilter f;
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    *error = "show nat: the filter must be a JSON object";
    return f;
  }
  for (const auto& [k, val] : j.items()) {
    if (!val.is_string()) {
      *error = "show nat: filter '" + k + "' must be a string";
      return f;
    }
    const std::string x = val.get<std::string>();
    if (k == "network") {
      f.network = x;
    } else if (k == "vm") {
      f.vm = x;
    } else if (k == "proto" && (x == "tcp" || x == "udp" || x == "icmp")) {
      f.proto = x;
    } else if (k == "ip" && parse_ipv4(x)) {
      f.ip = x;
    } else {
      *error = "show nat: bad filter " + k + "=" + x + " (network, vm, proto tcp|udp|icmp, ip)";
      return f;
    }
  }
  return f;
}

nlohmann::json view_nat(const RuntimeView& v, const std::vector<std::vector<nat::SessionRow>>& rows,
                        const NatFilter& filter) {
  const std::string vm_prefix = "vm/" + filter.vm + "/";
  static const char* kTcp[] = {"",        "syn_out", "syn_in",  "established",
                               "fin_out", "fin_in",  "closing", "reset"};
  auto ep = [](rte_be32_t ip, rte_be16_t port) {
    return format_ipv4(rte_be_to_cpu_32(ip)) + ":" + std::to_string(rte_be_to_cpu_16(port));
  };
  nlohmann::json out = nlohmann::json::array();
  for (size_t w = 0; w < rows.size(); ++w) {
    for (const nat::SessionRow& r : rows[w]) {
      const char* proto = r.in.proto == IPPROTO_TCP   ? "tcp"
                          : r.in.proto == IPPROTO_UDP ? "udp"
                                                      : "icmp";
      const std::string network = segment_name(v.snap, r.segment);
      const std::string& port = r.guest_port < kMaxPorts ? v.snap.port_names[r.guest_port] : "";
      const std::string inside = ep(r.in.src_ip, r.in.src_port);
      const std::string outside = ep(r.out.outside_ip, r.out.outside_port);
      const std::string remote = ep(r.out.remote_ip, r.out.remote_port);
      auto has_ip = [&](const std::string& e) { return e.rfind(filter.ip + ":", 0) == 0; };
      if ((!filter.network.empty() && network != filter.network) ||
          (!filter.vm.empty() && port.rfind(vm_prefix, 0) != 0) ||
          (!filter.proto.empty() && filter.proto != proto) ||
          (!filter.ip.empty() && !has_ip(inside) && !has_ip(outside) && !has_ip(remote)))
        continue;
      out.push_back({{"worker", w},
                     {"network", network},
                     {"port", port},
                     {"proto", proto},
                     {"inside", inside},
                     {"outside", outside},
                     {"remote", remote},
                     {"tcp_state", kTcp[static_cast<size_t>(r.tcp) % 8]},
                     {"idle_s", r.idle_tsc / v.tsc_hz}});
    }
  }
  return out;
}

nlohmann::json view_vms(const RuntimeView& v) {
  nlohmann::json out = nlohmann::json::array();
  const Config* c = v.applier != nullptr ? v.applier->running() : nullptr;
  if (c == nullptr) return out;
  const auto ids = v.applier->port_ids();
  for (const auto& vm : c->vms) {
    nlohmann::json adapters = nlohmann::json::array();
    for (const auto& [slot, ad] : vm.adapters) {
      const std::string key = "vm/" + vm.name + "/" + std::to_string(slot);
      auto id = ids.find(key);
      std::string attach(attach_mode_name(ad.attach));
      if (!ad.network.empty()) attach += ":" + ad.network;
      const bool open = id != ids.end();
      adapters.push_back({{"slot", slot},
                          {"attach", attach},
                          {"model", std::string(nic_profile(ad.model).name)},
                          {"mac", format_mac(ad.mac)},
                          {"mtu", ad.mtu},
                          {"cable_connected", ad.cable_connected},
                          {"port", key},
                          {"port_id", open ? nlohmann::json(id->second) : nlohmann::json()},
                          {"link", open && v.snap.ports[id->second].link_up ? "up" : "down"},
                          {"port_security", ad.port_security.enabled},
                          {"dhcp_trusted", ad.dhcp_trusted},
                          {"acl_rules", ad.acl_ingress.size() + ad.acl_egress.size()},
                          {"bandwidth_group", ad.bandwidth_group},
                          {"vlan", ad.vlan.to_string()}});
    }
    out.push_back({{"name", vm.name}, {"adapters", adapters}});
  }
  return out;
}

namespace {
std::string proto_name(uint8_t p) {
  switch (p) {
    case 0:
      return "any";
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    default:
      return std::to_string(p);
  }
}

std::string port_text(uint16_t lo, uint16_t hi) {
  if (lo == 0 && hi == 65535) return "any";
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}
}  // namespace

nlohmann::json view_acl(const RuntimeView& v) {
  nlohmann::json out = nlohmann::json::array();
  if (v.applier == nullptr) return out;
  for (const PortPlan& p : v.applier->plans()) {
    for (bool in : {true, false}) {
      const std::vector<AclRule>& rules = in ? p.acl_ingress : p.acl_egress;
      const AclTable* t = v.applier->acl(p.key, in);
      if (rules.empty() || t == nullptr) continue;
      nlohmann::json rows = nlohmann::json::array();
      for (size_t i = 0; i < rules.size() && i < t->rules(); ++i) {
        const AclRule& r = rules[i];
        rows.push_back({{"index", i + 1},
                        {"name", r.name},
                        {"action", r.allow ? "allow" : "deny"},
                        {"proto", proto_name(r.proto)},
                        {"src", r.src.prefix == 0 ? "any" : r.src.to_string()},
                        {"dst", r.dst.prefix == 0 ? "any" : r.dst.to_string()},
                        {"src_port", port_text(r.src_lo, r.src_hi)},
                        {"dst_port", port_text(r.dst_lo, r.dst_hi)},
                        {"matches", t->hits(i)}});
      }
      out.push_back({{"port", p.key},
                     {"direction", in ? "ingress" : "egress"},
                     {"rules", rows},
                     {"no_match", t->hits(t->rules())}});
    }
  }
  return out;
}

nlohmann::json handle_show(const RuntimeView& v, const nlohmann::json& request) {
  const std::string what = request.value("what", "");
  nlohmann::json data;
  if (what == "ports")
    data = view_ports(v);
  else if (what == "fdb")
    data = view_fdb(v);
  else if (what == "networks")
    data = view_networks(v);
  else if (what == "stats")
    data = view_stats(v);
  else if (what == "dhcp")
    data = view_dhcp(v);
  else if (what == "vms")
    data = view_vms(v);
  else if (what == "acl")
    data = view_acl(v);
  else
    return error_reply("unknown view '" + what + "'");
  return {{"ok", true}, {"data", data}};
}

}  // namespace gp
