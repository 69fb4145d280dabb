// Config -> port plans -> Snapshot, EAL arguments and devargs normalisation (no EAL).
#include "control/compile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "control/config_loader.h"
#include "control/eal_args.h"
#include "control/validate.h"
#include "dataplane/io/ports.h"
#include "tests/unit/test_config.h"

namespace gp {
namespace {

using test::cfg;

const char* kTwoNets = R"(networks:
  h: {mode: hostonly}
vms:
  a: {adapters: {1: {attach: internal:x, port: "net_ring_a"}, 2: {attach: hostonly:h, port: "net_ring_h"}}}
  b: {adapters: {1: {attach: internal:x, promiscuous: allow-all, port: "net_ring_b"}}}
  c: {adapters: {1: {attach: internal:y, port: "net_ring_c"}, 2: {attach: internal:x, cable_connected: false, port: "net_ring_d"}}}
)";

TEST(Compile, PlansEveryPortWithItsSegment) {
  Config c = cfg(kTwoNets);
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_TRUE(errs.empty());
  ASSERT_EQ(plans.size(), 6u);  // host tap + 5 adapters
  EXPECT_EQ(plans[0].key, "host/h");
  EXPECT_EQ(plans[0].role, PortRole::kHost);
  EXPECT_EQ(plans[0].devargs, "net_tap0,iface=gphost0");
  auto find = [&](const std::string& k) {
    return *std::find_if(plans.begin(), plans.end(), [&](auto& p) { return p.key == k; });
  };
  EXPECT_EQ(find("vm/a/1").segment, "internal:x");
  EXPECT_EQ(find("vm/c/1").segment, "internal:y");
  EXPECT_FALSE(find("vm/c/2").link_up);
}

TEST(Compile, SnapshotSegmentsMembersAndSniffers) {
  Config c = cfg(kTwoNets);
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  std::map<std::string, uint16_t> ids;
  uint16_t next = 3;
  for (const auto& p : plans) ids[p.key] = next++;
  auto s = compile_snapshot(plans, ids, 42);
  EXPECT_EQ(s->version, 42u);
  EXPECT_EQ(s->segments.size(), 3u);
  EXPECT_EQ(s->rx_ports.size(), 6u);
  const PortPolicy& a1 = s->ports[ids["vm/a/1"]];
  const PortPolicy& b1 = s->ports[ids["vm/b/1"]];
  const PortPolicy& c1 = s->ports[ids["vm/c/1"]];
  EXPECT_EQ(a1.segment, b1.segment);
  EXPECT_NE(a1.segment, c1.segment);
  const Segment& x = s->segments[a1.segment];
  EXPECT_EQ(s->segment_names[a1.segment], "internal:x");
  EXPECT_EQ(x.n_members, 3);  // a/1, b/1, c/2
  EXPECT_EQ(x.n_sniffers, 1);
  EXPECT_EQ(x.sniffers[0], ids["vm/b/1"]);
  EXPECT_EQ(x.fdb_generation, 1);
  EXPECT_EQ(a1.max_frame, 1514);
  EXPECT_EQ(s->ports[0].role, PortRole::kUnused);
}

TEST(Compile, NatAdaptersArePrivateRoutersWithVirtualBoxLayout) {
  Config c =
      cfg("uplinks: {w: {device: net_ring_w, address: 198.51.100.10/24, gateway: 198.51.100.1, "
          "dns: [198.51.100.53]}}\n"
          "vms:\n"
          "  a: {adapters: {1: {attach: nat, port: net_ring_a, port_forwards: [{name: ssh, proto: "
          "tcp, host_port: 2222, guest_port: 22}]}, 2: {attach: nat, port: net_ring_b}}}\n"
          "  b: {adapters: {1: {attach: nat, port: net_ring_c}}}\n");
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_TRUE(errs.empty()) << errs[0].to_string();
  std::map<std::string, uint16_t> ids;
  uint16_t next = 0;
  for (const auto& p : plans) ids[p.key] = next++;
  auto s = compile_snapshot(plans, ids, 1, plan_segments(c), plan_globals(c));
  ASSERT_EQ(s->segments.size(), 3u);  // one private router per adapter
  const PortPolicy& a1 = s->ports[ids["vm/a/1"]];
  const PortPolicy& a2 = s->ports[ids["vm/a/2"]];
  const PortPolicy& b1 = s->ports[ids["vm/b/1"]];
  EXPECT_NE(a1.segment, b1.segment);
  const NatSegment& n1 = s->nat[a1.segment];
  const NatSegment& n2 = s->nat[a2.segment];
  EXPECT_EQ(s->segments[a1.segment].kind, SegmentKind::kNat);
  EXPECT_EQ(rte_be_to_cpu_32(n1.gateway), 0x0a000202u);                  // 10.0.2.2
  EXPECT_EQ(rte_be_to_cpu_32(n1.dns), 0x0a000203u);                      // 10.0.2.3
  EXPECT_EQ(rte_be_to_cpu_32(n2.gateway), 0x0a000302u);                  // adapter 2: 10.0.3.2
  EXPECT_EQ(rte_be_to_cpu_32(s->nat[b1.segment].gateway), 0x0a000202u);  // same as a/1
  EXPECT_NE(n1.nat_id, s->nat[b1.segment].nat_id);
  EXPECT_EQ(n1.uplink_port, ids["uplink/w"]);
  EXPECT_EQ(s->dhcp[a1.segment]->lower, 0x0a00020fu);  // 10.0.2.15
  EXPECT_EQ(*s->dhcp[a1.segment]->router, 0x0a000202u);
  const UplinkNat& up = s->uplink_nat[ids["uplink/w"]];
  EXPECT_TRUE(up.enabled);
  EXPECT_EQ(up.n_dns, 1);
  ASSERT_EQ(s->port_forwards.size(), 1u);
  EXPECT_EQ(rte_be_to_cpu_32(s->port_forwards[0].guest_ip), 0x0a00020fu);  // default .15
  EXPECT_EQ(rte_be_to_cpu_16(s->port_forwards[0].host_port), 2222);
}

TEST(Compile, NatNeedsAnUplinkWithAddress) {
  LoadResult r = parse_config(
      "uplinks: {w: {device: net_tap0}}\nvms:\n  a: {adapters: {1: {attach: nat, port: x}}}\n",
      "t.yaml");
  validate_config(*r.config, r.errors);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].loc.line, 3);
  EXPECT_NE(r.errors[0].message.find("needs an uplink with an address"), std::string::npos);
}

