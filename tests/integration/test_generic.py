"""Generic networks with real kernel stacks: a network stretched across hosts by VXLAN
(RFC 7348) and by VirtualBox's UDP tunnel.

- Interop with Linux: a namespace with a kernel `vxlan` device (id 42, dstport 4789,
  remote = the appliance's uplink address) plays the remote host; its address on the
  stretched network and a guest behind guestport ping each other and TCP (iperf3)
  works; tshark's VXLAN dissector reads the frames on the wire with VNI 42.
- Two guestportd processes on one machine, each with its own uplink (the two ends of one
  veth pair; the second appliance in a namespace of its own, as on another host),
  joined by VXLAN and by the UDP tunnel: guests on each side reach each other."""
import json
import os

from conftest import sh

UPLINK_A, UPLINK_B = "198.51.100.10", "198.51.100.20"
REMOTE = "198.51.100.1"


def guest_at(lab, name, mac, cidr, mtu, host=None):
    ns, dev = lab.guest(name, mac, cidr, host)
    lab.ns(ns, "ip", "link", "set", "eth0", "mtu", str(mtu))
    return ns, dev


def iperf(lab, server_ns, client_ns, server_ip, seconds=2):
    srv = lab.spawn(server_ns, "iperf3", "-s", "-1")
    lab.wait_listening(server_ns, 5201)
    r = lab.ns(client_ns, "iperf3", "-c", server_ip, "-t", str(seconds), "-J", check=False,
               timeout=60)
    srv.wait(timeout=30)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    return json.loads(r.stdout)["end"]["sum_received"]["bytes"]


def test_linux_vxlan_peer_and_a_guest_share_one_network(lab):
    remote, wan = lab.guest("rem", "02:00:00:00:aa:01", f"{REMOTE}/24")
    # The remote host: Linux's own VXLAN device, the stretched network's 10.10.0.2 on it.
    lab.ns(remote, "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789",
           "remote", UPLINK_A, "local", REMOTE, "dev", "eth0")
    lab.ns(remote, "ip", "link", "set", "vx0", "address", "02:00:00:00:bb:02")
    lab.ns(remote, "ip", "addr", "add", "10.10.0.2/24", "dev", "vx0")
    lab.ns(remote, "ip", "link", "set", "vx0", "up")
    lab.ns(remote, "ethtool", "-K", "vx0", "tx", "off")
    a, a_dev = guest_at(lab, "a", "08:00:27:50:00:01", "10.10.0.1/24", 1450)
    d = lab.start(f"""
uplinks: {{wan: {{device: "{wan}", address: {UPLINK_A}/24}}}}
networks:
  stretch: {{mode: generic, driver: vxlan, vni: 42, uplink: wan, remotes: [{REMOTE}]}}
vms:
  a: {{adapters: {{1: {{attach: generic:stretch, model: virtio-net, mac: "08:00:27:50:00:01",
                       port: "{a_dev}"}}}}}}
""")
    pcap = f"/tmp/gpt-vxlan-{lab.tag}.pcap"
    lab.paths.append(pcap)
    cap = lab.spawn(remote, "tshark", "-q", "-i", "eth0", "-a", "duration:6", "-w", pcap,
                    "udp port 4789")
    assert lab.ping(a, "10.10.0.2", count=5), "guest -> Linux VXLAN peer"
    assert lab.ping(remote, "10.10.0.1", count=3), "Linux VXLAN peer -> guest"
    cap.wait(timeout=30)
    # tshark's own VXLAN dissector (registered on 4789) reads the appliance's frames.
    r = sh("tshark", "-r", pcap, "-Y", f"vxlan && ip.src == {UPLINK_A}", "-T", "fields",
           "-e", "vxlan.vni", "-e", "icmp.type")
    lines = [l.split("\t") for l in r.stdout.splitlines() if l.strip()]
    assert lines, "no VXLAN frame from the appliance on the wire: " + r.stderr
    assert all(l[0] == "42" for l in lines), lines
    assert any(l[1] in ("0", "8") for l in lines if len(l) > 1), "pings inside the tunnel"
    # TCP across the tunnel, both ways.
    assert iperf(lab, remote, a, "10.10.0.2") > 0
    assert iperf(lab, a, remote, "10.10.0.1") > 0
    # What the appliance says: the remote as a tunnel port that moved frames both ways,
    # the Linux device's MAC learned behind it.
    t = d.port(f"tunnel/stretch/{REMOTE}")
    assert t["role"] == "tunnel" and t["rx_packets"] > 0 and t["tx_packets"] > 0, t
    fdb = d.ctl("fdb")
    assert any(e["mac"] == "02:00:00:00:bb:02" and e["port"] == f"tunnel/stretch/{REMOTE}"
               for e in fdb), fdb


