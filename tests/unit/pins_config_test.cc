// Config of what an operator pins by hand: appliance.mbufs (checked against
// memory_mb), an uplink's gateway_mac, an adapter's static_macs; errors at
// file:line:column and what compile makes of them.
#include "control/compile.h"
#include "control/diff.h"
#include "tests/unit/test_config.h"

namespace gp {
namespace {

using test::cfg;

std::vector<Diagnostic> errors_of(const std::string& yaml) {
  return load_config_text(yaml, "t.yaml").errors;
}

TEST(PinsConfig, MbufsMustFitInMemory) {
  Config c = cfg("appliance: {memory_mb: 512, mbufs: 131072}\n");
  EXPECT_EQ(c.appliance.mbufs, 131072u);
  auto e = errors_of("appliance: {memory_mb: 256, mbufs: 200000}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].loc.line, 1);
  EXPECT_EQ(e[0].loc.column, 36);
  EXPECT_NE(e[0].message.find("200000 mbufs take about 464 MB"), std::string::npos) << e[0].message;
  EXPECT_NE(e[0].message.find("raise it to at least 528"), std::string::npos) << e[0].message;
  e = errors_of("appliance: {mbufs: 100}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("appliance.mbufs must be a whole number from 4096"),
            std::string::npos);
  // Sized once, at start: a re-apply may not change it.
  Config a = cfg("appliance: {memory_mb: 512}\n"),
         b = cfg("appliance: {memory_mb: 512, mbufs: 8192}\n");
  auto r = restart_only_changes(a, b);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NE(r[0].message.find("appliance.mbufs cannot change"), std::string::npos);
}

TEST(PinsConfig, GatewayMacIsTheUplinksStaticNextHop) {
  Config c =
      cfg("uplinks: {wan: {device: net_ring_w, address: 198.51.100.10/24, gateway: 198.51.100.1, "
          "gateway_mac: '02:00:00:00:0c:01'}}\n");
  GlobalPlan g = plan_globals(c);
  const UplinkNat& u = g.uplinks.at("uplink/wan");
  EXPECT_TRUE(u.static_gateway);
  EXPECT_EQ(format_mac(u.gateway_mac), "02:00:00:00:0c:01");
  auto e = errors_of("uplinks: {wan: {device: w, gateway_mac: '02:00:00:00:0c:01'}}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("gateway_mac is the MAC of its gateway: give gateway too"),
            std::string::npos);
  EXPECT_EQ(e[0].loc.column, 41);
  e = errors_of(
      "uplinks: {wan: {device: w, gateway: 198.51.100.1, gateway_mac: 'ff:ff:ff:ff:ff:ff'}}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("gateway_mac must be a unicast MAC"), std::string::npos);
}

TEST(PinsConfig, StaticMacsArePinnedInTheAdaptersSegment) {
  const std::string yaml =
      "vms:\n"
      "  a: {adapters: {1: {attach: internal:x, port: net_ring_a, static_macs: "
      "['02:00:00:00:0b:01', '02:00:00:00:0b:02']}}}\n"
      "  b: {adapters: {1: {attach: internal:x, port: net_ring_b}}}\n";
  Config c = cfg(yaml);
  std::vector<Diagnostic> errs;
  auto s = compile_snapshot(plan_ports(c, errs), {{"vm/a/1", 3}, {"vm/b/1", 4}}, 1);
  ASSERT_EQ(s->static_macs.size(), 2u);
  EXPECT_EQ(s->static_macs[0].port, 3);
  EXPECT_EQ(s->static_macs[0].segment, s->ports[3].segment);
  EXPECT_EQ(format_mac(s->static_macs[1].mac), "02:00:00:00:0b:02");
  // The same MAC pinned twice on one network, or another adapter's own: refused.
  auto e = errors_of(
      "vms:\n"
      "  a: {adapters: {1: {attach: internal:x, port: p1, static_macs: ['02:00:00:00:0b:01']}}}\n"
      "  b: {adapters: {1: {attach: internal:x, port: p2, static_macs: ['02:00:00:00:0b:01']}}}\n"
      "  c: {adapters: {1: {attach: internal:x, port: p3, mac: '02:00:00:00:0c:01'}}}\n"
      "  d: {adapters: {1: {attach: internal:x, port: p4, static_macs: ['02:00:00:00:0c:01']}}}\n"
      "  e: {adapters: {1: {attach: internal:y, port: p5, static_macs: ['02:00:00:00:0b:01']}}}\n");
  ASSERT_EQ(e.size(), 2u) << e[0].to_string();
  EXPECT_NE(e[0].message.find("static MAC 02:00:00:00:0b:01 is already vm 'a' adapter 1's"),
            std::string::npos)
      << e[0].message;
  EXPECT_EQ(e[0].loc.line, 3);
  EXPECT_NE(e[1].message.find("is already vm 'c' adapter 1's"), std::string::npos);
  e = errors_of("vms: {a: {adapters: {1: {attach: internal:x, port: p, static_macs: [nope]}}}}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("a static_macs entry must be a unicast MAC"), std::string::npos);
  // diff names them.
  Config before = cfg(yaml);
  Config after = cfg(std::string(yaml).replace(yaml.find(", '02:00:00:00:0b:02'"), 21, ""));
  std::string d;
  for (const auto& ch : diff_configs(&before, after)) d += ch.to_string();
  EXPECT_NE(d.find("static_macs 02:00:00:00:0b:01,02:00:00:00:0b:02 -> 02:00:00:00:0b:01"),
            std::string::npos)
      << d;
}

}  // namespace
}  // namespace gp
