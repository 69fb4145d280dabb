// Fast path: see classify_stage.h.
#include "dataplane/parse/classify_stage.h"

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_prefetch.h>

namespace gp {

namespace {
constexpr uint16_t kPrefetchAhead = 4;

inline bool src_mac_bad(const rte_ether_addr& a) noexcept {
  return rte_is_multicast_ether_addr(&a) || rte_is_zero_ether_addr(&a);
}

// Validates the L3 header in the first segment and records what later stages may use.
inline void classify_l3(const rte_mbuf* m, PacketMeta& pm) noexcept {
  const uint32_t avail = rte_pktmbuf_data_len(m) - pm.l3_offset;
  if (pm.ether_type == RTE_ETHER_TYPE_ARP) {
    if (avail >= sizeof(rte_arp_hdr)) {
      const auto* a = rte_pktmbuf_mtod_offset(m, const rte_arp_hdr*, pm.l3_offset);
      if (a->arp_hardware == rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) &&
          a->arp_protocol == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) && a->arp_hlen == 6 &&
          a->arp_plen == 4)
        pm.flags |= kMetaArp;
    }
    return;
  }
  if (pm.ether_type != RTE_ETHER_TYPE_IPV4 || avail < sizeof(rte_ipv4_hdr)) return;
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, pm.l3_offset);
  const uint32_t ihl = rte_ipv4_hdr_len(ip);
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr) || ihl > avail || total < ihl ||
      total > rte_pktmbuf_pkt_len(m) - pm.l3_offset)
    return;
  pm.flags |= kMetaIpv4;
  pm.ip_proto = ip->next_proto_id;
  pm.l4_offset = static_cast<uint16_t>(pm.l3_offset + ihl);
  const uint16_t frag = rte_be_to_cpu_16(ip->fragment_offset);
  const bool first = (frag & RTE_IPV4_HDR_OFFSET_MASK) == 0;
  if ((frag & RTE_IPV4_HDR_MF_FLAG) || !first) pm.flags |= kMetaFragment;
  if (first && total - ihl >= 8 && avail - ihl >= 8) pm.flags |= kMetaL4;
}
}  // namespace

void classify_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch, bool l3) noexcept {
  PortCounters& pc = ctx.counters->ports[batch.in_port];
  const PortPolicy& in = snap.ports[batch.in_port];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < batch.n && i < kPrefetchAhead; ++i)
    rte_prefetch0(rte_pktmbuf_mtod(batch.pkts[i], void*));
  for (uint16_t i = 0; i < batch.n; ++i) {
    if (i + kPrefetchAhead < batch.n)
      rte_prefetch0(rte_pktmbuf_mtod(batch.pkts[i + kPrefetchAhead], void*));
    rte_mbuf* m = batch.pkts[i];
    Drop why = Drop::kCount;
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) {
      why = Drop::kRunt;
    } else {
      const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
      PacketMeta& pm = batch.meta[kept];
      pm = PacketMeta{};
      pm.l3_offset = sizeof(rte_ether_hdr);
      pm.ether_type = rte_be_to_cpu_16(eh->ether_type);
      pm.flags = rte_is_multicast_ether_addr(&eh->dst_addr) ? kMetaDstGroup : 0;
      if (pm.ether_type == RTE_ETHER_TYPE_VLAN || pm.ether_type == RTE_ETHER_TYPE_QINQ) {
        if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr)) {
          why = Drop::kRunt;
        } else {
          const auto* vh = reinterpret_cast<const rte_vlan_hdr*>(eh + 1);
          pm.flags |= kMetaVlan;
          pm.ether_type = rte_be_to_cpu_16(vh->eth_proto);
          pm.l3_offset = sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr);
        }
      }
      if (why == Drop::kCount && rte_pktmbuf_pkt_len(m) > max_frame_for(in.max_frame, pm))
        why = (in.features & kFeatureModelCapped) ? Drop::kNicModelMtu : Drop::kOversize;
      if (why == Drop::kCount && src_mac_bad(eh->src_addr)) why = Drop::kBadSrcMac;
      if (why == Drop::kCount) {
        if (l3 && !(pm.flags & kMetaVlan)) classify_l3(m, pm);
        batch.pkts[kept++] = m;
        continue;
      }
    }
    pc.drop(why);
    rte_pktmbuf_free(m);
  }
  batch.n = kept;
}

}  // namespace gp
