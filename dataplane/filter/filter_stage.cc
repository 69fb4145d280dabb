// Fast path: see filter_stage.h.
#include "dataplane/filter/filter_stage.h"

#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include <cstring>

#include "dataplane/filter/port_leases.h"

namespace gp {

namespace {
enum class L3 { kOther, kIpv4, kArp, kUnparsed };

// Reads what the filters match on from the first segment, past up to two VLAN tags:
// a tagged frame is filtered like an untagged one (a guest cannot slip past an ACL by
// tagging). kUnparsed: IPv4 or ARP whose header does not lie whole in the first
// segment; a receiver would still read it, so the filters drop it.
inline L3 parse(const rte_mbuf* m, AclKey& k, rte_be32_t& arp_sender) noexcept {
  const uint32_t len = rte_pktmbuf_data_len(m);
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  uint32_t off = sizeof(rte_ether_hdr);
  if (len < off) return L3::kOther;  // a runt; classify dropped it already
  uint16_t type = reinterpret_cast<const rte_ether_hdr*>(p)->ether_type;
  for (int tags = 0; tags < 2 && (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) ||
                                  type == rte_cpu_to_be_16(RTE_ETHER_TYPE_QINQ));
       ++tags) {
    if (len < off + sizeof(rte_vlan_hdr)) return L3::kOther;
    type = reinterpret_cast<const rte_vlan_hdr*>(p + off)->eth_proto;
    off += sizeof(rte_vlan_hdr);
  }
  if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
    if (len < off + sizeof(rte_arp_hdr)) return L3::kUnparsed;
    arp_sender = reinterpret_cast<const rte_arp_hdr*>(p + off)->arp_data.arp_sip;
    return L3::kArp;
  }
  if (type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return L3::kOther;
  if (len < off + sizeof(rte_ipv4_hdr)) return L3::kUnparsed;
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(p + off);
  const uint32_t ihl = (ip->version_ihl & 0x0f) * 4u;
  if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr) || len < off + ihl)
    return L3::kUnparsed;
  k.proto = ip->next_proto_id;
  std::memset(k.pad, 0, sizeof(k.pad));
  k.src = ip->src_addr;
  k.dst = ip->dst_addr;
  k.sport = k.dport = 0;
  const bool first = (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) == 0;
  if (first && (k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP)) {
    if (len < off + ihl + 4) return L3::kUnparsed;
    std::memcpy(&k.sport, p + off + ihl, 2);
    std::memcpy(&k.dport, p + off + ihl + 2, 2);
  }
  return L3::kIpv4;
}

inline bool source_allowed(const PortGuard& g, rte_be32_t ip, rte_be32_t lease) noexcept {
  for (uint8_t i = 0; i < g.n_ips; ++i)
    if (g.ips[i] == ip) return true;
  return (g.flags & kGuardDhcp) && lease != 0 && ip == lease;
}

// A DHCP client before it has an address: 0.0.0.0, UDP to port 67.
inline bool dhcp_client(const AclKey& k) noexcept {
  return k.src == 0 && k.proto == IPPROTO_UDP && k.dport == rte_cpu_to_be_16(67);
}

// Runs the ACL over the frames whose keys are set (l3[i] == kIpv4); compacts pkts.
uint16_t run_acl(WorkerContext& ctx, const AclTable& acl, PortCounters& pc, rte_mbuf** pkts,
                 uint16_t n, const AclKey* keys, const L3* l3) noexcept {
  const uint8_t* data[kBurst];
  uint16_t idx[kBurst];
  uint32_t res[kBurst];
  uint16_t m = 0;
  for (uint16_t i = 0; i < n; ++i)
    if (l3[i] == L3::kIpv4) idx[m] = i, data[m++] = reinterpret_cast<const uint8_t*>(&keys[i]);
  if (m != 0) acl.classify(data, res, m);
  uint16_t kept = 0, j = 0;
  for (uint16_t i = 0; i < n; ++i) {
    bool pass = true;
    if (j < m && idx[j] == i) {
      acl.count(ctx.worker_id, res[j]);
      pass = acl.allows(res[j++]);
      if (!pass) pc.drop(Drop::kAclDeny);
    }
    if (pass)
      pkts[kept++] = pkts[i];
    else
      rte_pktmbuf_free(pkts[i]);
  }
  return kept;
}
}  // namespace

void guard_stage(WorkerContext& ctx, const Snapshot& snap, Batch& batch) noexcept {
  const uint16_t port = batch.in_port;
  PortCounters& pc = ctx.counters->ports[port];
  const PortPolicy& pol = snap.ports[port];
  const PortGuard& g = snap.guards[port];
  const rte_be32_t lease = ctx.leases != nullptr ? ctx.leases->get(port) : 0;
  AclKey keys[kBurst];
  L3 l3[kBurst];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < batch.n; ++i) {
    rte_mbuf* m = batch.pkts[i];
    rte_be32_t sender = 0;
    const L3 kind = parse(m, keys[kept], sender);
    Drop why = Drop::kCount;
    if ((g.flags & kGuardMac) &&
        !rte_is_same_ether_addr(&rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr, &pol.mac))
      why = Drop::kSpoofedMac;
    else if (kind == L3::kUnparsed)
      why = Drop::kFilterUnparsed;
    else if ((g.flags & kGuardIpv4) && kind == L3::kIpv4 && !dhcp_client(keys[kept]) &&
             !source_allowed(g, keys[kept].src, lease))
      why = Drop::kSpoofedIp;
    else if ((g.flags & kGuardIpv4) && kind == L3::kArp && sender != 0 &&
             !source_allowed(g, sender, lease))
      why = Drop::kSpoofedIp;  // sender 0: an ARP probe (RFC 5227)
    if (why != Drop::kCount) {
      pc.drop(why);
      rte_pktmbuf_free(m);
      continue;
    }
    l3[kept] = kind;
    batch.meta[kept] = batch.meta[i];
    batch.pkts[kept++] = m;
  }
  batch.n = kept;
  const AclTable* acl = snap.acl_in[port];
  if (acl == nullptr || kept == 0) return;
  // run_acl compacts pkts; meta must follow the same frames.
  PacketMeta meta[kBurst];
  rte_mbuf* before[kBurst];
  std::memcpy(meta, batch.meta, sizeof(PacketMeta) * kept);
  std::memcpy(before, batch.pkts, sizeof(rte_mbuf*) * kept);
  batch.n = run_acl(ctx, *acl, pc, batch.pkts, kept, keys, l3);
  for (uint16_t i = 0, j = 0; i < kept && j < batch.n; ++i)
    if (before[i] == batch.pkts[j]) batch.meta[j++] = meta[i];
}

uint16_t acl_egress(WorkerContext& ctx, const AclTable& acl, uint16_t port, rte_mbuf** pkts,
                    uint16_t n) noexcept {
  PortCounters& pc = ctx.counters->ports[port];
  AclKey keys[kBurst];
  L3 l3[kBurst];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_be32_t sender = 0;
    l3[kept] = parse(pkts[i], keys[kept], sender);
    if (l3[kept] == L3::kUnparsed) {
      pc.drop(Drop::kFilterUnparsed);
      rte_pktmbuf_free(pkts[i]);
      continue;
    }
    pkts[kept++] = pkts[i];
  }
  return run_acl(ctx, acl, pc, pkts, kept, keys, l3);
}

}  // namespace gp
