// guestportd's runtime: EAL, mempool, tables, rings, workers, and the control loop on
// the main lcore (learner, ageing, snapshot retirement, slow path, and the requests of
// the control socket, metrics and telemetry). The config reaches the dataplane only
// through the Applier (applier.h): start-up is an apply from empty, and `guestportctl
// apply` or SIGHUP apply again on the running daemon.
#pragma once

#include <atomic>
#include <string>

#include "control/config.h"

namespace gp {

struct DaemonOptions {
  std::string argv0 = "guestportd";
  std::string config_path;   // what SIGHUP re-reads
  int stats_interval_s = 0;  // >0: print per-port counters to stdout this often
};

struct DaemonSignals {
  std::atomic<bool> stop{false};    // SIGINT, SIGTERM
  std::atomic<bool> reload{false};  // SIGHUP: re-read config_path and apply it
};

// Runs until sig.stop becomes true. Returns the process exit code; start-up problems
// are printed as one clear message each.
int run_daemon(const Config& cfg, const DaemonOptions& opt, DaemonSignals& sig);

}  // namespace gp
