// Slow path: see slow_path.h. Frames are re-validated here (they come from guests) and
// answered in place: the punted mbuf becomes the reply, so nothing is allocated.
#include "dataplane/services/slow_path.h"

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstring>

#include "dataplane/core/mbuf_chain.h"
#include "dataplane/core/worker_context.h"
#include "dataplane/services/dns_message.h"

namespace gp {

namespace {
constexpr uint8_t kIpTtl = 64;

struct UdpView {
  const uint8_t* payload;
  size_t len;
};

// Ethernet / IPv4 / UDP in the first segment, lengths checked.
bool udp_payload(const rte_mbuf* m, UdpView& out) {
  const uint32_t dl = rte_pktmbuf_data_len(m);
  if (dl < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) return false;
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
  const uint32_t ihl = rte_ipv4_hdr_len(ip);
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  if (ip->next_proto_id != IPPROTO_UDP || ihl < 20 || total < ihl + sizeof(rte_udp_hdr) ||
      sizeof(rte_ether_hdr) + total > dl)
    return false;
  const auto* u = reinterpret_cast<const rte_udp_hdr*>(reinterpret_cast<const uint8_t*>(ip) + ihl);
  const uint32_t ulen = rte_be_to_cpu_16(u->dgram_len);
  if (ulen < sizeof(rte_udp_hdr) || ulen > total - ihl) return false;
  out.payload = reinterpret_cast<const uint8_t*>(u + 1);
  out.len = ulen - sizeof(rte_udp_hdr);
  return true;
}
}  // namespace

void SlowPath::sync(const Snapshot& snap) {
  std::map<std::string, dhcp::Server> next;
  for (size_t i = 0; i < snap.segments.size() && i < snap.dhcp.size(); ++i) {
    if (!snap.dhcp[i]) continue;
    const std::string& name = snap.segment_names[i];
    auto it = dhcp_.find(name);
    if (it != dhcp_.end()) {
      it->second.reconfigure(*snap.dhcp[i]);
      next.emplace(name, std::move(it->second));
    } else {
      next.emplace(name, dhcp::Server(*snap.dhcp[i]));
    }
  }
  dhcp_ = std::move(next);
  // A router that is gone or changed has a nat_id no segment carries any more: forget
  // its inside hosts. Those of routers the apply left alone stay learned.
  std::vector<bool> live(65536, false);
  for (const NatSegment& ns : snap.nat)
    if (ns.nat_id != 0) live[ns.nat_id] = true;
  for (uint16_t port = 0; port < kMaxPorts; ++port)
    if (snap.uplink_nat[port].enabled) live[Neighbors::onlink_scope(port)] = true;
  for (auto it = inside_seen_.begin(); it != inside_seen_.end();) {
    const auto nat_id = static_cast<uint16_t>(it->first >> 32);
    if (live[nat_id]) {
      ++it;
      continue;
    }
    if (neighbors_ != nullptr)
      neighbors_->forget_inside(nat_id, static_cast<rte_be32_t>(it->first));
    inside_asked_.erase(it->first);
    it = inside_seen_.erase(it);
  }
  synced_version_ = snap.version;
}

void SlowPath::inject(rte_mbuf* m) {
  if (workers_.empty() || rte_ring_sp_enqueue(workers_[0].inject, m) != 0) {
    ++stats_.inject_full;
    rte_pktmbuf_free(m);
  }
}

// ARP for each NAT uplink's gateway: every second until it answers, then every 30 s
// (the answer refreshes the MAC; a changed MAC is taken from any ARP the gateway sends).
void SlowPath::resolve_gateways(const Snapshot& snap, uint64_t now_s) {
  if (neighbors_ == nullptr) return;
  for (uint16_t port : snap.rx_ports) {
    const UplinkNat& up = snap.uplink_nat[port];
    if (!up.enabled || up.gateway == 0 || snap.ports[port].segment < snap.segments.size()) continue;
    rte_ether_addr known;
    if (up.static_gateway) {  // gateway_mac: set, never asked for
      if (!neighbors_->next_hop(port, &known) || !mac_equal(known, up.gateway_mac) ||
          gateway_of_[port] != up.gateway) {
        neighbors_->set_next_hop(port, up.gateway_mac);
        gateway_of_[port] = up.gateway;
      }
      continue;
    }
    if (pool_ == nullptr) continue;  // a slow path that sends nothing of its own (tests)
    const bool resolved = neighbors_->next_hop(port, &known) && gateway_of_[port] == up.gateway;
    if (!resolved && gateway_of_[port] != up.gateway) neighbors_->clear_next_hop(port);
    const uint64_t every = resolved ? 30 : 1;
    if (arp_sent_s_[port] != 0 && now_s < arp_sent_s_[port] + every) continue;
    arp_sent_s_[port] = now_s == 0 ? 1 : now_s;
    rte_mbuf* m = arp_request(neighbors_->own_mac(port), up.address, up.gateway, port);
    if (m == nullptr) continue;
    ++stats_.arp_requests;
    inject(m);
  }
}

rte_mbuf* SlowPath::arp_request(const rte_ether_addr& from_mac, rte_be32_t from_ip,
                                rte_be32_t asked, uint16_t port) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) return nullptr;
  auto* eh = reinterpret_cast<rte_ether_hdr*>(
      rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
  std::memset(eh->dst_addr.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
  eh->src_addr = from_mac;
  eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* a = reinterpret_cast<rte_arp_hdr*>(eh + 1);
  a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  a->arp_hlen = RTE_ETHER_ADDR_LEN;
  a->arp_plen = 4;
  a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  a->arp_data.arp_sha = from_mac;
  a->arp_data.arp_sip = from_ip;
  std::memset(a->arp_data.arp_tha.addr_bytes, 0, RTE_ETHER_ADDR_LEN);
  a->arp_data.arp_tip = asked;
  m->port = port;
  return m;
}

namespace {
uint64_t inside_key(uint16_t nat_id, rte_be32_t ip) { return (uint64_t{nat_id} << 32) | ip; }
constexpr uint64_t kInsideAgeS = 1200;  // forget a host not heard from for 20 minutes
}  // namespace

void SlowPath::learn_inside(const Snapshot& snap, uint16_t seg_id, const rte_arp_hdr& a,
                            uint16_t port, uint64_t now_s) {
  if (neighbors_ == nullptr || snap.segments[seg_id].kind != SegmentKind::kNat) return;
  const NatSegment& ns = snap.nat[seg_id];
  const rte_be32_t ip = a.arp_data.arp_sip;
  const rte_ether_addr mac = a.arp_data.arp_sha;
  if ((ip & ns.netmask) != ns.network || ip == ns.network || ip == (ns.network | ~ns.netmask) ||
      rte_is_multicast_ether_addr(&mac) || rte_is_zero_ether_addr(&mac))
    return;  // probes (0.0.0.0), foreign addresses, nonsense MACs
  for (uint8_t i = 0; i < snap.segments[seg_id].n_service_ips; ++i)
    if (snap.segments[seg_id].service_ips[i] == ip) return;  // someone claims ours
  if (neighbors_->learn_inside(ns.nat_id, ip, mac, port)) ++stats_.inside_learned;
  inside_seen_[inside_key(ns.nat_id, ip)] = now_s;
}

// Every port forward's guest is asked for by ARP: each second until it answers, then
// every 30 s, so an inbound connection finds it (a NAT network's guests are many).
void SlowPath::resolve_forward_guests(const Snapshot& snap, uint64_t now_s) {
  if (neighbors_ == nullptr || pool_ == nullptr) return;
  for (const PortForwardRule& r : snap.port_forwards) {
    if (r.segment >= snap.segments.size()) continue;
    const Segment& seg = snap.segments[r.segment];
    const NatSegment& ns = snap.nat[r.segment];
    const uint64_t key = inside_key(ns.nat_id, r.guest_ip);
    auto seen = inside_seen_.find(key);
    const bool fresh = seen != inside_seen_.end() && now_s < seen->second + 60;
    uint64_t& asked = inside_asked_[key];
    if (asked != 0 && now_s < asked + (fresh ? 30 : 1)) continue;
    asked = now_s == 0 ? 1 : now_s;
    for (uint16_t i = 0; i < seg.n_members; ++i) {
      if (!snap.ports[seg.members[i]].link_up) continue;
      rte_mbuf* m = arp_request(seg.service_mac, ns.gateway, r.guest_ip, seg.members[i]);
      if (m == nullptr) break;
      ++stats_.inside_probes;
      inject(m);
    }
  }
}

void SlowPath::age_inside(uint64_t now_s) {
  if (neighbors_ == nullptr || now_s < inside_aged_s_ + 10) return;
  inside_aged_s_ = now_s;
  for (auto it = inside_asked_.begin(); it != inside_asked_.end();) {
    // Questions nobody answered: forgotten after a while, so the map stays small.
    if (now_s >= it->second + 60 && !inside_seen_.count(it->first))
      it = inside_asked_.erase(it);
    else
      ++it;
  }
  for (auto it = inside_seen_.begin(); it != inside_seen_.end();) {
    if (now_s < it->second + kInsideAgeS) {
      ++it;
      continue;
    }
    neighbors_->forget_inside(static_cast<uint16_t>(it->first >> 32),
                              static_cast<rte_be32_t>(it->first));
    inside_asked_.erase(it->first);
    it = inside_seen_.erase(it);
  }
}

void SlowPath::resolve_onlink(const Snapshot& snap, uint16_t seg_id, const rte_mbuf* m,
                              uint64_t now_s) {
  if (neighbors_ == nullptr || pool_ == nullptr ||
      snap.segments[seg_id].kind != SegmentKind::kNat ||
      rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr))
    return;
  const uint16_t uplink = snap.nat[seg_id].uplink_port;
  const UplinkNat& up = snap.uplink_nat[uplink];
  const rte_be32_t ip =
      rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr))->dst_addr;
  if ((ip & up.netmask) != (up.address & up.netmask)) return;
  uint64_t& asked = inside_asked_[(uint64_t{Neighbors::onlink_scope(uplink)} << 32) | ip];
  if (asked != 0 && now_s < asked + 1) return;
  asked = now_s == 0 ? 1 : now_s;
  rte_mbuf* req = arp_request(neighbors_->own_mac(uplink), up.address, ip, uplink);
  if (req == nullptr) return;
  ++stats_.arp_requests;
  inject(req);
}

