"""L2 segments with real kernel stacks: internal networks, isolation, host-only,
bridged, TCP across the switch, and the promiscuous policies seen by tcpdump."""
import os
import re
import time

MAC = {i: f"08:00:27:10:00:{i:02x}" for i in range(1, 10)}


def adapter(vm, attach, devargs, mac, extra=""):
    return (f"  {vm}:\n    adapters:\n      1: {{attach: \"{attach}\", mac: \"{mac}\", "
            f"port: \"{devargs}\"{extra}}}\n")


def test_internal_guests_ping_each_other_and_other_network_is_isolated(lab):
    g = {i: lab.guest(f"v{i}", MAC[i], f"10.77.0.{i}/24") for i in (1, 2, 3, 4, 5)}
    d = lab.start("vms:\n" + "".join(
        adapter(f"vm{i}", "internal:lab" if i < 4 else "internal:other", g[i][1], MAC[i])
        for i in (1, 2, 3, 4, 5)))
    # vm4 listens for anything from lab while lab talks, and for vm5 (its own network)
    # as the positive control: the capture works and the switch delivers to vm4.
    cap = lab.capture(g[4][0], f"ether src {MAC[1]} or ether src {MAC[2]} or "
                               f"ether src {MAC[3]} or ether src {MAC[5]}")
    for a, b in ((1, 2), (1, 3), (2, 3), (3, 1)):
        assert lab.ping(g[a][0], f"10.77.0.{b}"), f"vm{a} cannot ping vm{b}"
    assert not lab.ping(g[4][0], "10.77.0.1", count=2), "vm4 on another network reached vm1"
    assert lab.ping(g[5][0], "10.77.0.4"), "vm5 cannot ping vm4 on their own network"
    lines = cap.stop()
    from_lab = [l for l in lines if any(MAC[i] in l.split(">")[0] for i in (1, 2, 3))]
    assert from_lab == [], "vm4 saw frames of the lab network:\n" + "\n".join(from_lab)
    assert any(MAC[5] in l.split(">")[0] for l in lines), "positive control: nothing from vm5"
    fdb = d.ctl("fdb")
    lab_macs = {e["mac"] for e in fdb if e["segment"] == "internal:lab"}
    assert {MAC[1], MAC[2], MAC[3]} <= lab_macs
    assert d.port("vm/vm1/1")["rx_packets"] > 0


def test_hostonly_guest_reaches_the_host_interface(lab):
    ns, dev = lab.guest("h1", MAC[5], "192.168.199.10/24")
    iface = f"gph{lab.tag}"[:15]
    d = lab.start(
        f"networks:\n  hn: {{mode: hostonly, host_interface: {{name: {iface}, "
        f"address: 192.168.199.1/24}}}}\n"
        "vms:\n" + adapter("vm1", "hostonly:hn", dev, MAC[5]))
    assert lab.ping(ns, "192.168.199.1"), "guest cannot reach the host-only interface"
    assert d.port("host/hn")["tx_packets"] > 0
    d.stop()
    # The tap goes away with the daemon.
    assert not os.path.exists(f"/sys/class/net/{iface}")


def test_bridged_guest_reaches_the_lan_behind_the_uplink(lab):
    lan_ns, lan_dev = lab.guest("lan", "02:00:00:00:01:01", "203.0.113.1/24")
    ns, dev = lab.guest("b1", MAC[6], "203.0.113.10/24")
    d = lab.start(
        f"uplinks:\n  wan: {{device: \"{lan_dev}\"}}\n"
        "networks:\n  office: {mode: bridged, uplink: wan}\n"
        "vms:\n" + adapter("vm1", "bridged:office", dev, MAC[6]))
    assert lab.ping(ns, "203.0.113.1"), "bridged guest cannot reach the LAN"
    assert lab.ping(lan_ns, "203.0.113.10"), "the LAN cannot reach the bridged guest"
    assert d.port("uplink/wan")["tx_packets"] > 0
    # The namespace playing the LAN has no way off the machine.
    r = lab.ns(lan_ns, "ip", "route", "get", "8.8.8.8", check=False)
    assert r.returncode != 0


