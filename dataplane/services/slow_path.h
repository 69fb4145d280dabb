// The slow path: runs on the control thread, takes frames the workers punted (ARP for
// a service address, DHCP to a segment's server, pings), answers them, and hands the replies
// back to the same worker's inject ring, which sends them on its own tx queue. Owns the
// DHCP servers (leases) of every segment, matched by segment name across snapshots.
//
// Threads: control thread only. Each punt ring has one producer (its worker) and this
// consumer; each inject ring has this producer and its worker as consumer.
#pragma once

#include <rte_arp.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dataplane/core/snapshot.h"
#include "dataplane/filter/port_leases.h"
#include "dataplane/nat/neighbors.h"
#include "dataplane/services/dhcp_server.h"

namespace gp {

struct SlowPathStats {
  uint64_t arp_replies = 0;
  uint64_t arp_requests = 0;  // sent to resolve uplink gateways
  uint64_t icmp_replies = 0;
  uint64_t frag_needed_sent = 0;    // ICMP "fragmentation needed" to NAT guests
  uint64_t frag_needed_out = 0;     // ... to outside senders (DF, over the guest's MTU)
  uint64_t time_exceeded_sent = 0;  // ICMP "time exceeded" to NAT guests
  uint64_t gateways_learned = 0;
  uint64_t inside_learned = 0;     // NAT inside hosts learned or moved (port forward targets)
  uint64_t inside_probes = 0;      // ARP requests from NAT routers for port forward guests
  uint64_t onlink_unresolved = 0;  // NAT packets dropped while an on-link host is asked for
  uint64_t dhcp_replies = 0;
  uint64_t dns_servfail = 0;  // DNS proxy answers of its own (no upstream resolver)
  uint64_t dhcp_silent = 0;   // requests answered with nothing (RFC 2131), or not ours
  uint64_t malformed = 0;     // punted frames that did not parse
  uint64_t inject_full = 0;   // replies lost: the worker's inject ring was full
};

class SlowPath {
 public:
  // neighbors: where uplink gateway MACs are published; pool: for ARP requests.
  SlowPath(Neighbors* neighbors = nullptr, rte_mempool* pool = nullptr)
      : neighbors_(neighbors), pool_(pool) {}
  void add_worker(rte_ring* punt, rte_ring* inject) { workers_.push_back({punt, inject}); }
  // Where DHCP leases are recorded per port for port security (null: nowhere).
  void set_leases(PortLeases* leases) { leases_ = leases; }
  // Handles what is punted, at most a burst (32) from each worker's ring a call; returns
  // how many frames it took. backlog(): the last call left frames in a ring (the caller
  // comes back without waiting).
  unsigned run(const Snapshot& snap, uint64_t now_s) noexcept;
  bool backlog() const noexcept { return backlog_; }

  const std::map<std::string, dhcp::Server>& dhcp_servers() const { return dhcp_; }
  const SlowPathStats& stats() const { return stats_; }

 private:
  bool backlog_ = false;
  struct Rings {
    rte_ring* punt;
    rte_ring* inject;
  };
  void sync(const Snapshot& snap);
  bool answer(const Snapshot& snap, rte_mbuf* m, uint64_t now_s);
  bool answer_arp(const Snapshot& snap, uint16_t seg_id, rte_mbuf* m, uint64_t now_s);
  // NAT routers' inside hosts: learned from their ARP, probed for port forwards, aged.
  void learn_inside(const Snapshot& snap, uint16_t seg_id, const rte_arp_hdr& a, uint16_t port,
                    uint64_t now_s);
  void resolve_forward_guests(const Snapshot& snap, uint64_t now_s);
  void age_inside(uint64_t now_s);
  rte_mbuf* arp_request(const rte_ether_addr& from_mac, rte_be32_t from_ip, rte_be32_t asked,
                        uint16_t port);
  bool answer_uplink(const Snapshot& snap, uint16_t port, rte_mbuf* m, uint64_t now_s);
  // A NAT packet for an on-link host of the uplink whose MAC is unknown: ask (ARP, at most
  // once a second per host); the packet itself is dropped.
  void resolve_onlink(const Snapshot& snap, uint16_t seg_id, const rte_mbuf* m, uint64_t now_s);
  bool answer_echo(rte_mbuf* m, const rte_ether_addr& our_mac);
  // Turns a guest's packet into an ICMP error from its NAT gateway, in place.
  bool icmp_error(rte_mbuf* m, const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                  rte_be32_t src_ip, uint8_t type, uint8_t code, uint16_t next_hop_mtu);
  bool icmp_error_to_outside(const Snapshot& snap, rte_mbuf* m, uint16_t mtu);
  bool icmp_error_to_guest(const Snapshot& snap, rte_mbuf* m, uint8_t type, uint8_t code,
                           uint16_t next_hop_mtu);
  void resolve_gateways(const Snapshot& snap, uint64_t now_s);
  // The MACs of tunnel remotes on an uplink's own subnet: asked for before any frame
  // needs them, and kept fresh while the tunnel exists (others go via the gateway).
  void resolve_tunnel_remotes(const Snapshot& snap, uint64_t now_s);
  void inject(rte_mbuf* m);
  bool answer_dhcp(const Segment& seg, dhcp::Server& server, rte_mbuf* m, uint64_t now_s);
  // A UDP query to a NAT router's DNS proxy when the uplink has no resolver: SERVFAIL.
  bool answer_dns_servfail(const Segment& seg, rte_mbuf* m);

  Neighbors* neighbors_;
  PortLeases* leases_ = nullptr;
  rte_mempool* pool_;
  std::array<uint64_t, kMaxPorts> arp_sent_s_{};    // when we last asked for a gateway
  std::array<rte_be32_t, kMaxPorts> gateway_of_{};  // the gateway a learned MAC belongs to
  std::vector<Rings> workers_;
  std::map<std::string, dhcp::Server> dhcp_;   // by segment name
  std::map<uint64_t, uint64_t> inside_seen_;   // (nat_id << 32 | ip) -> last heard, s
  std::map<uint64_t, uint64_t> inside_asked_;  // (nat_id << 32 | ip) -> last probe, s
  uint64_t inside_aged_s_ = 0;
  uint64_t synced_version_ = 0;
  SlowPathStats stats_;
};

}  // namespace gp
