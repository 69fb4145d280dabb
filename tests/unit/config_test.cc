// Config loading and every validation error, with file:line:column (no EAL).
#include <gtest/gtest.h>

#include "control/config_loader.h"
#include "control/validate.h"
#include "control/views.h"

namespace gp {
namespace {

LoadResult load(const std::string& yaml) {
  LoadResult r = parse_config(yaml, "t.yaml");
  if (r.errors.empty() && r.config) validate_config(*r.config, r.errors);
  return r;
}

// Expects exactly one error, at line:column, whose message contains `needle`.
void expect_error(const std::string& yaml, int line, int col, const std::string& needle) {
  LoadResult r = load(yaml);
  ASSERT_FALSE(r.ok()) << yaml;
  ASSERT_EQ(r.errors.size(), 1u) << r.errors[0].to_string() << "\n" << yaml;
  const Diagnostic& d = r.errors[0];
  EXPECT_EQ(d.loc.line, line) << d.to_string();
  EXPECT_EQ(d.loc.column, col) << d.to_string();
  EXPECT_NE(d.message.find(needle), std::string::npos) << d.to_string();
  EXPECT_EQ(d.to_string().rfind(
                "t.yaml:" + std::to_string(line) + ":" + std::to_string(col) + ": error: ", 0),
            0u);
}

const char* kGood = R"(appliance: {workers: 2, control_socket: /run/gp/c.sock, hugepages: false}
uplinks:
  wan: {device: "net_af_packet9,iface=up0", address: 198.51.100.10/24, gateway: 198.51.100.1}
networks:
  lan: {mode: bridged, uplink: wan, mac_ageing: 60}
  hostnet: {mode: hostonly, host_interface: {name: gphost9, address: 192.168.57.1/24}}
vms:
  web1:
    adapters:
      1: {attach: internal:backend, model: virtio-net, mac: "08:00:27:00:00:01", port: "net_af_packet0,iface=a"}
      2: {attach: bridged:lan, model: 82540EM, promiscuous: allow-vms, mtu: 9000, port: "net_af_packet1,iface=b"}
      3: {attach: hostonly:hostnet, cable_connected: false, port: "net_af_packet2,iface=c"}
      4: {attach: none}
)";

TEST(Config, LoadsAGoodConfig) {
  LoadResult r = load(kGood);
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  const Config& c = *r.config;
  EXPECT_EQ(c.appliance.workers, 2u);
  EXPECT_EQ(c.appliance.hugepages, "off");
  ASSERT_EQ(c.uplinks.size(), 1u);
  EXPECT_EQ(format_ipv4(*c.uplinks[0].gateway), "198.51.100.1");
  const NetworkConfig* backend = c.find_network("backend");
  ASSERT_NE(backend, nullptr);
  EXPECT_TRUE(backend->implicit);
  EXPECT_EQ(c.find_network("lan")->mac_ageing_s, 60u);
  EXPECT_EQ(c.find_network("hostnet")->host_interface->address.to_string(), "192.168.57.1/24");
  const VmConfig& vm = c.vms[0];
  ASSERT_EQ(vm.adapters.size(), 4u);
  EXPECT_EQ(vm.adapters.at(2).promiscuous, Promiscuous::kAllowVms);
  EXPECT_EQ(vm.adapters.at(2).mtu, 9000);
  EXPECT_EQ(vm.adapters.at(2).model, NicModel::k82540EM);
  EXPECT_FALSE(vm.adapters.at(3).cable_connected);
  EXPECT_EQ(vm.adapters.at(4).attach, AttachMode::kNone);
  // A default MAC carries VirtualBox's prefix and is stable.
  EXPECT_EQ(format_mac(vm.adapters.at(3).mac), format_mac(default_mac("web1", 3)));
  EXPECT_EQ(format_mac(vm.adapters.at(3).mac).substr(0, 8), "08:00:27");
}

TEST(Config, HostOnlyGetsVirtualBoxDefaultAddress) {
  LoadResult r = load("networks: {h: {mode: hostonly}}\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->networks[0].host_interface->address.to_string(), "192.168.56.1/24");
}

TEST(Config, YamlSyntaxError) { expect_error("vms: {a: [1, 2}\n", 1, 15, "YAML syntax"); }

TEST(Config, UnknownKey) {
  expect_error("appliance: {workers: 1, wrokers: 2}\n", 1, 25, "unknown key 'wrokers'");
}

TEST(Config, UnknownAdapterKey) {
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: none, colour: red}\n", 4, 25,
               "unknown key 'colour'");
}

