// What a re-apply changes: the running Config against a new one, as the lines
// `guestportctl apply` prints ("modified adapter web1/1: mtu 1500 -> 9000") and the
// daemon logs. Pure function of two Configs; nothing here touches DPDK.
#pragma once

#include <string>
#include <vector>

#include "control/config.h"

namespace gp {

struct ConfigChange {
  enum class Kind { kAdded, kRemoved, kModified };
  Kind kind = Kind::kModified;
  std::string what;               // "uplink wan", "network lab", "vm web1", "adapter web1/1",
                                  // "port_forward lab/ssh", "appliance"
  std::string detail;             // modified: "field old -> new, ..."; added/removed: a summary
  std::string to_string() const;  // "modified adapter web1/1: mtu 1500 -> 9000"
};

// old: null for a start from empty (everything is added).
std::vector<ConfigChange> diff_configs(const Config* old, const Config& next);

// Settings of `appliance` that size what exists from start to exit (workers, memory,
// tables, sockets): a re-apply that changes one is refused with the field's location.
std::vector<Diagnostic> restart_only_changes(const Config& old, const Config& next);

}  // namespace gp
