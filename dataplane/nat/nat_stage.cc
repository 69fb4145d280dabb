// Fast path: see nat_stage.h.
#include "dataplane/nat/nat_stage.h"

#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>

#include "dataplane/core/mbuf_chain.h"
#include "dataplane/core/worker.h"
#include "dataplane/nat/checksum.h"
#include "dataplane/nat/frag_table.h"
#include "dataplane/nat/fragmenter.h"
#include "dataplane/nat/nat_table.h"
#include "dataplane/nat/neighbors.h"
#include "dataplane/nat/translate.h"
#include "dataplane/services/dns_message.h"

namespace gp {

namespace {

using nat::Endpoint;
using nat::NatTable;
using nat::Side;

Drop refusal_drop(nat::Refusal r) noexcept {
  switch (r) {
    case nat::Refusal::kVmLimit:
      return Drop::kNatVmLimit;
    case nat::Refusal::kPortsExhausted:
      return Drop::kNatPortsExhausted;
    case nat::Refusal::kConflict:
      return Drop::kNatConflict;
    default:
      return Drop::kNatTableFull;
  }
}

// Undoes decrement_ttl (a hairpinned packet passes the router once, not twice).
inline void increment_ttl(rte_ipv4_hdr* ip) noexcept {
  uint16_t before;
  std::memcpy(&before, &ip->time_to_live, 2);
  ++ip->time_to_live;
  uint16_t after;
  std::memcpy(&after, &ip->time_to_live, 2);
  ip->hdr_checksum = nat::csum_update16(ip->hdr_checksum, before, after);
}

// Ethernet padding past the IP datagram is not part of it: cut before the packet is
// rewritten, so it never leaves the router (nor becomes fragment payload).
inline void trim_padding(rte_mbuf* m, const PacketMeta& pm) noexcept {
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, pm.l3_offset);
  mbuf_trim_to(m, uint32_t{pm.l3_offset} + rte_be_to_cpu_16(ip->total_length));
}

// Refreshes the session; a RST its receiver would not accept is forwarded (the
// endpoint decides) but leaves the session as it was, and is counted.
inline void touch(WorkerContext& ctx, uint32_t id, nat::Dir d, const rte_mbuf* m,
                  const PacketMeta& pm, const rte_ipv4_hdr* ip, const void* l4) noexcept {
  nat::TcpSegment seg;
  if (!ctx.nat->touch(id, ctx.now_tsc, d, nat::tcp_segment(m, pm.l4_offset, ip, l4, &seg)))
    ctx.counters->event(WorkerEvent::kNatRstIgnored);
}

struct Verdict {
  enum Kind : uint8_t { kTx, kTxFragmented, kDrop, kHandoff, kPunt, kHairpin } kind;
  uint16_t port;  // kTx*: egress port; kHandoff: owner worker; kPunt: the PuntReason
  Drop why;
  uint16_t mtu = 0;  // kTxFragmented: the egress MTU
};
inline Verdict tx(uint16_t port) { return {Verdict::kTx, port, Drop::kCount}; }
// Larger than the egress MTU, DF clear: sent as fragments (RFC 791).
inline Verdict tx_fragmented(uint16_t port, uint16_t mtu) {
  return {Verdict::kTxFragmented, port, Drop::kCount, mtu};
}
inline bool dont_fragment(const rte_ipv4_hdr* ip) noexcept {
  return (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) != 0;
}
inline Verdict drop(Drop d) { return {Verdict::kDrop, 0, d}; }
inline Verdict handoff(uint16_t w) { return {Verdict::kHandoff, w, Drop::kCount}; }
inline Verdict punt(uint32_t why) {
  return {Verdict::kPunt, static_cast<uint16_t>(why), Drop::kCount};
}
// Translated outbound, addressed to our own outside address: it turns around and goes
// through the inbound path of the uplink (RFC 4787 REQ-9 hairpinning).
inline Verdict hairpin() { return {Verdict::kHairpin, 0, Drop::kCount}; }

// The embedded packet of an ICMP error, checked to carry addresses and ports (RFC 5508
// REQ-3); nullptr if not. *icmp_len: the whole ICMP message.
const rte_ipv4_hdr* embedded(const rte_mbuf* m, const PacketMeta& pm, const rte_ipv4_hdr* ip,
                             const rte_icmp_hdr* icmp, uint32_t* icmp_len) noexcept {
  const uint32_t len = rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip);
  const uint32_t avail = rte_pktmbuf_data_len(m) - pm.l4_offset;
  if (len > avail || len < sizeof(rte_icmp_hdr) + sizeof(rte_ipv4_hdr) + 8) return nullptr;
  const auto* inner = reinterpret_cast<const rte_ipv4_hdr*>(icmp + 1);
  const uint32_t ihl = rte_ipv4_hdr_len(inner);
  if (ihl < sizeof(rte_ipv4_hdr) || sizeof(rte_icmp_hdr) + ihl + 8 > len) return nullptr;
  *icmp_len = len;
  return inner;
}

inline const void* l4_of(const rte_ipv4_hdr* ip) noexcept {
  return reinterpret_cast<const uint8_t*>(ip) + rte_ipv4_hdr_len(ip);
}

