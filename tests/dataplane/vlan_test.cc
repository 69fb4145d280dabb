// 802.1Q VLANs through the real worker code: access ports (tag pushed towards trunks
// and the uplink, popped towards the guest), trunks that carry a list of VLANs with
// their tags, native VLANs and untagged frames as configured, MAC learning per VLAN,
// foreign tags dropped and counted, chained jumbo frames tagged and untagged whole,
// and a VLAN changed by re-apply. Frames are crafted byte by byte.
#include <netinet/in.h>

#include "tests/dataplane/harness.h"

namespace gp::test {
namespace {

using VlanTest = HarnessTest;

// A UDP frame from mac(from) to `to`, with an 802.1Q tag (tci) when tci >= 0.
rte_mbuf* udp(Harness& h, uint8_t from, const rte_ether_addr& to, int tci = -1,
              uint16_t payload = 10, uint16_t seg_len = 0) {
  rte_mbuf* m = h.ipv4(mac(from), to, ip4(10, 0, 0, from), ip4(10, 0, 0, 200), IPPROTO_UDP,
                       1000 + from, 7, 0, payload);
  std::vector<uint8_t> b = bytes_of(m);
  rte_pktmbuf_free(m);
  if (tci >= 0) {
    const uint8_t tag[4] = {0x81, 0x00, static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci)};
    b.insert(b.begin() + 12, tag, tag + 4);
  }
  return h.from_bytes(b, seg_len);
}
rte_mbuf* udp(Harness& h, uint8_t from, uint8_t to, int tci = -1) {
  return udp(h, from, mac(to), tci);
}

// What one frame out of a port looks like: its tag (-1: none) and its bytes untagged.
struct Seen {
  int tci = -1;
  std::vector<uint8_t> untagged;
  rte_ether_addr src{};
};
std::vector<Seen> seen(Harness& h, const std::string& port) {
  std::vector<Seen> out;
  for (rte_mbuf* m : h.recv_mbufs(port)) {
    Seen s;
    s.untagged = bytes_of(m);
    rte_pktmbuf_free(m);
    std::copy(s.untagged.begin() + 6, s.untagged.begin() + 12, s.src.addr_bytes);
    if (s.untagged[12] == 0x81 && s.untagged[13] == 0x00) {
      s.tci = (s.untagged[14] << 8) | s.untagged[15];
      s.untagged.erase(s.untagged.begin() + 12, s.untagged.begin() + 16);
    }
    out.push_back(s);
  }
  return out;
}

std::vector<uint8_t> untagged_bytes(Harness& h, uint8_t from, const rte_ether_addr& to,
                                    uint16_t payload = 10) {
  rte_mbuf* m = udp(h, from, to, -1, payload);
  std::vector<uint8_t> b = bytes_of(m);
  rte_pktmbuf_free(m);
  return b;
}

std::string guest(const std::string& name, int n, const std::string& net,
                  const std::string& extra) {
  char m[32];
  std::snprintf(m, sizeof(m), "'08:00:27:00:00:%02x'", n);
  return "  " + name + ": {adapters: {1: {attach: " + net + ", mac: " + m + ", port: r" + name +
         extra + "}}}\n";
}

// a, b: VLAN 10; c: VLAN 20; d: no VLAN (the untagged segment); t: a trunk of 10 and 20.
std::string lab(const std::string& trunk = "{trunk: [10, 20]}") {
  return "vms:\n" + guest("a", 1, "internal:lab", ", vlan: 10") +
         guest("b", 2, "internal:lab", ", vlan: {access: 10}") +
         guest("c", 3, "internal:lab", ", vlan: 20") + guest("d", 4, "internal:lab", "") +
         guest("t", 5, "internal:lab", ", vlan: " + trunk);
}

void drain(Harness& h) {
  for (const char* p : {"ra", "rb", "rc", "rd", "rt"}) h.recv(p);
}

TEST_F(VlanTest, AccessPortsOfOneVlanMeetAndNoOtherVlanSeesThem) {
  h->apply(lab());
  h->send("ra", udp(*h, 1, kBroadcast));
  h->step();
  auto b = seen(*h, "rb");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].tci, -1) << "an access port gets its VLAN's frames untagged";
  EXPECT_EQ(b[0].untagged, untagged_bytes(*h, 1, kBroadcast));
  EXPECT_TRUE(h->recv("rc").empty()) << "VLAN 20";
  EXPECT_TRUE(h->recv("rd").empty()) << "the untagged segment";
  auto t = seen(*h, "rt");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].tci, 10) << "the trunk gets it tagged";
  EXPECT_EQ(t[0].untagged, untagged_bytes(*h, 1, kBroadcast));
  // Unicast to a MAC learned in another VLAN is not delivered there.
  h->send("rc", udp(*h, 3, kBroadcast));
  h->step();
  drain(*h);
  h->send("ra", udp(*h, 1, 3));
  h->step();
  EXPECT_TRUE(h->recv("rc").empty()) << "c's own MAC, but in another VLAN";
  EXPECT_EQ(h->drops("ra", Drop::kNoDestination), 1u)
      << "unknown in VLAN 10, where no adapter has that MAC";
}

