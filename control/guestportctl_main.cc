// guestportctl: the operator's CLI. `show` asks the running guestportd over its control
// socket; `check` validates a config file offline.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "control/config_loader.h"
#include "control/control_socket.h"

namespace {

std::string s(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

void print_table(const std::string& what, const nlohmann::json& rows) {
  if (what == "ports") {
    std::printf("%-4s %-20s %-7s %-22s %-17s %-5s %-9s %11s %11s %9s\n", "id", "name", "role",
                "segment", "mac", "link", "promisc", "rx_packets", "tx_packets", "drops");
    for (const auto& p : rows) {
      std::printf("%-4s %-20s %-7s %-22s %-17s %-5s %-9s %11s %11s %9s\n", s(p["port_id"]).c_str(),
                  s(p["name"]).c_str(), s(p["role"]).c_str(), s(p["segment"]).c_str(),
                  s(p["mac"]).c_str(), s(p["link"]).c_str(), s(p["promiscuous"]).c_str(),
                  s(p["rx_packets"]).c_str(), s(p["tx_packets"]).c_str(), s(p["drops"]).c_str());
      for (const auto& [reason, n] : p["drop_reasons"].items())
        std::printf("     drop %-16s %s\n", reason.c_str(), s(n).c_str());
    }
  } else if (what == "fdb") {
    std::printf("%-24s %-17s %-20s %6s\n", "segment", "mac", "port", "age_s");
    for (const auto& e : rows)
      std::printf("%-24s %-17s %-20s %6s\n", s(e["segment"]).c_str(), s(e["mac"]).c_str(),
                  s(e["port"]).c_str(), s(e["age_s"]).c_str());
  } else if (what == "networks") {
    for (const auto& n : rows) {
      std::printf("%s (mac ageing %ss)\n", s(n["name"]).c_str(), s(n["mac_ageing_s"]).c_str());
      for (const auto& m : n["members"]) std::printf("  %s\n", s(m).c_str());
    }
  } else if (what == "nat") {
    std::printf("%-18s %-5s %-21s %-21s %-21s %-12s %6s\n", "network", "proto", "inside", "outside",
                "remote", "tcp", "idle_s");
    for (const auto& r : rows)
      std::printf("%-18s %-5s %-21s %-21s %-21s %-12s %6s\n", s(r["network"]).c_str(),
                  s(r["proto"]).c_str(), s(r["inside"]).c_str(), s(r["outside"]).c_str(),
                  s(r["remote"]).c_str(), s(r["tcp_state"]).c_str(), s(r["idle_s"]).c_str());
  } else if (what == "dhcp") {
    std::printf("%-24s %-16s %-17s %-9s %8s %s\n", "segment", "ip", "mac", "state", "expires",
                "hostname");
    for (const auto& l : rows)
      std::printf("%-24s %-16s %-17s %-9s %8s %s\n", s(l["segment"]).c_str(), s(l["ip"]).c_str(),
                  s(l["mac"]).c_str(), s(l["state"]).c_str(), s(l["expires_in_s"]).c_str(),
                  s(l["hostname"]).c_str());
  } else {
    std::printf("%s\n", rows.dump(2).c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"guestportctl: operate a running guestportd"};
  app.require_subcommand(1);
  std::string socket = "/run/guestport/control.sock";
  app.add_option("-s,--socket", socket, "guestportd's control socket");

  auto* show = app.add_subcommand("show", "show ports|fdb|networks|stats|dhcp|nat");
  std::string what;
  bool json = false;
  show->add_option("what", what, "ports, fdb, networks, stats, dhcp or nat")
      ->required()
      ->check(CLI::IsMember({"ports", "fdb", "networks", "stats", "dhcp", "nat"}));
  show->add_flag("--json", json, "print the daemon's JSON as it is");
  std::string f_network, f_vm, f_proto, f_ip;
  show->add_option("--network", f_network,
                   "nat: only sessions of this network (nat:VM/N, natnetwork:NAME)");
  show->add_option("--vm", f_vm, "nat: only sessions of this VM's adapters");
  show->add_option("--proto", f_proto, "nat: only tcp, udp or icmp")
      ->check(CLI::IsMember({"tcp", "udp", "icmp"}));
  show->add_option("--ip", f_ip, "nat: only sessions with this address on any side");

  auto* check = app.add_subcommand("check", "validate a configuration file");
  std::string file;
  check->add_option("-f,--file", file, "configuration file")->required();
  CLI11_PARSE(app, argc, argv);

  if (*check) {
    gp::LoadResult r = gp::load_config(file);
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    for (const auto& w : r.warnings) std::fprintf(stderr, "%s\n", w.to_string().c_str());
    if (!r.ok()) return 2;
    std::printf("%s: configuration is valid\n", file.c_str());
    return 0;
  }
  try {
    std::string request = "show " + what;
    nlohmann::json filter = nlohmann::json::object();
    for (const auto& [k, val] : {std::pair{"network", f_network}, std::pair{"vm", f_vm},
                                 std::pair{"proto", f_proto}, std::pair{"ip", f_ip}})
      if (!val.empty()) filter[k] = val;
    if (!filter.empty()) {
      if (what != "nat") {
        std::fprintf(stderr, "guestportctl: --network/--vm/--proto/--ip filter `show nat` only\n");
        return 2;
      }
      request += " " + filter.dump();
    }
    std::string reply = gp::control_request(socket, request);
    nlohmann::json j = nlohmann::json::parse(reply);
    if (j.is_object() && j.contains("error")) {
      std::fprintf(stderr, "guestportctl: %s\n", s(j["error"]).c_str());
      return 1;
    }
    if (json)
      std::printf("%s\n", j.dump().c_str());
    else
      print_table(what, j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "guestportctl: %s\n", e.what());
    return 1;
  }
  return 0;
}
