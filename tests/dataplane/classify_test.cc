// classify_needs_l3: the ports whose batches a later stage reads the L3 part of
// PacketMeta for (service check, NAT, tunnel decapsulation) get it parsed; a plain
// switched network's do not (classify's L3 parse is a fifth of its cost there).
#include <string>

#include "dataplane/parse/classify_stage.h"
#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

using ClassifyTest = HarnessTest;

bool needs_l3(Harness& h, const std::string& port) {
  Batch b;
  b.in_port = h.port_id(port);
  b.segment = h.snap().ports[b.in_port].segment;
  return classify_needs_l3(h.snap(), b);
}

TEST_F(ClassifyTest, L3IsParsedForTheStagesThatReadIt) {
  h->apply(
      "uplinks:\n"
      "  wan: {device: rup, address: 198.51.100.10/24, gateway: 198.51.100.1}\n"
      "  core: {device: rco, address: 203.0.113.10/24}\n"
      "networks:\n"
      "  stretch: {mode: generic, driver: vxlan, vni: 42, uplink: core, remotes: [203.0.113.1]}\n"
      "  lab: {mode: natnetwork, uplink: wan, network: 10.0.9.0/24}\n"
      "vms:\n"
      "  a: {adapters: {1: {attach: internal:plain, mac: '08:00:27:00:00:01', port: ra},\n"
      "                 2: {attach: nat, uplink: wan, mac: '08:00:27:00:00:02', port: rn},\n"
      "                 3: {attach: generic:stretch, mac: '08:00:27:00:00:03', port: rg},\n"
      "                 4: {attach: natnetwork:lab, mac: '08:00:27:00:00:04', port: rl}}}\n"
      "  b: {adapters: {1: {attach: internal:plain, mac: '08:00:27:00:00:05', port: rb}}}\n");
  EXPECT_FALSE(needs_l3(*h, "ra")) << "an internal network: L2 alone";
  EXPECT_FALSE(needs_l3(*h, "rb"));
  EXPECT_FALSE(needs_l3(*h, "rg")) << "a generic network's guest side: L2 alone";
  EXPECT_TRUE(needs_l3(*h, "rn")) << "a nat adapter: the NAT and the service check";
  EXPECT_TRUE(needs_l3(*h, "rl")) << "a NAT network: its router and DHCP";
  EXPECT_TRUE(needs_l3(*h, "rup")) << "a NAT uplink";
  EXPECT_TRUE(needs_l3(*h, "rco")) << "an uplink that carries tunnels";
}

}  // namespace
}  // namespace gp::test
