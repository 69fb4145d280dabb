// Per-lcore counters: one writer (the owning worker), any number of readers (the
// control thread sums them for `show ports`, telemetry and metrics).
//
// Ordering: every counter is a std::atomic<uint64_t> written with relaxed load+store
// by its single owner (a plain add in the generated code, no lock prefix) and read
// with relaxed loads by the control thread. Totals are therefore eventually consistent,
// which is all a counter needs; no counter is used for synchronisation.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "dataplane/core/types.h"

namespace gp {

class RelaxedCounter {
 public:
  void add(uint64_t n) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }
  void set(uint64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }  // gauges

 private:
  std::atomic<uint64_t> v_{0};
};

// Why a frame was dropped. Every drop in the dataplane names one of these.
enum class Drop : uint8_t {
  kRunt = 0,         // shorter than an Ethernet header
  kBadSrcMac,        // source MAC is multicast/broadcast or all zero
  kOversize,         // longer than the ingress adapter's MTU allows
  kNicModelMtu,      // a jumbo frame to or from an adapter whose NIC model carries none there
  kLinkDown,         // ingress or the only egress adapter is not attached / cable out
  kNoSegment,        // ingress port is not part of any segment in the running config
  kSamePort,         // destination was learned on the ingress port itself
  kPolicy,           // the only destination's promiscuous policy refuses the frame
  kNoDestination,    // flooded, but no other member of the segment may take it
  kTxFull,           // the egress queue did not take the frame
  kTxNoQueue,        // the egress port has no tx queue enabled (a guest not up yet)
  kPuntRingFull,     // for the slow path, but its ring was full
  kPuntRateLimited,  // for the slow path, over the adapter's rate (Snapshot::punt_pps)
  // NAT (dataplane/nat/nat_stage.cc)
  kNatNotIp,            // not IPv4 (and not ARP) on a NAT inside or uplink
  kNatNotForUs,         // on the uplink, not addressed to the outside address
  kNatInsideDst,        // from the guest to its own network (not the gateway or DNS)
  kNatFragment,         // a later fragment whose first fragment this worker has not seen
  kNatMalformed,        // no complete L4 header
  kNatUnsupported,      // a protocol or ICMP type the NAT does not translate
  kNatTtl,              // TTL would reach 0
  kNatTooBig,           // larger than the uplink's MTU
  kNatNoNeighbor,       // the uplink's gateway MAC is not resolved yet
  kNatNoUpstreamDns,    // a DNS query to .3 but the uplink has no resolvers
  kNatUnsolicited,      // inbound, no session, not allowed by filtering or a port forward
  kNatTableFull,        // new session refused: this worker's table is full
  kNatVmLimit,          // new session refused: the VM's share is used up
  kNatPortsExhausted,   // new session refused: no outside port left in the range
  kNatHandoffFull,      // for another worker, but the handoff ring was full
  kNatGuestUnresolved,  // a port forward's guest_ip has not answered the router's ARP
  kNatErrorNoSession,   // an ICMP error from a guest about no flow the NAT knows
  kNatDnsMalformed,     // to the DNS proxy over UDP, but not a DNS query
  kNatGroupDst,         // from a guest to a multicast or broadcast address: not routed
  kNatConflict,         // new session refused: its keys belong to another session
  kNatStale,            // a session of a router or port forward a re-apply removed
  // Filters (dataplane/filter/filter_stage.cc)
  kSpoofedMac,      // port security: the source MAC is not the adapter's
  kSpoofedIp,       // port security: an IPv4 or ARP source the adapter may not use
  kAclDeny,         // an ACL rule said deny (per-rule counts: show acl)
  kFilterUnparsed,  // IPv4 whose header is not whole in the first segment, on a filtered port
  kMacLimit,        // from a source MAC not learned because its adapter holds mac_limit
  // VLANs (dataplane/l2/vlan_stage.cc)
  kVlanForeign,   // tagged with a VLAN the adapter does not carry (or tagged on an access port)
  kVlanUntagged,  // untagged, on a trunk configured with untagged: drop
  kVlanNoMbuf,    // no mbuf for the tagged copy a flood to trunks needs
  // Service guard (dataplane/services/punt_stage.cc), on segments the appliance serves
  kDhcpSpoof,  // a guest sent a DHCP server message (UDP to port 68) and is not dhcp_trusted
  kArpSpoof,   // a guest's ARP claims a service address (gateway, DNS proxy, DHCP server)
  kNoMbuf,     // fragmenting needed mbufs and the pool had none (the pool is exhausted)
  // Tunnels (dataplane/tunnel/): on the uplink (decap) and on tunnel ports (encap)
  kTunnelMalformed,      // to a tunnel's UDP port, but cut short, bad flags or bad checksum
  kTunnelUnknownVni,     // a VXLAN network identifier no generic network on the uplink has
  kTunnelUnknownRemote,  // from an endpoint that is not among the network's remotes
  kTunnelNoNeighbor,     // the remote's (or the uplink gateway's) MAC is not resolved yet
  kTunnelTooBig,         // encapsulated, larger than the uplink's MTU (not fragmented)
  kCount
};
inline constexpr size_t kDropCount = static_cast<size_t>(Drop::kCount);
inline constexpr std::array<std::string_view, kDropCount> kDropNames = {
    "runt",
    "bad_src_mac",
    "oversize",
    "nic_model_mtu",
    "link_down",
    "no_segment",
    "same_port",
    "policy",
    "no_destination",
    "tx_full",
    "tx_no_queue",
    "punt_ring_full",
    "punt_rate_limited",
    "nat_not_ip",
    "nat_not_for_us",
    "nat_inside_dst",
    "nat_fragment",
    "nat_malformed",
    "nat_unsupported",
    "nat_ttl",
    "nat_too_big",
    "nat_no_neighbor",
    "nat_no_upstream_dns",
    "nat_unsolicited",
    "nat_table_full",
    "nat_vm_limit",
    "nat_ports_exhausted",
    "nat_handoff_full",
    "nat_guest_unresolved",
    "nat_error_no_session",
    "nat_dns_malformed",
    "nat_group_dst",
    "nat_conflict",
    "nat_stale",
    "spoofed_mac",
    "spoofed_ip",
    "acl_deny",
    "filter_unparsed",
    "mac_limit",
    "vlan_foreign",
    "vlan_untagged",
    "vlan_no_mbuf",
    "dhcp_spoof",
    "arp_spoof",
    "no_mbuf",
    "tunnel_malformed",
    "tunnel_unknown_vni",
    "tunnel_unknown_remote",
    "tunnel_no_neighbor",
    "tunnel_too_big",
};
static_assert(!kDropNames.back().empty(), "every Drop needs a name");

