// Fast path: see nat_stage.h.
#include "dataplane/nat/nat_stage.h"

#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>

#include "dataplane/nat/checksum.h"
#include "dataplane/nat/nat_table.h"
#include "dataplane/nat/neighbors.h"
#include "dataplane/nat/translate.h"

namespace gp {

namespace {

using nat::Endpoint;
using nat::NatTable;
using nat::Side;

constexpr uint16_t kDnsPort = 53;

Drop refusal_drop(nat::Refusal r) noexcept {
  switch (r) {
    case nat::Refusal::kVmLimit:
      return Drop::kNatVmLimit;
    case nat::Refusal::kPortsExhausted:
      return Drop::kNatPortsExhausted;
    default:
      return Drop::kNatTableFull;
  }
}

// TTL lives in one 16-bit word with the protocol number.
inline void decrement_ttl(rte_ipv4_hdr* ip) noexcept {
  uint16_t before;
  std::memcpy(&before, &ip->time_to_live, 2);
  --ip->time_to_live;
  uint16_t after;
  std::memcpy(&after, &ip->time_to_live, 2);
  ip->hdr_checksum = nat::csum_update16(ip->hdr_checksum, before, after);
}

inline uint8_t tcp_flags(const rte_ipv4_hdr* ip, const void* l4) noexcept {
  return ip->next_proto_id == IPPROTO_TCP ? static_cast<const rte_tcp_hdr*>(l4)->tcp_flags : 0;
}

struct Verdict {
  enum Kind : uint8_t { kTx, kDrop, kHandoff, kPunt } kind;
  uint16_t port;  // kTx: egress port; kHandoff: owner worker
  Drop why;
};
inline Verdict tx(uint16_t port) { return {Verdict::kTx, port, Drop::kCount}; }
inline Verdict drop(Drop d) { return {Verdict::kDrop, 0, d}; }
inline Verdict handoff(uint16_t w) { return {Verdict::kHandoff, w, Drop::kCount}; }
inline Verdict punt() { return {Verdict::kPunt, 0, Drop::kCount}; }

// Guest -> outside.
Verdict outbound(WorkerContext& ctx, const Snapshot& snap, uint16_t in_port, rte_mbuf* m,
                 const PacketMeta& pm, bool owned) noexcept {
  const PortPolicy& pp = snap.ports[in_port];
  const NatSegment& ns = snap.nat[pp.segment];
  const UplinkNat& up = snap.uplink_nat[ns.uplink_port];
  if (!(pm.flags & kMetaIpv4)) return drop(Drop::kNatNotIp);
  if (pm.flags & kMetaFragment) return drop(Drop::kNatFragment);
  if (!(pm.flags & kMetaL4)) return drop(Drop::kNatMalformed);
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, pm.l3_offset);
  void* l4 = rte_pktmbuf_mtod_offset(m, void*, pm.l4_offset);
  const uint8_t proto = ip->next_proto_id;
  if (proto == IPPROTO_ICMP) {
    if (static_cast<rte_icmp_hdr*>(l4)->icmp_type != RTE_IP_ICMP_ECHO_REQUEST)
      return drop(Drop::kNatUnsupported);
  } else if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
    return drop(Drop::kNatUnsupported);
  }
  const Endpoint src = nat::endpoint_of(ip, l4, Side::kSource);
  const Endpoint dst = nat::endpoint_of(ip, l4, Side::kDestination);
  const bool dns_proxy =
      dst.ip == ns.dns && proto != IPPROTO_ICMP && dst.port == rte_cpu_to_be_16(kDnsPort);
  if ((dst.ip & ns.netmask) == ns.network && !dns_proxy) return drop(Drop::kNatInsideDst);
  if (dns_proxy && up.n_dns == 0) return drop(Drop::kNatNoUpstreamDns);
  if (ip->time_to_live <= 1) {
    m->hash.usr = kPuntTtlExpired;  // the gateway says "time exceeded" (traceroute)
    return punt();
  }
  if (rte_be_to_cpu_16(ip->total_length) > up.mtu) {
    // DF set: the gateway answers "fragmentation needed" (slow path). DF clear: we would
    // have to fragment, which this NAT does not do yet.
    if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) {
      m->hash.usr = kPuntNeedsFrag;
      return punt();
    }
    return drop(Drop::kNatTooBig);
  }
  if (!owned && ctx.n_workers > 1) {
    const uint16_t owner = nat_owner_inside(ns.nat_id, src.ip, src.port, ctx.n_workers);
    if (owner != ctx.worker_id) return handoff(owner);
  }
  rte_ether_addr next_hop;
  if (!ctx.neighbors->next_hop(ns.uplink_port, &next_hop)) return drop(Drop::kNatNoNeighbor);

  const nat::InKey k = nat::in_key(src.ip, src.port, dst.ip, dst.port, ns.nat_id, proto);
  uint32_t id = ctx.nat->find_in(k);
  if (id == NatTable::kInvalid) {
    nat::Refusal why{};
    const rte_be32_t remote = dns_proxy ? up.dns[0] : dst.ip;
    id = ctx.nat->create_outbound(k, remote, dst.port, up.address, pp.segment, in_port,
                                  ns.uplink_port, ns.max_sessions, snap, ctx.now_tsc, &why);
    if (id == NatTable::kInvalid) return drop(refusal_drop(why));
    ctx.counters->event(WorkerEvent::kNatCreated);
  }
  const nat::Session& s = ctx.nat->session(id);
  const uint8_t flags = tcp_flags(ip, l4);
  nat::rewrite(ip, l4, Side::kSource, {s.out.outside_ip, s.out.outside_port});
  if (s.out.remote_ip != s.in.dst_ip)
    nat::rewrite(ip, l4, Side::kDestination, {s.out.remote_ip, s.out.remote_port});
  decrement_ttl(ip);
  ctx.nat->touch(id, ctx.now_tsc, nat::Dir::kOut, flags);
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  eh->src_addr = ctx.neighbors->own_mac(ns.uplink_port);
  eh->dst_addr = next_hop;
  return tx(ns.uplink_port);
}

