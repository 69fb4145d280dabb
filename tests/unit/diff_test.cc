// What a re-apply changes (control/diff.h), and the identities that let state survive
// it (CompileState in control/compile.h): every kind of change, no EAL.
#include "control/diff.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "control/compile.h"
#include "control/config_loader.h"
#include "control/validate.h"
#include "dataplane/nat/nat_table.h"
#include "tests/unit/test_config.h"

namespace gp {
namespace {

using test::cfg;

std::vector<std::string> lines(const Config* a, const Config& b) {
  std::vector<std::string> out;
  for (const auto& c : diff_configs(a, b)) out.push_back(c.to_string());
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

const char* kBase = R"(uplinks:
  wan: {device: net_ring_up, address: 198.51.100.10/24, gateway: 198.51.100.1}
networks:
  lab: {mode: natnetwork, network: 192.168.22.0/24, uplink: wan,
        port_forwards: [{name: ssh, proto: tcp, host_port: 1022, guest_ip: 192.168.22.5, guest_port: 22}]}
  back: {mode: internal}
vms:
  a: {adapters: {1: {attach: natnetwork:lab, mac: "08:00:27:00:00:01", port: net_ring_a},
                 2: {attach: internal:back, mac: "08:00:27:00:00:02", port: net_ring_b}}}
  n: {adapters: {1: {attach: nat, mac: "08:00:27:00:00:03", port: net_ring_n,
                     port_forwards: [{name: web, proto: tcp, host_port: 8080, guest_port: 80}]}}}
)";

std::string edit(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

TEST(Diff, SameConfigChangesNothing) {
  Config a = cfg(kBase), b = cfg(kBase);
  EXPECT_TRUE(diff_configs(&a, b).empty());
}

TEST(Diff, FromEmptyEverythingIsAdded) {
  auto l = lines(nullptr, cfg(kBase));
  EXPECT_TRUE(has(l, "added uplink wan: net_ring_up"));
  EXPECT_TRUE(has(l, "added network lab: natnetwork"));
  EXPECT_TRUE(has(l, "added network back: internal"));
  EXPECT_TRUE(has(l, "added vm a: 2 adapter(s)"));
  EXPECT_TRUE(has(l, "added adapter a/1: natnetwork:lab net_ring_a"));
  EXPECT_TRUE(has(l, "added port_forward lab/ssh: tcp -:1022 -> 192.168.22.5:22"));
  EXPECT_TRUE(has(l, "added port_forward n/1/web: tcp -:8080 -> -:80"));
  for (const auto& x : l) EXPECT_EQ(x.rfind("added ", 0), 0u) << x;
}

TEST(Diff, EveryKindOfChangeIsOneLine) {
  Config a = cfg(kBase);
  std::string y = kBase;
  y = edit(y, "port: net_ring_b}",
           "port: net_ring_b, mtu: 9000, model: virtio-net, promiscuous: allow-vms}");
  y = edit(y, "  back: {mode: internal}\n",
           "  back: {mode: internal, mac_ageing: 60}\n  extra: {mode: internal}\n");
  y = edit(y, "host_port: 1022", "host_port: 2022");
  y = edit(y, "port_forwards: [{name: web, proto: tcp, host_port: 8080, guest_port: 80}]",
           "cable_connected: false");
  y += "  c: {adapters: {1: {attach: internal:extra, mac: \"08:00:27:00:00:09\", port: "
       "net_ring_c}}}\n";
  y = edit(y, "gateway: 198.51.100.1}", "gateway: 198.51.100.1, mtu: 9000}");
  y = "appliance: {nat: {timeouts: {udp: 60}}}\n" + y;
  auto l = lines(&a, cfg(y));
  EXPECT_TRUE(has(l, "modified appliance: nat.udp_timeout_s 300 -> 60"));
  EXPECT_TRUE(has(l, "modified uplink wan: mtu 1500 -> 9000"));
  EXPECT_TRUE(has(l, "modified network back: mac_ageing_s 300 -> 60"));
  EXPECT_TRUE(has(l, "added network extra: internal"));
  EXPECT_TRUE(has(l, "added vm c: 1 adapter(s)"));
  EXPECT_TRUE(has(l, "added adapter c/1: internal:extra net_ring_c"));
  EXPECT_TRUE(has(l,
                  "modified adapter a/2: model Am79C973 -> virtio-net, promiscuous deny -> "
                  "allow-vms, mtu 1500 -> 9000"));
  EXPECT_TRUE(has(l, "modified adapter n/1: cable_connected true -> false"));
  EXPECT_TRUE(has(l,
                  "modified port_forward lab/ssh: tcp -:1022 -> 192.168.22.5:22 -> "
                  "tcp -:2022 -> 192.168.22.5:22"));
  EXPECT_TRUE(has(l, "removed port_forward n/1/web: tcp -:8080 -> -:80"));
  EXPECT_EQ(l.size(), 10u) << ::testing::PrintToString(l);
}

TEST(Diff, RemovalsAndAttachChanges) {
  Config a = cfg(kBase);
  std::string y = kBase;
  y = edit(y,
           "  n: {adapters: {1: {attach: nat, mac: \"08:00:27:00:00:03\", port: net_ring_n,\n"
           "                     port_forwards: [{name: web, proto: tcp, host_port: 8080, "
           "guest_port: 80}]}}}\n",
           "");
  y = edit(y, "attach: internal:back", "attach: natnetwork:lab");
  auto l = lines(&a, cfg(y));
  EXPECT_TRUE(has(l, "removed vm n"));
  EXPECT_TRUE(has(l, "removed adapter n/1"));
  EXPECT_TRUE(has(l, "removed port_forward n/1/web: tcp -:8080 -> -:80"));
  EXPECT_TRUE(has(l, "modified adapter a/2: attach internal:back -> natnetwork:lab"));
}

TEST(Diff, FiltersAndBandwidthGroupsAreChanges) {
  const std::string base = "vms: {a: {adapters: {1: {attach: internal:x, port: p";
  Config a = cfg(base + "}}}}\n");
  Config b = cfg("bandwidth_groups: {g: 1m}\n" + base +
                 ", bandwidth_group: g, port_security: {ipv4: [10.0.0.1]}, "
                 "acl: {ingress: [{action: deny, proto: tcp, dst_port: 80}]}}}}}\n");
  auto got = lines(&a, b);
  ASSERT_EQ(got.size(), 2u) << (got.empty() ? "" : got[0]);
  EXPECT_EQ(got[0], "added bandwidth_group g: 1000000 bit/s");
  EXPECT_NE(got[1].find("modified adapter a/1: acl.ingress - -> 1 rule(s)"), std::string::npos)
      << got[1];
  EXPECT_NE(got[1].find("port_security off -> mac 10.0.0.1"), std::string::npos) << got[1];
  EXPECT_NE(got[1].find("bandwidth_group  -> g"), std::string::npos) << got[1];
}

TEST(Diff, SettingsThatSizeTheDaemonNeedARestart) {
  Config a = cfg(kBase);
  Config b = cfg("appliance: {workers: 2, mac_table_size: 1024, nat: {sessions: 4096}}\n" +
                 std::string(kBase));
  auto errs = restart_only_changes(a, b);
  ASSERT_EQ(errs.size(), 3u);
  EXPECT_NE(errs[0].to_string().find("t.yaml:1:12: error: appliance.workers cannot change"),
            std::string::npos)
      << errs[0].to_string();
  EXPECT_NE(errs[1].message.find("mac_table_size"), std::string::npos);
  EXPECT_NE(errs[2].message.find("nat.sessions"), std::string::npos);
  Config c = cfg("appliance: {nat: {timeouts: {tcp_established: 600}}}\n" + std::string(kBase));
  EXPECT_TRUE(restart_only_changes(a, c).empty());  // timeouts are in the snapshot
}

// --- identities across compiles ---

struct Compiled {
  std::unique_ptr<Snapshot> snap;
  std::map<std::string, uint16_t> ids;
};

Compiled compile(const Config& c, CompileState& st, uint64_t version) {
  std::vector<Diagnostic> errs;
  auto plans = plan_ports(c, errs);
  EXPECT_TRUE(errs.empty());
  // Port ids as a real applier hands them out: kept per key, new keys get new ids.
  static std::map<std::string, uint16_t> by_key;
  Compiled out;
  for (const auto& p : plans) {
    if (!by_key.count(p.key)) by_key[p.key] = static_cast<uint16_t>(by_key.size());
    out.ids[p.key] = by_key[p.key];
  }
  out.snap = compile_snapshot(plans, out.ids, version, plan_segments(c), plan_globals(c), &st);
  return out;
}

uint16_t seg_of(const Compiled& c, const std::string& key) {
  return c.snap->ports[c.ids.at(key)].segment;
}

TEST(CompileState, SegmentsKeepTheirIndexAndGenerationWhenOthersComeAndGo) {
  CompileState st;
  Config a = cfg(kBase);
  Compiled one = compile(a, st, 1);
  const uint16_t back = seg_of(one, "vm/a/2");
  const uint16_t gen = one.snap->segments[back].fdb_generation;
  // A network added before it in the file and the NAT VM removed: 'back' stays put.
  std::string y = edit(kBase, "networks:\n", "networks:\n  first: {mode: internal}\n");
  y += "  z: {adapters: {1: {attach: internal:first, mac: \"08:00:27:00:00:0a\", port: "
       "net_ring_z}}}\n";
  Compiled two = compile(cfg(y), st, 2);
  EXPECT_EQ(seg_of(two, "vm/a/2"), back);
  EXPECT_EQ(two.snap->segments[back].fdb_generation, gen);
  EXPECT_EQ(two.snap->segment_names[back], "internal:back");
  // Removed: its index gets a new generation (its MACs are stale), and a network that
  // takes the index later starts with yet another one.
  std::string no_back = edit(y, "port: net_ring_b}", "port: net_ring_b, attach: none}");
  no_back = edit(no_back, "attach: internal:back, ", "");
  Compiled three = compile(cfg(no_back), st, 3);
  ASSERT_LT(back, three.snap->segments.size());
  EXPECT_TRUE(three.snap->segment_names[back].empty());
  EXPECT_NE(three.snap->segments[back].fdb_generation, gen);
  EXPECT_EQ(three.snap->segments[back].n_members, 0u);
}

TEST(CompileState, NatRoutersAndForwardsKeepTheirIdsUntilTheyChange) {
  CompileState st;
  Compiled one = compile(cfg(kBase), st, 1);
  const uint16_t lab = seg_of(one, "vm/a/1"), nat = seg_of(one, "vm/n/1");
  const uint16_t lab_id = one.snap->nat[lab].nat_id, nat_id = one.snap->nat[nat].nat_id;
  EXPECT_NE(lab_id, 0u);
  EXPECT_NE(nat_id, 0u);
  EXPECT_NE(lab_id, nat_id);
  ASSERT_EQ(one.snap->port_forwards.size(), 2u);
  std::map<uint16_t, uint32_t> fwd;  // host port -> id
  for (const auto& r : one.snap->port_forwards) fwd[rte_be_to_cpu_16(r.host_port)] = r.id;
  const uint64_t epoch = one.snap->nat_epoch;

  // An unrelated change (a new internal VM): every id stays, no sweep.
  std::string y = std::string(kBase) +
                  "  c: {adapters: {1: {attach: internal:back, mac: \"08:00:27:00:00:09\", port: "
                  "net_ring_c}}}\n";
  Compiled two = compile(cfg(y), st, 2);
  EXPECT_EQ(two.snap->nat[lab].nat_id, lab_id);
  EXPECT_EQ(two.snap->nat[nat].nat_id, nat_id);
  for (const auto& r : two.snap->port_forwards) EXPECT_EQ(r.id, fwd[rte_be_to_cpu_16(r.host_port)]);
  EXPECT_EQ(two.snap->nat_epoch, epoch);

  // A forward added: the others keep their ids, still no sweep.
  y = edit(y, "guest_port: 22}]",
           "guest_port: 22}, {name: dns, proto: udp, host_port: 5353, guest_ip: 192.168.22.5, "
           "guest_port: 53}]");
  Compiled three = compile(cfg(y), st, 3);
  ASSERT_EQ(three.snap->port_forwards.size(), 3u);
  for (const auto& r : three.snap->port_forwards) {
    if (fwd.count(rte_be_to_cpu_16(r.host_port))) {
      EXPECT_EQ(r.id, fwd[rte_be_to_cpu_16(r.host_port)]);
    }
  }
  EXPECT_EQ(three.snap->nat_epoch, epoch);

  // A forward removed: the workers must sweep (its sessions stop at once).
  y = edit(y, "{name: ssh, proto: tcp, host_port: 1022, guest_ip: 192.168.22.5, guest_port: 22}, ",
           "");
  Compiled four = compile(cfg(y), st, 4);
  EXPECT_EQ(four.snap->port_forwards.size(), 2u);
  EXPECT_GT(four.snap->nat_epoch, epoch);
  EXPECT_EQ(four.snap->nat[lab].nat_id, lab_id);  // the router itself is the same

  // The NAT network's range changes: a new router, a new id, another sweep.
  y = edit(y, "network: 192.168.22.0/24", "network: 192.168.23.0/24");
  y = edit(y, "guest_ip: 192.168.22.5", "guest_ip: 192.168.23.5");
  Compiled five = compile(cfg(y), st, 5);
  EXPECT_NE(five.snap->nat[lab].nat_id, lab_id);
  EXPECT_NE(five.snap->nat[lab].nat_id, 0u);
  EXPECT_GT(five.snap->nat_epoch, four.snap->nat_epoch);
  EXPECT_EQ(five.snap->nat[nat].nat_id, nat_id);
}

// Between a re-apply and the worker's sweep, a session of a removed forward or router
// must carry nothing: session_live is what the NAT stage checks on every session hit.
TEST(CompileState, SessionsOfRemovedForwardsAndRoutersAreNotLive) {
  CompileState st;
  Compiled one = compile(cfg(kBase), st, 1);
  const uint16_t lab = seg_of(one, "vm/a/1");
  nat::Session plain{}, forwarded{};
  plain.segment = forwarded.segment = lab;
  plain.in.nat_id = forwarded.in.nat_id = one.snap->nat[lab].nat_id;
  for (const auto& r : one.snap->port_forwards)
    if (r.segment == lab) forwarded.link = r.id, forwarded.forwarded = true;
  ASSERT_NE(forwarded.forward_id(), 0u);
  EXPECT_TRUE(nat::session_live(*one.snap, plain));
  EXPECT_TRUE(nat::session_live(*one.snap, forwarded));
  std::string y = edit(kBase,
                       "port_forwards: [{name: ssh, proto: tcp, host_port: 1022, guest_ip: "
                       "192.168.22.5, guest_port: 22}]",
                       "port_forwards: []");
  Compiled two = compile(cfg(y), st, 2);
  EXPECT_TRUE(nat::session_live(*two.snap, plain));
  EXPECT_FALSE(nat::session_live(*two.snap, forwarded));
  y = edit(y, "network: 192.168.22.0/24", "network: 192.168.30.0/24");
  Compiled three = compile(cfg(y), st, 3);
  EXPECT_FALSE(nat::session_live(*three.snap, plain));  // another router now
}

}  // namespace
}  // namespace gp