def two_appliances(lab, network_a, network_b, guests):
    """Two guestportd joined back to back by a veth pair, B on a host (namespace) of its
    own; guests: [(side, name, mac, cidr, network)]."""
    host_b = lab.host("hostb")
    up_a, up_b = lab.wire("w", host_b)
    vms = {"A": "", "B": ""}
    made = {}
    for side, name, mac, cidr, net in guests:
        ns, dev = guest_at(lab, name, mac, cidr, 1450, host_b if side == "B" else None)
        made[name] = ns
        vms[side] += (f"  {name}: {{adapters: {{1: {{attach: generic:{net}, model: virtio-net, "
                      f"mac: \"{mac}\", port: \"{dev}\"}}}}}}\n")
    da = lab.start(f"""
uplinks: {{wan: {{device: "{up_a}", address: {UPLINK_A}/24}}}}
networks:
{network_a}
vms:
{vms["A"]}""", name="a")
    db = lab.start(f"""
uplinks: {{wan: {{device: "{up_b}", address: {UPLINK_B}/24}}}}
networks:
{network_b}
vms:
{vms["B"]}""", name="b", netns=host_b)
    return made, da, db


def test_two_appliances_joined_by_vxlan_and_by_the_udp_tunnel(lab):
    made, da, db = two_appliances(
        lab,
        f"  stretch: {{mode: generic, driver: vxlan, vni: 7, uplink: wan, remotes: [{UPLINK_B}]}}\n"
        f"  vbox: {{mode: generic, driver: udp, uplink: wan, sport: 10001, dest: {UPLINK_B}, "
        f"dport: 10002}}\n",
        f"  stretch: {{mode: generic, driver: vxlan, vni: 7, uplink: wan, remotes: [{UPLINK_A}]}}\n"
        f"  vbox: {{mode: generic, driver: udp, uplink: wan, sport: 10002, dest: {UPLINK_A}, "
        f"dport: 10001}}\n",
        [("A", "a", "08:00:27:51:00:01", "10.10.0.1/24", "stretch"),
         ("B", "b", "08:00:27:51:00:02", "10.10.0.2/24", "stretch"),
         ("A", "c", "08:00:27:51:00:03", "10.20.0.1/24", "vbox"),
         ("B", "e", "08:00:27:51:00:04", "10.20.0.2/24", "vbox")])
    assert lab.ping(made["a"], "10.10.0.2", count=5), "VXLAN: A's guest -> B's guest"
    assert lab.ping(made["e"], "10.20.0.1", count=5), "UDP tunnel: B's guest -> A's guest"
    assert iperf(lab, made["b"], made["a"], "10.10.0.2") > 0, "TCP over VXLAN"
    assert iperf(lab, made["c"], made["e"], "10.20.0.1") > 0, "TCP over the UDP tunnel"
    for d, peer in ((da, UPLINK_B), (db, UPLINK_A)):
        for net in ("stretch", "vbox"):
            t = d.port(f"tunnel/{net}/{peer}")
            assert t["rx_packets"] > 0 and t["tx_packets"] > 0, t
