// NIC models through the real worker code: an AMD adapter asked for MTU 9000 carries
// 1500 (VirtualBox drops jumbo frames silently both ways; we drop and count them as
// nic_model_mtu), virtio-net carries 9000; frames within 1500 pass as usual.
#include <netinet/in.h>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

const char* kMixed =
    "vms:\n"
    "  amd: {adapters: {1: {attach: internal:j, mtu: 9000, mac: '08:00:27:00:00:01', "
    "port: ra}}}\n"
    "  v1: {adapters: {1: {attach: internal:j, model: virtio-net, mtu: 9000, "
    "mac: '08:00:27:00:00:02', port: rb}}}\n"
    "  v2: {adapters: {1: {attach: internal:j, model: virtio-net, mtu: 9000, "
    "mac: '08:00:27:00:00:03', port: rc}}}\n";

using NicModelTest = HarnessTest;

rte_mbuf* big(Harness& h, uint8_t from, const rte_ether_addr& to, uint16_t payload) {
  return h.ipv4(mac(from), to, 0x0a000001, 0x0a000002, IPPROTO_UDP, 1, 2, 0, payload);
}

TEST_F(NicModelTest, AnAmdAdapterCarriesNoJumboFramesEitherWay) {
  h->apply(kMixed);
  // Everyone speaks once, so every MAC is known.
  for (uint8_t i : {1, 2, 3}) h->send(i == 1 ? "ra" : i == 2 ? "rb" : "rc", mac(i), kBroadcast);
  h->step();
  for (const char* p : {"ra", "rb", "rc"}) h->recv(p);
  // From the AMD guest: 4000 bytes never enter; 1500 do.
  h->send("ra", big(*h, 1, mac(2), 4000));
  h->send("ra", big(*h, 1, mac(2), 1500 - 28));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kNicModelMtu), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kOversize), 0u);
  // To it: a jumbo unicast is dropped as the model's; a jumbo broadcast still reaches
  // the virtio guest, and the AMD one's share is counted on its port.
  h->send("rb", big(*h, 2, mac(1), 4000));
  h->send("rb", big(*h, 2, kBroadcast, 4000));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 0u);
  auto c = h->recv_ipv4("rc");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].ip_len, 20 + 8 + 4000);
  EXPECT_EQ(h->drops("rb", Drop::kNicModelMtu), 1u);  // the unicast, counted at its sender
  EXPECT_EQ(h->drops("ra", Drop::kNicModelMtu), 2u);  // + the flood copy it could not take
  // Between the two virtio guests 9000 bytes pass.
  h->send("rb", big(*h, 2, mac(3), 9000 - 28));
  h->step();
  auto j = h->recv_ipv4("rc");
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0].frame_len, 14u + 9000u);
}

// Intel PRO/1000 models carry jumbo frames on bridged attachments only: the same
// 82545EM adapter at MTU 9000 passes 9000 bytes to the uplink when bridged, and drops
// them (as the model's) when attached to an internal network.
TEST_F(NicModelTest, AnIntelAdapterCarriesJumboFramesOnlyWhenBridged) {
  h->apply(
      "uplinks: {wan: {device: rup, mtu: 9000}}\n"
      "networks: {office: {mode: bridged, uplink: wan}}\n"
      "vms:\n"
      "  br: {adapters: {1: {attach: bridged:office, model: 82545EM, mtu: 9000, "
      "mac: '08:00:27:00:00:01', port: ra}}}\n"
      "  in: {adapters: {1: {attach: internal:j, model: 82545EM, mtu: 9000, "
      "mac: '08:00:27:00:00:02', port: rb}}}\n"
      "  v: {adapters: {1: {attach: internal:j, model: virtio-net, mtu: 9000, "
      "mac: '08:00:27:00:00:03', port: rc}}}\n");
  const rte_ether_addr outside = mac(9);
  h->send("rup", outside, kBroadcast);
  h->send("rc", mac(3), kBroadcast);
  h->step();
  for (const char* p : {"rup", "ra", "rb", "rc"}) h->recv(p);
  h->send("ra", big(*h, 1, outside, 9000 - 28));  // bridged: whole
  h->send("rb", big(*h, 2, mac(3), 9000 - 28));   // internal: the model's limit
  h->step();
  auto up = h->recv_ipv4("rup");
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].frame_len, 14u + 9000u);
  EXPECT_EQ(h->recv("rc").size(), 0u);
  EXPECT_EQ(h->drops("rb", Drop::kNicModelMtu), 1u);
  EXPECT_EQ(h->drops("ra", Drop::kNicModelMtu), 0u);
  // The way back: the uplink's jumbo frame reaches the bridged Intel guest whole.
  h->send("rup", h->ipv4(outside, mac(1), 0x0a000002, 0x0a000001, IPPROTO_UDP, 2, 1, 0, 9000 - 28));
  h->step();
  auto back = h->recv_ipv4("ra");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].frame_len, 14u + 9000u);
}

}  // namespace
}  // namespace gp::test
