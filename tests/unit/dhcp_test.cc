// DHCP message parsing/building (including malformed input) and server behaviour with
// an injected clock (no EAL).
#include <gtest/gtest.h>

#include <set>

#include "dataplane/services/dhcp_server.h"

namespace gp::dhcp {
namespace {

constexpr uint32_t ip(int a, int b, int c, int d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d);
}
const std::array<uint8_t, 6> kMacA{0x08, 0, 0x27, 0, 0, 0xa}, kMacB{0x08, 0, 0x27, 0, 0, 0xb};

Request req(MsgType t, const std::array<uint8_t, 6>& mac) {
  Request r{};
  r.type = t;
  r.xid = 0x1234;
  r.chaddr = mac;
  return r;
}

Settings hostonly() {
  Settings s;
  s.server_ip = ip(192, 168, 56, 100);
  s.netmask = 0xffffff00;
  s.lower = ip(192, 168, 56, 101);
  s.upper = ip(192, 168, 56, 103);
  s.reserved = {ip(192, 168, 56, 1)};
  return s;
}

TEST(DhcpMessage, RoundTripRequest) {
  Request r = req(MsgType::kRequest, kMacA);
  r.requested_ip = ip(10, 0, 2, 15);
  r.server_id = ip(10, 0, 2, 2);
  r.hostname = "web1";
  auto bytes = build_request(r);
  auto p = parse_request(bytes.data(), bytes.size());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, MsgType::kRequest);
  EXPECT_EQ(p->xid, 0x1234u);
  EXPECT_EQ(p->chaddr, kMacA);
  EXPECT_EQ(*p->requested_ip, ip(10, 0, 2, 15));
  EXPECT_EQ(*p->server_id, ip(10, 0, 2, 2));
  EXPECT_EQ(p->hostname, "web1");
}

TEST(DhcpMessage, ReplyCarriesOptionsAndMinimumSize) {
  Reply r;
  r.type = MsgType::kOffer;
  r.xid = 7;
  r.yiaddr = ip(10, 0, 2, 15);
  r.server_id = ip(10, 0, 2, 2);
  r.subnet_mask = 0xffffff00;
  r.router = ip(10, 0, 2, 2);
  r.dns = {ip(10, 0, 2, 3)};
  r.lease_s = 86400;
  auto b = build_reply(r);
  ASSERT_GE(b.size(), kMinReplyLen);
  EXPECT_EQ(b[0], 2);  // BOOTREPLY
  EXPECT_EQ(b[16], 10);
  EXPECT_EQ(b[19], 15);  // yiaddr
  // Options after the cookie: 53 (type) first.
  EXPECT_EQ(b[240], 53);
  EXPECT_EQ(b[242], 2);
  // A reply is not a request: the parser refuses it.
  EXPECT_FALSE(parse_request(b.data(), b.size()));
}

TEST(DhcpMessage, MalformedIsRefused) {
  auto good = build_request(req(MsgType::kDiscover, kMacA));
  ASSERT_TRUE(parse_request(good.data(), good.size()));
  EXPECT_FALSE(parse_request(good.data(), 200));  // short
  EXPECT_FALSE(parse_request(nullptr, 0));
  auto bad_cookie = good;
  bad_cookie[236] = 0;
  EXPECT_FALSE(parse_request(bad_cookie.data(), bad_cookie.size()));
  auto not_ether = good;
  not_ether[1] = 6;
  EXPECT_FALSE(parse_request(not_ether.data(), not_ether.size()));
  auto overrun = good;
  overrun.resize(243);  // 53, len 1 ... cut inside option
  overrun[241] = 200;   // option 53 claims 200 bytes
  EXPECT_FALSE(parse_request(overrun.data(), overrun.size()));
  auto no_type = build_request(req(MsgType::kDiscover, kMacA));
  no_type[240] = 12;  // turn option 53 into a hostname
  EXPECT_FALSE(parse_request(no_type.data(), no_type.size()));
  auto bad_type = good;
  bad_type[242] = 42;
  EXPECT_FALSE(parse_request(bad_type.data(), bad_type.size()));
}

TEST(DhcpServer, DiscoverRequestAckAndStableLease) {
  Server s(hostonly());
  auto offer = s.handle(req(MsgType::kDiscover, kMacA), 0);
  ASSERT_TRUE(offer);
  EXPECT_EQ(offer->type, MsgType::kOffer);
  EXPECT_EQ(offer->yiaddr, ip(192, 168, 56, 101));
  EXPECT_FALSE(offer->router);  // host-only: no router option
  Request r = req(MsgType::kRequest, kMacA);
  r.requested_ip = offer->yiaddr;
  r.server_id = hostonly().server_ip;
  auto ack = s.handle(r, 1);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->type, MsgType::kAck);
  EXPECT_EQ(*ack->lease_s, 3600u);
  EXPECT_EQ(s.leases().at(ack->yiaddr).state, LeaseState::kBound);
  // B gets another address; after A's lease expired and A returns, A gets its own back.
  auto offer_b = s.handle(req(MsgType::kDiscover, kMacB), 2);
  EXPECT_EQ(offer_b->yiaddr, ip(192, 168, 56, 102));
  auto again = s.handle(req(MsgType::kDiscover, kMacA), 100000);
  EXPECT_EQ(again->yiaddr, ip(192, 168, 56, 101));
}