// To the outside through the uplink's next hop, or around to our own inbound path.
inline Verdict to_uplink(WorkerContext& ctx, const UplinkNat& up, uint16_t uplink, rte_mbuf* m,
                         const rte_ipv4_hdr* ip) noexcept {
  if (ip->dst_addr == up.address) return hairpin();
  rte_ether_addr next_hop;
  const bool onlink =
      (ip->dst_addr & up.netmask) == (up.address & up.netmask) && ip->dst_addr != up.gateway;
  if (onlink) {
    // On the uplink's own subnet: straight to the host, as any router would; its MAC
    // is asked for by the slow path, which takes this packet meanwhile.
    if (!ctx.neighbors->onlink(uplink, ip->dst_addr, &next_hop)) return punt(kPuntResolve);
  } else if (!ctx.neighbors->next_hop(uplink, &next_hop)) {
    return drop(Drop::kNatNoNeighbor);
  }
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  eh->src_addr = ctx.neighbors->own_mac(uplink);
  eh->dst_addr = next_hop;
  if (rte_be_to_cpu_16(ip->total_length) > up.mtu) return tx_fragmented(uplink, up.mtu);
  return tx(uplink);
}

inline Verdict to_guest(const Snapshot& snap, rte_mbuf* m, const nat::Session& s) noexcept {
  if (s.guest_port >= kMaxPorts) return drop(Drop::kLinkDown);
  const PortPolicy& guest = snap.ports[s.guest_port];
  if (!guest.link_up || guest.segment != s.segment) return drop(Drop::kLinkDown);
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  eh->src_addr = snap.segments[s.segment].service_mac;
  eh->dst_addr = s.guest_mac;
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eh + 1);
  const uint16_t mtu = static_cast<uint16_t>(guest.max_frame - sizeof(rte_ether_hdr));
  if (rte_be_to_cpu_16(ip->total_length) > mtu) {
    if (dont_fragment(ip)) return drop(Drop::kNatTooBig);
    return tx_fragmented(s.guest_port, mtu);  // fragments are fragmented again
  }
  return tx(s.guest_port);
}

inline bool wrong_worker(const WorkerContext& ctx, bool owned, uint16_t owner) noexcept {
  return !owned && ctx.n_workers > 1 && owner != ctx.worker_id;
}

constexpr uint64_t kFragLifetimeS = 10;  // a datagram's fragments arrive within this

inline bool later_fragment(const rte_ipv4_hdr* ip) noexcept {
  return (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) != 0;
}
inline nat::FragKey frag_key(const rte_ipv4_hdr* ip, nat::FragDir dir, uint16_t scope) noexcept {
  nat::FragKey k{};
  k.src = ip->src_addr;
  k.dst = ip->dst_addr;
  k.id = ip->packet_id;
  k.proto = ip->next_proto_id;
  k.dir = dir;
  k.scope = scope;
  return k;
}
// A first fragment went to its session here (session) or to its owner (handoff).
inline void remember_first(WorkerContext& ctx, const PacketMeta& pm, const nat::FragKey& k,
                           uint32_t session, uint16_t owner) noexcept {
  if ((pm.flags & kMetaFragment) && ctx.frags != nullptr)
    ctx.frags->remember(k, session, owner, ctx.now_tsc + kFragLifetimeS * ctx.tsc_hz);
}
// Enough of the L4 header to translate (TCP: its flags and checksum lie past byte 8).
inline bool l4_complete(const rte_mbuf* m, const PacketMeta& pm) noexcept {
  if (!(pm.flags & kMetaL4)) return false;
  return pm.ip_proto != IPPROTO_TCP ||
         rte_pktmbuf_data_len(m) >= uint32_t{pm.l4_offset} + sizeof(rte_tcp_hdr);
}

// A later fragment: the session its first fragment named, by address alone.
const nat::Session* fragment_session(WorkerContext& ctx, const rte_ipv4_hdr* ip, nat::FragDir dir,
                                     uint16_t scope, bool owned, Verdict* v) noexcept {
  const nat::FragEntry* e =
      ctx.frags == nullptr ? nullptr : ctx.frags->find(frag_key(ip, dir, scope), ctx.now_tsc);
  if (e == nullptr) return *v = drop(Drop::kNatFragment), nullptr;
  if (e->session == NatTable::kInvalid)
    return *v = owned ? drop(Drop::kNatFragment) : handoff(e->owner), nullptr;
  const nat::Session& s = ctx.nat->session(e->session);
  const bool same = dir == nat::FragDir::kOut
                        ? s.in_use && s.in.src_ip == ip->src_addr && s.in.dst_ip == ip->dst_addr
                        : s.in_use && s.remote_ip() == ip->src_addr && s.outside_ip == ip->dst_addr;
  if (!same) return *v = drop(Drop::kNatFragment), nullptr;  // the session went meanwhile
  return &s;
}

