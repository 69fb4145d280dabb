// Control path: see telemetry.h.
#include "control/telemetry.h"

#include <rte_telemetry.h>

#include <mutex>

namespace gp {

namespace {

std::mutex g_mutex;  // held while a command waits for the control thread
JobQueue* g_jobs = nullptr;
bool g_registered = false;

std::optional<nlohmann::json> ask(const std::string& what) {
  std::lock_guard lock(g_mutex);
  if (g_jobs == nullptr) return std::nullopt;
  auto r =
      g_jobs->call({{"cmd", "show"}, {"what", what}}, "telemetry", std::chrono::milliseconds(1000));
  if (!r || !r->value("ok", false)) return std::nullopt;
  return (*r)["data"];
}

uint64_t u64(const nlohmann::json& j, const char* k) {
  return j.contains(k) && j[k].is_number_unsigned() ? j[k].get<uint64_t>() : 0;
}

int cmd_stats(const char*, const char*, rte_tel_data* d) {
  auto s = ask("stats");
  if (!s) return -1;
  rte_tel_data_start_dict(d);
  for (const char* k :
       {"snapshot_version", "applies_ok", "applies_refused", "snapshots_published", "fdb_entries",
        "fdb_capacity", "fdb_learned", "fdb_moves", "fdb_aged", "fdb_table_full"})
    rte_tel_data_add_dict_u64(d, k, u64(*s, k));
  uint64_t rx = 0;
  for (const auto& w : (*s)["workers"]) rx += u64(w, "rx_packets");
  rte_tel_data_add_dict_u64(d, "rx_packets", rx);
  rte_tel_data_add_dict_u64(d, "workers", (*s)["workers"].size());
  return 0;
}

int cmd_ports(const char*, const char*, rte_tel_data* d) {
  auto ports = ask("ports");
  if (!ports) return -1;
  rte_tel_data_start_dict(d);
  for (const auto& p : *ports)
    rte_tel_data_add_dict_u64(d, p["name"].get<std::string>().c_str(), u64(p, "port_id"));
  return 0;
}

int cmd_port(const char*, const char* params, rte_tel_data* d) {
  if (params == nullptr || *params == '\0') return -1;
  auto ports = ask("ports");
  if (!ports) return -1;
  const std::string want = params;
  for (const auto& p : *ports) {
    if (p["name"] != want && std::to_string(u64(p, "port_id")) != want) continue;
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "name", p["name"].get<std::string>().c_str());
    rte_tel_data_add_dict_string(d, "segment", p["segment"].get<std::string>().c_str());
    rte_tel_data_add_dict_string(d, "link", p["link"].get<std::string>().c_str());
    for (const char* k :
         {"port_id", "mtu", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "drops"})
      rte_tel_data_add_dict_u64(d, k, u64(p, k));
    for (const auto& [reason, n] : p["drop_reasons"].items())
      rte_tel_data_add_dict_u64(d, ("drop_" + reason).c_str(), n.get<uint64_t>());
    return 0;
  }
  return -1;
}

int cmd_drops(const char*, const char*, rte_tel_data* d) {
  auto ports = ask("ports");
  if (!ports) return -1;
  std::map<std::string, uint64_t> total;
  for (const auto& p : *ports)
    for (const auto& [reason, n] : p["drop_reasons"].items()) total[reason] += n.get<uint64_t>();
  rte_tel_data_start_dict(d);
  for (const auto& [reason, n] : total) rte_tel_data_add_dict_u64(d, reason.c_str(), n);
  return 0;
}

int cmd_networks(const char*, const char*, rte_tel_data* d) {
  auto nets = ask("networks");
  if (!nets) return -1;
  rte_tel_data_start_dict(d);
  for (const auto& n : *nets)
    rte_tel_data_add_dict_u64(d, n["name"].get<std::string>().c_str(), n["members"].size());
  return 0;
}

}  // namespace

void register_telemetry(JobQueue* jobs) {
  {
    std::lock_guard lock(g_mutex);
    g_jobs = jobs;
  }
  if (g_registered) return;
  g_registered = true;
  rte_telemetry_register_cmd("/guestport/stats", cmd_stats,
                             "Snapshot version, applies, MAC table and receive totals");
  rte_telemetry_register_cmd("/guestport/ports", cmd_ports, "Port names and their DPDK port ids");
  rte_telemetry_register_cmd(
      "/guestport/port", cmd_port,
      "One port's counters and drops by reason. Parameters: name or port id");
  rte_telemetry_register_cmd("/guestport/drops", cmd_drops, "Drops by reason over every port");
  rte_telemetry_register_cmd("/guestport/networks", cmd_networks, "Networks and their port counts");
}

void unregister_telemetry() {
  std::lock_guard lock(g_mutex);
  g_jobs = nullptr;
}

}  // namespace gp