void SlowPath::resolve_tunnel_remotes(const Snapshot& snap, uint64_t now_s) {
  if (neighbors_ == nullptr || pool_ == nullptr) return;
  for (uint16_t vp : snap.tunnel_ports) {
    const TunnelPort& t = snap.tunnels[vp - kMaxEthPorts];
    if (t.uplink_port >= kMaxEthPorts) continue;
    const UplinkNat& up = snap.uplink_nat[t.uplink_port];
    if (!up.enabled || (t.remote & up.netmask) != (up.address & up.netmask) ||
        t.remote == up.gateway)
      continue;
    // Asked every second until it answers, then every kInsideAgeS / 4 so that the
    // entry never ages out while the tunnel exists (its answer refreshes it).
    const uint64_t key = (uint64_t{Neighbors::onlink_scope(t.uplink_port)} << 32) | t.remote;
    rte_ether_addr known;
    const bool resolved = neighbors_->onlink(t.uplink_port, t.remote, &known);
    uint64_t& asked = inside_asked_[key];
    if (asked != 0 && now_s < asked + (resolved ? kInsideAgeS / 4 : 1)) continue;
    asked = now_s == 0 ? 1 : now_s;
    rte_mbuf* req =
        arp_request(neighbors_->own_mac(t.uplink_port), up.address, t.remote, t.uplink_port);
    if (req == nullptr) continue;
    ++stats_.arp_requests;
    inject(req);
  }
}

