// DPDK telemetry commands under /guestport/, so that dpdk-telemetry.py (given the
// daemon's file prefix) lists and answers them beside DPDK's own /ethdev/... ones:
//   /guestport/stats          snapshot version, applies, MAC table, NAT sessions
//   /guestport/ports          port name -> DPDK port id
//   /guestport/port,NAME      one port's counters and its drops by reason
//   /guestport/drops          drops by reason, summed over every port
//   /guestport/networks       network -> number of ports
// rte_telemetry calls them on its own thread; each asks the control thread (JobQueue)
// and waits at most a second. rte_telemetry has no unregister: after
// unregister_telemetry() the commands answer with an error.
#pragma once

#include "control/control_socket.h"

namespace gp {

void register_telemetry(JobQueue* jobs);
void unregister_telemetry();

}  // namespace gp
