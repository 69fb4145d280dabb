// VLAN config: what parses, what is refused (file:line:column), and the segments,
// trunk maps and flags the snapshot gets (one segment per VLAN of a network).
#include "control/compile.h"
#include "control/diff.h"
#include "tests/unit/test_config.h"

namespace gp {
namespace {

using test::cfg;

std::string adapter(const std::string& extra, const std::string& attach = "internal:x") {
  return "vms:\n  a:\n    adapters:\n      1: {attach: " + attach + ", port: p" + extra + "}\n";
}

Diagnostic only_error(const std::string& yaml) {
  LoadResult r = load_config_text(yaml, "t.yaml");
  EXPECT_EQ(r.errors.size(), 1u) << (r.errors.empty() ? "no error" : r.errors[0].to_string());
  return r.errors.empty() ? Diagnostic{} : r.errors[0];
}

const char* kLab = R"(uplinks: {wan: {device: net_ring_up}}
networks: {office: {mode: bridged, uplink: wan}}
vms:
  a: {adapters: {1: {attach: bridged:office, port: net_ring_a, vlan: 10}}}
  b: {adapters: {1: {attach: bridged:office, port: net_ring_b, vlan: {access: 20}}}}
  r:
    adapters:
      1: {attach: bridged:office, port: net_ring_r, vlan: {trunk: [20, 30-32], native: 10}}
  d: {adapters: {1: {attach: bridged:office, port: net_ring_d}}}
  e: {adapters: {1: {attach: internal:plain, port: net_ring_e}}}
)";

TEST(VlanConfig, AccessTrunkAndNativeParse) {
  Config c = cfg(kLab);
  EXPECT_EQ(c.vms[0].adapters.at(1).vlan.access, 10);
  EXPECT_EQ(c.vms[1].adapters.at(1).vlan.access, 20);
  const VlanConfig& r = c.vms[2].adapters.at(1).vlan;
  EXPECT_EQ(r.trunk, (std::vector<uint16_t>{20, 30, 31, 32}));
  EXPECT_EQ(r.native, 10);
  EXPECT_FALSE(r.untagged_drop);
  EXPECT_EQ(r.to_string(), "trunk 20,30-32 native 10");
  EXPECT_EQ(c.vms[0].adapters.at(1).vlan.to_string(), "access 10");
  EXPECT_EQ(c.vms[3].adapters.at(1).vlan.to_string(), "-");
}

TEST(VlanConfig, EachVlanIsASegmentAndTrunksGetMaps) {
  Config c = cfg(kLab);
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_TRUE(errs.empty());
  std::map<std::string, uint16_t> ids{{"uplink/wan", 0}, {"vm/a/1", 1}, {"vm/b/1", 2},
                                      {"vm/r/1", 3},     {"vm/d/1", 4}, {"vm/e/1", 5}};
  auto s = compile_snapshot(plans, ids, 1, plan_segments(c), plan_globals(c));
  auto seg = [&](const std::string& name) {
    for (size_t i = 0; i < s->segment_names.size(); ++i)
      if (s->segment_names[i] == name) return static_cast<uint16_t>(i);
    ADD_FAILURE() << "no segment " << name;
    return kNoPort;
  };
  const uint16_t base = seg("bridged:office"), v10 = seg("bridged:office/vlan10"),
                 v20 = seg("bridged:office/vlan20"), v31 = seg("bridged:office/vlan31");
  EXPECT_EQ(s->segments[base].vid, 0);
  EXPECT_EQ(s->segments[v10].vid, 10);
  EXPECT_EQ(s->segments[v31].vid, 31);
  // Access ports: their VLAN's segment only, no map.
  EXPECT_EQ(s->ports[1].segment, v10);
  EXPECT_EQ(s->ports[1].vlan, kVlanAware);
  EXPECT_TRUE(s->ports[1].features & kFeatureVlan);
  EXPECT_EQ(s->vlan_map[1], 0);
  EXPECT_EQ(s->ports[2].segment, v20);
  // The trunk: untagged frames are its native VLAN 10's; 20, 30-32 tagged, 10 tagged too.
  EXPECT_EQ(s->ports[3].segment, v10);
  EXPECT_EQ(s->ports[3].vlan, kVlanAware | kVlanTrunk);
  ASSERT_NE(s->vlan_map[3], 0);
  const VlanMap& m = s->vlan_maps[s->vlan_map[3] - 1];
  EXPECT_EQ(m[10], v10);
  EXPECT_EQ(m[20], v20);
  EXPECT_EQ(m[31], v31);
  EXPECT_EQ(m[11], kNoPort);
  EXPECT_TRUE(s->segments[v31].has_member(3));
  // The uplink: every VLAN of the network tagged (10, 20, 30, 31, 32), untagged = base.
  EXPECT_EQ(s->ports[0].segment, base);
  EXPECT_EQ(s->ports[0].vlan, kVlanAware | kVlanTrunk);
  const VlanMap& up = s->vlan_maps[s->vlan_map[0] - 1];
  for (uint16_t v : {10, 20, 30, 31, 32}) EXPECT_NE(up[v], kNoPort) << v;
  EXPECT_TRUE(s->segments[v10].has_member(0) && s->segments[v10].has_member(1));
  EXPECT_FALSE(s->segments[v10].has_member(2));
  // d: VLAN-aware (its tagged frames are dropped), in the untagged segment with the
  // uplink; e: a network without VLANs, not aware at all.
  EXPECT_EQ(s->ports[4].segment, base);
  EXPECT_EQ(s->ports[4].vlan, kVlanAware);
  EXPECT_TRUE(s->segments[base].has_member(0));
  EXPECT_FALSE(s->segments[base].has_member(3)) << "the trunk's untagged frames are VLAN 10's";
  EXPECT_EQ(s->ports[5].vlan, 0);
  EXPECT_FALSE(s->ports[5].features & kFeatureVlan);
}

TEST(VlanConfig, ARemovedVlanRetiresItsSegmentAndKeepsTheOthers) {
  Config c = cfg(kLab);
  std::vector<Diagnostic> errs;
  std::map<std::string, uint16_t> ids{{"uplink/wan", 0}, {"vm/a/1", 1}, {"vm/b/1", 2},
                                      {"vm/r/1", 3},     {"vm/d/1", 4}, {"vm/e/1", 5}};
  CompileState st;
  auto s1 = compile_snapshot(plan_ports(c, errs), ids, 1, plan_segments(c), plan_globals(c), &st);
  const uint16_t v20 = st.segments.at("bridged:office/vlan20").index;
  const uint16_t v31 = st.segments.at("bridged:office/vlan31").index;
  Config c2 = cfg(std::string(kLab).replace(std::string(kLab).find("30-32"), 5, "30"));
  auto s2 =
      compile_snapshot(plan_ports(c2, errs), ids, 2, plan_segments(c2), plan_globals(c2), &st);
  EXPECT_EQ(st.segments.at("bridged:office/vlan20").index, v20) << "its MACs stay";
  EXPECT_EQ(st.segments.count("bridged:office/vlan31"), 0u);
  EXPECT_NE(s2->segments[v31].fdb_generation, s1->segments[v31].fdb_generation);
  EXPECT_TRUE(s2->segment_names[v31].empty());
}

TEST(VlanConfig, DiffNamesAVlanChange) {
  Config a = cfg(kLab);
  Config b = cfg(std::string(kLab).replace(std::string(kLab).find("vlan: 10"), 8, "vlan: 11"));
  std::string d;
  for (const auto& ch : diff_configs(&a, b)) d += ch.to_string() + "\n";
  EXPECT_NE(d.find("modified adapter a/1: vlan access 10 -> access 11"), std::string::npos) << d;
}

TEST(VlanConfig, MistakesAreRefusedWhereTheyAreWritten) {
  Diagnostic d = only_error(adapter(", vlan: 4095"));
  EXPECT_EQ(d.loc.line, 4);
  EXPECT_EQ(d.loc.column, 46);
  EXPECT_NE(d.message.find("a VLAN id (1-4094)"), std::string::npos) << d.message;
  d = only_error(adapter(", vlan: {trunk: [10, 5000]}"));
  EXPECT_NE(d.message.find("a vlan.trunk entry must be a VLAN id (1-4094)"), std::string::npos)
      << d.message;
  EXPECT_EQ(d.loc.column, 59);
  d = only_error(adapter(", vlan: {trunk: [20-10]}"));
  EXPECT_NE(d.message.find("got '20-10'"), std::string::npos) << d.message;
  d = only_error(adapter(", vlan: {trunk: []}"));
  EXPECT_NE(d.message.find("vlan.trunk must be a list"), std::string::npos) << d.message;
  d = only_error(adapter(", vlan: {access: 10, trunk: [20]}"));
  EXPECT_NE(d.message.find("either an access port"), std::string::npos) << d.message;
  d = only_error(adapter(", vlan: {native: 10}"));
  EXPECT_NE(d.message.find("native and untagged belong to a trunk"), std::string::npos);
  d = only_error(adapter(", vlan: {trunk: [20], native: 10, untagged: drop}"));
  EXPECT_NE(d.message.find("untagged: drop leaves the native VLAN"), std::string::npos);
  d = only_error(adapter(", vlan: {trunk: [20], untagged: keep}"));
  EXPECT_NE(d.message.find("vlan.untagged must be accept or drop"), std::string::npos);
  d = only_error(adapter(", vlan: {tag: 3}"));
  EXPECT_NE(d.message.find("unknown key 'tag' in vlan"), std::string::npos) << d.message;
  d = only_error(adapter(", vlan: 10", "none"));
  EXPECT_NE(d.message.find("vlan applies to bridged and internal networks, not attach: none"),
            std::string::npos)
      << d.message;
  EXPECT_EQ(d.loc.column, 40);
}

}  // namespace
}  // namespace gp
