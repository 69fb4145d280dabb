// Fast path: see encap.h.
#include "dataplane/tunnel/encap.h"

#include <rte_ether.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_udp.h>
#include <rte_vxlan.h>

#include <cstring>

#include "dataplane/core/mbuf_chain.h"
#include "dataplane/core/worker.h"
#include "dataplane/nat/neighbors.h"

namespace gp {

uint16_t tunnel_source_port(const rte_mbuf* m) noexcept {
  const uint32_t avail = rte_pktmbuf_data_len(m);
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  uint32_t h = 0x9e3779b9u;
  if (avail >= sizeof(rte_ether_hdr)) {
    h = rte_hash_crc(p, 2 * RTE_ETHER_ADDR_LEN, h);
    const auto* eh = reinterpret_cast<const rte_ether_hdr*>(p);
    if (eh->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4) &&
        avail >= sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) {
      const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eh + 1);
      h = rte_hash_crc_4byte(ip->src_addr, h);
      h = rte_hash_crc_4byte(ip->dst_addr, h);
      const uint32_t ihl = rte_ipv4_hdr_len(ip);
      const bool ports = (ip->next_proto_id == IPPROTO_TCP || ip->next_proto_id == IPPROTO_UDP) &&
                         (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) == 0;
      if (ports && ihl >= sizeof(rte_ipv4_hdr) && avail >= sizeof(rte_ether_hdr) + ihl + 4) {
        uint32_t both;
        std::memcpy(&both, p + sizeof(rte_ether_hdr) + ihl, sizeof(both));
        h = rte_hash_crc_4byte(both, h);
      }
    }
  }
  return static_cast<uint16_t>(49152u | ((h ^ (h >> 16)) & 0x3fffu));
}

namespace {
// The outer headers for one frame of `inner_len` bytes, written at hdr.
void write_headers(uint8_t* hdr, const TunnelPort& t, const UplinkNat& up,
                   const rte_ether_addr& src, const rte_ether_addr& dst, uint16_t ip_id,
                   rte_be16_t sport, uint32_t inner_len) noexcept {
  auto* eh = reinterpret_cast<rte_ether_hdr*>(hdr);
  eh->dst_addr = dst;
  eh->src_addr = src;
  eh->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  const bool vxlan = t.driver == TunnelDriver::kVxlan;
  const uint32_t udp_len = sizeof(rte_udp_hdr) + (vxlan ? sizeof(rte_vxlan_hdr) : 0) + inner_len;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eh + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + udp_len));
  ip->packet_id = rte_cpu_to_be_16(ip_id);
  ip->fragment_offset = 0;  // DF clear, as Linux's vxlan devices send by default
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->hdr_checksum = 0;
  ip->src_addr = up.address;
  ip->dst_addr = t.remote;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  u->src_port = sport;
  u->dst_port = t.remote_udp;
  u->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  u->dgram_cksum = 0;
  if (vxlan) {
    auto* vh = reinterpret_cast<rte_vxlan_hdr*>(u + 1);
    vh->vx_flags = RTE_BE32(0x08000000);  // I: the VNI is valid; the rest reserved, zero
    vh->vx_vni = t.vni;
  }
}

inline void drop_all(WorkerContext& ctx, uint16_t port, Drop why) noexcept {
  TxStaging::Queue& q = ctx.tx.q[port];
  ctx.counters->ports[port].drop(why, q.n);
  rte_pktmbuf_free_bulk(q.pkts, q.n);
  q.n = 0;
}
}  // namespace

void tunnel_tx(WorkerContext& ctx, uint16_t port) noexcept {
  TxStaging::Queue& q = ctx.tx.q[port];
  const Snapshot* snap = ctx.snap;
  if (snap == nullptr || !is_tunnel_port(port)) return drop_all(ctx, port, Drop::kTxNoQueue);
  const TunnelPort& t = snap->tunnels[port - kMaxEthPorts];
  const uint16_t uplink = t.uplink_port;
  if (t.driver == TunnelDriver::kNone || uplink >= kMaxEthPorts ||
      !snap->uplink_nat[uplink].enabled || !snap->ports[uplink].link_up)
    return drop_all(ctx, port, Drop::kLinkDown);
  const UplinkNat& up = snap->uplink_nat[uplink];
  // The remote's MAC where it shares the uplink's subnet, else the gateway's; both
  // are resolved by the slow path before the first frame needs them.
  rte_ether_addr next_hop;
  if (ctx.neighbors == nullptr) return drop_all(ctx, port, Drop::kTunnelNoNeighbor);
  const bool onlink =
      (t.remote & up.netmask) == (up.address & up.netmask) && t.remote != up.gateway;
  const bool known = onlink ? ctx.neighbors->onlink(uplink, t.remote, &next_hop)
                            : up.gateway != 0 && ctx.neighbors->next_hop(uplink, &next_hop);
  if (!known) return drop_all(ctx, port, Drop::kTunnelNoNeighbor);
  const rte_ether_addr& own = ctx.neighbors->own_mac(uplink);
  const uint16_t overhead = t.driver == TunnelDriver::kVxlan ? kVxlanOverhead : kUdpTunnelOverhead;
  PortCounters& pc = ctx.counters->ports[port];
  // The queue is emptied before anything is staged on the uplink (which may send).
  rte_mbuf* pkts[kBurst];
  const uint16_t n = q.n;
  std::memcpy(pkts, q.pkts, n * sizeof(rte_mbuf*));
  q.n = 0;
  uint64_t bytes = 0;
  uint16_t sent = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const uint32_t inner_len = rte_pktmbuf_pkt_len(m);
    if (inner_len + overhead - sizeof(rte_ether_hdr) > up.mtu) {
      pc.drop(Drop::kTunnelTooBig);
      rte_pktmbuf_free(m);
      continue;
    }
    const rte_be16_t sport = t.driver == TunnelDriver::kVxlan
                                 ? rte_cpu_to_be_16(tunnel_source_port(m))
                                 : t.local_udp;  // VirtualBox sends from its bound port
    rte_mbuf* out = m;
    uint8_t* hdr = nullptr;
    if (mbuf_exclusive(m) && rte_pktmbuf_headroom(m) >= overhead) {
      hdr = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, overhead));
    } else {
      // Shared with other ports (a flood): a header of its own in front. m's own
      // fields stay as they are, the other holders read them.
      out = rte_pktmbuf_alloc(m->pool);
      if (out == nullptr) {
        pc.drop(Drop::kNoMbuf);
        rte_pktmbuf_free(m);
        continue;
      }
      hdr = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(out, overhead));
      out->next = m;
      out->nb_segs = static_cast<uint16_t>(1 + m->nb_segs);
      out->pkt_len = overhead + inner_len;
    }
    write_headers(hdr, t, up, own, next_hop, ctx.ip_id++, sport, inner_len);
    if (t.udp_checksum) {
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(hdr + sizeof(rte_ether_hdr));
      auto* u = reinterpret_cast<rte_udp_hdr*>(ip + 1);
      u->dgram_cksum = rte_ipv4_udptcp_cksum_mbuf(
          out, ip, static_cast<uint16_t>(sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)));
    }
    out->ol_flags = 0;
    bytes += inner_len;
    ++sent;
    stage_tx(ctx, uplink, out);
  }
  pc.tx_packets.add(sent);
  pc.tx_bytes.add(bytes);
  ctx.counters->event(WorkerEvent::kTunnelEncap, sent);
}

}  // namespace gp
