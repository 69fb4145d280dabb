// Config of vhost-user adapters (`vhost:`) and of guests trusted to serve DHCP
// (`dhcp_trusted:`): what the loader accepts, its errors at file:line:column, and what
// the port plan makes of them.
#include "control/compile.h"
#include "control/diff.h"
#include "tests/unit/test_config.h"

namespace gp {
namespace {

using test::cfg;

std::vector<Diagnostic> errors_of(const std::string& yaml) {
  return load_config_text(yaml, "t.yaml").errors;
}

std::string vm(const std::string& adapter) {
  return "vms: {a: {adapters: {1: {attach: internal:x, " + adapter + "}}}}\n";
}

TEST(VhostConfig, ServerModeWithOwnerGroupAndPermissions) {
  Config c =
      cfg(vm("port: 'net_vhost0,iface=/tmp/a.sock', "
             "vhost: {owner: root, group: root, permissions: '0660'}"));
  const VhostConfig& v = c.vms[0].adapters.at(1).vhost;
  EXPECT_TRUE(v.given);
  EXPECT_FALSE(v.client);
  EXPECT_EQ(v.uid, 0u);
  EXPECT_EQ(v.gid, 0u);
  EXPECT_EQ(v.permissions, 0660u);
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].devargs, "net_vhost0,iface=/tmp/a.sock");
  EXPECT_EQ(plans[0].vhost.permissions, 0660u);
}

TEST(VhostConfig, ClientModeConnectsToQemusSocket) {
  Config c = cfg(vm("port: 'net_vhost0,iface=/tmp/a.sock', vhost: {mode: client}"));
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].devargs, "net_vhost0,iface=/tmp/a.sock,client=1");
  // Changing the mode is a change of the port (it is reopened).
  Config s = cfg(vm("port: 'net_vhost0,iface=/tmp/a.sock'"));
  bool seen = false;
  for (const auto& ch : diff_configs(&s, c))
    seen |= ch.to_string().find("vhost") != std::string::npos;
  EXPECT_TRUE(seen);
}

TEST(VhostConfig, ErrorsSayWhereAndWhat) {
  auto e = errors_of(vm("port: 'net_vhost0,iface=/tmp/a.sock', vhost: {mode: both}"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].to_string(),
            "t.yaml:1:98: error: vhost.mode must be server or client, got 'both'");
  e = errors_of(vm("port: 'net_vhost0,iface=/tmp/a.sock', vhost: {owner: no-such-user-gp}"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("no user named 'no-such-user-gp'"), std::string::npos);
  e = errors_of(vm("port: 'net_vhost0,iface=/tmp/a.sock', vhost: {permissions: '0999'}"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("octal file permissions"), std::string::npos);
  e = errors_of(vm("port: net_ring_a, vhost: {mode: client}"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("vhost settings need a net_vhost port"), std::string::npos);
  e = errors_of(vm("port: 'net_vhost0,iface=/tmp/a.sock', vhost: {mode: client, owner: root}"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("apply to server mode only"), std::string::npos);
}

TEST(DhcpTrusted, MarksTheAdaptersPortAndIsABoolean) {
  Config c = cfg(vm("port: net_ring_a, dhcp_trusted: true"));
  EXPECT_TRUE(c.vms[0].adapters.at(1).dhcp_trusted);
  auto e = errors_of(vm("port: net_ring_a, dhcp_trusted: sometimes"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("dhcp_trusted"), std::string::npos);
}

}  // namespace
}  // namespace gp
