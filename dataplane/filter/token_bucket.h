// A token bucket shared by the workers that poll the ports of one bandwidth group
// (VirtualBox's bandwidth groups: a limit on what the group's guests transmit).
// Shaping, not policing: a worker polls a port of the group only while the bucket holds
// tokens, so frames over the limit wait in the guest's own ring (the guest's queueing
// discipline and TCP see back-pressure, as on a slower link) instead of being dropped
// here. Tokens are bytes; consume() may drive them below zero by at most one burst of
// frames, which the next refills pay back, so the long-run rate holds.
//
// Lock-free: any worker may refill and consume at any time (one CAS on the refill
// time, relaxed adds on the tokens). Header-only and free of DPDK, so that its
// arithmetic is tested with an injected clock.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace gp {

class alignas(64) TokenBucket {
 public:
  // bits_per_s 0: no limit. The bucket holds at most `burst` bytes: 10 ms at the rate,
  // and never less than two jumbo frames (a frame must always fit eventually).
  void set_rate(uint64_t bits_per_s) noexcept {
    const uint64_t bytes = bits_per_s / 8;
    burst_.store(std::max<uint64_t>(bytes / 100, 2 * 9018 + 64), std::memory_order_relaxed);
    rate_.store(bytes, std::memory_order_relaxed);
  }
  uint64_t rate_bytes() const noexcept { return rate_.load(std::memory_order_relaxed); }
  uint64_t burst() const noexcept { return burst_.load(std::memory_order_relaxed); }
  int64_t tokens() const noexcept { return tokens_.load(std::memory_order_relaxed); }

  // Adds the tokens earned since the last refill, up to the burst; true if there are
  // tokens to spend (always, without a limit).
  bool admit(uint64_t now_tsc, uint64_t tsc_hz) noexcept {
    const uint64_t rate = rate_.load(std::memory_order_relaxed);
    if (rate == 0) return true;
    uint64_t last = last_.load(std::memory_order_relaxed);
    if (last == kNever) {  // the first use: start full
      if (last_.compare_exchange_strong(last, now_tsc, std::memory_order_relaxed))
        tokens_.store(static_cast<int64_t>(burst()), std::memory_order_relaxed);
      return tokens() > 0;
    }
    if (now_tsc > last) {
      const unsigned __int128 earned =
          static_cast<unsigned __int128>(now_tsc - last) * rate / tsc_hz;
      if (earned != 0) {
        // Only the time the whole tokens stand for is used up: nothing is lost to
        // rounding however often this runs.
        const uint64_t used = static_cast<uint64_t>(earned * tsc_hz / rate);
        if (last_.compare_exchange_strong(last, last + used, std::memory_order_relaxed)) {
          const int64_t cap = static_cast<int64_t>(burst());
          const int64_t add = static_cast<int64_t>(std::min<unsigned __int128>(earned, cap * 2));
          const int64_t t = tokens_.fetch_add(add, std::memory_order_relaxed) + add;
          if (t > cap)
            tokens_.store(cap, std::memory_order_relaxed);  // a race may overfill by one add
        }
      }
    }
    return tokens() > 0;
  }
  void consume(uint64_t bytes) noexcept {
    if (rate_.load(std::memory_order_relaxed) != 0)
      tokens_.fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  }

 private:
  std::atomic<uint64_t> rate_{0};   // bytes per second; 0: no limit
  std::atomic<uint64_t> burst_{0};  // bytes
  std::atomic<int64_t> tokens_{0};
  static constexpr uint64_t kNever = ~uint64_t{0};
  std::atomic<uint64_t> last_{kNever};  // TSC of the last refill
};

}  // namespace gp
