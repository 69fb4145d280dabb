// The config of adapter filters and bandwidth groups: what parses, what is refused
// (with file:line:column), and what the snapshot gets.
#include <netinet/in.h>

#include "control/compile.h"
#include "tests/unit/test_config.h"

namespace gp {
namespace {

using test::cfg;

std::string adapter(const std::string& extra) {
  return "vms:\n  a:\n    adapters:\n      1: {attach: internal:x, port: p" + extra + "}\n";
}

Diagnostic only_error(const std::string& yaml) {
  LoadResult r = load_config_text(yaml, "t.yaml");
  EXPECT_EQ(r.errors.size(), 1u) << (r.errors.empty() ? "no error" : r.errors[0].to_string());
  return r.errors.empty() ? Diagnostic{} : r.errors[0];
}

const char* kGood = R"(bandwidth_groups: {slow: 10m, bytes: 2M, off: 0}
vms:
  a:
    adapters:
      1:
        attach: internal:x
        port: net_ring_a
        bandwidth_group: slow
        port_security: {ipv4: [10.0.0.5], dhcp: true}
        acl:
          ingress:
            - {name: no-web, action: deny, proto: tcp, dst_port: 80}
            - {action: allow, proto: udp, src: 10.0.0.0/8, dst: 192.0.2.1, src_port: 1000-2000}
            - {action: deny}
          egress:
            - {action: deny, proto: icmp}
  b: {adapters: {1: {attach: internal:x, port: net_ring_b, port_security: true}}}
)";

TEST(FiltersConfig, AclsPortSecurityAndBandwidthGroupsParse) {
  Config c = cfg(kGood);
  ASSERT_EQ(c.bandwidth_groups.size(), 3u);
  EXPECT_EQ(c.bandwidth_groups[0].bits_per_s, 10'000'000u);           // k/m/g: bits, x1000
  EXPECT_EQ(c.bandwidth_groups[1].bits_per_s, 2u * 8 * 1024 * 1024);  // K/M/G: bytes, x1024
  EXPECT_EQ(c.bandwidth_groups[2].bits_per_s, 0u);
  const AdapterConfig& a = c.vms[0].adapters.at(1);
  EXPECT_EQ(a.bandwidth_group, "slow");
  EXPECT_TRUE(a.port_security.enabled);
  EXPECT_TRUE(a.port_security.dhcp);
  ASSERT_EQ(a.port_security.ipv4.size(), 1u);
  ASSERT_EQ(a.acl_ingress.size(), 3u);
  EXPECT_EQ(a.acl_ingress[0].name, "no-web");
  EXPECT_FALSE(a.acl_ingress[0].allow);
  EXPECT_EQ(a.acl_ingress[0].proto, IPPROTO_TCP);
  EXPECT_EQ(a.acl_ingress[0].dst_lo, 80);
  EXPECT_EQ(a.acl_ingress[0].dst_hi, 80);
  EXPECT_EQ(a.acl_ingress[1].src.prefix, 8);
  EXPECT_EQ(a.acl_ingress[1].dst.prefix, 32);  // a plain address is a /32
  EXPECT_EQ(a.acl_ingress[1].src_lo, 1000);
  EXPECT_EQ(a.acl_ingress[1].src_hi, 2000);
  EXPECT_EQ(a.acl_ingress[2].proto, 0);  // any
  EXPECT_EQ(a.acl_ingress[2].loc.line, 14);
  ASSERT_EQ(a.acl_egress.size(), 1u);
  EXPECT_EQ(a.acl_egress[0].proto, IPPROTO_ICMP);
  const AdapterConfig& b = c.vms[1].adapters.at(1);
  EXPECT_TRUE(b.port_security.enabled);
  EXPECT_TRUE(b.port_security.ipv4.empty());
  EXPECT_EQ(b.mac_limit, 1024u);  // the default
  EXPECT_FALSE(b.mac_limit_drop);
  Config l = cfg(adapter(", mac_limit: 0, mac_limit_action: drop"));
  EXPECT_EQ(l.vms[0].adapters.at(1).mac_limit, 0u);
  EXPECT_TRUE(l.vms[0].adapters.at(1).mac_limit_drop);
}

TEST(FiltersConfig, TheSnapshotGetsGuardsAndTheGuardFeature) {
  Config c = cfg(kGood);
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  ASSERT_TRUE(errs.empty());
  std::map<std::string, uint16_t> ids{{"vm/a/1", 0}, {"vm/b/1", 1}};
  auto snap = compile_snapshot(plans, ids, 1, plan_segments(c), plan_globals(c));
  EXPECT_EQ(snap->guards[0].flags, kGuardMac | kGuardIpv4 | kGuardDhcp);
  EXPECT_EQ(snap->guards[0].n_ips, 1);
  EXPECT_EQ(snap->guards[0].ips[0], rte_cpu_to_be_32(0x0a000005));
  EXPECT_EQ(snap->guards[1].flags, kGuardMac);  // true: the MAC only
  EXPECT_TRUE(snap->ports[0].features & kFeatureGuard);
  EXPECT_TRUE(snap->ports[1].features & kFeatureGuard);
  // Equal rules, equal signatures; any difference, a different one.
  const auto& r = c.vms[0].adapters.at(1).acl_ingress;
  EXPECT_EQ(acl_signature(r), acl_signature(cfg(kGood).vms[0].adapters.at(1).acl_ingress));
  auto changed = r;
  changed[1].src_hi = 2001;
  EXPECT_NE(acl_signature(r), acl_signature(changed));
}

TEST(FiltersConfig, MistakesAreRefusedWhereTheyAreWritten) {
  Diagnostic d = only_error(adapter(", acl: {ingress: [{proto: tcp}]}"));
  EXPECT_EQ(d.loc.line, 4);
  EXPECT_EQ(d.loc.column, 56);  // the rule
  EXPECT_NE(d.message.find("needs action: allow or deny"), std::string::npos) << d.message;
  d = only_error(adapter(", acl: {ingress: [{action: permit}]}"));
  EXPECT_NE(d.message.find("action must be allow or deny, got 'permit'"), std::string::npos);
  d = only_error(adapter(", acl: {ingress: [{action: deny, dst_port: 80}]}"));
  EXPECT_NE(d.message.find("need proto: tcp or udp"), std::string::npos) << d.message;
  d = only_error(adapter(", acl: {ingress: [{action: deny, proto: tcp, dst_port: 90-80}]}"));
  EXPECT_NE(d.message.find("a port (0-65535) or a range like 1000-2000, got '90-80'"),
            std::string::npos)
      << d.message;
  d = only_error(adapter(", acl: {ingress: [{action: deny, src: 10.0.0.0/33}]}"));
  EXPECT_NE(d.message.find("invalid CIDR"), std::string::npos) << d.message;
  d = only_error(adapter(", acl: {inbound: []}"));
  EXPECT_NE(d.message.find("unknown key 'inbound'"), std::string::npos) << d.message;
  d = only_error(adapter(", acl: {ingress: [{action: deny, proto: sctp}]}"));
  EXPECT_NE(d.message.find("proto (tcp, udp, icmp, any or a protocol number)"), std::string::npos);
  d = only_error(adapter(", port_security: {ipv4: [10.0.0.300]}"));
  EXPECT_NE(d.message.find("port_security.ipv4 must be an IPv4 address"), std::string::npos);
  d = only_error(adapter(", port_security: maybe"));
  EXPECT_NE(d.message.find("port_security (true, false or"), std::string::npos) << d.message;
  d = only_error(adapter(", bandwidth_group: nosuch"));
  EXPECT_NE(d.message.find("unknown bandwidth group 'nosuch'"), std::string::npos) << d.message;
  EXPECT_EQ(d.loc.line, 4);
  d = only_error(adapter(", mac_limit_action: block"));
  EXPECT_NE(d.message.find("mac_limit_action must be flood or drop"), std::string::npos);
  d = only_error(adapter(", mac_limit: -1"));
  EXPECT_NE(d.message.find("mac_limit (0: no limit) must be a whole number"), std::string::npos);
  d = only_error("bandwidth_groups: {g: 10 mbit}\n");
  EXPECT_NE(d.message.find("needs a limit in bits per second"), std::string::npos) << d.message;
  EXPECT_EQ(d.loc.column, 23);
}

}  // namespace
}  // namespace gp