TEST(Config, DuplicateVmName) {
  expect_error("vms:\n  a: {adapters: {}}\n  a: {adapters: {}}\n", 3, 3, "duplicate key 'a'");
}

TEST(Config, DuplicateNetworkName) {
  expect_error("networks:\n  n: {mode: internal}\n  n: {mode: internal}\n", 3, 3,
               "duplicate key 'n'");
}

TEST(Config, AdapterSlotOutOfRange) {
  expect_error("vms:\n  a:\n    adapters:\n      9: {attach: none}\n", 4, 7,
               "adapter slot must be a whole number from 1 to 8");
  expect_error("vms:\n  a:\n    adapters:\n      0: {attach: none}\n", 4, 7, "from 1 to 8");
}

TEST(Config, BadMac) {
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: none, mac: \"08:00:27:zz:00:01\"}\n",
               4, 30, "mac must be a unicast MAC");
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: none, mac: \"01:00:5e:00:00:01\"}\n",
               4, 30, "unicast");
}

TEST(Config, DuplicateMac) {
  expect_error(
      "vms:\n  a:\n    adapters:\n      1: {attach: none, mac: \"08:00:27:00:00:01\"}\n"
      "  b:\n    adapters:\n      1: {attach: none, mac: \"08:00:27:00:00:01\"}\n",
      7, 30, "already used by vm 'a' adapter 1");
}

TEST(Config, UnknownNetwork) {
  expect_error(
      "vms:\n  a:\n    adapters:\n      1: {attach: hostonly:nope, port: net_af_packet0}\n", 4, 19,
      "unknown network 'nope'");
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: bridged:eth7, port: net_tap0}\n", 4,
               19, "unknown network or uplink 'eth7'");
}

TEST(Config, NetworkOfWrongMode) {
  expect_error(
      "networks: {h: {mode: hostonly}}\n"
      "vms:\n  a:\n    adapters:\n      1: {attach: internal:h, port: net_af_packet0}\n",
      5, 19, "is a hostonly network, not internal");
}

TEST(Config, InvalidCidr) {
  expect_error(
      "networks:\n  n: {mode: natnetwork, network: 10.0.2.0/33, uplink: w}\n"
      "uplinks: {w: {device: net_tap0}}\n",
      2, 34, "invalid CIDR");
  expect_error("uplinks: {w: {device: net_tap0, address: 300.1.1.1/24}}\n", 1, 42, "invalid CIDR");
}

TEST(Config, BadAttach) {
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: wifi, port: x}\n", 4, 19,
               "attach must be none, nat");
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: internal, port: x}\n", 4, 19,
               "needs a network name");
}

TEST(Config, AdapterNeedsPort) {
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: internal:x}\n", 4, 10, "needs a port");
}

TEST(Config, DuplicatePortDevice) {
  expect_error(
      "vms:\n  a:\n    adapters:\n      1: {attach: internal:x, port: \"net_af_packet0,iface=a\"}\n"
      "      2: {attach: internal:x, port: \"net_af_packet0,iface=b\"}\n",
      5, 37, "port device 'net_af_packet0' is already used by vm 'a' adapter 1");
}

