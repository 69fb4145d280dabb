// Config of generic networks: the vxlan and udp drivers' keys, every refusal at
// file:line:column, the MTU a generic network gets by default (its uplink's less the
// encapsulation) and the warning when one does not fit, and what plan_ports makes of
// it (one tunnel port per remote, with its VNI and UDP ports in network order).
#include "control/compile.h"
#include "tests/unit/test_config.h"

namespace gp {
namespace {

using test::cfg;

std::vector<Diagnostic> errors_of(const std::string& yaml) {
  return load_config_text(yaml, "t.yaml").errors;
}

const std::string kUplink = "uplinks: {wan: {device: net_ring_w, address: 198.51.100.10/24}}\n";

std::string first(const std::vector<Diagnostic>& e) {
  return e.empty() ? "(no error)" : e[0].to_string();
}

TEST(TunnelConfig, VxlanNetworkPlansOneTunnelPortPerRemote) {
  Config c = cfg(kUplink +
                 "networks:\n"
                 "  stretch: {mode: generic, driver: vxlan, vni: 42, uplink: wan,\n"
                 "            remotes: [198.51.100.1, 198.51.100.2]}\n"
                 "vms: {a: {adapters: {1: {attach: generic:stretch, port: net_ring_a}}}}\n");
  const NetworkConfig* n = c.find_network("stretch");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->tunnel.vni, 42u);
  EXPECT_EQ(n->tunnel.udp_port, 4789);
  EXPECT_EQ(network_mtu(c, *n), 1450) << "1500 less 50 bytes, as a Linux vxlan device";
  EXPECT_EQ(c.vms[0].adapters.at(1).mtu, 1450);
  std::vector<Diagnostic> errors;
  auto plans = plan_ports(c, errors);
  EXPECT_TRUE(errors.empty());
  std::vector<const PortPlan*> tunnels;
  for (const PortPlan& p : plans)
    if (p.role == PortRole::kTunnel) tunnels.push_back(&p);
  ASSERT_EQ(tunnels.size(), 2u);
  EXPECT_EQ(tunnels[0]->key, "tunnel/stretch/198.51.100.1");
  EXPECT_EQ(tunnels[0]->segment, "generic:stretch");
  EXPECT_EQ(tunnels[0]->tunnel.driver, TunnelDriver::kVxlan);
  EXPECT_EQ(tunnels[0]->tunnel.vni, rte_cpu_to_be_32(42u << 8));
  EXPECT_EQ(tunnels[0]->tunnel.remote_udp, rte_cpu_to_be_16(4789));
  EXPECT_EQ(tunnels[0]->tunnel_uplink, "uplink/wan");
  EXPECT_EQ(tunnels[1]->tunnel.remote, rte_cpu_to_be_32(0xC6336402u));
  // compile: tunnel ports are not polled, the uplink runs the decap stage.
  std::map<std::string, uint16_t> ids = {{"uplink/wan", 0},
                                         {"vm/a/1", 1},
                                         {"tunnel/stretch/198.51.100.1", kMaxEthPorts},
                                         {"tunnel/stretch/198.51.100.2", kMaxEthPorts + 1}};
  auto snap = compile_snapshot(plans, ids, 1, plan_segments(c), plan_globals(c));
  EXPECT_EQ(snap->rx_ports, (std::vector<uint16_t>{0, 1}));
  EXPECT_EQ(snap->tunnel_ports.size(), 2u);
  EXPECT_TRUE(snap->uplink_tunnels[0]);
  EXPECT_EQ(snap->tunnels[1].uplink_port, 0);
  EXPECT_TRUE(snap->uplink_nat[0].enabled) << "an address without a gateway is an endpoint";
  EXPECT_EQ(snap->ports[kMaxEthPorts].role, PortRole::kTunnel);
  EXPECT_EQ(snap->ports[kMaxEthPorts].segment, snap->ports[1].segment);
}

TEST(TunnelConfig, UdpTunnelTakesVirtualBoxsKeys) {
  Config c = cfg(kUplink +
                 "networks:\n"
                 "  vbox: {mode: generic, driver: udp, uplink: wan, sport: 10001, "
                 "dest: 198.51.100.1, dport: 10002}\n");
  std::vector<Diagnostic> errors;
  auto plans = plan_ports(c, errors);
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[1].tunnel.driver, TunnelDriver::kUdp);
  EXPECT_EQ(plans[1].tunnel.local_udp, rte_cpu_to_be_16(10001));
  EXPECT_EQ(plans[1].tunnel.remote_udp, rte_cpu_to_be_16(10002));
  EXPECT_EQ(network_mtu(c, c.networks[0]), 1458);
}