TEST_F(VlanTest, ATrunkSendsTaggedFramesToAccessPortsUntagged) {
  h->apply(lab());
  h->send("rt", udp(*h, 5, 3, 20));  // to c, in VLAN 20 (c not learned yet: flooded)
  h->send("rt", udp(*h, 5, kBroadcast, 10));
  h->send("rt", udp(*h, 5, kBroadcast, 30));  // a VLAN the trunk does not carry
  h->send("rt", udp(*h, 5, kBroadcast));      // untagged: the untagged segment
  h->step();
  auto c = seen(*h, "rc");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].tci, -1);
  EXPECT_EQ(c[0].untagged, untagged_bytes(*h, 5, mac(3)));
  auto a = seen(*h, "ra"), b = seen(*h, "rb");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].tci, -1);
  EXPECT_EQ(b[0].untagged, untagged_bytes(*h, 5, kBroadcast));
  auto d = seen(*h, "rd");
  ASSERT_EQ(d.size(), 1u) << "the untagged frame, and only that one";
  EXPECT_EQ(d[0].tci, -1);
  EXPECT_EQ(h->drops("rt", Drop::kVlanForeign), 1u);
}

TEST_F(VlanTest, AccessAndPlainPortsDropTaggedFramesAndTakePriorityTags) {
  h->apply(lab());
  h->send("ra", udp(*h, 1, kBroadcast, 20));  // a guest on VLAN 10 tagging for VLAN 20
  h->send("rd", udp(*h, 4, kBroadcast, 10));  // a VLAN-less guest on a VLAN-aware network
  h->send("ra", udp(*h, 1, kBroadcast, (5 << 13) | 0));  // priority-tagged: VLAN 10
  h->step();
  EXPECT_EQ(h->drops("ra", Drop::kVlanForeign), 1u);
  EXPECT_EQ(h->drops("rd", Drop::kVlanForeign), 1u);
  auto b = seen(*h, "rb");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].tci, -1);
  EXPECT_EQ(b[0].untagged, untagged_bytes(*h, 1, kBroadcast));
  auto t = seen(*h, "rt");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].tci & 0x0fff, 10);
  EXPECT_EQ(t[0].tci >> 13, 5) << "the priority the guest asked for";
  EXPECT_TRUE(h->recv("rc").empty());
}

TEST_F(VlanTest, MacsAreLearnedPerVlan) {
  // The same MAC in two VLANs are two hosts: c's guest uses a's MAC (allow-all lets
  // both take frames to a MAC not their adapter's).
  const std::string any = ", promiscuous: allow-all";
  h->apply("vms:\n" + guest("a", 1, "internal:lab", ", vlan: 10" + any) +
           guest("c", 3, "internal:lab", ", vlan: 20" + any) +
           guest("t", 5, "internal:lab", ", vlan: {trunk: [10, 20]}"));
  h->send("ra", udp(*h, 1, kBroadcast));
  rte_mbuf* m = udp(*h, 1, kBroadcast);
  h->send("rc", m);
  h->step();
  h->recv("rt");
  size_t entries = 0;
  h->fdb().for_each(0, [&](const FdbEntryView& e) { entries += mac_equal(e.mac, mac(1)); });
  EXPECT_EQ(entries, 2u);
  h->send("rt", udp(*h, 5, 1, 10));
  h->send("rt", udp(*h, 5, 1, 20));
  h->send("rt", udp(*h, 5, 1, 20));
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 1u);
  EXPECT_EQ(h->recv("rc").size(), 2u);
  EXPECT_EQ(h->event(WorkerEvent::kFloods), 2u) << "only the two broadcasts flooded";
}

