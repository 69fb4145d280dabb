// guestportd's runtime: EAL, mempool, ports, snapshot, workers, and the control loop
// (learner, ageing, snapshot retirement, control socket) on the main lcore.
#pragma once

#include <atomic>
#include <string>

#include "control/config.h"

namespace gp {

struct DaemonOptions {
  std::string argv0 = "guestportd";
  int stats_interval_s = 0;  // >0: print per-port counters to stdout this often
};

// Runs until `stop` becomes true (signal handler). Returns the process exit code;
// start-up problems are printed as one clear message each.
int run_daemon(const Config& cfg, const DaemonOptions& opt, const std::atomic<bool>& stop);

}  // namespace gp
