// Promiscuous policy and link-state decisions (l2/policy.h), and FDB key packing.
#include "dataplane/l2/policy.h"

#include <gtest/gtest.h>

#include "dataplane/l2/fdb.h"

namespace gp {
namespace {

PortPolicy guest(uint8_t last, Promiscuous p = Promiscuous::kDeny, bool up = true) {
  PortPolicy x;
  x.role = PortRole::kGuest;
  x.promisc = p;
  x.link_up = up;
  x.mac = rte_ether_addr{{0x08, 0x00, 0x27, 0, 0, last}};
  return x;
}
PortPolicy uplink() {
  PortPolicy x;
  x.role = PortRole::kUplink;
  x.link_up = true;
  return x;
}
const rte_ether_addr kOther{{0x08, 0x00, 0x27, 0, 0, 0x99}};
const rte_ether_addr kBcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

TEST(Policy, DenyTakesOwnBroadcastMulticastOnly) {
  PortPolicy a = guest(1), c = guest(3);
  EXPECT_TRUE(may_receive(a, c, c.mac, DstKind::kGuest));
  EXPECT_TRUE(may_receive(a, c, kBcast, DstKind::kGroup));
  EXPECT_FALSE(may_receive(a, c, kOther, DstKind::kGuest));
  EXPECT_FALSE(may_receive(a, c, kOther, DstKind::kOther));
}

TEST(Policy, AllowVmsTakesGuestToGuestOnly) {
  PortPolicy a = guest(1), c = guest(3, Promiscuous::kAllowVms), up = uplink();
  EXPECT_TRUE(may_receive(a, c, kOther, DstKind::kGuest));
  EXPECT_FALSE(may_receive(a, c, kOther, DstKind::kOther));   // to the uplink / unknown
  EXPECT_FALSE(may_receive(up, c, kOther, DstKind::kGuest));  // from the uplink
}

TEST(Policy, AllowAllTakesEverything) {
  PortPolicy c = guest(3, Promiscuous::kAllowAll), up = uplink();
  EXPECT_TRUE(may_receive(up, c, kOther, DstKind::kOther));
  EXPECT_TRUE(may_receive(guest(1), c, kOther, DstKind::kOther));
}

TEST(Policy, LinkDownTakesNothing) {
  PortPolicy c = guest(3, Promiscuous::kAllowAll, false);
  EXPECT_FALSE(may_receive(guest(1), c, c.mac, DstKind::kGuest));
  EXPECT_FALSE(may_receive(guest(1), c, kBcast, DstKind::kGroup));
}

TEST(Policy, UplinkAndHostTakeWhatTheSegmentSends) {
  PortPolicy host;
  host.role = PortRole::kHost;
  host.link_up = true;
  EXPECT_TRUE(may_receive(guest(1), host, kOther, DstKind::kOther));
  EXPECT_TRUE(may_receive(guest(1), uplink(), kOther, DstKind::kOther));
}

TEST(FdbKey, PacksSegmentAndMac) {
  rte_ether_addr m{{0x08, 0x00, 0x27, 0x01, 0x02, 0x03}};
  uint64_t k = Fdb::make_key(7, m);
  EXPECT_EQ(k >> 48, 7u);
  EXPECT_EQ(k & 0xffffffffffffULL, 0x080027010203ULL);
  EXPECT_NE(Fdb::make_key(8, m), k);
  uint64_t d = (uint64_t{1234} << 32) | (uint64_t{5} << 16) | 17;
  EXPECT_EQ(Fdb::data_port(d), 17);
  EXPECT_EQ(Fdb::data_generation(d), 5);
  EXPECT_EQ(Fdb::data_position(d), 1234u);
}

}  // namespace
}  // namespace gp
