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

}  // namespace
}  // namespace gp::test
