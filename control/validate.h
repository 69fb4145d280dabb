// Cross-reference checks on a parsed Config: networks an adapter names exist and have
// the right mode, uplinks exist, MACs and port devices are unique, limits hold. Also
// completes the model: implicit internal/bridged networks, default MACs (VirtualBox's
// 08:00:27 prefix, stable per VM and slot), default host interfaces.
#pragma once

#include <vector>

#include "control/config.h"

namespace gp {

// Appends one Diagnostic per problem; the config is usable only if none was added.
void validate_config(Config& c, std::vector<Diagnostic>& errors);

// 08:00:27:xx:xx:xx derived from the VM name and adapter slot.
rte_ether_addr default_mac(const std::string& vm, unsigned slot);

}  // namespace gp