// A guest's ICMP error about a packet it received (RFC 5508: the embedded packet names
// the session; errors never create or refresh one).
Verdict outbound_icmp_error(WorkerContext& ctx, const Snapshot& snap, uint16_t in_port, rte_mbuf* m,
                            const PacketMeta& pm, bool owned, rte_ipv4_hdr* ip,
                            rte_icmp_hdr* icmp) noexcept {
  const NatSegment& ns = snap.nat[snap.ports[in_port].segment];
  const UplinkNat& up = snap.uplink_nat[ns.uplink_port];
  uint32_t icmp_len = 0;
  const rte_ipv4_hdr* inner = embedded(m, pm, ip, icmp, &icmp_len);
  if (inner == nullptr) return drop(Drop::kNatMalformed);
  const Endpoint guest = nat::endpoint_of(inner, l4_of(inner), Side::kDestination);
  const Endpoint remote = nat::endpoint_of(inner, l4_of(inner), Side::kSource);
  if (wrong_worker(ctx, owned, nat_owner_inside(ns.nat_id, guest.ip, guest.port, ctx.n_workers)))
    return handoff(nat_owner_inside(ns.nat_id, guest.ip, guest.port, ctx.n_workers));
  const nat::InKey k =
      nat::in_key(guest.ip, guest.port, remote.ip, remote.port, ns.nat_id, inner->next_proto_id);
  const uint32_t id = ctx.nat->find_in(k);
  if (id == NatTable::kInvalid) return drop(Drop::kNatErrorNoSession);
  const nat::Session& s = ctx.nat->session(id);
  if (s.remote_ip() != s.in.dst_ip) return drop(Drop::kNatUnsupported);  // about a DNS answer
  if (ip->time_to_live <= 1) return drop(Drop::kNatTtl);                 // no error about an error
  if (!nat::rewrite_icmp_error(ip, icmp, icmp_len, Side::kDestination,
                               {s.outside_ip, s.outside_port}, Side::kSource, s.outside_ip))
    return drop(Drop::kNatMalformed);
  nat::decrement_ttl(ip);
  return to_uplink(ctx, up, ns.uplink_port, m, ip);
}

// The burst's session lookups, done in bulk before the packets are handled one by one:
// for each packet that will need one, its key; ids[i] is the session found, or kInvalid
// (not looked up, or not there yet: the per-packet path looks again, so a session an
// earlier packet of the burst created is found). Sessions are only removed between
// bursts, so a hit stays valid for the whole burst.
void prelookup(WorkerContext& ctx, const Snapshot& snap, const Batch& batch, bool inside,
               bool shared, const rte_ether_addr& router, uint32_t* ids) noexcept {
  nat::InKey in_keys[kBurst];
  nat::OutKey out_keys[kBurst];
  uint16_t which[kBurst];
  uint32_t n = 0;
  const uint16_t nat_id = inside ? snap.nat[snap.ports[batch.in_port].segment].nat_id : 0;
  for (uint16_t i = 0; i < batch.n; ++i) {
    ids[i] = NatTable::kInvalid;
    const rte_mbuf* m = batch.pkts[i];
    const PacketMeta& pm = batch.meta[i];
    if (!(pm.flags & kMetaIpv4) || !l4_complete(m, pm)) continue;
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, pm.l3_offset);
    const void* l4 = rte_pktmbuf_mtod_offset(m, const void*, pm.l4_offset);
    const uint8_t proto = ip->next_proto_id;
    if (later_fragment(ip) || (proto != IPPROTO_TCP && proto != IPPROTO_UDP &&
                               (proto != IPPROTO_ICMP ||
                                static_cast<const rte_icmp_hdr*>(l4)->icmp_type !=
                                    (inside ? RTE_IP_ICMP_ECHO_REQUEST : RTE_IP_ICMP_ECHO_REPLY))))
      continue;
    if (shared && !mac_equal(rte_pktmbuf_mtod(m, const rte_ether_hdr*)->dst_addr, router)) continue;
    const Endpoint src = nat::endpoint_of(ip, l4, Side::kSource);
    const Endpoint dst = nat::endpoint_of(ip, l4, Side::kDestination);
    if (inside) {
      in_keys[n] = nat::in_key(src.ip, src.port, dst.ip, dst.port, nat_id, proto);
    } else {
      nat::OutKey& k = out_keys[n];
      k = nat::OutKey{};
      k.remote_ip = src.ip;
      k.outside_ip = dst.ip;
      k.remote_port = src.port;
      k.outside_port = dst.port;
      k.proto = proto;
    }
    which[n++] = i;
  }
  if (n == 0) return;
  uint32_t found[kBurst];
  if (inside)
    ctx.nat->find_in_bulk(in_keys, n, found);
  else
    ctx.nat->find_out_bulk(out_keys, n, found);
  for (uint32_t j = 0; j < n; ++j) {
    ids[which[j]] = found[j];
    if (found[j] != NatTable::kInvalid) ctx.nat->prefetch(found[j]);
  }
}

// Guest -> outside, a later fragment.
Verdict outbound_fragment(WorkerContext& ctx, const Snapshot& snap, uint16_t in_port, rte_mbuf* m,
                          bool owned, rte_ipv4_hdr* ip) noexcept {
  const NatSegment& ns = snap.nat[snap.ports[in_port].segment];
  const UplinkNat& up = snap.uplink_nat[ns.uplink_port];
  Verdict v = drop(Drop::kNatFragment);
  const nat::Session* s = fragment_session(ctx, ip, nat::FragDir::kOut, ns.nat_id, owned, &v);
  if (s == nullptr) return v;
  if (ip->time_to_live <= 1) return drop(Drop::kNatTtl);
  if (rte_be_to_cpu_16(ip->total_length) > up.mtu && dont_fragment(ip))
    return drop(Drop::kNatTooBig);  // DF on a later fragment: nobody to tell
  nat::rewrite_address(ip, Side::kSource, s->outside_ip);
  if (s->remote_ip() != s->in.dst_ip) nat::rewrite_address(ip, Side::kDestination, s->remote_ip());
  nat::decrement_ttl(ip);
  return to_uplink(ctx, up, ns.uplink_port, m, ip);
}