unsigned SlowPath::run(const Snapshot& snap, uint64_t now_s) noexcept {
  if (snap.version != synced_version_) sync(snap);
  resolve_gateways(snap, now_s);
  resolve_tunnel_remotes(snap, now_s);
  resolve_forward_guests(snap, now_s);
  age_inside(now_s);
  unsigned taken = 0;
  rte_mbuf* pkts[32];
  backlog_ = false;
  for (Rings& w : workers_) {
    unsigned left = 0;
    unsigned n = rte_ring_sc_dequeue_burst(w.punt, reinterpret_cast<void**>(pkts), 32, &left);
    taken += n;
    if (left != 0) backlog_ = true;
    for (unsigned i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      if (!answer(snap, m, now_s)) {
        rte_pktmbuf_free(m);
        continue;
      }
      if (rte_ring_sp_enqueue(w.inject, m) != 0) {
        ++stats_.inject_full;
        rte_pktmbuf_free(m);
      }
    }
  }
  return taken;
}

bool SlowPath::answer(const Snapshot& snap, rte_mbuf* m, uint64_t now_s) {
  const uint16_t port = m->port;
  if (port >= kMaxPorts) return false;
  if (!mbuf_exclusive(m)) return ++stats_.malformed, false;  // answers are built in place
  if ((m->hash.usr & 0xffff) == kPuntNeedsFragOut) {
    if (!icmp_error_to_outside(snap, m, static_cast<uint16_t>(m->hash.usr >> 16))) return false;
    ++stats_.frag_needed_out;
    return true;
  }
  if (snap.ports[port].segment >= snap.segments.size())
    return snap.uplink_nat[port].enabled && answer_uplink(snap, port, m, now_s);
  const uint16_t seg_id = snap.ports[port].segment;
  const Segment& seg = snap.segments[seg_id];
  // The NAT stage's reasons come from a NAT router's inside only; a frame that claims
  // one from elsewhere is not trusted with the router's tables.
  if (m->hash.usr != kPuntAnswer && (seg.kind != SegmentKind::kNat || seg_id >= snap.nat.size() ||
                                     snap.nat[seg_id].uplink_port >= kMaxPorts))
    return ++stats_.malformed, false;
  if (m->hash.usr == kPuntNeedsFrag) {
    const uint16_t mtu = snap.uplink_nat[snap.nat[seg_id].uplink_port].mtu;
    if (!icmp_error_to_guest(snap, m, 3, 4, mtu)) return false;  // dest unreachable, DF
    ++stats_.frag_needed_sent;
    return true;
  }
  if (m->hash.usr == kPuntResolve) {
    resolve_onlink(snap, seg_id, m, now_s);
    ++stats_.onlink_unresolved;
    return false;
  }
  if (m->hash.usr == kPuntDnsNoUpstream) {
    if (!answer_dns_servfail(seg, m)) return false;
    ++stats_.dns_servfail;
    return true;
  }
  if (m->hash.usr == kPuntTtlExpired) {
    if (!icmp_error_to_guest(snap, m, 11, 0, 0)) return false;  // time exceeded in transit
    ++stats_.time_exceeded_sent;
    return true;
  }
  if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) return ++stats_.malformed, false;
  const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
    return answer_arp(snap, seg_id, m, now_s);
  if ((seg.services & kServiceGateway) && eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eh + 1);
    if (rte_pktmbuf_data_len(m) >= sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) &&
        ip->next_proto_id == IPPROTO_ICMP)
      return answer_echo(m, seg.service_mac);
  }
  auto it = dhcp_.find(snap.segment_names[seg_id]);
  if (it != dhcp_.end() && eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
    return answer_dhcp(seg, it->second, m, now_s);
  ++stats_.malformed;
  return false;
}

