// Token-bucket arithmetic with an injected clock: the long-run rate, the burst, debt
// paid back, no tokens lost to rounding, no limit at rate 0.
#include "dataplane/filter/token_bucket.h"

#include <gtest/gtest.h>

namespace gp {
namespace {

constexpr uint64_t kHz = 2'400'000'007;  // an awkward TSC frequency on purpose

TEST(TokenBucket, StartsFullAndHoldsAtMostTheBurst) {
  TokenBucket b;
  b.set_rate(800'000'000);  // 100 MB/s: the burst is 10 ms of it
  EXPECT_EQ(b.burst(), 1'000'000u);
  EXPECT_TRUE(b.admit(1000, kHz));
  EXPECT_EQ(b.tokens(), 1'000'000);
  EXPECT_TRUE(b.admit(1000 + kHz * 5, kHz));  // 5 s idle: still one burst, not 500 MB
  EXPECT_EQ(b.tokens(), 1'000'000);
  TokenBucket slow;
  slow.set_rate(8000);  // 1000 B/s: the burst never drops below two jumbo frames
  EXPECT_EQ(slow.burst(), 2u * 9018 + 64);
}

TEST(TokenBucket, DebtIsPaidBackBeforeAnythingMoreIsAdmitted) {
  TokenBucket b;
  b.set_rate(8'000'000);  // 1 MB/s
  const uint64_t t0 = 12345;
  ASSERT_TRUE(b.admit(t0, kHz));
  b.consume(b.burst() + 1000);  // a burst of frames took more than there was
  EXPECT_FALSE(b.admit(t0, kHz));
  EXPECT_FALSE(b.admit(t0 + kHz / 1000, kHz));  // 1 ms: 1000 bytes earned, debt paid, 0 left
  EXPECT_TRUE(b.admit(t0 + kHz / 1000 + kHz / 100'000, kHz));  // 10 us more: 10 bytes
}

TEST(TokenBucket, TheLongRunRateHoldsWhateverThePollInterval) {
  // Polls at least every millisecond (a worker polls far more often): 10 KB per poll
  // at most, well within the burst.
  struct Case {
    uint64_t step, ticks;  // poll every `step` TSC ticks for `ticks`
  };
  for (Case c : {Case{1, kHz / 1000}, Case{997, kHz / 10}, Case{kHz / 1000, 2 * kHz}}) {
    SCOPED_TRACE(c.step);
    const uint64_t step = c.step;
    TokenBucket b;
    b.set_rate(80'000'000);  // 10 MB/s
    uint64_t now = 1, sent = 0;
    const uint64_t end = now + c.ticks;
    while (now < end) {
      while (b.admit(now, kHz)) {  // a guest that always has 1500-byte frames waiting
        b.consume(1500);
        sent += 1500;
      }
      now += step;
    }
    const double expected = 10e6 * static_cast<double>(c.ticks) / static_cast<double>(kHz) +
                            static_cast<double>(b.burst());
    EXPECT_NEAR(static_cast<double>(sent), expected, 1500 + expected * 1e-6);
  }
}

TEST(TokenBucket, NoLimitAtRateZeroAndRatesChangeInPlace) {
  TokenBucket b;
  b.set_rate(0);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(b.admit(i, kHz));
    b.consume(1'000'000);
  }
  EXPECT_EQ(b.tokens(), 0);  // nothing was counted
  b.set_rate(8000);
  EXPECT_TRUE(b.admit(1000, kHz));
  b.consume(100'000);
  EXPECT_FALSE(b.admit(1000 + kHz, kHz));  // 1000 B/s cannot pay 80 KB back in 1 s
  b.set_rate(8'000'000'000);               // re-apply: 1 GB/s
  EXPECT_TRUE(b.admit(1000 + kHz + kHz / 1000, kHz));
}

}  // namespace
}  // namespace gp