// The fast lanes: a TCP or UDP packet of a flow whose session the burst's bulk lookup
// found (prelookup: IPv4, L4 complete, not a later fragment). What the full path checks
// before it has a session (the destination, the DNS proxy, the owning worker) held when
// the session was made and holds for every packet with the same key; what a packet can
// change on its own is checked here, and anything unusual (a fragment, TTL 1, too large,
// ICMP, a DNS-proxy or stale session, our own outside address) takes the full path.
inline bool plain_tcp_udp(const PacketMeta& pm, const rte_ipv4_hdr* ip) noexcept {
  return !(pm.flags & kMetaFragment) &&
         (pm.ip_proto == IPPROTO_UDP || pm.ip_proto == IPPROTO_TCP) && ip->time_to_live > 1;
}

bool outbound_fast(WorkerContext& ctx, const Snapshot& snap, const NatSegment& ns,
                   const UplinkNat& up, rte_mbuf* m, const PacketMeta& pm, uint32_t id,
                   Verdict* v) noexcept {
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, pm.l3_offset);
  if (!plain_tcp_udp(pm, ip) || rte_be_to_cpu_16(ip->total_length) > up.mtu ||
      !nat::routed_out(ns, up, ip->dst_addr))
    return false;
  const nat::Session& s = ctx.nat->session(id);
  if (!nat::rewrite_serves_out(snap, s)) return false;
  void* l4 = rte_pktmbuf_mtod_offset(m, void*, pm.l4_offset);
  touch(ctx, id, nat::Dir::kOut, m, pm, ip, l4);  // before rewriting: checksums stay
  nat::rewrite(ip, l4, Side::kSource, {s.outside_ip, s.outside_port});
  nat::decrement_ttl(ip);
  *v = to_uplink(ctx, up, ns.uplink_port, m, ip);
  return true;
}

bool inbound_fast(WorkerContext& ctx, const Snapshot& snap, const UplinkNat& up, rte_mbuf* m,
                  const PacketMeta& pm, uint32_t id, Verdict* v) noexcept {
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, pm.l3_offset);
  if (!plain_tcp_udp(pm, ip) || ip->dst_addr != up.address) return false;
  const nat::Session& s = ctx.nat->session(id);
  if (!nat::rewrite_serves_in(snap, s) ||
      rte_be_to_cpu_16(ip->total_length) + sizeof(rte_ether_hdr) >
          snap.ports[s.guest_port].max_frame)
    return false;
  void* l4 = rte_pktmbuf_mtod_offset(m, void*, pm.l4_offset);
  touch(ctx, id, nat::Dir::kIn, m, pm, ip, l4);
  nat::rewrite(ip, l4, Side::kDestination, {s.in.src_ip, s.in.src_port});
  nat::decrement_ttl(ip);
  *v = to_guest(snap, m, s);
  return true;
}

