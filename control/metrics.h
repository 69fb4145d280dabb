// Prometheus metrics at appliance.metrics (default 127.0.0.1:9464, path /metrics),
// served by prometheus-cpp's pull exposer on its own thread. A scrape asks the control
// thread (JobQueue) for one consistent set of numbers, summed from the per-worker
// counters there (the fast path has no atomics or locks for statistics), and the
// library writes the text exposition format. Metric names start with guestport_.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/control_socket.h"
#include "control/views.h"

namespace prometheus {
class Exposer;
}

namespace gp {

// Control thread: every metric as {"families": [{name, help, type, samples: [{labels,
// value}]}]}. nat_capacity: each worker's NAT table size (empty: no NAT tables yet).
nlohmann::json metrics_snapshot(const RuntimeView& v, const std::vector<uint32_t>& nat_capacity);

class MetricsServer {
 public:
  MetricsServer();
  ~MetricsServer();
  // Listens on "ADDRESS:PORT"; "" or why not (the port is taken, ...).
  std::string start(const std::string& address, JobQueue* jobs);
  void stop();

 private:
  struct Collector;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace gp
