// Fast path: see nat_lane.h. What the lane takes, the stages would have done the same
// way (classify_stage, punt_stage, nat_stage's outbound_fast / inbound_fast); a test
// (NatLaneTest) holds each condition to it.
#include "dataplane/nat/nat_lane.h"

#include <netinet/in.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>

#include "dataplane/core/mbuf_chain.h"
#include "dataplane/nat/nat_table.h"
#include "dataplane/nat/neighbors.h"
#include "dataplane/nat/translate.h"
#include "dataplane/services/dhcp_message.h"

namespace gp {

namespace {

using nat::NatTable;
using nat::Side;

constexpr uint32_t kL3 = sizeof(rte_ether_hdr);
constexpr uint32_t kIpHdr = sizeof(rte_ipv4_hdr);

// The frame's IPv4 header if it is an untagged IPv4 frame long enough to have one.
inline rte_ipv4_hdr* ipv4_of(rte_mbuf* m) noexcept {
  const auto* eh = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  if (rte_pktmbuf_data_len(m) < kL3 + kIpHdr ||
      eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
    return nullptr;
  return rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, kL3);
}

// An IPv4 frame (ipv4_of) that classify passes with nothing to note and the service
// check leaves alone: a 20-byte header, all of the TCP or UDP header in the first
// segment, not a fragment, TTL above 1, within the port's frame size, a unicast
// non-zero source MAC, not to or from a DHCP port.
inline bool plain(const rte_mbuf* m, const rte_ipv4_hdr* ip, uint16_t max_frame) noexcept {
  const uint32_t pkt = rte_pktmbuf_pkt_len(m);
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  const auto& src = rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr;
  if (ip->version_ihl != 0x45 || pkt > max_frame || total > pkt - kL3 || ip->time_to_live <= 1 ||
      (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) ||
      rte_is_multicast_ether_addr(&src) || rte_is_zero_ether_addr(&src))
    return false;
  const uint32_t data = rte_pktmbuf_data_len(m);
  const auto* l4 = reinterpret_cast<const uint8_t*>(ip + 1);
  if (ip->next_proto_id == IPPROTO_UDP) {
    const rte_be16_t dport = reinterpret_cast<const rte_udp_hdr*>(l4)->dst_port;
    return total >= kIpHdr + sizeof(rte_udp_hdr) && data >= kL3 + kIpHdr + sizeof(rte_udp_hdr) &&
           dport != rte_cpu_to_be_16(dhcp::kServerPort) &&
           dport != rte_cpu_to_be_16(dhcp::kClientPort);
  }
  return ip->next_proto_id == IPPROTO_TCP && total >= kIpHdr + sizeof(rte_tcp_hdr) &&
         data >= kL3 + kIpHdr + sizeof(rte_tcp_hdr);
}

// The flows of the frames the lane left in the batch so far (addresses and protocol:
// what a later fragment names too); a later frame of one of them stays as well.
struct Marks {
  static constexpr uint32_t kMax = 8;
  struct Flow {
    rte_be32_t src, dst;
    uint8_t proto;
  };
  Flow f[kMax];
  uint32_t n = 0;
  bool full = false;  // more than kMax: every later frame stays