// Guest -> outside.
Verdict outbound(WorkerContext& ctx, const Snapshot& snap, uint16_t in_port, rte_mbuf* m,
                 const PacketMeta& pm, bool owned, uint32_t hint) noexcept {
  const PortPolicy& pp = snap.ports[in_port];
  const NatSegment& ns = snap.nat[pp.segment];
  const UplinkNat& up = snap.uplink_nat[ns.uplink_port];
  if (!(pm.flags & kMetaIpv4)) return drop(Drop::kNatNotIp);
  if (Verdict v; hint != NatTable::kInvalid && outbound_fast(ctx, snap, ns, up, m, pm, hint, &v))
    return v;
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, pm.l3_offset);
  // Multicast and limited broadcast (mDNS, SSDP, NetBIOS, DHCP not for us) stay on the
  // guest's side: a router does not forward them, and they would take sessions.
  if (nat::group_address(ip->dst_addr)) return drop(Drop::kNatGroupDst);
  if (later_fragment(ip)) return outbound_fragment(ctx, snap, in_port, m, owned, ip);
  if (!l4_complete(m, pm)) return drop(Drop::kNatMalformed);
  void* l4 = rte_pktmbuf_mtod_offset(m, void*, pm.l4_offset);
  const uint8_t proto = ip->next_proto_id;
  if (proto == IPPROTO_ICMP) {
    auto* icmp = static_cast<rte_icmp_hdr*>(l4);
    if (nat::is_icmp_error(icmp->icmp_type) && (pm.flags & kMetaFragment))
      return drop(Drop::kNatUnsupported);  // an error is small; a fragmented one is odd
    if (nat::is_icmp_error(icmp->icmp_type))
      return outbound_icmp_error(ctx, snap, in_port, m, pm, owned, ip, icmp);
    if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST) return drop(Drop::kNatUnsupported);
    if (ip->dst_addr == up.address) return punt(kPuntAnswer);  // our outside address answers
  } else if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
    return drop(Drop::kNatUnsupported);
  }
  const Endpoint src = nat::endpoint_of(ip, l4, Side::kSource);
  const Endpoint dst = nat::endpoint_of(ip, l4, Side::kDestination);
  const bool dns_proxy =
      dst.ip == ns.dns && proto != IPPROTO_ICMP && dst.port == rte_cpu_to_be_16(dns::kPort);
  if ((dst.ip & ns.netmask) == ns.network && !dns_proxy) return drop(Drop::kNatInsideDst);
  if (dns_proxy && proto == IPPROTO_UDP) {
    const auto* u = static_cast<const rte_udp_hdr*>(l4);
    const uint32_t in_frame = rte_pktmbuf_data_len(m) - pm.l4_offset;
    const uint32_t dgram = rte_be_to_cpu_16(u->dgram_len);
    if (dgram < sizeof(rte_udp_hdr) || dgram > in_frame ||
        !dns::looks_like_query(reinterpret_cast<const uint8_t*>(u + 1), dgram - sizeof(*u)))
      return drop(Drop::kNatDnsMalformed);
    if (up.n_dns == 0) return punt(kPuntDnsNoUpstream);  // the proxy says SERVFAIL itself
  }
  if (dns_proxy && up.n_dns == 0) return drop(Drop::kNatNoUpstreamDns);
  if (ip->time_to_live <= 1) return punt(kPuntTtlExpired);  // "time exceeded" (traceroute)
  // DF set: the gateway answers "fragmentation needed" (slow path). DF clear: sent in
  // fragments after translation (to_uplink), a first fragment too (RFC 791).
  if (rte_be_to_cpu_16(ip->total_length) > up.mtu && dont_fragment(ip)) return punt(kPuntNeedsFrag);
  const nat::FragKey fk = frag_key(ip, nat::FragDir::kOut, ns.nat_id);
  const uint16_t owner = nat_owner_inside(ns.nat_id, src.ip, src.port, ctx.n_workers);
  if (wrong_worker(ctx, owned, owner)) {
    remember_first(ctx, pm, fk, NatTable::kInvalid, owner);
    return handoff(owner);
  }

  const nat::InKey k = nat::in_key(src.ip, src.port, dst.ip, dst.port, ns.nat_id, proto);
  uint32_t id = hint != NatTable::kInvalid ? hint : ctx.nat->find_in(k);
  if (id != NatTable::kInvalid && !nat::session_live(snap, ctx.nat->session(id)))
    return drop(Drop::kNatStale);  // its port forward was removed; swept soon
  if (id == NatTable::kInvalid) {
    const rte_be32_t remote = dns_proxy ? up.dns[0] : dst.ip;
    const bool onlink = (remote & up.netmask) == (up.address & up.netmask);
    if (remote != up.address && !onlink) {
      rte_ether_addr unused;  // no session for a flow that cannot leave yet
      if (!ctx.neighbors->next_hop(ns.uplink_port, &unused)) return drop(Drop::kNatNoNeighbor);
    }
    const nat::InsideRef at{pp.segment, in_port, ns.uplink_port,
                            rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr};
    nat::Refusal why{};
    id = ctx.nat->create_outbound(k, remote, dst.port, up.address, at, ns.max_sessions, snap,
                                  ctx.now_tsc, &why);
    if (id == NatTable::kInvalid) return drop(refusal_drop(why));
    ctx.counters->event(WorkerEvent::kNatCreated);
  }
  const nat::Session& s = ctx.nat->session(id);
  touch(ctx, id, nat::Dir::kOut, m, pm, ip, l4);  // before rewriting: checksums stay
  nat::rewrite(ip, l4, Side::kSource, {s.outside_ip, s.outside_port});
  if (s.remote_ip() != s.in.dst_ip)
    nat::rewrite(ip, l4, Side::kDestination, {s.remote_ip(), s.remote_port()});
  nat::decrement_ttl(ip);
  remember_first(ctx, pm, fk, id, ctx.worker_id);
  return to_uplink(ctx, up, ns.uplink_port, m, ip);
}

// Where a port forward's guest is: a NAT network's guests are found by the router's
// ARP (the slow path learns them); a `nat` adapter has one guest, on its own port.
bool forward_target(const WorkerContext& ctx, const Snapshot& snap, const NatSegment& ns,
                    const PortForwardRule& r, nat::InsideRef* at) noexcept {
  if (ctx.neighbors->inside(ns.nat_id, r.guest_ip, &at->guest_mac, &at->guest_port)) return true;
  if (ns.shared || ns.guest_port >= kMaxPorts) return false;
  at->guest_port = ns.guest_port;
  at->guest_mac = snap.ports[ns.guest_port].mac;
  return true;
}

