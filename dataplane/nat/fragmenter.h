// Egress fragmentation for routed packets (the NAT today; the MTU rules of the L2 path
// may use it too). RFC 791 with rte_ip_frag: the IP header is copied into a new mbuf
// for each fragment, the payload is attached (indirect mbufs from the packet's own
// pool). A fragment that fits one mbuf is made contiguous again so that every PMD can
// send it; a larger one (an egress MTU above the data room) leaves as a chain, which
// the ports that carry such MTUs (vhost-user, tap, af_packet, rings) send whole. A
// fragment with DF clear is fragmented again, its offset and MF kept.
// Called by the worker that owns the packet; noexcept, allocates only mbufs.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/core/worker_context.h"

namespace gp {

// Stages the fragments of m (Ethernet + IPv4, DF clear) for `port`, each at most `mtu`
// bytes of IP, and frees m. Fragments that cannot be made are dropped and counted
// (nat_too_big); those staged are counted as nat_fragments_made. Drop::kCount when done;
// else, with m as it came (the caller drops it and counts the reason), why m could not
// be fragmented at all: no_mbuf when the pool had too few, else nat_too_big.
Drop fragment_and_stage(WorkerContext& ctx, rte_mbuf* m, uint16_t port, uint16_t mtu) noexcept;

}  // namespace gp
