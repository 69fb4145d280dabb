// Fast path: see punt_stage.h.
#include "dataplane/services/punt_stage.h"

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "dataplane/services/dhcp_message.h"

namespace gp {

namespace {
inline bool is_service_ip(const Segment& seg, rte_be32_t a) noexcept {
  for (uint8_t i = 0; i < seg.n_service_ips; ++i)
    if (seg.service_ips[i] == a) return true;
  return false;
}

// An ICMP echo request whose destination `ours` claims.
template <typename Ours>
inline bool is_echo_request_to(const rte_mbuf* m, const PacketMeta& pm, Ours ours) noexcept {
  if (!(pm.flags & kMetaIpv4) || !(pm.flags & kMetaL4) || pm.ip_proto != IPPROTO_ICMP) return false;
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, pm.l3_offset);
  const auto* ic = rte_pktmbuf_mtod_offset(m, const rte_icmp_hdr*, pm.l4_offset);
  return ic->icmp_type == RTE_IP_ICMP_ECHO_REQUEST && ours(ip->dst_addr);
}

inline bool wants_slow_path(const Segment& seg, const rte_mbuf* m, const PacketMeta& pm) noexcept {
  if (pm.flags & kMetaArp) {
    const auto* a = rte_pktmbuf_mtod_offset(m, const rte_arp_hdr*, pm.l3_offset);
    // Requests for our addresses; replies to them (a NAT router asks for its guests).
    return (a->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
            a->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY)) &&
           is_service_ip(seg, a->arp_data.arp_tip);
  }
  if ((seg.services & kServiceGateway) &&
      is_echo_request_to(m, pm, [&](rte_be32_t a) { return is_service_ip(seg, a); }))
    return true;
  if ((seg.services & kServiceDhcp) && (pm.flags & kMetaIpv4) && (pm.flags & kMetaL4) &&
      pm.ip_proto == IPPROTO_UDP) {
    const auto* u = rte_pktmbuf_mtod_offset(m, const rte_udp_hdr*, pm.l4_offset);
    if (u->dst_port != rte_cpu_to_be_16(dhcp::kServerPort)) return false;
    const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, pm.l3_offset);
    const bool to_us_l2 =
        rte_is_broadcast_ether_addr(&eh->dst_addr) || mac_equal(eh->dst_addr, seg.service_mac);
    const bool to_us_l3 = ip->dst_addr == RTE_BE32(0xffffffff) || is_service_ip(seg, ip->dst_addr);
    return to_us_l2 && to_us_l3;
  }
  return false;
}

// The service guard (see punt_stage.h): Drop::kCount when the frame may pass.
inline Drop spoofs_service(const Segment& seg, const rte_mbuf* m, const PacketMeta& pm,
                           bool dhcp_trusted) noexcept {
  if (pm.flags & kMetaArp) {
    const auto* a = rte_pktmbuf_mtod_offset(m, const rte_arp_hdr*, pm.l3_offset);
    return is_service_ip(seg, a->arp_data.arp_sip) ? Drop::kArpSpoof : Drop::kCount;
  }
  if (!dhcp_trusted && (seg.services & kServiceDhcp) && (pm.flags & kMetaIpv4) &&
      (pm.flags & kMetaL4) && pm.ip_proto == IPPROTO_UDP) {
    const auto* u = rte_pktmbuf_mtod_offset(m, const rte_udp_hdr*, pm.l4_offset);
    if (u->dst_port == rte_cpu_to_be_16(dhcp::kClientPort)) return Drop::kDhcpSpoof;
  }
  return Drop::kCount;
}

// On a NAT uplink: all ARP (answers for our address, the gateway's MAC) and pings to
// the outside address.
inline bool uplink_wants_slow_path(const UplinkNat& up, const rte_mbuf* m,
                                   const PacketMeta& pm) noexcept {
  if (pm.flags & kMetaArp) return true;
  return is_echo_request_to(m, pm, [&](rte_be32_t a) { return a == up.address; });
}

}  // namespace

void punt_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept {
  const PortPolicy& in = snap.ports[batch.in_port];
  if (!in.link_up) return;
  const bool on_segment = batch.segment < snap.segments.size();
  const bool nat_uplink = !on_segment && snap.uplink_nat[batch.in_port].enabled;
  if (!on_segment && !nat_uplink) return;
  static const Segment kNoServices{};
  const Segment& seg = on_segment ? snap.segments[batch.segment] : kNoServices;
  if (on_segment && seg.services == kServiceNone) return;
  const bool guarded = on_segment && in.role == PortRole::kGuest;
  const bool dhcp_trusted = (in.features & kFeatureDhcpTrusted) != 0;
  PortCounters& pc = ctx.counters->ports[batch.in_port];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < batch.n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    if (guarded) {
      const Drop why = spoofs_service(seg, m, batch.meta[i], dhcp_trusted);
      if (why != Drop::kCount) {
        pc.drop(why);
        rte_pktmbuf_free(m);
        continue;
      }
    }
    const bool punt = nat_uplink
                          ? uplink_wants_slow_path(snap.uplink_nat[batch.in_port], m, batch.meta[i])
                          : wants_slow_path(seg, m, batch.meta[i]);
    if (!punt) {
      batch.meta[kept] = batch.meta[i];
      batch.pkts[kept++] = m;
      continue;
    }
    m->port = batch.in_port;
    m->hash.usr = kPuntAnswer;
    if (!punt_admit(ctx, batch.in_port, snap.punt_pps, snap.punt_burst)) {
      pc.drop(Drop::kPuntRateLimited);
      rte_pktmbuf_free(m);
    } else if (rte_ring_sp_enqueue(ctx.punt_ring, m) == 0) {
      ctx.counters->event(WorkerEvent::kPunted);
    } else {
      pc.drop(Drop::kPuntRingFull);
      rte_pktmbuf_free(m);
    }
  }
  batch.n = kept;
}

}  // namespace gp
