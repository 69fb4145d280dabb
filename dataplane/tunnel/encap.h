// Fast path: transmit on a tunnel port. What the L2 stage staged for a remote endpoint
// of a generic network gets its outer headers (Ethernet to the remote's or the uplink
// gateway's MAC, IPv4 from the uplink's address, UDP, and for VXLAN the 8-byte header
// with the network's VNI: RFC 7348 section 5) and is staged on the uplink. A frame that
// only this queue holds is prefixed in place; a flooded frame that other ports share
// gets a header mbuf of its own chained in front, so the copies never see each other's
// headers (head-end replication costs one small mbuf per remote, no copy of the frame).
// The outer UDP source port is a hash of the inner flow (RFC 7348: entropy for ECMP);
// the outer IPv4 checksum is always computed, the UDP checksum only where configured
// (zero is what RFC 7348 asks for over IPv4, and what Linux sends by default).
//
// Threads: the worker that owns ctx (it is WorkerContext::tunnel_tx).
#pragma once

#include <rte_mbuf.h>

#include "dataplane/core/snapshot.h"
#include "dataplane/core/worker_context.h"

namespace gp {

void tunnel_tx(WorkerContext& ctx, uint16_t port) noexcept;

// The outer UDP source port for an inner frame: 49152..65535 from a hash of its MACs,
// and for IPv4 its addresses and TCP/UDP ports (the first segment is all it reads).
uint16_t tunnel_source_port(const rte_mbuf* m) noexcept;

}  // namespace gp
