// MTU rules without DPDK: each NIC model's profile, a network's MTU as its adapters'
// default, what a port is set up for (port_mtu) against what its adapter carries (mtu),
// and the af_packet devargs a jumbo port gets.
#include <gtest/gtest.h>

#include <algorithm>

#include "control/compile.h"
#include "dataplane/io/ports.h"
#include "tests/unit/test_config.h"

namespace gp {
namespace {

using test::cfg;

TEST(NicModels, EveryModelsRules) {
  struct Want {
    const char* name;
    bool bridged, elsewhere, vlan, csum;
    uint32_t max_frame;
  };
  const Want want[] = {{"Am79C970A", false, false, false, false, 1518},
                       {"Am79C973", false, false, false, false, 1518},
                       {"82540EM", true, false, true, true, 16384},
                       {"82543GC", true, false, true, true, 16384},
                       {"82545EM", true, false, true, true, 16384},
                       {"virtio-net", true, true, true, true, 65553}};
  ASSERT_EQ(nic_model_names().size(), std::size(want));
  for (const Want& w : want) {
    SCOPED_TRACE(w.name);
    auto m = nic_model_from_name(w.name);
    ASSERT_TRUE(m.has_value());
    const NicProfile& p = nic_profile(*m);
    EXPECT_EQ(p.name, w.name);
    EXPECT_EQ(nic_carries_jumbo(*m, true), w.bridged);
    EXPECT_EQ(nic_carries_jumbo(*m, false), w.elsewhere);
    EXPECT_EQ(p.vlan_offload, w.vlan);
    EXPECT_EQ(p.checksum_offload, w.csum);
    EXPECT_EQ(p.max_frame, w.max_frame);
    // Whatever carries jumbo frames can take the switch's largest frame whole.
    if (w.bridged) {
      EXPECT_GE(p.max_frame, max_frame_for_mtu(9000));
    }
  }
  EXPECT_FALSE(nic_model_from_name("e1000").has_value());
  EXPECT_EQ(nic_profile(kDefaultNicModel).name, "Am79C973");
}

const char* kNets = R"(uplinks: {lan: {device: "net_ring_up", mtu: 9000}}
networks:
  big: {mode: internal, mtu: 9000}
  office: {mode: bridged, uplink: lan}
  host: {mode: hostonly, mtu: 4000, host_interface: {name: gph0, address: 192.168.60.1/24}}
vms:
  a: {adapters: {1: {attach: internal:big, model: virtio-net, port: "net_ring_a"}}}
  b: {adapters: {1: {attach: internal:big, model: virtio-net, mtu: 1400, port: "net_ring_b"}}}
  c: {adapters: {1: {attach: bridged:office, model: 82545EM, port: "net_ring_c"}}}
  d: {adapters: {1: {attach: internal:big, port: "net_ring_d"}}}
  e: {adapters: {1: {attach: internal:small, model: virtio-net, port: "net_ring_e"}}}
)";

const PortPlan& find(const std::vector<PortPlan>& plans, const std::string& key) {
  auto it =
      std::find_if(plans.begin(), plans.end(), [&](const PortPlan& p) { return p.key == key; });
  EXPECT_NE(it, plans.end()) << key;
  return *it;
}

TEST(Mtu, AdaptersTakeTheirNetworksMtuUnlessTheySetOne) {
  Config c = cfg(kNets);
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_TRUE(errs.empty());
  EXPECT_EQ(find(plans, "vm/a/1").mtu, 9000);  // the network's
  EXPECT_EQ(find(plans, "vm/b/1").mtu, 1400);  // its own
  EXPECT_EQ(find(plans, "vm/c/1").mtu, 9000);  // a bridged network: its uplink's
  EXPECT_EQ(find(plans, "vm/e/1").mtu, 1500);  // an implicit network: 1500
  EXPECT_EQ(find(plans, "uplink/lan").port_mtu, 9000);
  // The host interface is a DPDK tap, which carries at most 1500 (warned about below).
  EXPECT_EQ(find(plans, "host/host").port_mtu, 1500);
  EXPECT_EQ(find(plans, "host/host").mtu, 1500);
  // The AMD adapter: asked for 9000 (by its network), carries 1500, but its port is set
  // up for 9000 so that the switch sees, drops and counts the frames it cannot carry.
  const PortPlan& d = find(plans, "vm/d/1");
  EXPECT_EQ(d.mtu, 1500);
  EXPECT_TRUE(d.model_capped);
  EXPECT_EQ(d.port_mtu, 9000);
  std::vector<Diagnostic> warnings;
  nic_model_warnings(c, warnings);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].message.find("network 'host': mtu 4000 but the host interface gph0"),
            std::string::npos)
      << warnings[0].message;
  EXPECT_EQ(warnings[0].loc.line, 5);  // the network's mtu
  EXPECT_EQ(warnings[0].loc.column, 31);
  EXPECT_NE(warnings[1].message.find("vm 'd' adapter 1: mtu 9000"), std::string::npos)
      << warnings[1].message;
  EXPECT_EQ(warnings[1].loc.line, 10);  // the adapter, since it wrote no mtu itself
}

TEST(Mtu, NetworkMtuErrorsSayWhere) {
  LoadResult r = parse_config("networks:\n  n: {mode: internal, mtu: 9001}\n", "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "t.yaml:2:28: error: mtu must be a whole number from 68 to 9000, got '9001'");
  r = parse_config("networks:\n  n: {mode: internal, mtu: big}\n", "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].loc.column, 28);
}

TEST(Mtu, JumboAfPacketPortsGetFramesLargeEnoughForAWholeFrame) {
  EXPECT_EQ(normalize_devargs("net_af_packet0,iface=v0", 1, true),
            "net_af_packet0,iface=v0,qpairs=1,framecnt=2048,framesz=10240,blocksz=20480");
  // What the user wrote stays.
  EXPECT_EQ(normalize_devargs("net_af_packet0,iface=v0,framesz=16384,blocksz=16384", 1, true),
            "net_af_packet0,iface=v0,framesz=16384,blocksz=16384,qpairs=1,framecnt=2048");
  EXPECT_EQ(normalize_devargs("net_tap0,iface=t", 2, true), "net_tap0,iface=t");
  // The jumbo pool's mbufs take one such frame (af_packet copies a frame into one
  // mbuf, and refuses a ring whose frames exceed the mbuf's room).
  EXPECT_GE(kJumboDataRoom - 128, kJumboFrameSize - 32);
  EXPECT_GE(kJumboFrameSize - 66u, max_frame_for_mtu(9000));  // 66: tpacket + sockaddr_ll
  EXPECT_EQ(max_frame_for_mtu(9000), 9018u);
}

}  // namespace
}  // namespace gp