TEST(DhcpServer, NeverHandsOutServerGatewayDnsOrReserved) {
  Settings st = hostonly();
  st.lower = ip(192, 168, 56, 1);
  st.upper = ip(192, 168, 56, 254);
  st.router = ip(192, 168, 56, 2);
  st.dns = {ip(192, 168, 56, 3)};
  Server s(st);
  std::set<uint32_t> given;
  for (int i = 0; i < 300; ++i) {
    std::array<uint8_t, 6> m{0x02, 0, 0, 0, uint8_t(i >> 8), uint8_t(i)};
    auto o = s.handle(req(MsgType::kDiscover, m), 0);
    if (!o) break;
    given.insert(o->yiaddr);
  }
  EXPECT_EQ(given.size(), 254u - 4u);  // .1 reserved, .2 router, .3 dns, .100 server
  for (uint32_t bad : {ip(192, 168, 56, 1), ip(192, 168, 56, 2), ip(192, 168, 56, 3),
                       ip(192, 168, 56, 100), ip(192, 168, 56, 0), ip(192, 168, 56, 255)})
    EXPECT_FALSE(given.count(bad));
  EXPECT_EQ(s.pool_exhausted(), 1u);
}

TEST(DhcpServer, NakForWrongOrTakenAddress) {
  Server s(hostonly());
  Request r = req(MsgType::kRequest, kMacA);
  r.requested_ip = ip(10, 9, 9, 9);  // INIT-REBOOT from another network
  auto n = s.handle(r, 0);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->type, MsgType::kNak);
  EXPECT_FALSE(n->lease_s);
  // B holds .101; A may not take it.
  Request rb = req(MsgType::kRequest, kMacB);
  rb.requested_ip = ip(192, 168, 56, 101);
  EXPECT_EQ(s.handle(rb, 0)->type, MsgType::kAck);
  r.requested_ip = ip(192, 168, 56, 101);
  EXPECT_EQ(s.handle(r, 1)->type, MsgType::kNak);
  EXPECT_EQ(s.naks(), 2u);
}

TEST(DhcpServer, RenewByCiaddrAndRelease) {
  Server s(hostonly());
  Request r = req(MsgType::kRequest, kMacA);
  r.requested_ip = ip(192, 168, 56, 102);
  ASSERT_EQ(s.handle(r, 0)->type, MsgType::kAck);
  Request renew = req(MsgType::kRequest, kMacA);
  renew.ciaddr = ip(192, 168, 56, 102);
  auto ack = s.handle(renew, 1000);
  ASSERT_EQ(ack->type, MsgType::kAck);
  EXPECT_EQ(ack->yiaddr, ip(192, 168, 56, 102));
  EXPECT_EQ(s.leases().at(ip(192, 168, 56, 102)).expires_s, 1000u + 3600u);
  Request rel = req(MsgType::kRelease, kMacA);
  rel.ciaddr = ip(192, 168, 56, 102);
  EXPECT_FALSE(s.handle(rel, 1001));
  EXPECT_EQ(s.leases().at(ip(192, 168, 56, 102)).state, LeaseState::kReleased);
  // Released: B may have it now.
  Request rb = req(MsgType::kRequest, kMacB);
  rb.requested_ip = ip(192, 168, 56, 102);
  EXPECT_EQ(s.handle(rb, 1002)->type, MsgType::kAck);
}

TEST(DhcpServer, RequestForAnotherServerWithdrawsOffer) {
  Server s(hostonly());
  auto offer = s.handle(req(MsgType::kDiscover, kMacA), 0);
  Request r = req(MsgType::kRequest, kMacA);
  r.requested_ip = offer->yiaddr;
  r.server_id = ip(192, 168, 56, 200);
  EXPECT_FALSE(s.handle(r, 1));
  EXPECT_EQ(s.leases().at(offer->yiaddr).state, LeaseState::kReleased);
}

TEST(DhcpServer, DeclineKeepsAddressOutAndInformHasNoLease) {
  Server s(hostonly());
  Request d = req(MsgType::kDecline, kMacA);
  d.requested_ip = ip(192, 168, 56, 101);
  EXPECT_FALSE(s.handle(d, 0));
  EXPECT_EQ(s.handle(req(MsgType::kDiscover, kMacB), 1)->yiaddr, ip(192, 168, 56, 102));
  Request inf = req(MsgType::kInform, kMacB);
  inf.ciaddr = ip(192, 168, 56, 50);
  auto a = s.handle(inf, 2);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type, MsgType::kAck);
  EXPECT_EQ(a->yiaddr, 0u);
  EXPECT_FALSE(a->lease_s);
}

TEST(DhcpServer, OfferExpiresWhenNotRequested) {
  Settings st = hostonly();
  st.upper = st.lower;  // a pool of one
  Server s(st);
  ASSERT_TRUE(s.handle(req(MsgType::kDiscover, kMacA), 0));
  EXPECT_FALSE(s.handle(req(MsgType::kDiscover, kMacB), 10));  // held for A
  EXPECT_TRUE(s.handle(req(MsgType::kDiscover, kMacB), 10 + Server::kOfferHoldS));
}

}  // namespace
}  // namespace gp::dhcp