// An inbound packet's session: existing, or made for a port forward or by filtering.
uint32_t inbound_session(WorkerContext& ctx, const Snapshot& snap, uint16_t uplink,
                         const nat::OutKey& k, bool owned, uint32_t hint, Verdict* v) noexcept {
  uint32_t id = hint != NatTable::kInvalid ? hint : ctx.nat->find_out(k);
  if (id != NatTable::kInvalid) {
    if (!nat::session_live(snap, ctx.nat->session(id)))
      return *v = drop(Drop::kNatStale), NatTable::kInvalid;
    return id;
  }
  // A port forward?
  for (const PortForwardRule& r : snap.port_forwards) {
    if (r.uplink_port != uplink || r.proto != k.proto || r.host_port != k.outside_port ||
        (r.host_ip != 0 && r.host_ip != k.outside_ip))
      continue;
    const NatSegment& ns = snap.nat[r.segment];
    const uint16_t owner = nat_owner_inside(ns.nat_id, r.guest_ip, r.guest_port, ctx.n_workers);
    if (wrong_worker(ctx, owned, owner)) return *v = handoff(owner), NatTable::kInvalid;
    nat::InsideRef at{r.segment, kNoPort, uplink, {}};
    if (!forward_target(ctx, snap, ns, r, &at))
      return *v = drop(Drop::kNatGuestUnresolved), NatTable::kInvalid;
    const nat::InKey in =
        nat::in_key(r.guest_ip, r.guest_port, k.remote_ip, k.remote_port, ns.nat_id, k.proto);
    nat::Refusal why{};
    id = ctx.nat->create_inbound(k, in, NatTable::kInvalid, at, ns.max_sessions, ctx.now_tsc, &why,
                                 r.id);
    if (id == NatTable::kInvalid) return *v = drop(refusal_drop(why)), id;
    ctx.counters->event(WorkerEvent::kNatCreated);
    return id;
  }
  const uint16_t owner = rte_be_to_cpu_16(k.outside_port) % ctx.n_workers;
  if (wrong_worker(ctx, owned, owner)) return *v = handoff(owner), NatTable::kInvalid;
  // Filtering (RFC 4787 REQ-8): a mapping exists, and for address-dependent filtering
  // it has sent to this remote address before.
  const uint32_t map = ctx.nat->mapping_at(k.outside_ip, k.outside_port, k.proto);
  if (map == NatTable::kInvalid) return *v = drop(Drop::kNatUnsolicited), map;
  const nat::Mapping& mp = ctx.nat->mapping(map);
  const NatSegment& ns = snap.nat[mp.segment];
  if (!ns.endpoint_independent_filtering &&
      !ctx.nat->mapping_has_sent_to(k.outside_ip, k.outside_port, k.proto, k.remote_ip))
    return *v = drop(Drop::kNatUnsolicited), NatTable::kInvalid;
  nat::InKey in = mp.inside();
  in.dst_ip = k.remote_ip;
  in.dst_port = k.remote_port;
  const nat::InsideRef at{mp.segment, mp.guest_port, uplink, mp.guest_mac};
  nat::Refusal why{};
  id = ctx.nat->create_inbound(k, in, map, at, ns.max_sessions, ctx.now_tsc, &why);
  if (id == NatTable::kInvalid) return *v = drop(refusal_drop(why)), id;
  ctx.counters->event(WorkerEvent::kNatCreated);
  return id;
}

// An ICMP error from outside about one of our outbound packets (RFC 5508).
Verdict inbound_icmp_error(WorkerContext& ctx, const Snapshot& snap, uint16_t in_port, rte_mbuf* m,
                           const PacketMeta& pm, bool owned, rte_ipv4_hdr* ip,
                           rte_icmp_hdr* icmp) noexcept {
  uint32_t icmp_len = 0;
  const rte_ipv4_hdr* inner = embedded(m, pm, ip, icmp, &icmp_len);
  if (inner == nullptr) return drop(Drop::kNatMalformed);
  nat::OutKey k{};
  k.remote_ip = inner->dst_addr;
  k.outside_ip = inner->src_addr;
  k.remote_port = nat::endpoint_of(inner, l4_of(inner), Side::kDestination).port;
  k.outside_port = nat::endpoint_of(inner, l4_of(inner), Side::kSource).port;
  k.proto = inner->next_proto_id;
  if (!owned && ctx.n_workers > 1) {
    uint16_t owner = rte_be_to_cpu_16(k.outside_port) % ctx.n_workers;
    for (const PortForwardRule& r : snap.port_forwards)
      if (r.uplink_port == in_port && r.proto == k.proto && r.host_port == k.outside_port)
        owner =
            nat_owner_inside(snap.nat[r.segment].nat_id, r.guest_ip, r.guest_port, ctx.n_workers);
    if (owner != ctx.worker_id) return handoff(owner);
  }
  const uint32_t id = ctx.nat->find_out(k);  // errors never create or refresh state
  if (id == NatTable::kInvalid) return drop(Drop::kNatUnsolicited);
  const nat::Session& s = ctx.nat->session(id);
  if (!nat::rewrite_icmp_error(ip, icmp, icmp_len, Side::kSource, {s.in.src_ip, s.in.src_port},
                               Side::kDestination, s.in.src_ip))
    return drop(Drop::kNatMalformed);
  // About a DNS-proxy query: the guest asked .3, so the error must name .3 (and come
  // from it when the resolver itself sent it), or the guest's stack matches nothing.
  if (s.remote_ip() != s.in.dst_ip &&
      !nat::rewrite_icmp_error(ip, icmp, icmp_len, Side::kDestination, {s.in.dst_ip, s.in.dst_port},
                               Side::kSource,
                               ip->src_addr == s.remote_ip() ? s.in.dst_ip : ip->src_addr))
    return drop(Drop::kNatMalformed);
  nat::decrement_ttl(ip);
  return to_guest(snap, m, s);
}

