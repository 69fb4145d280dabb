"""A NAT network with real kernel stacks: two guests get their addresses from the
network's DHCP server (.3, leases from .4), reach each other directly, share one
router (.1, also the DNS proxy) to the outside, are reached from outside through the
network's port forwards, and reach each other's forwarded ports through the outside
address (hairpinning: TCP, UDP, and a ping to the outside address). Servers in the
guests report the peer address they saw, so the test checks what the RFC demands:
hairpinned traffic arrives from the outside address, not from the inside one."""
import json

from conftest import GUESTPORTCTL, sh
from test_nat import GATEWAY, SERVER, UPLINK_IP, dhcp, dns_query, hook, outside, wait_listening

MAC = {1: "08:00:27:40:00:01", 2: "08:00:27:40:00:02"}

# Answers every TCP connection / UDP datagram with the peer's "ip:port".
PEER_SERVER = r"""
import socket, sys, threading
port = int(sys.argv[1])
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(f"{peer[0]}:{peer[1]}".encode(), peer)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", port))
t.listen(8)
while True:
    c, peer = t.accept()
    c.sendall(f"{peer[0]}:{peer[1]}".encode())
    c.close()
"""

PEER_CLIENT = r"""
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "tcp":
    s = socket.create_connection((host, port), timeout=5)
    print(s.recv(100).decode())
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    for _ in range(3):
        s.sendto(b"hi", (host, port))
        try:
            data, src = s.recvfrom(100)
            print(data.decode(), f"{src[0]}:{src[1]}")
            break
        except socket.timeout:
            pass
"""


def script(lab, name, text):
    path = f"/tmp/gpt-{name}-{lab.tag}.py"
    with open(path, "w") as f:
        f.write(text)
    lab.paths.append(path)
    return path


def ask(lab, ns, client, proto, host, port):
    r = lab.ns(ns, "/usr/bin/python3", client, proto, host, str(port), check=False, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


def config(wan_dev, devs):
    y = (f"uplinks:\n  wan: {{device: \"{wan_dev}\", address: {UPLINK_IP}/24, "
         f"gateway: {GATEWAY}, dns: [{GATEWAY}]}}\n"
         "networks:\n"
         "  lab:\n"
         "    mode: natnetwork\n"
         "    network: 10.9.0.0/24\n"
         "    uplink: wan\n"
         "    port_forwards:\n"
         "      - {name: t, proto: tcp, host_port: 8022, guest_ip: 10.9.0.5, guest_port: 7000}\n"
         "      - {name: u, proto: udp, host_port: 8023, guest_ip: 10.9.0.5, guest_port: 7000}\n"
         "vms:\n")
    for i, dev in devs.items():
        y += (f"  vm{i}:\n    adapters:\n      1: {{attach: natnetwork:lab, mac: \"{MAC[i]}\", "
              f"port: \"{dev}\"}}\n")
    return y


def test_natnetwork_guests_direct_outside_forwards_and_hairpinning(lab):
    wan, wan_dev = outside(lab)
    g1, dev1 = lab.guest("w1", MAC[1], None)
    g2, dev2 = lab.guest("w2", MAC[2], None)
    d = lab.start(config(wan_dev, {1: dev1, 2: dev2}))
    hook_script = hook(lab)
    assert dhcp(lab, g1, hook_script) == "10.9.0.4"  # the first lease after the server (.3)
    assert dhcp(lab, g2, hook_script) == "10.9.0.5"
    route = lab.ns(g1, "ip", "route", "show", "default").stdout
    assert "via 10.9.0.1" in route, route

    # Directly to each other (L2 inside the network), and to the router and the outside.
    assert lab.ping(g1, "10.9.0.5"), "guests on one NAT network cannot reach each other"
    assert lab.ping(g1, "10.9.0.1"), "guest cannot ping its router"
    assert lab.ping(g2, SERVER), "guest cannot reach the outside"

    server = script(lab, "peer-server", PEER_SERVER)
    client = script(lab, "peer-client", PEER_CLIENT)
    lab.spawn(g2, "/usr/bin/python3", server, "7000")
    wait_listening(lab, g2, 7000)
    wait_listening(lab, g2, 7000, "u")
    # Guest to guest directly: the server sees the guest's own address.
    assert ask(lab, g1, client, "tcp", "10.9.0.5", 7000)[0].startswith("10.9.0.4:")

    # From outside through the forwards: the server sees the outside client.
    assert ask(lab, wan, client, "tcp", UPLINK_IP, 8022)[0].startswith(f"{GATEWAY}:")
    peer, src = ask(lab, wan, client, "udp", UPLINK_IP, 8023)
    assert peer.startswith(f"{GATEWAY}:") and src == f"{UPLINK_IP}:8023"

    # Hairpinning: guest 1 uses the outside address and port; guest 2 sees the outside
    # address (RFC 4787 REQ-9b), and the answer comes back from the forwarded port.
    peer = ask(lab, g1, client, "tcp", UPLINK_IP, 8022)[0]
    assert peer.startswith(f"{UPLINK_IP}:"), peer
    peer, src = ask(lab, g1, client, "udp", UPLINK_IP, 8023)
    assert peer.startswith(f"{UPLINK_IP}:") and src == f"{UPLINK_IP}:8023", (peer, src)
    # ... and a ping to the outside address is answered from it.
    assert lab.ping(g1, UPLINK_IP), "ping to the outside address from inside"
    stats = d.ctl("stats")
    assert sum(w.get("nat_hairpinned", 0) for w in stats["workers"]) >= 4, stats["workers"]
    sessions = d.ctl("nat")
    assert sessions and all(x["network"] == "natnetwork:lab" for x in sessions), sessions
    # The operator's filters: one VM's UDP sessions only.
    r = sh(GUESTPORTCTL, "-s", d.socket, "show", "nat", "--vm", "vm2", "--proto", "udp", "--json")
    rows = json.loads(r.stdout)
    assert rows and all(x["port"] == "vm/vm2/1" and x["proto"] == "udp" for x in rows), rows
    assert len(rows) < len(sessions)
    r = sh(GUESTPORTCTL, "-s", d.socket, "show", "nat", "--ip", "10.9.0.4", "--json")
    rows = json.loads(r.stdout)
    assert rows and all("10.9.0.4:" in x["inside"] for x in rows), rows


def test_natnetwork_dns_proxy_at_the_router(lab):
    wan, wan_dev = outside(lab)
    g1, dev1 = lab.guest("v1", MAC[1], None)
    lab.start(config(wan_dev, {1: dev1}))
    assert dhcp(lab, g1, hook(lab)) == "10.9.0.4"
    lab.spawn(wan, "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts",
              f"--listen-address={GATEWAY}", "--bind-interfaces",
              f"--address=/guestport.test/{SERVER}")
    wait_listening(lab, wan, 53, "u")
    r = dns_query(lab, g1, "10.9.0.1", "guestport.test")
    assert r.returncode == 0 and r.stdout.strip() == SERVER, r.stdout + r.stderr
