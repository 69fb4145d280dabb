// TCP state as a NAT tracks it (RFC 5382 / RFC 7857): enough to pick the established
// or the transitory timeout, to accept simultaneous open, and to keep state for the
// transitory time after a RST. Pure, inline; tested in tests/unit/nat_table_test.cc.
#pragma once

#include <rte_tcp.h>

#include <cstdint>

namespace gp::nat {

enum class TcpState : uint8_t {
  kNone = 0,     // not TCP, or nothing seen yet
  kSynOut,       // SYN from the inside
  kSynIn,        // SYN from the outside (port forward, or simultaneous open)
  kEstablished,  // SYN seen both ways
  kFinOut,       // established, FIN from the inside
  kFinIn,        // established, FIN from the outside
  kClosing,      // FIN both ways
  kReset,        // RST seen: kept for the transitory time
};

enum class Dir : uint8_t { kOut, kIn };

inline TcpState tcp_next(TcpState s, Dir d, uint8_t flags) noexcept {
  const bool syn = flags & RTE_TCP_SYN_FLAG, fin = flags & RTE_TCP_FIN_FLAG,
             rst = flags & RTE_TCP_RST_FLAG;
  if (rst) return TcpState::kReset;
  const bool out = d == Dir::kOut;
  if (syn) {
    switch (s) {
      case TcpState::kSynOut:
        return out ? s : TcpState::kEstablished;  // SYN-ACK or simultaneous SYN
      case TcpState::kSynIn:
        return out ? TcpState::kEstablished : s;
      case TcpState::kNone:
      case TcpState::kReset:
      case TcpState::kClosing:
        return out ? TcpState::kSynOut : TcpState::kSynIn;  // (re)opening
      default:
        return s;
    }
  }
  if (fin) {
    switch (s) {
      case TcpState::kEstablished:
        return out ? TcpState::kFinOut : TcpState::kFinIn;
      case TcpState::kFinOut:
        return out ? s : TcpState::kClosing;
      case TcpState::kFinIn:
        return out ? TcpState::kClosing : s;
      default:
        return s;
    }
  }
  return s;
}

inline bool tcp_established(TcpState s) noexcept {
  return s == TcpState::kEstablished || s == TcpState::kFinOut || s == TcpState::kFinIn;
}

}  // namespace gp::nat
