// The EAL command line that a config implies: lcores, memory, file prefix, PCI scan.
// Pure function of the config and the machine facts passed in; unit-tested.
#pragma once

#include <string>
#include <vector>

#include "control/config.h"

namespace gp {

struct MachineFacts {
  unsigned cpus = 1;  // online CPUs
  bool hugetlbfs_mounted = false;
  unsigned long free_hugepage_mb = 0;
};

MachineFacts read_machine_facts();

struct EalPlan {
  std::vector<std::string> args;
  bool hugepages = false;
  std::vector<unsigned> cpus;  // the CPUs the lcores run on, ascending (systemd CPUAffinity)
  std::string error;           // set when hugepages: on cannot be honoured
};

EalPlan eal_args(const Config& c, const MachineFacts& m, const std::string& argv0);

// After rte_eal_cleanup: removes this prefix's hugepage files ("<prefix>map_N") from
// every hugetlbfs mount, so that a daemon that ran in shared memory (for dpdk-dumpcap)
// gives its pages back on exit. A killed daemon's files are reclaimed by the next
// start with the same prefix (EAL removes unlocked ones). Returns how many it removed.
unsigned remove_hugepage_files(const std::string& prefix);

}  // namespace gp