bool SlowPath::answer_arp(const Snapshot& snap, uint16_t seg_id, rte_mbuf* m, uint64_t now_s) {
  const Segment& seg = snap.segments[seg_id];
  if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr))
    return ++stats_.malformed, false;
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  auto* a = reinterpret_cast<rte_arp_hdr*>(eh + 1);
  if (a->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
      a->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
      a->arp_hlen != RTE_ETHER_ADDR_LEN || a->arp_plen != 4)
    return ++stats_.malformed, false;
  learn_inside(snap, seg_id, *a, m->port, now_s);
  if (a->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY)) return false;  // learned; no answer
  if (a->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) return ++stats_.malformed, false;
  const rte_be32_t asked = a->arp_data.arp_tip;
  bool ours = false;
  for (uint8_t i = 0; i < seg.n_service_ips; ++i) ours |= seg.service_ips[i] == asked;
  if (!ours) return ++stats_.malformed, false;
  a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
  a->arp_data.arp_tha = a->arp_data.arp_sha;
  a->arp_data.arp_tip = a->arp_data.arp_sip;
  a->arp_data.arp_sha = seg.service_mac;
  a->arp_data.arp_sip = asked;
  eh->dst_addr = a->arp_data.arp_tha;
  eh->src_addr = seg.service_mac;
  mbuf_trim_to(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr));  // any trailer or segments
  ++stats_.arp_replies;
  return true;
}

