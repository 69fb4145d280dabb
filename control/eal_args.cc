// Control path: see eal_args.h.
#include "control/eal_args.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace gp {

MachineFacts read_machine_facts() {
  MachineFacts m;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  m.cpus = n > 0 ? static_cast<unsigned>(n) : 1;
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line))
    if (line.find(" hugetlbfs ") != std::string::npos) m.hugetlbfs_mounted = true;
  std::ifstream meminfo("/proc/meminfo");
  unsigned long free_pages = 0, page_kb = 0;
  while (std::getline(meminfo, line)) {
    std::istringstream is(line);
    std::string key;
    unsigned long v = 0;
    is >> key >> v;
    if (key == "HugePages_Free:") free_pages = v;
    if (key == "Hugepagesize:") page_kb = v;
  }
  m.free_hugepage_mb = free_pages * page_kb / 1024;
  return m;
}

EalPlan eal_args(const Config& c, const MachineFacts& m, const std::string& argv0) {
  EalPlan p;
  const ApplianceConfig& a = c.appliance;
  p.args.push_back(argv0);
  // Main lcore 0 on CPU 0 (control thread); worker i on its configured CPU or 1+i.
  std::string lcores = "0@0";
  p.cpus.push_back(0);
  for (unsigned i = 0; i < a.workers; ++i) {
    unsigned cpu = a.worker_cpus.empty() ? (1 + i) % m.cpus : a.worker_cpus[i];
    lcores += "," + std::to_string(i + 1) + "@" + std::to_string(cpu);
    p.cpus.push_back(cpu);
  }
  std::sort(p.cpus.begin(), p.cpus.end());
  p.cpus.erase(std::unique(p.cpus.begin(), p.cpus.end()), p.cpus.end());
  p.args.push_back("--lcores=" + lcores);
  p.args.push_back("--main-lcore=0");
  p.args.push_back("--file-prefix=" + a.file_prefix);
  bool can_huge = m.hugetlbfs_mounted && m.free_hugepage_mb >= a.memory_mb;
  if (a.hugepages == "on" && !can_huge) {
    p.error = "appliance.hugepages is on but " + std::to_string(m.free_hugepage_mb) +
              " MB of hugepages are free (need " + std::to_string(a.memory_mb) +
              " MB; run deploy/hugepages.sh)";
  }
  p.hugepages = a.hugepages != "off" && can_huge;
  if (p.hugepages) {
    // Shared hugepage memory under the file prefix, so that DPDK's secondary processes
    // (dpdk-dumpcap through rte_pdump, dpdk-proc-info) can attach to the running daemon.
    // Files a killed daemon leaves behind are reclaimed by the next start of the same
    // prefix (EAL removes unlocked ones).
  } else {
    p.args.push_back("--no-huge");
  }
  p.args.push_back("-m");
  p.args.push_back(std::to_string(a.memory_mb));
  bool pci = false;
  auto looks_pci = [](const std::string& devargs) {
    return devargs.find(':') != std::string::npos && devargs.rfind("net_", 0) != 0;
  };
  for (const auto& u : c.uplinks) pci |= looks_pci(u.device);
  for (const auto& vm : c.vms)
    for (const auto& [slot, ad] : vm.adapters) pci |= looks_pci(ad.port);
  if (!pci) p.args.push_back("--no-pci");
  return p;
}

unsigned remove_hugepage_files(const std::string& prefix) {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  unsigned removed = 0;
  const std::string stem = prefix + "map_";
  while (std::getline(mounts, line)) {
    std::istringstream is(line);
    std::string dev, dir, type;
    is >> dev >> dir >> type;
    if (type != "hugetlbfs") continue;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) continue;
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() <= stem.size() || name.compare(0, stem.size(), stem) != 0 ||
          name.find_first_not_of("0123456789", stem.size()) != std::string::npos)
        continue;
      if (unlink((dir + "/" + name).c_str()) == 0) ++removed;
    }
    closedir(d);
  }
  return removed;
}

}  // namespace gp