// Outside -> guest (also the second half of a hairpinned packet).
Verdict inbound(WorkerContext& ctx, const Snapshot& snap, uint16_t in_port, rte_mbuf* m,
                const PacketMeta& pm, bool owned, uint32_t hint, bool hairpinned = false) noexcept {
  const UplinkNat& up = snap.uplink_nat[in_port];
  if (!(pm.flags & kMetaIpv4)) return drop(Drop::kNatNotIp);
  if (Verdict v; hint != NatTable::kInvalid && inbound_fast(ctx, snap, up, m, pm, hint, &v))
    return v;
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, pm.l3_offset);
  if (ip->dst_addr != up.address) return drop(Drop::kNatNotForUs);
  if (ip->time_to_live <= 1) return drop(Drop::kNatTtl);
  if (later_fragment(ip)) {
    Verdict v = drop(Drop::kNatFragment);
    const nat::Session* s = fragment_session(ctx, ip, nat::FragDir::kIn, in_port, owned, &v);
    if (s == nullptr) return v;
    nat::rewrite_address(ip, Side::kDestination, s->in.src_ip);
    if (s->remote_ip() != s->in.dst_ip) nat::rewrite_address(ip, Side::kSource, s->in.dst_ip);
    nat::decrement_ttl(ip);
    return to_guest(snap, m, *s);
  }
  if (!l4_complete(m, pm)) return drop(Drop::kNatMalformed);
  void* l4 = rte_pktmbuf_mtod_offset(m, void*, pm.l4_offset);
  const uint8_t proto = ip->next_proto_id;

  if (proto == IPPROTO_ICMP) {
    auto* icmp = static_cast<rte_icmp_hdr*>(l4);
    if (nat::is_icmp_error(icmp->icmp_type) && (pm.flags & kMetaFragment))
      return drop(Drop::kNatUnsupported);
    if (nat::is_icmp_error(icmp->icmp_type))
      return inbound_icmp_error(ctx, snap, in_port, m, pm, owned, ip, icmp);
    if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REPLY) return drop(Drop::kNatUnsupported);
  } else if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
    return drop(Drop::kNatUnsupported);
  }
  const Endpoint src = nat::endpoint_of(ip, l4, Side::kSource);
  const Endpoint dst = nat::endpoint_of(ip, l4, Side::kDestination);
  nat::OutKey k{};
  k.remote_ip = src.ip;
  k.outside_ip = dst.ip;
  k.remote_port = src.port;
  k.outside_port = dst.port;
  k.proto = proto;
  Verdict v = drop(Drop::kNatUnsolicited);
  const nat::FragKey fk = frag_key(ip, nat::FragDir::kIn, in_port);
  const uint32_t id = inbound_session(ctx, snap, in_port, k, owned, hint, &v);
  if (id == NatTable::kInvalid) {
    if (v.kind == Verdict::kHandoff) remember_first(ctx, pm, fk, NatTable::kInvalid, v.port);
    return v;
  }
  remember_first(ctx, pm, fk, id, ctx.worker_id);
  const nat::Session& s = ctx.nat->session(id);
  // DF and larger than the guest takes: the outside sender hears "fragmentation needed"
  // from our address, about the packet as it sent it (RFC 1191), so its PMTU discovery
  // works through the NAT. (A hairpin comes from inside: the guest's stack learns the
  // MTU from its own interface.)
  const uint16_t guest_mtu =
      s.guest_port < kMaxPorts
          ? static_cast<uint16_t>(snap.ports[s.guest_port].max_frame - sizeof(rte_ether_hdr))
          : 0;
  if (!hairpinned && dont_fragment(ip) && guest_mtu != 0 &&
      rte_be_to_cpu_16(ip->total_length) > guest_mtu) {
    Verdict v = punt(kPuntNeedsFragOut);
    v.mtu = guest_mtu;
    return v;
  }
  touch(ctx, id, nat::Dir::kIn, m, pm, ip, l4);
  nat::rewrite(ip, l4, Side::kDestination, {s.in.src_ip, s.in.src_port});
  if (s.remote_ip() != s.in.dst_ip)  // DNS proxy: the answer comes from .3
    nat::rewrite(ip, l4, Side::kSource, {s.in.dst_ip, s.in.dst_port});
  nat::decrement_ttl(ip);
  return to_guest(snap, m, s);
}

// Onto an SP/SC ring (another worker, the slow path), or dropped and counted when full.
inline void enqueue(WorkerContext& ctx, PortCounters& pc, rte_ring* r, rte_mbuf* m,
                    WorkerEvent done, Drop full) noexcept {
  if (rte_ring_sp_enqueue(r, m) == 0) {
    ctx.counters->event(done);
  } else {
    pc.drop(full);
    rte_pktmbuf_free(m);
  }
}