// Worker-wide events that are not tied to a port.
enum class WorkerEvent : uint8_t {
  kLearnQueued = 0,   // learn event handed to the MAC learner
  kLearnRingFull,     // learn event lost: ring full (frame itself still forwarded)
  kFloods,            // frames flooded (broadcast, multicast, unknown unicast)
  kSnoopCopies,       // extra copies for promiscuous adapters
  kPunted,            // frames handed to the slow path (ARP, DHCP for the appliance)
  kInjected,          // frames from the slow path sent by this worker
  kInjectDropped,     // frames from the slow path for a port not in the snapshot
  kNatCreated,        // NAT sessions created
  kNatExpired,        // NAT sessions expired
  kNatHandoffs,       // packets handed to the worker that owns their NAT session
  kNatTranslated,     // packets translated
  kNatHairpinned,     // packets from a guest to our outside address, turned around
  kNatFragmentsMade,  // fragments sent for packets larger than the egress MTU (DF clear)
  kNatRstIgnored,     // TCP RST outside the receiver's window: forwarded, session kept
  kTxRedirected,      // frames handed to the worker whose tx queue the port has
  kNatSwept,          // sessions removed after a re-apply took their router or forward
  kShapedPolls,       // a port not polled: its bandwidth group had no tokens left
  kTunnelDecap,       // frames taken out of a tunnel
  kTunnelEncap,       // frames put into a tunnel (each remote's copy counts)
  kCount
};
inline constexpr size_t kWorkerEventCount = static_cast<size_t>(WorkerEvent::kCount);
inline constexpr std::array<std::string_view, kWorkerEventCount> kWorkerEventNames = {
    "learn_queued",       "learn_ring_full", "floods",
    "snoop_copies",       "punted",          "injected",
    "inject_dropped",     "nat_created",     "nat_expired",
    "nat_handoffs",       "nat_translated",  "nat_hairpinned",
    "nat_fragments_made", "nat_rst_ignored", "tx_redirected",
    "nat_swept",          "shaped_polls",    "tunnel_decap",
    "tunnel_encap"};
static_assert(!kWorkerEventNames.back().empty(), "every WorkerEvent needs a name");

struct alignas(64) PortCounters {
  RelaxedCounter rx_packets, rx_bytes, tx_packets, tx_bytes;
  std::array<RelaxedCounter, kDropCount> drops;

  void drop(Drop d, uint64_t n = 1) noexcept { drops[static_cast<size_t>(d)].add(n); }
};

struct alignas(64) WorkerCounters {
  std::array<PortCounters, kMaxPorts> ports;
  std::array<RelaxedCounter, kWorkerEventCount> events;
  RelaxedCounter loops;
  // TSC cycles spent in poll loops that moved packets (busy) and in empty ones (idle).
  RelaxedCounter busy_tsc, idle_tsc;
  RelaxedCounter nat_sessions;  // gauge: sessions in this worker's NAT table

  void event(WorkerEvent e, uint64_t n = 1) noexcept { events[static_cast<size_t>(e)].add(n); }
};

// A plain sum, built by the control thread from every worker's counters.
struct PortTotals {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  std::array<uint64_t, kDropCount> drops{};
  uint64_t drops_total() const noexcept {
    uint64_t t = 0;
    for (uint64_t d : drops) t += d;
    return t;
  }
  // What was counted since `base` (a port id reused by a new port starts from zero).
  PortTotals since(const PortTotals& base) const noexcept {
    PortTotals t;
    t.rx_packets = rx_packets - base.rx_packets;
    t.rx_bytes = rx_bytes - base.rx_bytes;
    t.tx_packets = tx_packets - base.tx_packets;
    t.tx_bytes = tx_bytes - base.tx_bytes;
    for (size_t d = 0; d < kDropCount; ++d) t.drops[d] = drops[d] - base.drops[d];
    return t;
  }
};

}  // namespace gp

namespace gp {

// Control thread: sums one port's counters over every worker.
template <typename Range>
PortTotals sum_port(const Range& workers, uint16_t port) {
  PortTotals t;
  for (const WorkerCounters* w : workers) {
    const PortCounters& c = w->ports[port];
    t.rx_packets += c.rx_packets.get();
    t.rx_bytes += c.rx_bytes.get();
    t.tx_packets += c.tx_packets.get();
    t.tx_bytes += c.tx_bytes.get();
    for (size_t d = 0; d < kDropCount; ++d) t.drops[d] += c.drops[d].get();
  }
  return t;
}

}  // namespace gp