bool SlowPath::answer_uplink(const Snapshot& snap, uint16_t port, rte_mbuf* m, uint64_t now_s) {
  const UplinkNat& up = snap.uplink_nat[port];
  const rte_ether_addr mine = neighbors_ != nullptr ? neighbors_->own_mac(port) : rte_ether_addr{};
  if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) return ++stats_.malformed, false;
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return answer_echo(m, mine);
  if (eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) ||
      rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr))
    return ++stats_.malformed, false;
  auto* a = reinterpret_cast<rte_arp_hdr*>(eh + 1);
  // Whatever the gateway says about itself tells us its MAC.
  if (neighbors_ != nullptr && !up.static_gateway && a->arp_data.arp_sip == up.gateway &&
      !rte_is_multicast_ether_addr(&a->arp_data.arp_sha) &&
      !rte_is_zero_ether_addr(&a->arp_data.arp_sha)) {
    rte_ether_addr before;
    if (!neighbors_->next_hop(port, &before) || !mac_equal(before, a->arp_data.arp_sha) ||
        gateway_of_[port] != up.gateway) {
      neighbors_->set_next_hop(port, a->arp_data.arp_sha);
      gateway_of_[port] = up.gateway;
      ++stats_.gateways_learned;
    }
  }
  // A host of the uplink's subnet that speaks to us (asks for us, or answers our
  // question) is sent to directly from now on.
  const rte_be32_t sip = a->arp_data.arp_sip;
  if (neighbors_ != nullptr && a->arp_data.arp_tip == up.address && sip != 0 && sip != up.address &&
      sip != up.gateway && (sip & up.netmask) == (up.address & up.netmask) &&
      !rte_is_multicast_ether_addr(&a->arp_data.arp_sha) &&
      !rte_is_zero_ether_addr(&a->arp_data.arp_sha)) {
    const uint16_t scope = Neighbors::onlink_scope(port);
    if (neighbors_->learn_inside(scope, sip, a->arp_data.arp_sha, port)) ++stats_.inside_learned;
    inside_seen_[(uint64_t{scope} << 32) | sip] = now_s;
  }
  if (a->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) || a->arp_data.arp_tip != up.address)
    return false;  // not a question for us: nothing to send
  a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
  a->arp_data.arp_tha = a->arp_data.arp_sha;
  a->arp_data.arp_tip = a->arp_data.arp_sip;
  a->arp_data.arp_sha = mine;
  a->arp_data.arp_sip = up.address;
  eh->dst_addr = a->arp_data.arp_tha;
  eh->src_addr = mine;
  mbuf_trim_to(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr));
  ++stats_.arp_replies;
  return true;
}

// An ICMP echo request to one of our addresses (the punt stage checked the address):
// answered in place. The headers lie in the first segment; the payload may go on in
// more (a jumbo guest's large ping), and the checksum is taken over all of it.
bool SlowPath::answer_echo(rte_mbuf* m, const rte_ether_addr& our_mac) {
  const uint32_t dl = rte_pktmbuf_data_len(m);
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
  if (dl < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) return ++stats_.malformed, false;
  const uint32_t ihl = rte_ipv4_hdr_len(ip);
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  if (ihl < 20 || total < ihl + sizeof(rte_icmp_hdr) ||
      sizeof(rte_ether_hdr) + ihl + sizeof(rte_icmp_hdr) > dl ||
      sizeof(rte_ether_hdr) + total > rte_pktmbuf_pkt_len(m) ||
      (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)))
    return ++stats_.malformed, false;
  auto* ic = reinterpret_cast<rte_icmp_hdr*>(reinterpret_cast<uint8_t*>(ip) + ihl);
  if (ic->icmp_type != RTE_IP_ICMP_ECHO_REQUEST) return ++stats_.malformed, false;
  mbuf_trim_to(m, sizeof(rte_ether_hdr) + total);  // padding and spare segments go
  const rte_be32_t from = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = from;
  ip->time_to_live = 64;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
  ic->icmp_cksum = 0;
  uint16_t sum = 0;
  rte_raw_cksum_mbuf(m, sizeof(rte_ether_hdr) + ihl, total - ihl, &sum);
  ic->icmp_cksum = static_cast<uint16_t>(~sum);
  eh->dst_addr = eh->src_addr;
  eh->src_addr = our_mac;
  ++stats_.icmp_replies;
  return true;
}