// An inbound packet's session: existing, or made for a port forward or by filtering.
uint32_t inbound_session(WorkerContext& ctx, const Snapshot& snap, uint16_t uplink,
                         const nat::OutKey& k, bool owned, Verdict* v) noexcept {
  uint32_t id = ctx.nat->find_out(k);
  if (id != NatTable::kInvalid) return id;
  // A port forward?
  for (const PortForwardRule& r : snap.port_forwards) {
    if (r.uplink_port != uplink || r.proto != k.proto || r.host_port != k.outside_port ||
        (r.host_ip != 0 && r.host_ip != k.outside_ip))
      continue;
    const NatSegment& ns = snap.nat[r.segment];
    if (!owned && ctx.n_workers > 1) {
      const uint16_t owner = nat_owner_inside(ns.nat_id, r.guest_ip, r.guest_port, ctx.n_workers);
      if (owner != ctx.worker_id) return *v = handoff(owner), NatTable::kInvalid;
    }
    const nat::InKey in =
        nat::in_key(r.guest_ip, r.guest_port, k.remote_ip, k.remote_port, ns.nat_id, k.proto);
    nat::Refusal why{};
    id = ctx.nat->create_inbound(k, in, NatTable::kInvalid, r.segment, ns.guest_port, uplink,
                                 ns.max_sessions, ctx.now_tsc, &why);
    if (id == NatTable::kInvalid) return *v = drop(refusal_drop(why)), id;
    ctx.counters->event(WorkerEvent::kNatCreated);
    return id;
  }
  if (!owned && ctx.n_workers > 1) {
    const uint16_t owner = rte_be_to_cpu_16(k.outside_port) % ctx.n_workers;
    if (owner != ctx.worker_id) return *v = handoff(owner), NatTable::kInvalid;
  }
  // Filtering (RFC 4787 REQ-8): a mapping exists, and for address-dependent filtering
  // it has sent to this remote address before.
  const uint32_t map = ctx.nat->mapping_at(k.outside_ip, k.outside_port, k.proto);
  if (map == NatTable::kInvalid) return *v = drop(Drop::kNatUnsolicited), map;
  const nat::Mapping& mp = ctx.nat->mapping(map);
  const NatSegment& ns = snap.nat[mp.segment];
  if (!ns.endpoint_independent_filtering &&
      !ctx.nat->mapping_has_sent_to(k.outside_ip, k.outside_port, k.proto, k.remote_ip))
    return *v = drop(Drop::kNatUnsolicited), NatTable::kInvalid;
  nat::InKey in = mp.inside;
  in.dst_ip = k.remote_ip;
  in.dst_port = k.remote_port;
  nat::Refusal why{};
  id = ctx.nat->create_inbound(k, in, map, mp.segment, mp.guest_port, uplink, ns.max_sessions,
                               ctx.now_tsc, &why);
  if (id == NatTable::kInvalid) return *v = drop(refusal_drop(why)), id;
  ctx.counters->event(WorkerEvent::kNatCreated);
  return id;
}