TEST_F(VlanTest, ABurstFromATrunkIsSplitByVlanInOrder) {
  h->apply(lab());
  for (int i = 0; i < 30; ++i) h->send("rt", udp(*h, 5, kBroadcast, i % 3 == 0 ? 20 : 10, 10 + i));
  h->step();
  auto a = seen(*h, "ra"), c = seen(*h, "rc");
  ASSERT_EQ(a.size(), 20u);
  ASSERT_EQ(c.size(), 10u);
  for (size_t i = 1; i < a.size(); ++i) EXPECT_LT(a[i - 1].untagged.size(), a[i].untagged.size());
  for (size_t i = 1; i < c.size(); ++i) EXPECT_LT(c[i - 1].untagged.size(), c[i].untagged.size());
}

TEST_F(VlanTest, NativeVlanAndUntaggedDrop) {
  h->apply("vms:\n" + guest("a", 1, "internal:lab", ", vlan: 10") +
           guest("d", 4, "internal:lab", "") +
           guest("t", 5, "internal:lab", ", vlan: {trunk: [20], native: 10}") +
           guest("u", 6, "internal:lab", ", vlan: {trunk: [10, 20], untagged: drop}"));
  h->send("rt", udp(*h, 5, kBroadcast));      // untagged: its native VLAN 10
  h->send("rt", udp(*h, 5, kBroadcast, 10));  // tagged with its native VLAN: VLAN 10 too
  h->send("ru", udp(*h, 6, kBroadcast));      // dropped
  h->step();
  EXPECT_EQ(h->recv("ra").size(), 2u);
  EXPECT_TRUE(h->recv("rd").empty());
  auto u = seen(*h, "ru");
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].tci, 10);
  EXPECT_EQ(h->drops("ru", Drop::kVlanUntagged), 1u);
  // From a, in VLAN 10: t takes it untagged (native), u tagged.
  h->send("ra", udp(*h, 1, kBroadcast));
  h->step();
  auto t = seen(*h, "rt");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].tci, -1);
  u = seen(*h, "ru");
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].tci, 10);
  // The untagged segment (d) reaches neither trunk: t's untagged frames are VLAN 10's,
  // u takes none.
  h->send("rd", udp(*h, 4, kBroadcast));
  h->step();
  EXPECT_TRUE(h->recv("rt").empty());
  EXPECT_TRUE(h->recv("ru").empty());
  EXPECT_EQ(h->drops("rd", Drop::kNoDestination), 1u);
}

TEST_F(VlanTest, ABridgedUplinkCarriesEveryVlanOfItsNetworkTagged) {
  h->apply(
      "uplinks: {wan: {device: rup}}\n"
      "networks: {office: {mode: bridged, uplink: wan}}\n"
      "vms:\n" +
      guest("a", 1, "bridged:office", ", vlan: 10") +
      guest("c", 3, "bridged:office", ", vlan: 20") + guest("d", 4, "bridged:office", ""));
  const rte_ether_addr outside = mac(9);
  h->send("ra", udp(*h, 1, outside));
  h->send("rd", udp(*h, 4, outside));
  h->step();
  auto up = seen(*h, "rup");
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].tci, 10);
  EXPECT_EQ(up[0].untagged, untagged_bytes(*h, 1, outside));
  EXPECT_EQ(up[1].tci, -1);
  EXPECT_TRUE(h->recv("rc").empty());
  // From the wire: VLAN 20 to c, untagged to d, VLAN 99 nowhere.
  auto from_wire = [&](int tci) {
    rte_mbuf* m =
        h->ipv4(outside, kBroadcast, ip4(10, 0, 0, 9), ip4(10, 0, 0, 255), IPPROTO_UDP, 9, 9);
    std::vector<uint8_t> b = bytes_of(m);
    rte_pktmbuf_free(m);
    if (tci >= 0) b.insert(b.begin() + 12, {0x81, 0x00, 0, static_cast<uint8_t>(tci)});
    return h->from_bytes(b);
  };
  h->send("rup", from_wire(20));
  h->send("rup", from_wire(-1));
  h->send("rup", from_wire(99));
  h->step();
  auto c = seen(*h, "rc"), d = seen(*h, "rd");
  ASSERT_EQ(c.size(), 1u);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(c[0].tci, -1);
  EXPECT_TRUE(h->recv("ra").empty());
  EXPECT_EQ(h->drops("rup", Drop::kVlanForeign), 1u);
  // What the uplink learned in VLAN 20 is unicast there.
  h->send("rc", udp(*h, 3, outside));
  h->step();
  auto back = seen(*h, "rup");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].tci, 20);
  EXPECT_TRUE(h->recv("ra").empty() && h->recv("rd").empty()) << "known: not flooded";
}

