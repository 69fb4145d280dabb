// guestportctl: the operator's CLI. `show` and `apply` talk to the running guestportd
// over its control socket (control_protocol.h); `check` validates a config file offline.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "control/config_loader.h"
#include "control/control_socket.h"
#include "control/eal_args.h"

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
                  s(e["port"]).c_str(),
                  e.value("static", false) ? "static" : s(e["age_s"]).c_str());
  } else if (what == "networks") {
    for (const auto& n : rows) {
      std::printf("%s (mac ageing %ss%s)\n", s(n["name"]).c_str(), s(n["mac_ageing_s"]).c_str(),
                  n.value("vlan", 0) != 0 ? (", vlan " + s(n["vlan"])).c_str() : "");
      for (const auto& m : n["members"]) std::printf("  %s\n", s(m).c_str());
    }
  } else if (what == "nat") {
    std::printf("%-18s %-5s %-21s %-21s %-21s %-12s %6s\n", "network", "proto", "inside", "outside",
                "remote", "tcp", "idle_s");
    for (const auto& r : rows)
      std::printf("%-18s %-5s %-21s %-21s %-21s %-12s %6s\n", s(r["network"]).c_str(),
                  s(r["proto"]).c_str(), s(r["inside"]).c_str(), s(r["outside"]).c_str(),
                  s(r["remote"]).c_str(), s(r["tcp_state"]).c_str(), s(r["idle_s"]).c_str());
  } else if (what == "vms") {
    std::printf("%-16s %-4s %-22s %-10s %-17s %5s %-5s %-18s %s\n", "vm", "slot", "attach", "model",
                "mac", "mtu", "link", "port", "vlan");
    for (const auto& vm : rows)
      for (const auto& a : vm["adapters"])
        std::printf("%-16s %-4s %-22s %-10s %-17s %5s %-5s %-18s %s\n", s(vm["name"]).c_str(),
                    s(a["slot"]).c_str(), s(a["attach"]).c_str(), s(a["model"]).c_str(),
                    s(a["mac"]).c_str(), s(a["mtu"]).c_str(), s(a["link"]).c_str(),
                    s(a["port"]).c_str(), s(a["vlan"]).c_str());
  } else if (what == "acl") {
    for (const auto& a : rows) {
      std::printf("%s %s (first match wins; no match: allow)\n", s(a["port"]).c_str(),
                  s(a["direction"]).c_str());
      std::printf("  %-3s %-16s %-6s %-5s %-18s %-18s %-11s %-11s %10s\n", "#", "name", "action",
                  "proto", "src", "dst", "src_port", "dst_port", "matches");
      for (const auto& r : a["rules"])
        std::printf("  %-3s %-16s %-6s %-5s %-18s %-18s %-11s %-11s %10s\n", s(r["index"]).c_str(),
                    s(r["name"]).c_str(), s(r["action"]).c_str(), s(r["proto"]).c_str(),
                    s(r["src"]).c_str(), s(r["dst"]).c_str(), s(r["src_port"]).c_str(),
                    s(r["dst_port"]).c_str(), s(r["matches"]).c_str());
      std::printf("  %-3s %-16s %-6s %69s\n", "-", "(no match)", "allow", s(a["no_match"]).c_str());
    }
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

// Exit codes scripts can rely on: 0 done, 1 refused or invalid, 2 daemon unreachable.
constexpr int kOk = 0, kRefused = 1, kUnreachable = 2;

int print_apply(const std::string& file, const nlohmann::json& r) {
  for (const auto& c : r["changes"]) std::printf("%s\n", s(c).c_str());
  for (const auto& w : r["warnings"]) std::fprintf(stderr, "%s\n", s(w).c_str());
  for (const auto& e : r["errors"]) std::fprintf(stderr, "%s\n", s(e).c_str());
  if (!r.value("ok", false)) {
    std::fprintf(stderr, "guestportctl: %s: %s; the running configuration is unchanged\n",
                 file.c_str(), r.value("error", std::string("refused")).c_str());
    return kRefused;
  }
  if (r["changes"].empty()) std::printf("no changes\n");
  if (r.value("dry_run", false))
    std::printf("dry run: nothing was changed\n");
  else
    std::printf("applied: configuration version %s\n", s(r["version"]).c_str());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"guestportctl: operate a running guestportd"};
  app.require_subcommand(1);
  std::string socket = "/run/guestport/control.sock";
  app.add_option("-s,--socket", socket, "guestportd's control socket");

  auto* show = app.add_subcommand("show", "show ports|networks|vms|acl|fdb|nat|dhcp|stats");
  std::string what;
  bool json = false;
  show->add_option("what", what, "ports, networks, vms, acl, fdb, nat, dhcp or stats")
      ->required()
      ->check(CLI::IsMember({"ports", "networks", "vms", "acl", "fdb", "nat", "dhcp", "stats"}));
  show->add_flag("--json", json, "print the data as JSON (stable field names)");
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
  bool print_cpus = false;
  check->add_flag("--cpus", print_cpus,
                  "print only the CPUs its lcores run on (for systemd's CPUAffinity=)");

  auto* apply = app.add_subcommand("apply", "apply a configuration file to the running daemon");
  std::string apply_file;
  bool dry_run = false, apply_json = false;
  apply->add_option("-f,--file", apply_file, "configuration file")->required();
  apply->add_flag("--dry-run", dry_run, "print what would change; change nothing");
  apply->add_flag("--json", apply_json, "print the daemon's reply as JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kRefused;
  }

  if (*check) {
    gp::LoadResult r = gp::load_config(file);
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    for (const auto& w : r.warnings) std::fprintf(stderr, "%s\n", w.to_string().c_str());
    if (!r.ok()) return kRefused;
    if (print_cpus) {
      const gp::EalPlan plan = gp::eal_args(*r.config, gp::read_machine_facts(), "guestportd");
      for (size_t i = 0; i < plan.cpus.size(); ++i)
        std::printf("%s%u", i == 0 ? "" : " ", plan.cpus[i]);
      std::printf("\n");
      return kOk;
    }
    std::printf("%s: configuration is valid\n", file.c_str());
    return kOk;
  }
  try {
    if (*apply) {
      std::ifstream in(apply_file);
      if (!in) {
        std::fprintf(stderr, "%s:0:0: error: cannot read the configuration file\n",
                     apply_file.c_str());
        return kRefused;
      }
      std::stringstream text;
      text << in.rdbuf();
      const nlohmann::json r = gp::control_call(
          socket,
          {{"cmd", "apply"}, {"file", apply_file}, {"text", text.str()}, {"dry_run", dry_run}});
      if (apply_json) {
        std::printf("%s\n", r.dump().c_str());
        return r.value("ok", false) ? kOk : kRefused;
      }
      return print_apply(apply_file, r);
    }
    nlohmann::json request = {{"cmd", "show"}, {"what", what}};
    nlohmann::json filter = nlohmann::json::object();
    for (const auto& [k, val] : {std::pair{"network", f_network}, std::pair{"vm", f_vm},
                                 std::pair{"proto", f_proto}, std::pair{"ip", f_ip}})
      if (!val.empty()) filter[k] = val;
    if (!filter.empty()) {
      if (what != "nat") {
        std::fprintf(stderr, "guestportctl: --network/--vm/--proto/--ip filter `show nat` only\n");
        return kRefused;
      }
      request["filter"] = filter;
    }
    const nlohmann::json r = gp::control_call(socket, request);
    if (!r.value("ok", false)) {
      std::fprintf(stderr, "guestportctl: %s\n", r.value("error", std::string("refused")).c_str());
      return kRefused;
    }
    if (json)
      std::printf("%s\n", r["data"].dump().c_str());
    else
      print_table(what, r["data"]);
  } catch (const gp::ControlUnreachable& e) {
    std::fprintf(stderr, "guestportctl: %s\n", e.what());
    return kUnreachable;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "guestportctl: %s\n", e.what());
    return kRefused;
  }
  return kOk;
}