TEST(TunnelConfig, RefusalsSayWhereAndWhy) {
  struct Case {
    std::string net;
    std::string want;
    int line, column;
  };
  const std::vector<Case> cases = {
      {"{mode: generic, uplink: wan}", "needs driver: vxlan or udp", 3, 6},
      {"{mode: generic, driver: gre, uplink: wan}", "driver must be vxlan or udp", 3, 30},
      {"{mode: generic, driver: vxlan, uplink: wan, remotes: [198.51.100.1]}", "needs vni", 3, 6},
      {"{mode: generic, driver: vxlan, vni: 0, uplink: wan, remotes: [198.51.100.1]}",
       "vni must be a whole number from 1 to 16777215", 3, 42},
      {"{mode: generic, driver: vxlan, vni: 5, uplink: wan}", "needs remotes", 3, 6},
      {"{mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: [198.51.100.10]}",
       "is uplink 'wan''s own address", 3, 68},
      {"{mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: [203.0.113.1]}",
       "is not on uplink 'wan''s subnet", 3, 68},
      {"{mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: [224.0.0.1]}",
       "cannot be a tunnel endpoint", 3, 68},
      {"{mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: [198.51.100.1, "
       "198.51.100.1]}",
       "listed twice", 3, 82},
      {"{mode: generic, driver: vxlan, vni: 5, remotes: [198.51.100.1]}", "needs an uplink", 3, 6},
      {"{mode: generic, driver: udp, uplink: wan, sport: 1}", "needs sport, dest and dport", 3, 30},
      {"{mode: generic, driver: udp, uplink: wan, sport: 1, dest: 198.51.100.1, dport: 2, "
       "vni: 4}",
       "are the vxlan driver's", 3, 93},
      {"{mode: internal, vni: 4}", "apply to generic networks only", 3, 28},
  };
  for (const Case& k : cases) {
    auto e = errors_of(kUplink + "networks:\n  n: " + k.net + "\n");
    ASSERT_FALSE(e.empty()) << k.net;
    EXPECT_NE(e[0].message.find(k.want), std::string::npos) << k.net << ": " << first(e);
    EXPECT_EQ(e[0].loc.line, k.line) << k.net << ": " << first(e);
    EXPECT_EQ(e[0].loc.column, k.column) << k.net << ": " << first(e);
  }
}

TEST(TunnelConfig, PortsAndVnisAreUniquePerUplink) {
  auto e = errors_of(kUplink +
                     "networks:\n"
                     "  a: {mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: "
                     "[198.51.100.1]}\n"
                     "  b: {mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: "
                     "[198.51.100.2]}\n");
  ASSERT_EQ(e.size(), 1u) << first(e);
  EXPECT_NE(e[0].message.find("vni 5 on uplink 'wan' port 4789 is already network 'a''s"),
            std::string::npos)
      << first(e);
  // Two VNIs on one port are fine; a UDP tunnel on the VXLAN port is not.
  e = errors_of(kUplink +
                "networks:\n"
                "  a: {mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: "
                "[198.51.100.1]}\n"
                "  b: {mode: generic, driver: vxlan, vni: 6, uplink: wan, remotes: "
                "[198.51.100.1]}\n"
                "  c: {mode: generic, driver: udp, uplink: wan, sport: 4789, dest: 198.51.100.1, "
                "dport: 1}\n");
  ASSERT_EQ(e.size(), 1u) << first(e);
  EXPECT_NE(e[0].message.find("UDP port 4789 on uplink 'wan' is already"), std::string::npos);
  // A bridged uplink carries no tunnel; a NAT port forward cannot take the tunnel's port.
  e = errors_of(
      "uplinks: {wan: {device: net_ring_w, address: 198.51.100.10/24, gateway: 198.51.100.1}}\n"
      "networks:\n"
      "  a: {mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: [198.51.100.1]}\n"
      "vms: {v: {adapters: {1: {attach: nat, port: net_ring_v, port_forwards: [{name: x, proto: "
      "udp, host_port: 4789, guest_port: 53}]}}}}\n");
  ASSERT_EQ(e.size(), 1u) << first(e);
  EXPECT_NE(e[0].message.find("is the tunnel port of network 'a'"), std::string::npos);
  e = errors_of(kUplink +
                "networks:\n"
                "  br: {mode: bridged, uplink: wan}\n"
                "  a: {mode: generic, driver: vxlan, vni: 5, uplink: wan, remotes: "
                "[198.51.100.1]}\n");
  ASSERT_EQ(e.size(), 1u) << first(e);
  EXPECT_NE(e[0].message.find("is bridged by network 'br'"), std::string::npos);
}

TEST(TunnelConfig, AnMtuTheUplinkCannotCarryIsAWarning) {
  Config c = cfg(kUplink +
                 "networks:\n"
                 "  a: {mode: generic, driver: vxlan, vni: 5, uplink: wan, mtu: 1500, remotes: "
                 "[198.51.100.1]}\n");
  std::vector<Diagnostic> w;
  nic_model_warnings(c, w);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(w[0].warning);
  EXPECT_EQ(w[0].loc.line, 3);
  EXPECT_NE(w[0].message.find("exceeds uplink 'wan''s mtu 1500"), std::string::npos)
      << w[0].message;
  EXPECT_NE(w[0].message.find("use mtu 1450"), std::string::npos);
}

}  // namespace
}  // namespace gp