TEST(Compile, NatNetworkIsOneSharedRouterWithVirtualBoxLayout) {
  Config c =
      cfg("uplinks: {w: {device: net_ring_w, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n"
          "networks:\n"
          "  lab: {mode: natnetwork, network: 192.168.22.0/24, uplink: w, filtering: "
          "endpoint-independent, port_forwards: [{name: "
          "ssh, proto: tcp, host_port: 1022, guest_ip: 192.168.22.5, guest_port: 22}]}\n"
          "vms:\n"
          "  a: {adapters: {1: {attach: natnetwork:lab, port: net_ring_a}}}\n"
          "  b: {adapters: {1: {attach: natnetwork:lab, port: net_ring_b}}}\n");
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_TRUE(errs.empty()) << errs[0].to_string();
  std::map<std::string, uint16_t> ids;
  uint16_t next = 0;
  for (const auto& p : plans) ids[p.key] = next++;
  auto s = compile_snapshot(plans, ids, 1, plan_segments(c), plan_globals(c));
  const uint16_t seg = s->ports[ids["vm/a/1"]].segment;
  ASSERT_EQ(seg, s->ports[ids["vm/b/1"]].segment);  // one segment, both guests
  EXPECT_EQ(s->segments[seg].kind, SegmentKind::kNat);
  EXPECT_EQ(s->segments[seg].n_members, 2);
  const NatSegment& n = s->nat[seg];
  EXPECT_TRUE(n.shared);
  EXPECT_TRUE(n.endpoint_independent_filtering);  // the network's own setting
  EXPECT_EQ(n.guest_port, kNoPort);
  EXPECT_EQ(rte_be_to_cpu_32(n.gateway), 0xc0a81601u);  // 192.168.22.1, also the DNS proxy
  EXPECT_EQ(n.dns, n.gateway);
  ASSERT_TRUE(s->dhcp[seg]);
  EXPECT_EQ(s->dhcp[seg]->server_ip, 0xc0a81603u);  // .3
  EXPECT_EQ(s->dhcp[seg]->lower, 0xc0a81604u);      // after the server
  EXPECT_EQ(s->dhcp[seg]->upper, 0xc0a816feu);      // broadcast - 1
  EXPECT_EQ(*s->dhcp[seg]->router, 0xc0a81601u);
  // ARP is answered for the router and the DHCP server.
  EXPECT_EQ(s->segments[seg].n_service_ips, 2);
  ASSERT_EQ(s->port_forwards.size(), 1u);
  EXPECT_EQ(rte_be_to_cpu_32(s->port_forwards[0].guest_ip), 0xc0a81605u);
  EXPECT_EQ(s->port_forwards[0].segment, seg);
}

std::vector<Diagnostic> check(const std::string& yaml) {
  LoadResult r = parse_config(yaml, "t.yaml");
  if (r.errors.empty()) validate_config(*r.config, r.errors);
  return r.errors;
}