inline Verdict to_guest(WorkerContext& ctx, const Snapshot& snap, rte_mbuf* m,
                        const nat::Session& s) noexcept {
  const PortPolicy& guest = snap.ports[s.guest_port];
  if (!guest.link_up || snap.ports[s.guest_port].segment != s.segment) return drop(Drop::kLinkDown);
  auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  eh->src_addr = snap.segments[s.segment].service_mac;
  eh->dst_addr = guest.mac;
  (void)ctx;
  return tx(s.guest_port);
}

// Outside -> guest.
Verdict inbound(WorkerContext& ctx, const Snapshot& snap, uint16_t in_port, rte_mbuf* m,
                const PacketMeta& pm, bool owned) noexcept {
  const UplinkNat& up = snap.uplink_nat[in_port];
  if (!(pm.flags & kMetaIpv4)) return drop(Drop::kNatNotIp);
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, pm.l3_offset);
  if (ip->dst_addr != up.address) return drop(Drop::kNatNotForUs);
  if (pm.flags & kMetaFragment) return drop(Drop::kNatFragment);
  if (!(pm.flags & kMetaL4)) return drop(Drop::kNatMalformed);
  if (ip->time_to_live <= 1) return drop(Drop::kNatTtl);
  void* l4 = rte_pktmbuf_mtod_offset(m, void*, pm.l4_offset);
  const uint8_t proto = ip->next_proto_id;

  if (proto == IPPROTO_ICMP) {
    auto* icmp = static_cast<rte_icmp_hdr*>(l4);
    if (nat::is_icmp_error(icmp->icmp_type)) {
      // RFC 5508: find the session of the embedded packet (our own outbound packet).
      const uint32_t icmp_len = rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip);
      const uint32_t avail = rte_pktmbuf_data_len(m) - pm.l4_offset;
      if (icmp_len > avail || icmp_len < sizeof(rte_icmp_hdr) + sizeof(rte_ipv4_hdr) + 8)
        return drop(Drop::kNatMalformed);
      auto* inner = reinterpret_cast<rte_ipv4_hdr*>(icmp + 1);
      const uint32_t ihl = rte_ipv4_hdr_len(inner);
      if (ihl < sizeof(rte_ipv4_hdr) || sizeof(rte_icmp_hdr) + ihl + 8 > icmp_len)
        return drop(Drop::kNatMalformed);
      const void* inner_l4 = reinterpret_cast<const uint8_t*>(inner) + ihl;
      nat::OutKey k{};
      k.remote_ip = inner->dst_addr;
      k.outside_ip = inner->src_addr;
      k.remote_port = nat::endpoint_of(inner, inner_l4, Side::kDestination).port;
      k.outside_port = nat::endpoint_of(inner, inner_l4, Side::kSource).port;
      k.proto = inner->next_proto_id;
      if (!owned && ctx.n_workers > 1) {
        uint16_t owner = rte_be_to_cpu_16(k.outside_port) % ctx.n_workers;
        for (const PortForwardRule& r : snap.port_forwards)
          if (r.uplink_port == in_port && r.proto == k.proto && r.host_port == k.outside_port)
            owner = nat_owner_inside(snap.nat[r.segment].nat_id, r.guest_ip, r.guest_port,
                                     ctx.n_workers);
        if (owner != ctx.worker_id) return handoff(owner);
      }
      const uint32_t id = ctx.nat->find_out(k);  // errors never create or refresh state
      if (id == NatTable::kInvalid) return drop(Drop::kNatUnsolicited);
      const nat::Session& s = ctx.nat->session(id);
      if (!nat::rewrite_icmp_error(ip, icmp, icmp_len, Side::kSource, {s.in.src_ip, s.in.src_port},
                                   s.in.src_ip))
        return drop(Drop::kNatMalformed);
      decrement_ttl(ip);
      return to_guest(ctx, snap, m, s);
    }
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
  const uint32_t id = inbound_session(ctx, snap, in_port, k, owned, &v);
  if (id == NatTable::kInvalid) return v;
  const nat::Session& s = ctx.nat->session(id);
  const uint8_t flags = tcp_flags(ip, l4);
  nat::rewrite(ip, l4, Side::kDestination, {s.in.src_ip, s.in.src_port});
  if (s.out.remote_ip != s.in.dst_ip)  // DNS proxy: the answer comes from .3
    nat::rewrite(ip, l4, Side::kSource, {s.in.dst_ip, s.in.dst_port});
  decrement_ttl(ip);
  ctx.nat->touch(id, ctx.now_tsc, nat::Dir::kIn, flags);
  return to_guest(ctx, snap, m, s);
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
  for (uint16_t i = 0; i < batch.n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    const Verdict v = inside ? outbound(ctx, snap, in_port, m, batch.meta[i], from_handoff)
                             : inbound(ctx, snap, in_port, m, batch.meta[i], from_handoff);
    switch (v.kind) {
      case Verdict::kTx:
        ctx.counters->event(WorkerEvent::kNatTranslated);
        stage_tx(ctx, v.port, m);
        break;
      case Verdict::kHandoff:
        m->port = in_port;
        if (rte_ring_sp_enqueue(ctx.handoff_to[v.port], m) == 0) {
          ctx.counters->event(WorkerEvent::kNatHandoffs);
        } else {
          pc.drop(Drop::kNatHandoffFull);
          rte_pktmbuf_free(m);
        }
        break;
      case Verdict::kDrop:
        pc.drop(v.why);
        rte_pktmbuf_free(m);
        break;
      case Verdict::kPunt:
        m->port = in_port;
        if (rte_ring_sp_enqueue(ctx.punt_ring, m) == 0) {
          ctx.counters->event(WorkerEvent::kPunted);
        } else {
          pc.drop(Drop::kPuntRingFull);
          rte_pktmbuf_free(m);
        }
        break;
    }
  }
  batch.n = 0;
}

void nat_expire(WorkerContext& ctx, const Snapshot& snap) noexcept {
  if (ctx.nat == nullptr || ctx.nat->size() == 0) return;
  const NatTimeouts& t = snap.nat_timeouts;
  const uint64_t hz = ctx.tsc_hz;
  const std::array<uint64_t, 4> tsc = {t.udp_s * hz, t.tcp_established_s * hz,
                                       t.tcp_transitory_s * hz, t.icmp_s * hz};
  const uint32_t n = ctx.nat->expire(ctx.now_tsc, tsc, 64);
  if (n != 0) ctx.counters->event(WorkerEvent::kNatExpired, n);
}

}  // namespace gp
