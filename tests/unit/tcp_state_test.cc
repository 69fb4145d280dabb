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

}  // namespace
}  // namespace gp::nat