TEST(Config, BridgedNeedsKnownUplink) {
  expect_error("networks:\n  lan: {mode: bridged, uplink: wan}\n", 2, 32, "unknown uplink 'wan'");
  expect_error("networks:\n  lan: {mode: bridged}\n", 2, 8, "needs an uplink");
}

TEST(Config, BadValues) {
  expect_error("appliance: {workers: 0}\n", 1, 22, "appliance.workers must be a whole number");
  expect_error("appliance: {workers: lots}\n", 1, 22, "got 'lots'");
  expect_error("appliance: {hugepages: maybe}\n", 1, 24, "auto, true or false");
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: none, promiscuous: yes-please}\n", 4,
               38, "deny, allow-vms or allow-all");
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: none, model: e1000}\n", 4, 32,
               "unknown NIC model 'e1000'");
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: none, mtu: 20000}\n", 4, 30,
               "mtu must be a whole number from 68 to 9000");
  expect_error("vms:\n  a:\n    adapters:\n      1: {attach: none, cable_connected: maybe}\n", 4,
               42, "true or false");
}

TEST(Config, PortForwardShape) {
  LoadResult r = load(
      "uplinks:\n  wan: {device: net_null0, address: 198.51.100.10/24, gateway: 198.51.100.1}\n"
      "vms:\n  a:\n    adapters:\n      1: {attach: nat, port: net_null1, port_forwards: [{name: "
      "ssh, proto: tcp, host_port: 2222, guest_port: 22}]}\n");
  ASSERT_TRUE(r.ok());
  const auto& pf = r.config->vms[0].adapters.at(1).port_forwards;
  ASSERT_EQ(pf.size(), 1u);
  EXPECT_EQ(pf[0].host_port, 2222);
  expect_error(
      "vms:\n  a:\n    adapters:\n      1: {attach: none, port_forwards: [{proto: icmp, "
      "host_port: 1, guest_port: 2}]}\n",
      4, 49, "proto must be tcp or udp");
}

TEST(Config, ReportsSeveralErrorsAtOnce) {
  LoadResult r =
      load("appliance: {workers: 0, bogus: 1}\nvms:\n  a:\n    adapters:\n      9: {}\n");
  EXPECT_EQ(r.errors.size(), 3u);
}

TEST(Config, MissingFile) {
  LoadResult r = load_config("/nonexistent/guestport.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].to_string().find("cannot read"), std::string::npos);
}

TEST(ConfigHelpers, ParseFormat) {
  EXPECT_EQ(format_mac(*parse_mac("08:00:27:AB:cd:01")), "08:00:27:ab:cd:01");
  EXPECT_FALSE(parse_mac("08:00:27:ab:cd"));
  EXPECT_FALSE(parse_mac("08:00:27:ab:cd:0g"));
  EXPECT_EQ(parse_cidr("10.0.2.0/24")->mask(), 0xffffff00u);
  EXPECT_FALSE(parse_cidr("10.0.2.0"));
  EXPECT_FALSE(parse_cidr("10.0.2.0/0"));
  EXPECT_FALSE(parse_ipv4("10.0.2"));
}

}  // namespace
}  // namespace gp

namespace gp {
namespace {
TEST(NatFilter, ParsesWhatTheCliSendsAndRefusesTheRest) {
  std::string err;
  NatFilter f = parse_nat_filter(R"({"vm": "web1", "proto": "tcp", "ip": "10.0.2.15"})", &err);
  EXPECT_TRUE(err.empty()) << err;
  EXPECT_EQ(f.vm, "web1");
  EXPECT_EQ(f.proto, "tcp");
  EXPECT_EQ(f.ip, "10.0.2.15");
  for (const char* bad : {R"({"proto": "sctp"})", R"({"ip": "10.0.2"})", R"({"colour": "red"})",
                          R"({"vm": 7})", "[1,2]", "{not json"}) {
    err.clear();
    parse_nat_filter(bad, &err);
    EXPECT_FALSE(err.empty()) << bad;
  }
}
}  // namespace
}  // namespace gp