TEST(Validate, NatNetworkAndForwardMistakesAreReportedWhereTheyAre) {
  const std::string up =
      "uplinks: {w: {device: net_ring_w, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n";
  // guest_ip is required on a NAT network (many guests) ...
  auto e = check(up +
                 "networks:\n  lab: {mode: natnetwork, network: 10.9.0.0/24, uplink: w, "
                 "port_forwards: [{name: web, proto: tcp, host_port: 80, guest_port: 80}]}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].loc.line, 3);
  EXPECT_NE(e[0].message.find("needs guest_ip"), std::string::npos) << e[0].message;
  // ... and must be a guest address, not the router or the DHCP server.
  e = check(up +
            "networks:\n  lab: {mode: natnetwork, network: 10.9.0.0/24, uplink: w, "
            "port_forwards: [{name: web, proto: tcp, host_port: 80, guest_ip: 10.9.0.3, "
            "guest_port: 80}]}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("must be a guest address"), std::string::npos) << e[0].message;
  // Two rules cannot own one host port of an uplink.
  e = check(up +
            "networks:\n  lab: {mode: natnetwork, network: 10.9.0.0/24, uplink: w, "
            "port_forwards: [{name: web, proto: tcp, host_port: 80, guest_ip: 10.9.0.5, "
            "guest_port: 80}]}\n"
            "vms:\n  a: {adapters: {1: {attach: nat, port: net_ring_a, port_forwards: [{name: "
            "http, proto: tcp, host_port: 80, guest_port: 8080}]}}}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].loc.line, 5);
  EXPECT_NE(e[0].message.find("already forwarded"), std::string::npos) << e[0].message;
  // The same port on UDP is another rule.
  e = check(up +
            "vms:\n  a: {adapters: {1: {attach: nat, port: net_ring_a, port_forwards: [{name: "
            "a, proto: tcp, host_port: 53, guest_port: 53}, {name: b, proto: udp, host_port: 53, "
            "guest_port: 53}]}}}\n");
  EXPECT_TRUE(e.empty()) << e[0].to_string();
  // Forwards belong to NAT only; a NAT network needs a NAT-capable uplink.
  e = check(up +
            "vms:\n  a: {adapters: {1: {attach: internal:x, port: net_ring_a, "
            "port_forwards: [{name: a, proto: tcp, host_port: 1, guest_port: 1}]}}}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("apply to attach: nat"), std::string::npos) << e[0].message;
  e = check(
      "uplinks: {w: {device: net_ring_w}}\n"
      "networks:\n  lab: {mode: natnetwork, network: 10.9.0.0/24, uplink: w}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("needs an address and a gateway"), std::string::npos);
  e = check(up + "networks:\n  lab: {mode: natnetwork, network: 10.9.0.0/30, uplink: w}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("/8 to /29"), std::string::npos);
  e = check(up + "networks:\n  x: {mode: internal, filtering: endpoint-independent}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("filtering applies to natnetwork"), std::string::npos);
  e = check(up +
            "networks:\n  lab: {mode: natnetwork, network: 10.9.0.0/24, uplink: w, "
            "filtering: sometimes}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("address-dependent or endpoint-independent"), std::string::npos);
}

TEST(EalArgs, NoHugeWhenNoneFree) {
  Config c = cfg("appliance: {workers: 2, file_prefix: gp-x}\n");
  MachineFacts m{2, true, 0};
  EalPlan p = eal_args(c, m, "gpd");
  auto has = [&](const std::string& a) {
    return std::find(p.args.begin(), p.args.end(), a) != p.args.end();
  };
  EXPECT_FALSE(p.hugepages);
  EXPECT_TRUE(has("--no-huge"));
  EXPECT_TRUE(has("--file-prefix=gp-x"));
  EXPECT_TRUE(has("--lcores=0@0,1@1,2@0"));  // wraps onto 2 CPUs
  EXPECT_TRUE(has("--no-pci"));
  EXPECT_TRUE(p.error.empty());
  EXPECT_EQ(p.cpus, (std::vector<unsigned>{0, 1}));
}

TEST(EalArgs, CpusAreTheMainLcoresAndTheWorkersOnes) {
  Config c = cfg("appliance: {workers: 3, worker_cpus: [6, 4, 6]}\n");
  EXPECT_EQ(eal_args(c, MachineFacts{8, true, 0}, "gpd").cpus, (std::vector<unsigned>{0, 4, 6}));
}

TEST(EalArgs, HugepagesWhenAvailableAndRequiredWhenOn) {
  Config c = cfg("appliance: {hugepages: true, memory_mb: 512}\n");
  EalPlan ok = eal_args(c, MachineFacts{4, true, 1024}, "gpd");
  EXPECT_TRUE(ok.hugepages);
  // Shared memory (no --in-memory, no --no-huge): dpdk-dumpcap attaches as a secondary.
  EXPECT_EQ(std::find(ok.args.begin(), ok.args.end(), "--in-memory"), ok.args.end());
  EXPECT_EQ(std::find(ok.args.begin(), ok.args.end(), "--no-huge"), ok.args.end());
  EXPECT_NE(std::find(ok.args.begin(), ok.args.end(), "--file-prefix=guestport"), ok.args.end());
  EalPlan bad = eal_args(c, MachineFacts{4, true, 100}, "gpd");
  EXPECT_NE(bad.error.find("hugepages"), std::string::npos);
}

TEST(Devargs, AfPacketGetsQueuesAndRing) {
  EXPECT_EQ(normalize_devargs("net_af_packet0,iface=v0", 2),
            "net_af_packet0,iface=v0,qpairs=2,framecnt=4096");
  EXPECT_EQ(normalize_devargs("net_af_packet0,iface=v0,framecnt=8192,qpairs=1", 2),
            "net_af_packet0,iface=v0,framecnt=8192,qpairs=1");
  EXPECT_EQ(normalize_devargs("net_tap0,iface=t", 2), "net_tap0,iface=t");
  EXPECT_EQ(devargs_device("net_tap0,iface=t"), "net_tap0");
}

// VirtualBox's jumbo rule per NIC model: AMD never, Intel on bridged only, virtio always.
const char* kModels = R"(uplinks: {lan: {device: "net_ring_up"}}
networks: {office: {mode: bridged, uplink: lan}}
vms:
  a: {adapters: {1: {attach: internal:x, mtu: 9000, port: "net_ring_a"}}}
  b: {adapters: {1: {attach: internal:x, model: 82540EM, mtu: 9000, port: "net_ring_b"}}}
  c: {adapters: {1: {attach: bridged:office, model: 82545EM, mtu: 9000, port: "net_ring_c"}}}
  d: {adapters: {1: {attach: internal:x, model: virtio-net, mtu: 9000, port: "net_ring_d"}}}
  e: {adapters: {1: {attach: internal:x, model: Am79C970A, mtu: 1400, port: "net_ring_e"}}}
)";

TEST(Compile, NicModelsDecideWhetherJumboFramesPass) {
  Config c = cfg(kModels);
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_TRUE(errs.empty());
  auto find = [&](const std::string& k) {
    return *std::find_if(plans.begin(), plans.end(), [&](const PortPlan& p) { return p.key == k; });
  };
  EXPECT_EQ(find("vm/a/1").mtu, 1500);  // Am79C973, the default: never jumbo
  EXPECT_TRUE(find("vm/a/1").model_capped);
  EXPECT_EQ(find("vm/b/1").mtu, 1500);  // Intel, not bridged
  EXPECT_TRUE(find("vm/b/1").model_capped);
  EXPECT_EQ(find("vm/c/1").mtu, 9000);  // Intel, bridged
  EXPECT_FALSE(find("vm/c/1").model_capped);
  EXPECT_EQ(find("vm/d/1").mtu, 9000);  // virtio-net: everywhere
  EXPECT_EQ(find("vm/e/1").mtu, 1400);  // smaller than 1500: as asked
  EXPECT_FALSE(find("vm/e/1").model_capped);
  std::map<std::string, uint16_t> ids;
  for (size_t i = 0; i < plans.size(); ++i) ids[plans[i].key] = static_cast<uint16_t>(i);
  auto snap = compile_snapshot(plans, ids, 1, plan_segments(c), plan_globals(c));
  EXPECT_TRUE(snap->ports[ids["vm/a/1"]].features & kFeatureModelCapped);
  EXPECT_EQ(snap->ports[ids["vm/a/1"]].max_frame, 1514);
  EXPECT_FALSE(snap->ports[ids["vm/d/1"]].features & kFeatureModelCapped);
  EXPECT_EQ(snap->ports[ids["vm/d/1"]].max_frame, 9014);
}

TEST(Compile, AJumboMtuTheModelCannotCarryIsWarnedAboutWhereItIsWritten) {
  Config c = cfg(kModels);
  std::vector<Diagnostic> warnings;
  nic_model_warnings(c, warnings);
  ASSERT_EQ(warnings.size(), 2u);  // a (AMD) and b (Intel on internal)
  EXPECT_EQ(warnings[0].to_string().rfind("t.yaml:4:", 0), 0u) << warnings[0].to_string();
  EXPECT_NE(warnings[0].to_string().find(": warning: vm 'a' adapter 1: mtu 9000"),
            std::string::npos)
      << warnings[0].to_string();
  EXPECT_NE(warnings[0].message.find("never carries jumbo frames"), std::string::npos);
  EXPECT_NE(warnings[1].message.find("only on bridged attachments"), std::string::npos);
  EXPECT_EQ(warnings[0].loc.column, 47u) << "the column of the mtu value";
}

}  // namespace
}  // namespace gp
