"""802.1Q VLANs with real kernel stacks on access ports and a trunk peer that speaks
tagged frames (scapy: this kernel has no 802.1Q module, see TESTING.md): guests of one
VLAN reach each other and their VLAN's address behind the trunk, never another VLAN's;
a bridged network's uplink carries every VLAN tagged and the untagged segment
untagged; a live re-apply moves a guest to another VLAN."""
import os
import select
import time

MAC = {i: f"08:00:27:70:00:{i:02x}" for i in range(1, 8)}
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vlan_peer.py")


def adapter(vm, attach, devargs, mac, extra=""):
    return (f"  {vm}:\n    adapters:\n      1: {{attach: \"{attach}\", mac: \"{mac}\", "
            f"port: \"{devargs}\"{extra}}}\n")


def trunk_peer(lab, ns, mac, *answers):
    """vlan_peer.py in `ns`, answering "VID:ADDRESS" pairs; returns once it listens."""
    p = lab.spawn(ns, "/usr/bin/python3", PEER, mac, *answers)
    deadline = time.time() + 30
    line = ""
    while time.time() < deadline and line != "ready":
        ready, _, _ = select.select([p.stdout], [], [], deadline - time.time())
        if not ready:
            break
        line = p.stdout.readline().strip()
        if line == "" and p.poll() is not None:
            raise AssertionError("vlan_peer.py exited: " + p.stderr.read())
    assert line == "ready", "vlan_peer.py did not start listening"
    return p


def test_access_vlans_are_isolated_and_reach_their_vlan_through_a_trunk(lab):
    n1, d1 = lab.guest("v1", MAC[1], "10.60.0.1/24")
    n2, d2 = lab.guest("v2", MAC[2], "10.60.0.2/24")
    n3, d3 = lab.guest("v3", MAC[3], "10.60.0.3/24")
    nr, dr = lab.guest("vr", MAC[5], None)
    trunk_peer(lab, nr, MAC[5], "10:10.60.0.254", "20:10.60.0.253")

    def config(vlan3):
        return ("vms:\n" + adapter("g1", "internal:v", d1, MAC[1], ", vlan: 10") +
                adapter("g2", "internal:v", d2, MAC[2], ", vlan: 10") +
                adapter("g3", "internal:v", d3, MAC[3], f", vlan: {vlan3}") +
                adapter("r", "internal:v", dr, MAC[5], ", vlan: {trunk: [10, 20]}"))

    d = lab.start(config(20))
    assert lab.ping(n1, "10.60.0.2"), "two guests of VLAN 10"
    assert lab.ping(n1, "10.60.0.254"), "VLAN 10's address behind the trunk"
    assert lab.ping(n3, "10.60.0.253"), "VLAN 20's address behind the trunk"
    assert not lab.ping(n1, "10.60.0.3", count=2), "VLAN 10 reached a guest of VLAN 20"
    assert not lab.ping(n3, "10.60.0.254", count=2), "VLAN 20 reached VLAN 10's address"
    names = {n["name"]: n for n in d.ctl("networks")}
    assert names["internal:v/vlan10"]["vlan"] == 10
    assert "vm/r/1" in names["internal:v/vlan20"]["members"]
    assert "vm/g1/1" not in names["internal:v/vlan20"]["members"]
    trunk = d.port("vm/r/1")
    assert trunk["vlan"] == "trunk" and trunk["rx_packets"] > 0 and trunk["tx_packets"] > 0
    vms = {vm["name"]: vm for vm in d.ctl("vms")}
    assert vms["r"]["adapters"][0]["vlan"] == "trunk 10,20"
    # Live: g3 joins VLAN 10.
    for ns in (n1, n3):
        lab.ns(ns, "ip", "neigh", "flush", "all")
    r = d.apply(config(10))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "vlan access 20 -> access 10" in r.stdout, r.stdout
    assert lab.ping(n1, "10.60.0.3"), "g3 moved to VLAN 10"
    assert lab.ping(n3, "10.60.0.254")


def test_a_bridged_uplink_is_a_trunk_of_the_networks_vlans(lab):
    wire, dw = lab.guest("vw", "02:00:00:00:70:01", None)
    n1, d1 = lab.guest("u1", MAC[1], "203.0.113.21/24")
    n2, d2 = lab.guest("u2", MAC[2], "203.0.113.22/24")
    trunk_peer(lab, wire, "02:00:00:00:70:01", "10:203.0.113.1", "0:203.0.113.2")
    d = lab.start(f"uplinks:\n  wan: {{device: \"{dw}\"}}\n"
                  "networks:\n  office: {mode: bridged, uplink: wan}\n"
                  "vms:\n" + adapter("g1", "bridged:office", d1, MAC[1], ", vlan: 10") +
                  adapter("g2", "bridged:office", d2, MAC[2]))
    assert lab.ping(n1, "203.0.113.1"), "VLAN 10 on the wire, tagged"
    assert lab.ping(n2, "203.0.113.2"), "the untagged segment on the wire, untagged"
    assert not lab.ping(n1, "203.0.113.2", count=2), "VLAN 10 reached the untagged segment"
    assert not lab.ping(n2, "203.0.113.1", count=2), "the untagged segment reached VLAN 10"
    up = d.port("uplink/wan")
    assert up["vlan"] == "trunk", up
    # A guest of the untagged segment that tags its own frames is refused, not let in
    # to VLAN 10 (VLAN hopping) nor stripped.
    code = ("from scapy.all import *; conf.verb=0; "
            f"sendp(Ether(src='{MAC[2]}', dst='ff:ff:ff:ff:ff:ff')/Dot1Q(vlan=10)/"
            "ARP(pdst='203.0.113.1', psrc='203.0.113.22'), iface='eth0', count=3)")
    lab.ns(n2, "/usr/bin/python3", "-c", code)
    deadline = time.time() + 10
    while time.time() < deadline:
        if d.port("vm/g2/1")["drop_reasons"].get("vlan_foreign", 0) >= 3:
            break
        time.sleep(0.1)
    assert d.port("vm/g2/1")["drop_reasons"].get("vlan_foreign", 0) >= 3
