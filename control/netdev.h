// Kernel interface helpers for the host side of host-only networks (control path).
#pragma once

#include <string>

#include "control/config.h"

namespace gp {

// Sets an IPv4 address on a kernel interface and brings it up. Returns "" or an error.
std::string set_interface_ipv4(const std::string& iface, const Ipv4Cidr& addr);

}  // namespace gp