def test_tcp_iperf3_across_the_switch(lab):
    a, da = lab.guest("t1", MAC[1], "10.78.0.1/24")
    b, db = lab.guest("t2", MAC[2], "10.78.0.2/24")
    lab.start("vms:\n" + adapter("vm1", "internal:t", da, MAC[1]) +
              adapter("vm2", "internal:t", db, MAC[2]))
    server = lab.spawn(b, "iperf3", "-s", "-1", "-B", "10.78.0.2")
    lab.wait_listening(b, 5201)
    r = lab.ns(a, "iperf3", "-c", "10.78.0.2", "-t", "3", "-J", check=False, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    import json
    result = json.loads(r.stdout)
    # The connection carried data both ways to the end (no throughput floor: speed
    # figures belong in bench/).
    assert "error" not in result, result.get("error")
    assert result["end"]["sum_received"]["bytes"] > 0
    server.wait(timeout=10)


def sniff_unicast(lab, policy):
    """vm1 pings vm2; returns how many of those frames vm3 (with `policy`) captured.
    vm2's pings to vm3 itself, in the same capture, are the positive control."""
    g = {i: lab.guest(f"p{i}", MAC[i], f"10.79.0.{i}/24") for i in (1, 2, 3)}
    extra = {3: f", promiscuous: {policy}"}
    lab.start("vms:\n" + "".join(
        adapter(f"vm{i}", "internal:p", g[i][1], MAC[i], extra.get(i, "")) for i in (1, 2, 3)))
    assert lab.ping(g[1][0], "10.79.0.2")  # learn the MACs and fill ARP caches
    assert lab.ping(g[2][0], "10.79.0.3")
    cap = lab.capture(g[3][0], f"icmp and ((ether src {MAC[1]} and ether dst {MAC[2]}) or "
                               f"(ether src {MAC[2]} and ether dst {MAC[3]}))")
    assert lab.ping(g[1][0], "10.79.0.2", count=5)
    assert lab.ping(g[2][0], "10.79.0.3", count=2)
    lines = [l for l in cap.stop() if re.search("ICMP echo request", l)]
    own = [l for l in lines if l.split(">")[0].strip().endswith(MAC[2])]
    assert own, "positive control: vm3 did not see the pings sent to it:\n" + "\n".join(lines)
    return len([l for l in lines if l.split(">")[0].strip().endswith(MAC[1])])


def test_promiscuous_deny_sees_no_unicast_between_others(lab):
    assert sniff_unicast(lab, "deny") == 0


def test_promiscuous_allow_vms_sees_unicast_between_others(lab):
    assert sniff_unicast(lab, "allow-vms") >= 3


def test_cable_disconnected_guest_is_cut_off(lab):
    a, da = lab.guest("c1", MAC[1], "10.80.0.1/24")
    b, db = lab.guest("c2", MAC[2], "10.80.0.2/24")
    d = lab.start("vms:\n" + adapter("vm1", "internal:c", da, MAC[1]) +
                  adapter("vm2", "internal:c", db, MAC[2], ", cable_connected: false"))
    assert not lab.ping(a, "10.80.0.2", count=2)
    assert d.port("vm/vm2/1")["link"] == "down"
    # The guest sees no carrier, as with an unplugged cable.
    r = lab.ns(b, "cat", "/sys/class/net/eth0/carrier", check=False)
    assert r.stdout.strip() == "0"


def test_invalid_config_is_refused_with_location(lab):
    import subprocess
    from conftest import GUESTPORTD
    path = f"/tmp/gpt-bad-{lab.tag}.yaml"
    with open(path, "w") as f:
        f.write("vms:\n  a:\n    adapters:\n      9: {attach: none}\n")
    try:
        r = subprocess.run([GUESTPORTD, "--config", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    assert r.returncode == 2
    assert f"{path}:4:7: error: adapter slot must be a whole number from 1 to 8" in r.stderr


def test_port_that_dpdk_cannot_open_is_reported_with_location(lab):
    import subprocess
    from conftest import GUESTPORTD
    path = f"/tmp/gpt-noport-{lab.tag}.yaml"
    with open(path, "w") as f:
        f.write(f"appliance: {{hugepages: false, file_prefix: gpt{lab.tag}, metrics: off, "
                f"control_socket: /tmp/gpt-{lab.tag}.sock}}\n"
                "vms:\n  a:\n    adapters:\n"
                "      1: {attach: internal:x, port: \"net_af_packet0,iface=gp-nonexistent\"}\n")
    try:
        r = subprocess.run([GUESTPORTD, "--config", path], capture_output=True, text=True,
                           timeout=60)
    finally:
        os.unlink(path)
    assert r.returncode == 1
    assert f"{path}:5:37: error: DPDK cannot open port" in r.stderr, r.stderr


def test_two_workers_share_the_ports(lab):
    """workers: 2 — every port has two queues (af_packet qpairs=2, PACKET_FANOUT); both
    workers learn into the one FDB and forward. Workers share the 2 CPUs here."""
    g = {i: lab.guest(f"w{i}", MAC[i], f"10.81.0.{i}/24") for i in (1, 2, 3)}
    d = lab.start("vms:\n" + "".join(adapter(f"vm{i}", "internal:w", g[i][1], MAC[i])
                                     for i in (1, 2, 3)), workers=2)
    for a, b in ((1, 2), (2, 3), (3, 1)):
        assert lab.ping(g[a][0], f"10.81.0.{b}"), f"vm{a} cannot ping vm{b}"
    server = lab.spawn(g[2][0], "iperf3", "-s", "-1", "-B", "10.81.0.2")
    lab.wait_listening(g[2][0], 5201)
    r = lab.ns(g[1][0], "iperf3", "-c", "10.81.0.2", "-t", "2", "-P", "4", check=False,
               timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    server.wait(timeout=10)
    stats = d.ctl("stats")
    assert len(stats["workers"]) == 2
    # Both workers took frames from their own queues (PACKET_FANOUT spreads the flows).
    assert all(w["rx_packets"] > 0 for w in stats["workers"]), stats["workers"]
    assert stats["fdb_entries"] >= 3