// Carries out a verdict for m, which arrived on `ingress` (counters) and, if handed to
// another worker, is processed there as coming from `as_port`.
void dispatch(WorkerContext& ctx, const Snapshot& snap, PortCounters& pc, rte_mbuf* m, Verdict v,
              uint16_t as_port) noexcept {
  switch (v.kind) {
    case Verdict::kTx:
      ctx.counters->event(WorkerEvent::kNatTranslated);
      stage_tx(ctx, v.port, m);
      return;
    case Verdict::kTxFragmented:
      ctx.counters->event(WorkerEvent::kNatTranslated);
      if (const Drop why = fragment_and_stage(ctx, m, v.port, v.mtu); why != Drop::kCount) {
        pc.drop(why);
        rte_pktmbuf_free(m);
      }
      return;
    case Verdict::kHandoff:
      m->port = as_port;
      enqueue(ctx, pc, ctx.handoff_to[v.port], m, WorkerEvent::kNatHandoffs, Drop::kNatHandoffFull);
      return;
    case Verdict::kPunt:
      if (!punt_admit(ctx, as_port, snap.punt_pps, snap.punt_burst)) {
        pc.drop(Drop::kPuntRateLimited);
        rte_pktmbuf_free(m);
        return;
      }
      m->port = as_port;
      m->hash.usr = v.port | (uint32_t{v.mtu} << 16);  // the PuntReason (and an MTU)
      enqueue(ctx, pc, ctx.punt_ring, m, WorkerEvent::kPunted, Drop::kPuntRingFull);
      return;
    case Verdict::kDrop:
    case Verdict::kHairpin:  // never reaches here (handled by the caller)
      pc.drop(v.why == Drop::kCount ? Drop::kNatUnsupported : v.why);
      rte_pktmbuf_free(m);
      return;
  }
}

}  // namespace

void nat_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch, bool from_handoff) noexcept {
  if (ctx.nat == nullptr) return;
  const uint16_t in_port = batch.in_port;
  const PortPolicy& pp = snap.ports[in_port];
  const bool inside =
      pp.segment < snap.segments.size() && snap.segments[pp.segment].kind == SegmentKind::kNat;
  const bool uplink = snap.uplink_nat[in_port].enabled && pp.segment >= snap.segments.size();
  if (!inside && !uplink) return;
  PortCounters& pc = ctx.counters->ports[in_port];
  if (!pp.link_up) {
    pc.drop(Drop::kLinkDown, batch.n);
    rte_pktmbuf_free_bulk(batch.pkts, batch.n);
    batch.n = 0;
    return;
  }
  const bool shared = inside && snap.nat[pp.segment].shared;
  const rte_ether_addr& router = inside ? snap.segments[pp.segment].service_mac : rte_ether_addr{};
  uint32_t hints[kBurst];
  prelookup(ctx, snap, batch, inside, shared, router, hints);
  uint16_t kept = 0;  // NAT network frames between guests stay for the L2 stage
  for (uint16_t i = 0; i < batch.n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    if (shared && !mac_equal(rte_pktmbuf_mtod(m, const rte_ether_hdr*)->dst_addr, router)) {
      batch.meta[kept] = batch.meta[i];
      batch.pkts[kept++] = m;
      continue;
    }
    if (batch.meta[i].flags & kMetaIpv4) trim_padding(m, batch.meta[i]);
    Verdict v = inside ? outbound(ctx, snap, in_port, m, batch.meta[i], from_handoff, hints[i])
                       : inbound(ctx, snap, in_port, m, batch.meta[i], from_handoff, hints[i]);
    uint16_t as_port = in_port;
    if (v.kind == Verdict::kHairpin) {
      as_port = snap.nat[pp.segment].uplink_port;
      ctx.counters->event(WorkerEvent::kNatHairpinned);
      // One hop through the router: the inbound half decrements the TTL again.
      increment_ttl(rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, batch.meta[i].l3_offset));
      v = inbound(ctx, snap, as_port, m, batch.meta[i], /*owned=*/false, NatTable::kInvalid,
                  /*hairpinned=*/true);
    }
    dispatch(ctx, snap, pc, m, v, as_port);
  }
  batch.n = kept;
}

void nat_expire(WorkerContext& ctx, const Snapshot& snap) noexcept {
  if (ctx.nat == nullptr) return;
  // A re-apply removed or changed routers or forwards: sweep the table once, a slice
  // per poll loop, for sessions that belong to none of the running config any more.
  constexpr uint32_t kSweepSlice = 1024;
  if (ctx.nat_swept_epoch != snap.nat_epoch && ctx.nat_sweep_cursor >= ctx.nat->capacity()) {
    ctx.nat_sweep_cursor = 0;  // a new epoch: start over
    ctx.nat_sweeping_epoch = snap.nat_epoch;
  }
  if (ctx.nat_sweep_cursor < ctx.nat->capacity()) {
    const uint32_t n = ctx.nat->sweep(snap, ctx.nat_sweep_cursor, kSweepSlice);
    if (n != 0) ctx.counters->event(WorkerEvent::kNatSwept, n);
    ctx.nat_sweep_cursor += kSweepSlice;
    if (ctx.nat_sweep_cursor >= ctx.nat->capacity()) ctx.nat_swept_epoch = ctx.nat_sweeping_epoch;
  }
  ctx.counters->nat_sessions.set(ctx.nat->size());
  if (ctx.nat->size() == 0) return;
  const NatTimeouts& t = snap.nat_timeouts;
  const uint64_t hz = ctx.tsc_hz;
  const std::array<uint64_t, 4> tsc = {t.udp_s * hz, t.tcp_established_s * hz,
                                       t.tcp_transitory_s * hz, t.icmp_s * hz};
  const uint32_t n = ctx.nat->expire(ctx.now_tsc, tsc, 64);
  if (n != 0) ctx.counters->event(WorkerEvent::kNatExpired, n);
}

}  // namespace gp