// Jumbo frames come as chains: tagged and untagged whole, for one trunk (in place) and
// for a trunk plus an access port (a tagged copy).
TEST_F(VlanTest, ChainedJumboFramesAreTaggedAndUntaggedWhole) {
  const std::string j = ", model: virtio-net, mtu: 9000";
  h->apply("vms:\n" + guest("a", 1, "internal:lab", ", vlan: 10" + j) +
           guest("b", 2, "internal:lab", ", vlan: 10" + j) +
           guest("t", 5, "internal:lab", ", vlan: {trunk: [10]}" + j));
  const uint16_t payload = 9000 - 28;
  h->send("rb", udp(*h, 2, kBroadcast));
  h->send("rt", udp(*h, 5, kBroadcast, 10));
  h->step();
  for (const char* p : {"ra", "rb", "rt"}) h->recv(p);
  h->send("ra", udp(*h, 1, mac(5), -1, payload, 2000));      // unicast to the trunk: in place
  h->send("ra", udp(*h, 1, kBroadcast, -1, payload, 2000));  // b untagged, t a tagged copy
  h->send("rt", udp(*h, 5, mac(2), 10, payload, 1500));      // popped towards b
  h->step();
  const std::vector<uint8_t> want = untagged_bytes(*h, 1, mac(5), payload);
  auto t = seen(*h, "rt");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].tci, 10);
  EXPECT_EQ(t[0].untagged, want);
  EXPECT_EQ(t[1].tci, 10);
  EXPECT_EQ(t[1].untagged, untagged_bytes(*h, 1, kBroadcast, payload));
  auto b = seen(*h, "rb");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].tci, -1);
  EXPECT_EQ(b[0].untagged, untagged_bytes(*h, 1, kBroadcast, payload));
  EXPECT_EQ(b[1].tci, -1);
  EXPECT_EQ(b[1].untagged, untagged_bytes(*h, 5, mac(2), payload));
}

TEST_F(VlanTest, ReApplyMovesAnAdapterToAnotherVlan) {
  h->apply(lab());
  h->send("ra", udp(*h, 1, kBroadcast));
  h->step();
  EXPECT_EQ(h->recv("rb").size(), 1u);
  drain(*h);
  std::string moved = lab();
  moved.replace(moved.find("vlan: 10"), 8, "vlan: 20");
  h->apply(moved);
  h->send("ra", udp(*h, 1, kBroadcast));
  h->step();
  EXPECT_TRUE(h->recv("rb").empty());
  EXPECT_EQ(h->recv("rc").size(), 1u);
  auto t = seen(*h, "rt");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].tci, 20);
  // a's MAC was learned in VLAN 10, where a is no longer: b's frame to it goes nowhere.
  h->send("rb", udp(*h, 2, 1));
  h->step();
  EXPECT_TRUE(h->recv("ra").empty());
  EXPECT_EQ(h->drops("rb", Drop::kNoDestination), 1u);
}

TEST_F(VlanTest, ProviderTagsAndTruncatedTagsAreDropped) {
  h->apply(lab());
  std::vector<uint8_t> b = untagged_bytes(*h, 5, kBroadcast);
  b.insert(b.begin() + 12, {0x88, 0xa8, 0x00, 0x0a});  // an 802.1ad S-tag
  h->send("rt", h->from_bytes(b));
  std::vector<uint8_t> runt(b.begin(), b.begin() + 16);  // the tag cut short
  runt[12] = 0x81, runt[13] = 0x00;
  h->send("rt", h->from_bytes(runt));
  h->step();
  EXPECT_EQ(h->drops("rt", Drop::kVlanForeign), 1u);
  EXPECT_EQ(h->drops("rt", Drop::kRunt), 1u);
  for (const char* p : {"ra", "rb", "rc", "rd"}) EXPECT_TRUE(h->recv(p).empty()) << p;
}

// On a network without VLANs a guest's tags are its own business: kept, never stripped.
TEST_F(VlanTest, WithoutVlansTagsPassAsSent) {
  h->apply("vms:\n" + guest("a", 1, "internal:plain", "") + guest("b", 2, "internal:plain", ""));
  h->send("ra", udp(*h, 1, kBroadcast, 77));
  h->step();
  auto b = seen(*h, "rb");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].tci, 77);
  EXPECT_EQ(b[0].untagged, untagged_bytes(*h, 1, kBroadcast));
}

}  // namespace
}  // namespace gp::test
