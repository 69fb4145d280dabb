// The per-worker NAT table (needs EAL for rte_hash): EIM mappings, port preservation
// and ranges, per-worker port slices, port-forward ports, filtering state, expiry with
// an injected clock, table-full and per-VM limits.
#include "dataplane/nat/nat_table.h"

#include <netinet/in.h>

#include <utility>
#include <vector>

#include "dataplane/nat/nat_view.h"
#include "tests/dataplane/harness.h"

namespace gp::nat {
namespace {

constexpr rte_be32_t ip4(int a, int b, int c, int d) {
  return RTE_BE32((uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d));
}
const rte_be32_t kOutside = ip4(198, 51, 100, 10);

InKey flow(uint8_t proto, uint16_t sport, rte_be32_t dst, uint16_t dport, uint16_t nat_id = 1) {
  return in_key(ip4(10, 0, 2, 15), rte_cpu_to_be_16(sport), dst, rte_cpu_to_be_16(dport), nat_id,
                proto);
}

struct Fixture : ::testing::Test {
  Snapshot snap;
  Refusal why = Refusal::kNone;
  // guest_port: the VM adapter (per-VM limits count per guest port).
  uint32_t out(NatTable& t, const InKey& k, uint64_t now = 0, uint32_t limit = 0,
               uint16_t guest_port = 1) {
    return t.create_outbound(k, k.dst_ip, k.dst_port, kOutside, InsideRef{0, guest_port, 2, {}},
                             limit, snap, now, &why);
  }
};

TEST_F(Fixture, EndpointIndependentMappingAndPortPreservation) {
  NatTable t(1024, 0, 1);
  uint32_t a = out(t, flow(IPPROTO_UDP, 40000, ip4(203, 0, 113, 7), 53));
  uint32_t b = out(t, flow(IPPROTO_UDP, 40000, ip4(203, 0, 113, 8), 53));
  ASSERT_NE(a, NatTable::kInvalid);
  ASSERT_NE(b, NatTable::kInvalid);
  EXPECT_NE(a, b);                                                              // two sessions ...
  EXPECT_EQ(t.session(a).out().outside_port, rte_cpu_to_be_16(40000));          // preserved
  EXPECT_EQ(t.session(b).out().outside_port, t.session(a).out().outside_port);  // ... one mapping
  EXPECT_EQ(t.find_out(t.session(b).out()), b);
  EXPECT_EQ(t.find_in(flow(IPPROTO_UDP, 40000, ip4(203, 0, 113, 7), 53)), a);
  // Another VM (NAT router) with the same inside endpoint gets another port, same range.
  uint32_t c = out(t, flow(IPPROTO_UDP, 40000, ip4(203, 0, 113, 7), 53, /*nat_id=*/2));
  const uint16_t pc = rte_be_to_cpu_16(t.session(c).out().outside_port);
  EXPECT_NE(pc, 40000);
  EXPECT_GE(pc, 1024);
  // A privileged source port stays privileged.
  uint32_t d = out(t, flow(IPPROTO_TCP, 80, ip4(203, 0, 113, 7), 80, 2));
  uint32_t e = out(t, flow(IPPROTO_TCP, 80, ip4(203, 0, 113, 7), 80, 3));
  EXPECT_EQ(rte_be_to_cpu_16(t.session(d).out().outside_port), 80);
  const uint16_t pe = rte_be_to_cpu_16(t.session(e).out().outside_port);
  EXPECT_LT(pe, 1024);
  EXPECT_NE(pe, 80);
}

TEST_F(Fixture, WorkersOwnDisjointSlices) {
  NatTable w0(1024, 0, 2), w1(1024, 1, 2);
  for (uint16_t i = 0; i < 50; ++i) {
    uint32_t a = out(w0, flow(IPPROTO_TCP, 5000 + i, ip4(203, 0, 113, 7), 80));
    uint32_t b = out(w1, flow(IPPROTO_TCP, 5000 + i, ip4(203, 0, 113, 7), 80));
    EXPECT_EQ(rte_be_to_cpu_16(w0.session(a).out().outside_port) % 2, 0);
    EXPECT_EQ(rte_be_to_cpu_16(w1.session(b).out().outside_port) % 2, 1);
  }
}

TEST_F(Fixture, PortForwardPortsAreNeverAllocated) {
  PortForwardRule r;
  r.proto = IPPROTO_TCP;
  r.host_port = rte_cpu_to_be_16(40000);
  snap.port_forwards.push_back(r);
  NatTable t(1024, 0, 1);
  uint32_t a = out(t, flow(IPPROTO_TCP, 40000, ip4(203, 0, 113, 7), 80));
  ASSERT_NE(a, NatTable::kInvalid);
  EXPECT_NE(rte_be_to_cpu_16(t.session(a).out().outside_port), 40000);
  EXPECT_GE(rte_be_to_cpu_16(t.session(a).out().outside_port), 1024);
}

TEST_F(Fixture, AnExhaustedSliceRefusesAtOnceAndReusesWhatIsReleased) {
  // 16 workers: worker 5 owns the ports p % 16 == 5 of 1024-65535, 4032 of them.
  NatTable t(8192, 5, 16);
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < 4032; ++i) {
    const uint32_t id =
        out(t, flow(IPPROTO_UDP, static_cast<uint16_t>(1024 + i), ip4(203, 0, 113, 7), 53));
    ASSERT_NE(id, NatTable::kInvalid) << i;
    EXPECT_EQ(rte_be_to_cpu_16(t.session(id).out().outside_port) % 16, 5);
    ids.push_back(id);
  }
  EXPECT_EQ(out(t, flow(IPPROTO_UDP, 60000, ip4(203, 0, 113, 7), 53)), NatTable::kInvalid);
  EXPECT_EQ(why, Refusal::kPortsExhausted);
  // Other protocols have ports of their own.
  EXPECT_NE(out(t, flow(IPPROTO_TCP, 1111, ip4(203, 0, 113, 7), 53)), NatTable::kInvalid);
  const uint16_t freed = rte_be_to_cpu_16(t.session(ids[100]).out().outside_port);
  t.remove(ids[100]);
  const uint32_t again = out(t, flow(IPPROTO_UDP, 60000, ip4(203, 0, 113, 7), 53));
  ASSERT_NE(again, NatTable::kInvalid);
  EXPECT_EQ(rte_be_to_cpu_16(t.session(again).out().outside_port), freed);
}

TEST_F(Fixture, KeysAreNeverOverwritten) {
  // A DNS-proxy session (the guest asked .3, the query goes to the resolver) and a
  // direct query to the same resolver from the same source port: two outside views.
  NatTable t(1024, 0, 1);
  const rte_be32_t resolver = ip4(198, 51, 100, 53), proxy = ip4(10, 0, 2, 3);
  const InKey via_proxy = flow(IPPROTO_UDP, 5353, proxy, 53);
  const uint32_t p = t.create_outbound(via_proxy, resolver, via_proxy.dst_port, kOutside,
                                       InsideRef{0, 1, 2, {}}, 0, snap, 0, &why);
  const uint32_t d = out(t, flow(IPPROTO_UDP, 5353, resolver, 53));
  ASSERT_NE(p, NatTable::kInvalid);
  ASSERT_NE(d, NatTable::kInvalid);
  EXPECT_NE(t.session(p).out().outside_port, t.session(d).out().outside_port);
  EXPECT_EQ(t.find_out(t.session(p).out()), p);
  EXPECT_EQ(t.find_out(t.session(d).out()), d);
  const OutKey direct_view = t.session(d).out();
  t.remove(p);  // removing one leaves the other's keys
  EXPECT_EQ(t.find_out(direct_view), d);
  EXPECT_EQ(t.find_in(flow(IPPROTO_UDP, 5353, resolver, 53)), d);
  // Creating a session whose inside key exists is refused, not overwritten.
  EXPECT_EQ(out(t, flow(IPPROTO_UDP, 5353, resolver, 53)), NatTable::kInvalid);
  EXPECT_EQ(why, Refusal::kConflict);
  EXPECT_EQ(t.find_in(flow(IPPROTO_UDP, 5353, resolver, 53)), d);
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(Fixture, FilteringStateFollowsSessions) {
  NatTable t(1024, 0, 1);
  uint32_t a = out(t, flow(IPPROTO_UDP, 3000, ip4(203, 0, 113, 7), 53));
  const rte_be16_t port = t.session(a).out().outside_port;
  EXPECT_NE(t.mapping_at(kOutside, port, IPPROTO_UDP), NatTable::kInvalid);
  EXPECT_TRUE(t.mapping_has_sent_to(kOutside, port, IPPROTO_UDP, ip4(203, 0, 113, 7)));
  EXPECT_FALSE(t.mapping_has_sent_to(kOutside, port, IPPROTO_UDP, ip4(203, 0, 113, 9)));
  EXPECT_EQ(t.mapping_at(kOutside, port, IPPROTO_TCP), NatTable::kInvalid);
  t.remove(a);
  EXPECT_EQ(t.mapping_at(kOutside, port, IPPROTO_UDP), NatTable::kInvalid);
  EXPECT_FALSE(t.port_used(IPPROTO_UDP, rte_be_to_cpu_16(port)));
  EXPECT_EQ(t.size(), 0u);
}

// The session and mapping arrays: 2 MB-aligned, every element value-initialized (a
// Mapping's defaults, a TcpTrack's "no scale offered"), movable without a double unmap.
TEST(HugeArray, AlignedValueInitializedAndMovable) {
  HugeArray<TcpTrack> a(100000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(&a[0]) % HugeArray<TcpTrack>::kHuge, 0u);
  EXPECT_EQ(a.bytes() % HugeArray<TcpTrack>::kHuge, 0u);
  EXPECT_GE(a.bytes(), 100000 * sizeof(TcpTrack));
  EXPECT_EQ(a[99999].scale_offer[0], -1);
  a[5].next[0] = 7;
  HugeArray<TcpTrack> b(std::move(a));
  EXPECT_EQ(b[5].next[0], 7u);
  EXPECT_EQ(a.size(), 0u);
  HugeArray<Mapping> m(3);
  EXPECT_EQ(m[2].segment, kNoPort);
  m = HugeArray<Mapping>(5);
  EXPECT_EQ(m.size(), 5u);
  EXPECT_EQ(m[4].guest_port, kNoPort);
}

// A session's clock is a uint32 of coarse ticks: idle times and expiry hold across its
// wrap (never early; late by at most one pass of the sweep), and the default tick (about 1/64 s)
// keeps the longest timeout (2^24 s) within the 2^31 ticks a wrapping clock can compare.
TEST_F(Fixture, CoarseClockWrapsWithoutExpiringEarlyOrLate) {
  NatTable t(64, 0, 1, /*time_shift=*/0);
  const std::array<uint64_t, 4> timeouts = {60, 60, 60, 60};
  const uint64_t before_wrap = 0xfffffff0ull;
  const uint32_t u = out(t, flow(IPPROTO_UDP, 3000, ip4(203, 0, 113, 7), 53), before_wrap);
  ASSERT_NE(u, NatTable::kInvalid);
  EXPECT_EQ(t.idle_tsc(u, before_wrap + 50), 50u);  // the uint32 wrapped at +16
  EXPECT_EQ(t.expire(before_wrap + 60, timeouts, 10), 0u);
  EXPECT_TRUE(t.session(u).in_use);
  // Idle past its timeout from +61; the hand comes round within a pass (60 / 16).
  uint32_t gone = 0;
  for (uint64_t now = before_wrap + 61; now <= before_wrap + 61 + 60 / 16; ++now)
    gone += t.expire(now, timeouts, 10);
  EXPECT_EQ(gone, 1u);
  EXPECT_FALSE(t.session(u).in_use);

  NatTable coarse(64, 0, 1);  // the default tick
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t longest = (uint64_t{1} << 24) * hz;
  const std::array<uint64_t, 4> long_timeouts = {longest, longest, longest, longest};
  const uint32_t c = out(coarse, flow(IPPROTO_UDP, 3001, ip4(203, 0, 113, 7), 53), 0);
  EXPECT_EQ(coarse.expire(longest - hz, long_timeouts, 10), 0u);  // a second short of it
  EXPECT_TRUE(coarse.session(c).in_use);
  // The sweep comes round once a sixteenth of the shortest timeout: gone by then.
  EXPECT_EQ(coarse.expire(longest + longest / 16 + hz, long_timeouts, 10), 1u);
  const uint64_t idle = 3 * hz;
  const uint32_t d = out(coarse, flow(IPPROTO_UDP, 3002, ip4(203, 0, 113, 7), 53), hz);
  EXPECT_NEAR(double(coarse.idle_tsc(d, hz + idle)), double(idle), double(hz) / 32);
}

TEST_F(Fixture, ExpiryPerTimeoutClassWithInjectedClock) {
  NatTable t(1024, 0, 1, /*time_shift=*/0);                       // one tick a "second"
  const std::array<uint64_t, 4> timeouts = {300, 7440, 240, 60};  // "TSC" = seconds here
  uint32_t u = out(t, flow(IPPROTO_UDP, 3000, ip4(203, 0, 113, 7), 53), 0);
  uint32_t tc = out(t, flow(IPPROTO_TCP, 3001, ip4(203, 0, 113, 7), 80), 0);
  uint32_t ic = out(t, flow(IPPROTO_ICMP, 7, ip4(203, 0, 113, 7), 7), 0);
  t.touch(tc, 0, Dir::kOut, RTE_TCP_SYN_FLAG);
  t.touch(tc, 1, Dir::kIn, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
  EXPECT_EQ(t.session(tc).tcp, TcpState::kEstablished);
  EXPECT_EQ(t.expire(61, timeouts, 100), 1u);  // ICMP
  EXPECT_FALSE(t.session(ic).in_use);
  t.touch(u, 200, Dir::kOut, uint8_t{0});
  EXPECT_EQ(t.expire(400, timeouts, 100), 0u);  // UDP refreshed at 200; TCP established
  EXPECT_EQ(t.expire(501, timeouts, 100), 1u);
  EXPECT_FALSE(t.session(u).in_use);
  t.touch(tc, 600, Dir::kOut, RTE_TCP_RST_FLAG);  // RST: transitory time from now
  EXPECT_EQ(t.expire(800, timeouts, 100), 0u);
  EXPECT_EQ(t.expire(841, timeouts, 100), 1u);
  EXPECT_EQ(t.size(), 0u);
}

// The clock sweep, driven as a worker drives it (a call per poll loop, 64 removals at
// most): every session idle past its timeout is gone within one pass (a sixteenth of
// the shortest timeout) and none goes before its timeout.
TEST_F(Fixture, ExpirySweepRemovesEveryIdleSessionWithinAPassAndNoneEarly) {
  NatTable t(65536, 0, 1, /*time_shift=*/0);
  const std::array<uint64_t, 4> timeouts = {1600, 1600, 1600, 1600};  // a pass: 100
  std::vector<std::pair<uint32_t, uint64_t>> made;                    // id, created
  uint64_t seed = 7;
  for (uint32_t i = 0; i < 20000; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t at = (seed >> 33) % 1000;
    const uint32_t id =
        out(t, flow(IPPROTO_UDP, static_cast<uint16_t>(1024 + i), ip4(203, 0, 113, 7), 53), at);
    ASSERT_NE(id, NatTable::kInvalid);
    made.emplace_back(id, at);
  }
  uint32_t removed = 0;
  for (uint64_t now = 1000; now <= 2800; ++now) {
    const uint32_t n = t.expire(now, timeouts, 64);
    EXPECT_LE(n, 64u);
    removed += n;
    if (now % 25 != 0) continue;
    for (const auto& [id, at] : made) {
      const bool gone = !t.session(id).in_use;
      if (gone) {
        EXPECT_GT(now - at, 1600u) << "early: " << id;  // never early
      } else {
        EXPECT_LE(now - at, 1600u + 100 + 1) << "late: " << id;  // within a pass
      }
    }
  }
  EXPECT_EQ(removed, 20000u);
  EXPECT_EQ(t.size(), 0u);
}

// One call looks at kScanMax slots at most, however long since the last, and stops at
// its removal budget; the next call goes on from there.
TEST_F(Fixture, ExpirySweepStopsAtItsBudgetAndGoesOnFromThere) {
  NatTable t(65536, 0, 1, /*time_shift=*/0);
  const std::array<uint64_t, 4> timeouts = {16, 16, 16, 16};
  for (uint32_t i = 0; i < 9000; ++i)
    ASSERT_NE(out(t, flow(IPPROTO_UDP, static_cast<uint16_t>(1024 + i), ip4(203, 0, 113, 7), 53)),
              NatTable::kInvalid);
  EXPECT_EQ(t.expire(1000000, timeouts, UINT32_MAX), NatTable::kScanMax);  // slots 0..4095
  EXPECT_EQ(t.expire(1000001, timeouts, 10), 10u);
  EXPECT_EQ(t.size(), 9000u - NatTable::kScanMax - 10);
  uint32_t calls = 0;
  for (uint64_t now = 1000002; t.size() != 0 && calls < 100000; ++now, ++calls)
    EXPECT_LE(t.expire(now, timeouts, 10), 10u);
  EXPECT_EQ(t.size(), 0u);
}

// Mappings are bounded by the ports there are, not by sessions: a worker's table has
// room for one per outside port of its slice (three protocols), and they all fit.
TEST_F(Fixture, MappingsFillEveryPortOfTheSlice) {
  EXPECT_EQ(NatTable(1000, 0, 1).mapping_capacity(), 1000u);
  EXPECT_EQ(NatTable(1u << 20, 0, 1).mapping_capacity(), 3u * 65535);
  NatTable t(20000, 5, 16);
  EXPECT_EQ(t.mapping_capacity(), 3u * 4096);
  uint32_t made = 0;
  for (const uint8_t proto : {IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMP})
    for (uint32_t p = 5; p < 65536; p += 16) {
      const InKey k = flow(proto, static_cast<uint16_t>(p), ip4(203, 0, 113, 7),
                           proto == IPPROTO_ICMP ? static_cast<uint16_t>(p) : 53);
      const uint32_t id = out(t, k);
      ASSERT_NE(id, NatTable::kInvalid) << int(proto) << " " << p;
      EXPECT_EQ(rte_be_to_cpu_16(t.session(id).outside_port), p);  // preserved
      EXPECT_EQ(t.find_out(t.session(id).out()), id);
      ++made;
    }
  EXPECT_EQ(made, t.mapping_capacity());
  EXPECT_EQ(out(t, flow(IPPROTO_UDP, 6, ip4(203, 0, 113, 7), 53)), NatTable::kInvalid);
  EXPECT_EQ(why, Refusal::kPortsExhausted);
}

TEST_F(Fixture, TableFullAndVmLimitRefuseNewButKeepOld) {
  NatTable t(4, 0, 1);
  std::vector<uint32_t> ids;
  for (uint16_t i = 0; i < 4; ++i) ids.push_back(out(t, flow(IPPROTO_UDP, 100 + i, 1, 9)));
  EXPECT_EQ(out(t, flow(IPPROTO_UDP, 200, 1, 9)), NatTable::kInvalid);
  EXPECT_EQ(why, Refusal::kTableFull);
  EXPECT_EQ(t.find_in(flow(IPPROTO_UDP, 100, 1, 9)), ids[0]);  // old sessions continue
  NatTable v(16, 0, 1);
  EXPECT_NE(out(v, flow(IPPROTO_UDP, 1, 1, 9), 0, 2), NatTable::kInvalid);
  EXPECT_NE(out(v, flow(IPPROTO_UDP, 2, 1, 9), 0, 2), NatTable::kInvalid);
  EXPECT_EQ(out(v, flow(IPPROTO_UDP, 3, 1, 9), 0, 2), NatTable::kInvalid);
  EXPECT_EQ(why, Refusal::kVmLimit);
  EXPECT_NE(out(v, flow(IPPROTO_UDP, 3, 1, 9, /*nat_id=*/5), 0, 2, /*guest_port=*/3),
            NatTable::kInvalid);  // another VM has its own share
  EXPECT_EQ(v.vm_sessions(1), 2u);
  EXPECT_EQ(v.vm_sessions(3), 1u);
}

TEST_F(Fixture, PortsExhaustedInARange) {
  NatTable t(4096, 0, 1);
  uint32_t ok = 0;
  for (uint16_t i = 1; i < 1100; ++i)
    ok += out(t, flow(IPPROTO_TCP, 22, ip4(203, 0, 113, 7), 80, i)) != NatTable::kInvalid;
  EXPECT_EQ(ok, 1023u);  // ports 1..1023, one per VM
  EXPECT_EQ(why, Refusal::kPortsExhausted);
}

TEST_F(Fixture, ShowNatCopiesASliceOfTheTablePerLoop) {
  NatTable t(4096, 0, 1);
  for (uint16_t i = 0; i < 3000; ++i)
    ASSERT_NE(out(t, flow(IPPROTO_UDP, static_cast<uint16_t>(10000 + i), ip4(203, 0, 113, 7), 53)),
              NatTable::kInvalid);
  NatViewRequest v;
  ASSERT_TRUE(v.request(4096));
  EXPECT_FALSE(v.request(4096)) << "one request at a time";
  unsigned loops = 0;
  while (!v.done() && loops < 100) {
    v.serve(t, 0);
    ++loops;
  }
  // 4096 slots, 1024 a loop: four loops, never the whole table in one.
  EXPECT_EQ(loops, 4096u / NatViewRequest::kSlotsPerLoop);
  EXPECT_EQ(v.rows().size(), 3000u);
  v.finish();
  // A row limit ends the copy early.
  ASSERT_TRUE(v.request(10));
  v.serve(t, 0);
  EXPECT_TRUE(v.done());
  EXPECT_EQ(v.rows().size(), 10u);
  v.finish();
}

}  // namespace
}  // namespace gp::nat
