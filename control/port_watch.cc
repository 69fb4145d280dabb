// Control path: see port_watch.h.
#include "control/port_watch.h"

#include "dataplane/io/ports.h"

namespace gp {

std::string af_packet_iface(const std::string& devargs) {
  if (devargs.rfind("net_af_packet", 0) != 0) return "";
  return devargs_value(devargs, "iface");
}

PortWatch::PortWatch(IndexOf ifindex_of) : index_of_(ifindex_of) {}

std::vector<std::string> PortWatch::check(Applier& a) {
  std::vector<std::string> log;
  const auto ids = a.port_ids();
  const std::vector<PortPlan> plans = a.plans();  // a reopen publishes new plans
  for (const PortPlan& p : plans) {
    const std::string iface = af_packet_iface(p.devargs);
    auto id = ids.find(p.key);
    if (iface.empty() || id == ids.end()) continue;
    const unsigned now = index_of_(iface.c_str());
    auto it = seen_.find(p.key);
    if (it == seen_.end() || it->second.port_id != id->second) {
      // (Re)opened since the last check: on the interface it had when it was opened.
      const unsigned at_open = a.opened_ifindex(p.key);
      seen_[p.key] = Seen{id->second, at_open != 0 ? at_open : now, now == 0};
      it = seen_.find(p.key);
      if (now == 0 || now == it->second.ifindex) continue;
    }
    Seen& s = it->second;
    if (now == 0 && s.gone) continue;
    if (now == 0) {
      log.push_back(p.key + ": interface " + iface + " is gone; waiting for it");
      s.gone = true;
      continue;
    }
    if (now == s.ifindex && !s.gone) continue;  // the interface it opened on
    const std::string err = a.reopen(p.key);
    log.push_back(p.key + ": interface " + iface + " was made again; " +
                  (err.empty() ? "port reopened" : "reopen failed (" + err + "), retrying"));
    seen_.erase(p.key);
  }
  for (const PortPlan& p : a.lost()) {
    const std::string iface = af_packet_iface(p.devargs);
    if (iface.empty() || index_of_(iface.c_str()) == 0) continue;
    const std::string err = a.reopen(p.key);
    if (err.empty()) log.push_back(p.key + ": interface " + iface + " is back; port reopened");
  }
  return log;
}

}  // namespace gp
