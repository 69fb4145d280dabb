// TCP state as a NAT tracks it (RFC 5382 / RFC 7857): enough to pick the established
// or the transitory timeout, to accept simultaneous open, and to keep state for the
// transitory time after a RST; and each side's sequence space, so that only a RST a
// receiver would accept (RFC 5961 3.2: in its window, or acknowledging its SYN) ends a
// session. Pure, inline; tested in tests/unit/tcp_state_test.cc.
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

// What the NAT reads of one TCP segment (host byte order).
struct TcpSegment {
  uint8_t flags = 0;
  uint32_t seq = 0, ack = 0;
  uint32_t len = 0;     // payload bytes
  uint16_t window = 0;  // as sent (unscaled)
  int8_t wscale = -1;   // the window scale option of a SYN (RFC 7323), -1 if none
};

// Per session, per direction (index: Dir): the next sequence number the side will
// send, the largest window it advertised (scaled), the scale its SYN offered.
struct TcpTrack {
  uint32_t next[2] = {0, 0};
  uint32_t max_win[2] = {0, 0};
  int8_t scale_offer[2] = {-1, -1};
  bool seen[2] = {false, false};

  static bool after(uint32_t a, uint32_t b) noexcept { return static_cast<int32_t>(a - b) > 0; }
  // Scaling holds only when both SYNs offered it (RFC 7323 1.3).
  uint8_t scale(unsigned d) const noexcept {
    return scale_offer[0] >= 0 && scale_offer[1] >= 0 ? static_cast<uint8_t>(scale_offer[d]) : 0;
  }

  void update(Dir dir, const TcpSegment& s) noexcept {
    const unsigned d = static_cast<unsigned>(dir);
    const bool syn = s.flags & RTE_TCP_SYN_FLAG, fin = s.flags & RTE_TCP_FIN_FLAG;
    if (s.flags & RTE_TCP_RST_FLAG) return;  // a RST moves no edge
    if (syn) scale_offer[d] = s.wscale > 14 ? 14 : s.wscale;
    const uint32_t win = syn ? s.window : uint32_t{s.window} << scale(d);
    if (win > max_win[d]) max_win[d] = win;
    const uint32_t end = s.seq + s.len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (!seen[d] || after(end, next[d])) next[d] = end;
    seen[d] = true;
  }

  // Would the receiver (the other side) accept this RST from `dir`?
  bool rst_acceptable(Dir dir, const TcpSegment& s) const noexcept {
    const unsigned d = static_cast<unsigned>(dir), o = 1 - d;
    // RST+ACK acknowledging everything the other side sent (the answer to a SYN).
    if (seen[o] && (s.flags & RTE_TCP_ACK_FLAG) && s.ack == next[o]) return true;
    if (!seen[d]) return false;  // nothing to check its sequence number against
    // Within the receiver's window of where this side is, either way: the receiver
    // may not have seen all this side sent yet.
    const uint32_t w = max_win[o] == 0 ? 1 : max_win[o];
    const int64_t diff = static_cast<int32_t>(s.seq - next[d]);
    return diff >= -int64_t{w} && diff <= int64_t{w};
  }
};

inline bool tcp_established(TcpState s) noexcept {
  return s == TcpState::kEstablished || s == TcpState::kFinOut || s == TcpState::kFinIn;
}

}  // namespace gp::nat
