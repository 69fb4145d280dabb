#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/<target>/.

The seeds are checked in; run this again (with Debian's python3-scapy) after changing a
target's input format or its config. Each seed is a well-formed input of the kind the
target takes, so that the fuzzer starts from frames and files that reach deep paths
(a NAT session opened and answered, a DHCP exchange, fragments, VLAN tags) and mutates
from there.
"""
import json
import pathlib
import re
import struct
import sys

from scapy.all import (ARP, BOOTP, DHCP, DNS, DNSQR, ICMP, IP, TCP, UDP, VXLAN, Dot1Q, Ether,
                       fragment, raw)

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# fuzz_packet.cc's ports, by index.
PORTS = ["ha", "hb", "tap", "na", "la", "lb", "rup", "ta", "tb", "bb", "rbr", "ga", "gb"]
P = {name: i for i, name in enumerate(PORTS)}


def mac(last):
    return "08:00:27:00:00:%02x" % last


def service_mac(network):
    """compile.cc's plan_segments: 02:47:50 + FNV-1a of the network name."""
    h = 2166136261
    for ch in network.encode():
        h = ((h ^ ch) * 16777619) & 0xffffffff
    return "02:47:50:%02x:%02x:%02x" % ((h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff)


NAT_GW = "52:54:00:12:35:02"  # placeholder: the NAT router answers any destination MAC
UPLINK_PEER = "02:00:00:00:00:01"
LAB = service_mac("lab")
HN = service_mac("hn")


def record(port, frame, seg=0):
    b = raw(frame)
    return struct.pack("!BBH", P[port], seg, len(b)) + b


def packet_seeds():
    dhcp_discover = (Ether(src=mac(1), dst="ff:ff:ff:ff:ff:ff") /
                     IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) /
                     BOOTP(chaddr=bytes.fromhex("080027000001"), xid=7) /
                     DHCP(options=[("message-type", "discover"), "end"]))
    dhcp_request = (Ether(src=mac(3), dst="ff:ff:ff:ff:ff:ff") /
                    IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) /
                    BOOTP(chaddr=bytes.fromhex("080027000003"), xid=8) /
                    DHCP(options=[("message-type", "request"), ("requested_addr", "10.0.2.15"),
                                  ("server_id", "10.0.2.2"), ("hostname", "n"), "end"]))
    seeds = {
        "hostonly-dhcp": record("ha", dhcp_discover),
        "nat-dhcp": record("na", dhcp_request),
        "hostonly-arp": record("hb", Ether(src=mac(2), dst="ff:ff:ff:ff:ff:ff") /
                               ARP(op=1, hwsrc=mac(2), psrc="192.168.79.20",
                                   pdst="192.168.79.100")),
        "hostonly-spoof": record("ha", Ether(src=mac(1), dst=mac(2)) /
                                 IP(src="192.168.79.66", dst="192.168.79.20") /
                                 UDP(sport=67, dport=68) / BOOTP(op=2)),
        "acl-smtp": record("ha", Ether(src=mac(1), dst=mac(2)) /
                           IP(src="192.168.79.50", dst="192.168.79.20") / TCP(dport=25)),
        "nat-arp-gw": record("na", Ether(src=mac(3), dst="ff:ff:ff:ff:ff:ff") /
                             ARP(op=1, hwsrc=mac(3), psrc="10.0.2.15", pdst="10.0.2.2")),
        "nat-ping-gw": record("na", Ether(src=mac(3), dst=NAT_GW) /
                              IP(src="10.0.2.15", dst="10.0.2.2") / ICMP()),
        "nat-dns": record("na", Ether(src=mac(3), dst=NAT_GW) /
                          IP(src="10.0.2.15", dst="10.0.2.3") / UDP(sport=5555, dport=53) /
                          DNS(rd=1, qd=DNSQR(qname="example.org"))),
        # A session out and its answer in (the NAT keeps the source port when it can).
        "nat-udp-roundtrip": record("na", Ether(src=mac(3), dst=NAT_GW) /
                                    IP(src="10.0.2.15", dst="203.0.113.7") /
                                    UDP(sport=4000, dport=7) / b"hello") +
                             record("rup", Ether(src=UPLINK_PEER, dst="02:00:00:00:00:02") /
                                    IP(src="203.0.113.7", dst="198.51.100.10") /
                                    UDP(sport=7, dport=4000) / b"hello"),
        "nat-tcp-roundtrip": record("na", Ether(src=mac(3), dst=NAT_GW) /
                                    IP(src="10.0.2.15", dst="203.0.113.7") /
                                    TCP(sport=40000, dport=80, flags="S", seq=1)) +
                             record("rup", Ether(src=UPLINK_PEER, dst="02:00:00:00:00:02") /
                                    IP(src="203.0.113.7", dst="198.51.100.10") /
                                    TCP(sport=80, dport=40000, flags="SA", seq=9, ack=2)),
        "nat-ping-out": record("na", Ether(src=mac(3), dst=NAT_GW) /
                               IP(src="10.0.2.15", dst="203.0.113.7") / ICMP(id=3)) +
                        record("rup", Ether(src=UPLINK_PEER, dst="02:00:00:00:00:02") /
                               IP(src="203.0.113.7", dst="198.51.100.10") /
                               ICMP(type=0, id=3)),
        "forward-in": record("rup", Ether(src=UPLINK_PEER, dst="02:00:00:00:00:02") /
                             IP(src="203.0.113.9", dst="198.51.100.10") /
                             TCP(sport=50000, dport=8080, flags="S")),
        "icmp-error-in": record("rup", Ether(src=UPLINK_PEER, dst="02:00:00:00:00:02") /
                                IP(src="203.0.113.1", dst="198.51.100.10") /
                                ICMP(type=3, code=4, nexthopmtu=1400) /
                                raw(IP(src="198.51.100.10", dst="203.0.113.7") /
                                    UDP(sport=4000, dport=7))[:28]),
        "uplink-arp": record("rup", Ether(src=UPLINK_PEER, dst="ff:ff:ff:ff:ff:ff") /
                             ARP(op=1, hwsrc=UPLINK_PEER, psrc="198.51.100.1",
                                 pdst="198.51.100.10")),
        "natnet-out": record("la", Ether(src=mac(4), dst=LAB) /
                             IP(src="10.9.0.4", dst="203.0.113.7") / UDP(sport=1, dport=2)),
        "natnet-hairpin": record("la", Ether(src=mac(4), dst=LAB) /
                                 IP(src="10.9.0.4", dst="198.51.100.10") /
                                 TCP(sport=3000, dport=1022, flags="S")),
        "natnet-l2": record("la", Ether(src=mac(4), dst=mac(5)) /
                            IP(src="10.9.0.4", dst="10.9.0.5") / UDP()),
        "trunk-tagged": record("ta", Ether(src=mac(6), dst="ff:ff:ff:ff:ff:ff") /
                               Dot1Q(vlan=10) / IP(src="10.1.0.1", dst="10.1.0.255") / UDP()),
        "qinq": record("ta", Ether(src=mac(6), dst=mac(7), type=0x88a8) / Dot1Q(vlan=10) /
                       Dot1Q(vlan=20) / IP() / UDP()),
        "jumbo": record("tb", Ether(src=mac(7), dst=mac(6)) / IP(src="10.1.0.2",
                                                                 dst="10.1.0.1") /
                        UDP() / (b"j" * 8900)),
        "bridged-up": record("rbr", Ether(src="02:00:00:00:01:01", dst=mac(8)) / Dot1Q(vlan=20) /
                             IP() / UDP()),
        "bridged-macs": b"".join(record("bb", Ether(src="08:00:27:01:00:%02x" % i,
                                                    dst="ff:ff:ff:ff:ff:ff") / IP() / UDP())
                                 for i in range(8)),
        "chained": record("na", Ether(src=mac(3), dst=NAT_GW) /
                          IP(src="10.0.2.15", dst="203.0.113.7") /
                          TCP(sport=40001, dport=80, flags="S"), seg=7),
        "bogus-ihl": record("na", raw(Ether(src=mac(3), dst=NAT_GW) /
                                      IP(src="10.0.2.15", dst="203.0.113.7", ihl=15) /
                                      UDP())[:40]),
        "runt": struct.pack("!BBH", P["hb"], 0, 10) + b"\x01" * 10,
    }
    # Tunnels on the uplink: VXLAN from both remotes (a flood, then an answer to the
    # guest), a VNI and a remote that are not configured, no I flag; the UDP tunnel.
    def vx(src, vni, inner, flags=0x08):
        return record("rup", Ether(src=UPLINK_PEER, dst="02:00:00:00:00:10") /
                      IP(src=src, dst="198.51.100.10") / UDP(sport=50000, dport=4789) /
                      VXLAN(vni=vni, flags=flags) / inner)
    far = "02:00:00:00:0e:01"
    seeds["vxlan-in"] = b"".join([
        vx("198.51.100.1", 42, Ether(src=far, dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.5.0.9")),
        vx("198.51.100.2", 42, Ether(src=far, dst=mac(9)) / IP(dst="10.5.0.9") / ICMP()),
        record("ga", Ether(src=mac(9), dst=far) / IP(src="10.5.0.9") / UDP(dport=53)),
        vx("198.51.100.1", 43, Ether(src=far, dst=mac(9)) / IP() / UDP()),
        vx("198.51.100.77", 42, Ether(src=far, dst=mac(9)) / IP() / UDP()),
        vx("198.51.100.1", 42, Ether(src=far, dst=mac(9)) / IP() / UDP(), flags=0),
    ])
    seeds["udp-tunnel"] = b"".join([
        record("rup", Ether(src=UPLINK_PEER, dst="02:00:00:00:00:10") /
               IP(src="198.51.100.3", dst="198.51.100.10") / UDP(sport=10002, dport=10001) /
               Ether(src=far, dst="ff:ff:ff:ff:ff:ff") / IP() / UDP()),
        record("gb", Ether(src=mac(10), dst="ff:ff:ff:ff:ff:ff") / IP() / UDP(), seg=9),
    ])
    # Fragments of one datagram, out of order and overlapping, from the NAT adapter.
    dgram = (IP(src="10.0.2.15", dst="203.0.113.7", id=99) / UDP(sport=4100, dport=9) /
             (b"f" * 1600))
    frags = fragment(dgram, fragsize=512)
    over = IP(src="10.0.2.15", dst="203.0.113.7", id=99, frag=32, flags=1, proto=17) / (b"o" * 96)
    seq = [frags[2], frags[0], over, frags[1], frags[3]]
    seeds["nat-fragments"] = b"".join(record("na", Ether(src=mac(3), dst=NAT_GW) / f) for f in seq)
    seeds["natnet-fragments"] = b"".join(
        record("la", Ether(src=mac(4), dst=LAB) /
               IP(raw(f), src="10.9.0.4"))
        for f in reversed(frags))
    return seeds


def config_seeds():
    seeds = {}
    docs = (ROOT / "docs" / "config.md").read_text()
    for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", docs, re.S)):
        seeds["doc-%02d" % i] = block.encode()
    src = (HERE / "fuzz_packet.cc").read_text()
    seeds["fuzz-packet"] = re.search(r'R"\((.*?)\)"', src, re.S).group(1).encode()
    for p in sorted((ROOT / "deploy").glob("**/*.yaml")):
        seeds["deploy-" + p.stem] = p.read_bytes()
    return seeds


def frame(body, chunk=16):
    data = json.dumps(body).encode()
    return bytes([chunk]) + b"GP/1 %d\n" % len(data) + data


def control_seeds():
    return {
        "show-ports": frame({"cmd": "show", "what": "ports"}),
        "show-nat": frame({"cmd": "show", "what": "nat", "vm": "a"}, chunk=1),
        "apply": frame({"cmd": "apply", "config": "vms: {}\n", "file": "x.yaml"}),
        "apply-dry": frame({"cmd": "apply", "config": "vms: {}\n", "dry_run": True}, chunk=63),
        "capture": frame({"cmd": "capture", "port": "vm/a/1", "count": 10}),
        "not-object": bytes([5]) + b"GP/1 2\n[]",
        "bad-header": bytes([3]) + b"GP/9 99999999999\n{}",
    }


def message_seeds():
    discover = raw(BOOTP(chaddr=bytes.fromhex("080027000001"), xid=1) /
                   DHCP(options=[("message-type", "discover"), ("client_id", b"\x01abcdef"),
                                 ("hostname", "guest"), ("param_req_list", [1, 3, 6]), "end"]))
    request = raw(BOOTP(chaddr=bytes.fromhex("080027000001"), xid=2) /
                  DHCP(options=[("message-type", "request"), ("requested_addr", "10.0.2.15"),
                                ("server_id", "10.0.2.2"), "pad", "pad", "end"]))
    return {
        "dhcp-discover": discover,
        "dhcp-request": request,
        "dns-a": raw(DNS(id=1, rd=1, qd=DNSQR(qname="www.example.org"))),
        "dns-aaaa": raw(DNS(id=2, qd=DNSQR(qname="a.b.c.d.e.f", qtype="AAAA"))),
        "dns-root": raw(DNS(id=3, qd=DNSQR(qname="."))),
    }


def main():
    out = HERE / "corpus"
    for target, seeds in [("fuzz_packet", packet_seeds()), ("fuzz_config", config_seeds()),
                          ("fuzz_control", control_seeds()), ("fuzz_messages", message_seeds())]:
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (d / name).write_bytes(data)
        print("%s: %d seeds" % (target, len(seeds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
