// Fast path: see decap_stage.h. A linear scan of the uplink's tunnels per tunnel frame:
// a generic network has a static list of a few remotes and kMaxTunnelPorts bounds
// them all, so a scan of a handful of 20-byte entries costs less than a hash would.
#include "dataplane/tunnel/decap_stage.h"

#include <rte_ip.h>
#include <rte_udp.h>
#include <rte_vxlan.h>

#include "dataplane/core/mbuf_chain.h"

namespace gp {

namespace {
constexpr uint8_t kVxlanFlagI = 0x08;  // RFC 7348: "I" set, the VNI is valid

enum class Match : uint8_t { kNotTunnel, kPort, kMalformed, kUnknownVni, kUnknownRemote };

struct Found {
  Match what = Match::kNotTunnel;
  uint16_t port = kNoPort;
  uint16_t header = 0;  // bytes from the frame start to the inner frame
  uint16_t inner = 0;   // the inner frame's length
};

// What a frame that classify found to be well-formed IPv4 is, for the tunnels of
// uplink `in_port` whose address is `local`.
Found find(const Snapshot& snap, uint16_t in_port, rte_be32_t local, const rte_mbuf* m,
           const PacketMeta& pm) noexcept {
  Found f;
  if (!(pm.flags & kMetaIpv4) || pm.ip_proto != IPPROTO_UDP) return f;
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, pm.l3_offset);
  if (ip->dst_addr != local) return f;
  // Later fragments carry no ports: not a tunnel's to judge, they go on to the NAT.
  if (!(pm.flags & kMetaL4)) return f;
  const rte_be16_t dport = rte_pktmbuf_mtod_offset(m, const rte_udp_hdr*, pm.l4_offset)->dst_port;
  bool vxlan = false, udp = false;
  for (uint16_t vp : snap.tunnel_ports) {
    const TunnelPort& t = snap.tunnels[vp - kMaxEthPorts];
    if (t.uplink_port != in_port || t.local_udp != dport) continue;
    vxlan |= t.driver == TunnelDriver::kVxlan;
    udp |= t.driver == TunnelDriver::kUdp;
  }
  if (!vxlan && !udp) return f;
  f.what = Match::kMalformed;
  if (pm.flags & kMetaFragment) return f;  // a first fragment to a tunnel: not reassembled
  const auto* u = rte_pktmbuf_mtod_offset(m, const rte_udp_hdr*, pm.l4_offset);
  const uint32_t ip_payload = rte_be_to_cpu_16(ip->total_length) - (pm.l4_offset - pm.l3_offset);
  const uint32_t udp_len = rte_be_to_cpu_16(u->dgram_len);
  const uint32_t hdr = sizeof(rte_udp_hdr) + (vxlan ? sizeof(rte_vxlan_hdr) : 0);
  if (udp_len < hdr || udp_len > ip_payload || pm.l4_offset + hdr > rte_pktmbuf_data_len(m))
    return f;
  if (u->dgram_cksum != 0 &&  // RFC 7348 section 5: zero is accepted, others MAY be verified
      rte_ipv4_udptcp_cksum_mbuf_verify(m, ip, pm.l4_offset) != 0)
    return f;
  f.header = static_cast<uint16_t>(pm.l4_offset + hdr);
  f.inner = static_cast<uint16_t>(udp_len - hdr);
  rte_be32_t vni = 0;
  if (vxlan) {
    const auto* vh = reinterpret_cast<const rte_vxlan_hdr*>(u + 1);
    if (!(reinterpret_cast<const uint8_t*>(&vh->vx_flags)[0] & kVxlanFlagI)) return f;
    vni = vh->vx_vni & RTE_BE32(0xffffff00);
  }
  f.what = vxlan ? Match::kUnknownVni : Match::kUnknownRemote;
  for (uint16_t vp : snap.tunnel_ports) {
    const TunnelPort& t = snap.tunnels[vp - kMaxEthPorts];
    if (t.uplink_port != in_port || t.local_udp != u->dst_port) continue;
    if (vxlan ? (t.driver != TunnelDriver::kVxlan || t.vni != vni) : t.driver != TunnelDriver::kUdp)
      continue;
    f.what = Match::kUnknownRemote;  // the network is ours; is the sender one of its remotes?
    if (t.remote != ip->src_addr) continue;
    f.what = Match::kPort;
    f.port = vp;
    return f;
  }
  return f;
}
}  // namespace

void tunnel_decap_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch, Batch& inner,
                        uint16_t* vports) noexcept {
  inner.n = 0;
  const rte_be32_t local = snap.uplink_nat[batch.in_port].address;
  PortCounters& pc = ctx.counters->ports[batch.in_port];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < batch.n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    const Found f = find(snap, batch.in_port, local, m, batch.meta[i]);
    if (f.what == Match::kNotTunnel) {
      batch.meta[kept] = batch.meta[i];
      batch.pkts[kept++] = m;
      continue;
    }
    if (f.what != Match::kPort) {
      pc.drop(f.what == Match::kMalformed    ? Drop::kTunnelMalformed
              : f.what == Match::kUnknownVni ? Drop::kTunnelUnknownVni
                                             : Drop::kTunnelUnknownRemote);
      rte_pktmbuf_free(m);
      continue;
    }
    // The headers lie in the first segment (find checked): strip them, and the outer
    // frame's padding or trailer after the datagram.
    rte_pktmbuf_adj(m, f.header);
    mbuf_trim_to(m, f.inner);
    m->packet_type = 0;
    m->ol_flags = 0;
    PortCounters& vc = ctx.counters->ports[f.port];
    vc.rx_packets.add(1);
    vc.rx_bytes.add(f.inner);
    ctx.counters->event(WorkerEvent::kTunnelDecap);
    vports[inner.n] = f.port;
    inner.pkts[inner.n++] = m;
  }
  batch.n = kept;
}

}  // namespace gp