// RFC 792 (and RFC 1191 for the next-hop MTU of type 3 code 4): an ICMP error built in
// the offending packet's own mbuf, quoting its IP header and 8 bytes of its payload.
bool SlowPath::icmp_error(rte_mbuf* m, const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                          rte_be32_t src_ip, uint8_t type, uint8_t code, uint16_t next_hop_mtu) {
  constexpr uint32_t kL3 = sizeof(rte_ether_hdr);
  if (rte_pktmbuf_data_len(m) < kL3 + sizeof(rte_ipv4_hdr)) return ++stats_.malformed, false;
  const auto* orig = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kL3);
  const uint32_t quote = rte_ipv4_hdr_len(orig) + 8;
  if (rte_pktmbuf_data_len(m) < kL3 + quote) return ++stats_.malformed, false;
  uint8_t saved[60 + 8];
  std::memcpy(saved, orig, quote);
  const rte_be32_t dst_ip = orig->src_addr;

  mbuf_reset_single(m);
  const uint32_t icmp_len = sizeof(rte_icmp_hdr) + quote;
  const uint32_t len = kL3 + sizeof(rte_ipv4_hdr) + icmp_len;
  auto* eh = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
  if (eh == nullptr) return ++stats_.malformed, false;
  eh->dst_addr = dst_mac;
  eh->src_addr = src_mac;
  eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
  std::memset(ip, 0, sizeof(*ip));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + icmp_len));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = src_ip;
  ip->dst_addr = dst_ip;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* ic = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  ic->icmp_type = type;
  ic->icmp_code = code;
  ic->icmp_ident = 0;                                // unused
  ic->icmp_seq_nb = rte_cpu_to_be_16(next_hop_mtu);  // RFC 1191; 0 for other errors
  std::memcpy(ic + 1, saved, quote);
  ic->icmp_cksum = 0;
  ic->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(ic, icmp_len));
  return true;
}

// From the NAT gateway to the guest that sent m.
bool SlowPath::icmp_error_to_guest(const Snapshot& snap, rte_mbuf* m, uint8_t type, uint8_t code,
                                   uint16_t next_hop_mtu) {
  const uint16_t seg_id = snap.ports[m->port].segment;
  if (snap.segments[seg_id].kind != SegmentKind::kNat) return ++stats_.malformed, false;
  if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) return ++stats_.malformed, false;
  const rte_ether_addr guest = rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr;
  return icmp_error(m, snap.segments[seg_id].service_mac, guest, snap.nat[seg_id].gateway, type,
                    code, next_hop_mtu);
}

// "Fragmentation needed" from the outside address to the outside sender of m (it came
// in on uplink m->port), through the uplink's next hop or to the sender directly when
// it is on the uplink's subnet.
bool SlowPath::icmp_error_to_outside(const Snapshot& snap, rte_mbuf* m, uint16_t mtu) {
  const uint16_t port = m->port;
  const UplinkNat& up = snap.uplink_nat[port];
  if (neighbors_ == nullptr || !up.enabled ||
      rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr))
    return ++stats_.malformed, false;
  const rte_be32_t sender =
      rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr))->src_addr;
  rte_ether_addr next_hop;
  uint16_t unused;
  const bool onlink = (sender & up.netmask) == (up.address & up.netmask) && sender != up.gateway;
  const bool known =
      onlink ? neighbors_->inside(Neighbors::onlink_scope(port), sender, &next_hop, &unused)
             : neighbors_->next_hop(port, &next_hop);
  if (!known) return false;  // nobody to send it through yet: dropped, like the packet
  return icmp_error(m, neighbors_->own_mac(port), next_hop, up.address, 3, 4, mtu);
}

