// guestportd: the appliance daemon. Loads and validates the config, then runs in the
// foreground until SIGINT or SIGTERM; SIGHUP re-reads the config file and applies it.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "control/config_loader.h"
#include "control/daemon.h"

namespace {
gp::DaemonSignals g_signals;
void on_stop(int) { g_signals.stop.store(true, std::memory_order_relaxed); }
void on_hup(int) { g_signals.reload.store(true, std::memory_order_relaxed); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"guestportd: DPDK virtual switch appliance"};
  std::string config;
  gp::DaemonOptions opt;
  bool check_only = false;
  app.add_option("-c,--config", config, "configuration file (YAML)")->required();
  app.add_option("--stats-interval", opt.stats_interval_s,
                 "print per-port counters every N seconds");
  app.add_flag("--check", check_only, "validate the configuration and exit");
  CLI11_PARSE(app, argc, argv);
  opt.argv0 = argv[0];
  opt.config_path = config;

  gp::LoadResult r = gp::load_config(config);
  if (!r.ok()) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "guestportd: configuration rejected (%zu error%s)\n", r.errors.size(),
                 r.errors.size() == 1 ? "" : "s");
    return 2;
  }
  for (const auto& w : r.warnings) std::fprintf(stderr, "%s\n", w.to_string().c_str());
  if (check_only) {
    std::printf("%s: configuration is valid\n", config.c_str());
    return 0;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, nullptr);
  return gp::run_daemon(*r.config, opt, g_signals);
}
