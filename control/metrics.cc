// Control path: see metrics.h.
#include "control/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <map>

#include "control/applier.h"

namespace gp {

namespace {

struct Family {
  nlohmann::json j;
  Family(const std::string& name, const std::string& help, const char* type)
      : j({{"name", "guestport_" + name},
           {"help", help},
           {"type", type},
           {"samples", nlohmann::json::array()}}) {}
  void add(double value, nlohmann::json labels = nlohmann::json::object()) {
    j["samples"].push_back({{"labels", std::move(labels)}, {"value", value}});
  }
};

}  // namespace

nlohmann::json metrics_snapshot(const RuntimeView& v, const std::vector<uint32_t>& nat_capacity) {
  Family rxp("port_rx_packets_total", "Frames received on a port", "counter");
  Family rxb("port_rx_bytes_total", "Bytes received on a port", "counter");
  Family txp("port_tx_packets_total", "Frames sent on a port", "counter");
  Family txb("port_tx_bytes_total", "Bytes sent on a port", "counter");
  Family drops("port_drops_total", "Frames dropped, by the port they were counted on and reason",
               "counter");
  std::vector<uint16_t> ports = v.snap.rx_ports;
  ports.insert(ports.end(), v.snap.tunnel_ports.begin(), v.snap.tunnel_ports.end());
  for (uint16_t port : ports) {
    const PortTotals t = port_totals(v, port);
    const nlohmann::json l = {{"port", v.snap.port_names[port]}};
    rxp.add(double(t.rx_packets), l);
    rxb.add(double(t.rx_bytes), l);
    txp.add(double(t.tx_packets), l);
    txb.add(double(t.tx_bytes), l);
    for (size_t d = 0; d < kDropCount; ++d)
      drops.add(double(t.drops[d]),
                {{"port", v.snap.port_names[port]}, {"reason", std::string(kDropNames[d])}});
  }
  Family members("network_ports", "Ports on a network (segment)", "gauge");
  Family macs("network_fdb_entries", "MAC addresses learned on a network", "gauge");
  Family netrx("network_rx_packets_total", "Frames received from the ports of a network",
               "counter");
  std::map<uint16_t, uint64_t> learned;
  v.fdb.for_each(v.now_tsc, [&](const FdbEntryView& e) {
    if (e.segment < v.snap.segments.size() &&
        v.snap.segments[e.segment].fdb_generation == e.generation)
      ++learned[e.segment];
  });
  for (size_t i = 0; i < v.snap.segments.size(); ++i) {
    if (v.snap.segment_names[i].empty()) continue;
    const Segment& s = v.snap.segments[i];
    const nlohmann::json l = {{"network", v.snap.segment_names[i]}};
    members.add(s.n_members, l);
    macs.add(double(learned[static_cast<uint16_t>(i)]), l);
    uint64_t rx = 0;
    for (uint16_t m = 0; m < s.n_members; ++m) rx += port_totals(v, s.members[m]).rx_packets;
    netrx.add(double(rx), l);
  }
  Family nat_sessions("nat_sessions", "NAT sessions in a worker's table", "gauge");
  Family nat_cap("nat_table_capacity", "Sessions a worker's NAT table can hold", "gauge");
  Family busy("worker_busy_cycles_total", "TSC cycles of poll loops that moved packets", "counter");
  Family idle("worker_idle_cycles_total", "TSC cycles of poll loops that found nothing", "counter");
  Family loops("worker_loops_total", "Poll loops", "counter");
  Family events("worker_events_total", "Worker events (floods, NAT sessions made, ...)", "counter");
  for (size_t w = 0; w < v.workers.size(); ++w) {
    const WorkerCounters& c = *v.workers[w];
    const nlohmann::json l = {{"worker", std::to_string(w)}};
    if (w < nat_capacity.size()) {
      nat_sessions.add(double(c.nat_sessions.get()), l);
      nat_cap.add(nat_capacity[w], l);
    }
    busy.add(double(c.busy_tsc.get()), l);
    idle.add(double(c.idle_tsc.get()), l);
    loops.add(double(c.loops.get()), l);
    for (size_t e = 0; e < kWorkerEventCount; ++e)
      events.add(double(c.events[e].get()),
                 {{"worker", std::to_string(w)}, {"event", std::string(kWorkerEventNames[e])}});
  }
  Family leases("dhcp_leases", "DHCP leases bound, by network", "gauge");
  for (const auto& [segment, server] : v.slow.dhcp_servers()) {
    uint64_t bound = 0;
    for (const auto& [ip, lease] : server.leases())
      bound += lease.state == dhcp::LeaseState::kBound;
    leases.add(double(bound), {{"network", segment}});
  }
  Family gen("snapshot_generation", "Version of the running configuration snapshot", "gauge");
  gen.add(double(v.snap.version));
  Family applies("applies_total", "Configuration applies, by result", "counter");
  applies.add(double(v.applier != nullptr ? v.applier->applies_ok() : 0), {{"result", "ok"}});
  applies.add(double(v.applier != nullptr ? v.applier->applies_refused() : 0),
              {{"result", "refused"}});
  Family fdb("fdb_entries", "MAC table entries (all networks)", "gauge");
  fdb.add(v.fdb.count());
  Family fdb_cap("fdb_capacity", "MAC table size", "gauge");
  fdb_cap.add(v.fdb.capacity());
  Family hz("tsc_hz", "TSC cycles per second (for the cycle counters)", "gauge");
  hz.add(double(v.tsc_hz));
  nlohmann::json families = nlohmann::json::array();
  for (Family* f :
       {&rxp,  &rxb,  &txp,   &txb,    &drops,  &members, &macs,    &netrx, &nat_sessions, &nat_cap,
        &busy, &idle, &loops, &events, &leases, &gen,     &applies, &fdb,   &fdb_cap,      &hz})
    families.push_back(std::move(f->j));
  return {{"ok", true}, {"families", families}};
}

struct MetricsServer::Collector : prometheus::Collectable {
  JobQueue* jobs = nullptr;
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto reply = jobs->call({{"cmd", "metrics"}}, "metrics", std::chrono::milliseconds(2000));
    if (!reply || !reply->contains("families")) return out;  // stopping: an empty scrape
    for (const auto& f : (*reply)["families"]) {
      prometheus::MetricFamily mf;
      mf.name = f["name"].get<std::string>();
      mf.help = f["help"].get<std::string>();
      const bool counter = f["type"] == "counter";
      mf.type = counter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
      for (const auto& s : f["samples"]) {
        prometheus::ClientMetric m;
        for (const auto& [k, val] : s["labels"].items())
          m.label.push_back({k, val.get<std::string>()});
        if (counter)
          m.counter.value = s["value"].get<double>();
        else
          m.gauge.value = s["value"].get<double>();
        mf.metric.push_back(std::move(m));
      }
      out.push_back(std::move(mf));
    }
    return out;
  }
};

MetricsServer::MetricsServer() = default;
MetricsServer::~MetricsServer() { stop(); }

std::string MetricsServer::start(const std::string& address, JobQueue* jobs) {
  try {
    collector_ = std::make_shared<Collector>();
    collector_->jobs = jobs;
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
    exposer_->RegisterCollectable(collector_, "/metrics");
  } catch (const std::exception& e) {
    exposer_.reset();
    collector_.reset();
    return "cannot serve metrics on " + address + ": " + e.what();
  }
  return "";
}

void MetricsServer::stop() {
  exposer_.reset();  // joins its threads
  collector_.reset();
}

}  // namespace gp
