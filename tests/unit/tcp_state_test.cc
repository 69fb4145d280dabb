// The NAT's TCP state machine (RFC 5382, RFC 7857): transitions and timeout classes.
#include "dataplane/nat/tcp_state.h"

#include <gtest/gtest.h>

namespace gp::nat {
namespace {

constexpr uint8_t SYN = RTE_TCP_SYN_FLAG, ACK = RTE_TCP_ACK_FLAG, FIN = RTE_TCP_FIN_FLAG,
                  RST = RTE_TCP_RST_FLAG;

TcpState run(std::initializer_list<std::pair<Dir, uint8_t>> steps) {
  TcpState s = TcpState::kNone;
  for (auto [d, f] : steps) s = tcp_next(s, d, f);
  return s;
}

TEST(TcpState, ThreeWayHandshakeThenCloseBothWays) {
  EXPECT_EQ(run({{Dir::kOut, SYN}}), TcpState::kSynOut);
  EXPECT_EQ(run({{Dir::kOut, SYN}, {Dir::kIn, SYN | ACK}}), TcpState::kEstablished);
  EXPECT_EQ(
      run({{Dir::kOut, SYN}, {Dir::kIn, SYN | ACK}, {Dir::kOut, ACK}, {Dir::kOut, FIN | ACK}}),
      TcpState::kFinOut);
  EXPECT_EQ(run({{Dir::kOut, SYN}, {Dir::kIn, SYN | ACK}, {Dir::kOut, FIN}, {Dir::kIn, FIN}}),
            TcpState::kClosing);
  EXPECT_FALSE(tcp_established(TcpState::kClosing));
  EXPECT_TRUE(tcp_established(TcpState::kFinOut));
}

TEST(TcpState, SimultaneousOpen) {
  // Both sides send a bare SYN (RFC 5382 REQ-2): the NAT must let it establish.
  EXPECT_EQ(run({{Dir::kOut, SYN}, {Dir::kIn, SYN}}), TcpState::kEstablished);
}

TEST(TcpState, InboundPortForwardOpen) {
  EXPECT_EQ(run({{Dir::kIn, SYN}, {Dir::kOut, SYN | ACK}}), TcpState::kEstablished);
}

TEST(TcpState, ResetIsTransitoryAndCanReopen) {
  TcpState s = run({{Dir::kOut, SYN}, {Dir::kIn, SYN | ACK}, {Dir::kIn, RST}});
  EXPECT_EQ(s, TcpState::kReset);
  EXPECT_FALSE(tcp_established(s));
  EXPECT_EQ(tcp_next(s, Dir::kOut, SYN), TcpState::kSynOut);
}

TEST(TcpState, DataWithoutSynChangesNothing) {
  EXPECT_EQ(run({{Dir::kOut, ACK}, {Dir::kIn, ACK}}), TcpState::kNone);
  EXPECT_EQ(run({{Dir::kOut, SYN}, {Dir::kOut, SYN}}), TcpState::kSynOut);  // retransmit
}

TcpSegment seg(uint8_t flags, uint32_t seq, uint32_t ack = 0, uint32_t len = 0,
               uint16_t window = 1000, int8_t wscale = -1) {
  TcpSegment s;
  s.flags = flags;
  s.seq = seq;
  s.ack = ack;
  s.len = len;
  s.window = window;
  s.wscale = wscale;
  return s;
}

TEST(TcpTrack, RstMustFallInTheReceiversWindow) {
  TcpTrack t;
  t.update(Dir::kOut, seg(SYN, 1000, 0, 0, 64240, 7));
  t.update(Dir::kIn, seg(SYN | ACK, 5000, 1001, 0, 65535, 7));
  t.update(Dir::kOut, seg(ACK, 1001, 5001, 0, 502));  // 502 << 7 = 64256
  t.update(Dir::kIn, seg(ACK, 5001, 1001, 3000, 501));
  EXPECT_EQ(t.next[0], 1001u);
  EXPECT_EQ(t.next[1], 8001u);
  EXPECT_EQ(t.max_win[0], 64256u) << "scaled: both SYNs offered scaling";
  // From outside: in window of where the outside is (8001) against the guest's window.
  EXPECT_TRUE(t.rst_acceptable(Dir::kIn, seg(RST, 8001)));
  EXPECT_TRUE(t.rst_acceptable(Dir::kIn, seg(RST, 8001 + 60000)));
  EXPECT_TRUE(t.rst_acceptable(Dir::kIn, seg(RST, 8001 - 2000)));  // guest still behind
  EXPECT_FALSE(t.rst_acceptable(Dir::kIn, seg(RST, 8001 + 100000))) << "a blind guess";
  EXPECT_FALSE(t.rst_acceptable(Dir::kIn, seg(RST, 12345678)));
  EXPECT_FALSE(t.rst_acceptable(Dir::kIn, seg(RST, 8001u - 200000u)));
  // The same from the inside, against the outside's window (501 << 7).
  EXPECT_TRUE(t.rst_acceptable(Dir::kOut, seg(RST, 1001)));
  EXPECT_FALSE(t.rst_acceptable(Dir::kOut, seg(RST, 1001 + 70000)));
}

TEST(TcpTrack, NoScalingUnlessBothSynsOfferIt) {
  TcpTrack t;
  t.update(Dir::kOut, seg(SYN, 1, 0, 0, 1000, 7));
  t.update(Dir::kIn, seg(SYN | ACK, 100, 2, 0, 1000, -1));
  t.update(Dir::kOut, seg(ACK, 2, 101, 0, 1000));
  EXPECT_EQ(t.max_win[0], 1000u);
  EXPECT_FALSE(t.rst_acceptable(Dir::kIn, seg(RST, 101 + 5000)));
}

TEST(TcpTrack, RstAnsweringASynIsAcceptedByItsAck) {
  TcpTrack t;
  t.update(Dir::kOut, seg(SYN, 777, 0, 0, 64240, 7));
  // "Connection refused": RST+ACK acknowledging the SYN, from a side never seen before.
  EXPECT_TRUE(t.rst_acceptable(Dir::kIn, seg(RST | ACK, 0, 778)));
  EXPECT_FALSE(t.rst_acceptable(Dir::kIn, seg(RST | ACK, 0, 999)));
  EXPECT_FALSE(t.rst_acceptable(Dir::kIn, seg(RST, 0)));
}

TEST(TcpTrack, FinAndPayloadAdvanceTheEdgeAndRetransmitsDoNot) {
  TcpTrack t;
  t.update(Dir::kOut, seg(SYN, 10));
  t.update(Dir::kOut, seg(ACK, 11, 0, 100));
  t.update(Dir::kOut, seg(ACK, 11, 0, 50));  // an old retransmission
  EXPECT_EQ(t.next[0], 111u);
  t.update(Dir::kOut, seg(FIN | ACK, 111));
  EXPECT_EQ(t.next[0], 112u);
  t.update(Dir::kOut, seg(RST, 5000));  // a RST moves no edge
  EXPECT_EQ(t.next[0], 112u);
}

}  // namespace
}  // namespace gp::nat