  void mark(const rte_ipv4_hdr* ip) noexcept {
    if (n == kMax) {
      full = true;
      return;
    }
    f[n++] = {ip->src_addr, ip->dst_addr, ip->next_proto_id};
  }
  bool marked(const rte_ipv4_hdr* ip) const noexcept {
    if (full) return true;
    for (uint32_t i = 0; i < n; ++i)
      if (f[i].src == ip->src_addr && f[i].dst == ip->dst_addr && f[i].proto == ip->next_proto_id)
        return true;
    return false;
  }
};

// Ethernet padding past the datagram is not part of it (nat_stage trims it the same).
inline void trim(rte_mbuf* m, const rte_ipv4_hdr* ip) noexcept {
  const uint32_t len = kL3 + rte_be_to_cpu_16(ip->total_length);
  if (rte_pktmbuf_pkt_len(m) > len) mbuf_trim_to(m, len);
}

// Refreshes the session before the rewrite (the TCP numbers are read from the packet).
inline void touch(WorkerContext& ctx, uint32_t id, nat::Dir d, const rte_mbuf* m,
                  const rte_ipv4_hdr* ip) noexcept {
  if (ip->next_proto_id == IPPROTO_UDP) {
    ctx.nat->touch(id, ctx.now_tsc, d, nullptr);
    return;
  }
  const void* l4 = ip + 1;
  nat::TcpSegment seg;
  if (!ctx.nat->touch(id, ctx.now_tsc, d, nat::tcp_segment(m, kL3 + kIpHdr, ip, l4, &seg)))
    ctx.counters->event(WorkerEvent::kNatRstIgnored);
}

// The burst's packets the lane may take, their keys, looked up in one bulk call; then
// each frame in order: translated and staged by `take` (true), or left in the batch.
// Key(ip, key): false when the packet needs the stages before any lookup.
template <typename KeyT, typename Key, typename Lookup, typename Take>
void run_lane(WorkerContext& ctx, Batch& batch, uint16_t max_frame, Key key, Lookup lookup,
              Take take) noexcept {
  KeyT keys[kBurst];
  rte_ipv4_hdr* ips[kBurst];
  uint8_t slot[kBurst];  // the key's index for a frame that has one, else kBurst
  uint32_t n = 0;
  for (uint16_t i = 0; i < batch.n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    rte_ipv4_hdr* ip = ipv4_of(m);
    ips[i] = ip;
    slot[i] = kBurst;
    if (ip != nullptr && plain(m, ip, max_frame) && key(ip, keys[n])) slot[i] = n++;
  }
  if (n == 0) return;
  uint32_t ids[kBurst];
  lookup(keys, n, ids);
  Marks marks;
  uint16_t kept = 0, taken = 0;
  for (uint16_t i = 0; i < batch.n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    rte_ipv4_hdr* ip = ips[i];
    if (slot[i] != kBurst) {
      const uint32_t id = ids[slot[i]];
      // A miss stays unmarked: every frame of its flow missed in this same lookup.
      if (id == NatTable::kInvalid) {
        batch.pkts[kept++] = m;
        continue;
      }
      if (!marks.marked(ip) && take(m, ip, id)) {
        ++taken;
        continue;
      }
    }
    if (ip != nullptr && !marks.marked(ip)) marks.mark(ip);  // once a flow: fragments are many
    batch.pkts[kept++] = m;
  }
  batch.n = kept;
  if (taken != 0) ctx.counters->event(WorkerEvent::kNatTranslated, taken);
}

// Guest -> outside (outbound_fast's conditions, and what the full path checks first).
void outbound_lane(WorkerContext& ctx, const Snapshot& snap, Batch& batch,
                   const PortPolicy& pp) noexcept {
  const NatSegment& ns = snap.nat[pp.segment];
  const UplinkNat& up = snap.uplink_nat[ns.uplink_port];
  rte_ether_addr next_hop;
  if (!up.enabled || !ctx.neighbors->next_hop(ns.uplink_port, &next_hop)) return;
  const rte_ether_addr own = ctx.neighbors->own_mac(ns.uplink_port);
  const uint16_t uplink = ns.uplink_port;
  auto key = [&](const rte_ipv4_hdr* ip, nat::InKey& k) {
    const rte_be32_t dst = ip->dst_addr;
    // Routed out (nat::routed_out), not to a host on the uplink's own subnet (its MAC
    // is the slow path's), not larger than the uplink's MTU.
    if (!nat::routed_out(ns, up, dst) ||
        ((dst & up.netmask) == (up.address & up.netmask) && dst != up.gateway) ||
        rte_be_to_cpu_16(ip->total_length) > up.mtu)
      return false;
    std::memcpy(&k.src_ip, &ip->src_addr, 8);  // src_ip, dst_ip
    std::memcpy(&k.src_port, ip + 1, 4);       // src_port, dst_port
    k.nat_id = ns.nat_id;
    k.proto = ip->next_proto_id;
    k.pad = 0;
    return true;
  };
  auto lookup = [&](const nat::InKey* k, uint32_t n, uint32_t* ids) {
    ctx.nat->find_in_bulk(k, n, ids);
  };
  auto take = [&](rte_mbuf* m, rte_ipv4_hdr* ip, uint32_t id) {
    const nat::Session& s = ctx.nat->session(id);
    if (!nat::rewrite_serves_out(snap, s)) return false;
    trim(m, ip);
    touch(ctx, id, nat::Dir::kOut, m, ip);
    nat::rewrite_hop(ip, ip + 1, Side::kSource, {s.outside_ip, s.outside_port});
    auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    eh->src_addr = own;
    eh->dst_addr = next_hop;
    stage_tx(ctx, uplink, m);
    return true;
  };
  run_lane<nat::InKey>(ctx, batch, pp.max_frame, key, lookup, take);
}

// Outside -> guest (inbound_fast's conditions).
void inbound_lane(WorkerContext& ctx, const Snapshot& snap, Batch& batch,
                  const PortPolicy& pp) noexcept {
  const UplinkNat& up = snap.uplink_nat[batch.in_port];
  auto key = [&](const rte_ipv4_hdr* ip, nat::OutKey& k) {
    if (ip->dst_addr != up.address) return false;
    std::memcpy(&k.remote_ip, &ip->src_addr, 8);  // remote_ip, outside_ip
    std::memcpy(&k.remote_port, ip + 1, 4);       // remote_port, outside_port
    k.proto = ip->next_proto_id;
    k.pad[0] = k.pad[1] = k.pad[2] = 0;
    return true;
  };
  auto lookup = [&](const nat::OutKey* k, uint32_t n, uint32_t* ids) {
    ctx.nat->find_out_bulk(k, n, ids);
  };
  auto take = [&](rte_mbuf* m, rte_ipv4_hdr* ip, uint32_t id) {
    const nat::Session& s = ctx.nat->session(id);
    if (!nat::rewrite_serves_in(snap, s)) return false;
    const PortPolicy& guest = snap.ports[s.guest_port];
    if (!guest.link_up || guest.segment != s.segment ||
        kL3 + rte_be_to_cpu_16(ip->total_length) > guest.max_frame)
      return false;
    trim(m, ip);
    touch(ctx, id, nat::Dir::kIn, m, ip);
    nat::rewrite_hop(ip, ip + 1, Side::kDestination, {s.in.src_ip, s.in.src_port});
    auto* eh = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    eh->src_addr = snap.segments[s.segment].service_mac;
    eh->dst_addr = s.guest_mac;
    stage_tx(ctx, s.guest_port, m);
    return true;
  };
  run_lane<nat::OutKey>(ctx, batch, pp.max_frame, key, lookup, take);
}

}  // namespace

void nat_lane(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept {
  if (ctx.nat == nullptr || ctx.neighbors == nullptr) return;
  const PortPolicy& pp = snap.ports[batch.in_port];
  if (!pp.link_up || (pp.features & (kFeatureGuard | kFeatureVlan))) return;
  if (pp.segment < snap.segments.size()) {
    if (batch.segment == pp.segment && snap.segments[pp.segment].kind == SegmentKind::kNat &&
        !snap.nat[pp.segment].shared)
      outbound_lane(ctx, snap, batch, pp);
  } else if (snap.uplink_nat[batch.in_port].enabled && !snap.uplink_tunnels[batch.in_port]) {
    inbound_lane(ctx, snap, batch, pp);
  }
}

}  // namespace gp