bool SlowPath::answer_dhcp(const Segment& seg, dhcp::Server& server, rte_mbuf* m, uint64_t now_s) {
  UdpView u{};
  if (!udp_payload(m, u)) return ++stats_.malformed, false;
  auto req = dhcp::parse_request(u.payload, u.len);
  if (!req) return ++stats_.malformed, false;
  auto reply = server.handle(*req, now_s);
  if (!reply) return ++stats_.dhcp_silent, false;
  if (reply->giaddr != 0) return ++stats_.dhcp_silent, false;  // relays: not served
  const std::vector<uint8_t> payload = dhcp::build_reply(*reply);

  // RFC 2131 4.1: NAKs and broadcast-flag replies go to broadcast; renewals to ciaddr;
  // everything else to the client's MAC and the offered address.
  const bool bcast = reply->type == dhcp::MsgType::kNak ||
                     ((req->flags & dhcp::kFlagBroadcast) && req->ciaddr == 0);
  const uint32_t dst_ip = bcast ? 0xffffffffu : (req->ciaddr ? req->ciaddr : reply->yiaddr);
  rte_ether_addr dst_mac;
  std::memcpy(dst_mac.addr_bytes, req->chaddr.data(), 6);
  if (bcast) std::memset(dst_mac.addr_bytes, 0xff, 6);

  if (leases_ != nullptr && reply->type == dhcp::MsgType::kAck)
    leases_->set(m->port, rte_cpu_to_be_32(reply->yiaddr));  // port security may use it now
  mbuf_reset_single(m);
  const size_t len =
      sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload.size();
  auto* eh = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
  if (eh == nullptr) return ++stats_.malformed, false;
  eh->dst_addr = dst_mac;
  eh->src_addr = seg.service_mac;
  eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
  std::memset(ip, 0, sizeof(*ip));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(len - sizeof(rte_ether_hdr)));
  ip->time_to_live = kIpTtl;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(server.settings().server_ip);
  ip->dst_addr = rte_cpu_to_be_32(dst_ip);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(dhcp::kServerPort);
  udp->dst_port = rte_cpu_to_be_16(dhcp::kClientPort);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_udp_hdr) + payload.size()));
  udp->dgram_cksum = 0;
  std::memcpy(udp + 1, payload.data(), payload.size());
  udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
  ++stats_.dhcp_replies;
  return true;
}

// The query is answered in place: addresses and ports swapped, the payload replaced by
// the error (never longer than the query: the same question, no records).
bool SlowPath::answer_dns_servfail(const Segment& seg, rte_mbuf* m) {
  UdpView u{};
  if (!udp_payload(m, u)) return ++stats_.malformed, false;
  const auto q = dns::parse_query(u.payload, u.len);
  if (!q) return ++stats_.malformed, false;
  const std::vector<uint8_t> reply = dns::build_error(*q, dns::Rcode::kServFail);
  if (reply.size() > u.len) return ++stats_.malformed, false;
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<uint8_t*>(ip) + rte_ipv4_hdr_len(ip));
  eh->dst_addr = eh->src_addr;
  eh->src_addr = seg.service_mac;
  const rte_be32_t guest = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = guest;
  ip->time_to_live = kIpTtl;
  ip->fragment_offset = 0;
  const uint16_t l4 = static_cast<uint16_t>(sizeof(rte_udp_hdr) + reply.size());
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(rte_ipv4_hdr_len(ip) + l4));
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  const rte_be16_t client = udp->src_port;
  udp->src_port = udp->dst_port;
  udp->dst_port = client;
  udp->dgram_len = rte_cpu_to_be_16(l4);
  std::memcpy(udp + 1, reply.data(), reply.size());
  udp->dgram_cksum = 0;
  udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
  const uint32_t frame = sizeof(rte_ether_hdr) + rte_be_to_cpu_16(ip->total_length);
  mbuf_trim_to(m, frame);
  return true;
}

}  // namespace gp
