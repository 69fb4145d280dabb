"""NAT adapters with real kernel stacks: the guest's own DHCP client gets VirtualBox's
10.0.2.15, pings the gateway 10.0.2.2, resolves through the DNS proxy at 10.0.2.3
(dnsmasq upstream), and reaches servers in an "outside" namespace (TEST-NET addresses,
no route off the machine) with ping, TCP (iperf3) and HTTP; port forwards reach the
guest; unsolicited inbound traffic does not; two guests with the same 10.0.2.15 talk
to the same server at once."""
import os
import re
import stat
import time

OUT_MAC = "02:00:00:00:0a:01"
MAC = {1: "08:00:27:30:00:01", 2: "08:00:27:30:00:02"}
SERVER = "198.51.100.1"   # on the outside namespace's loopback, behind its gateway address
GATEWAY = "203.0.113.1"   # the outside namespace itself
UPLINK_IP = "203.0.113.10"


def outside(lab):
    ns, dev = lab.guest("wan", OUT_MAC, f"{GATEWAY}/24")
    lab.ns(ns, "ip", "addr", "add", f"{SERVER}/32", "dev", "lo")
    return ns, dev


def hook(lab):
    path = f"/tmp/gpt-udhcpc-{lab.tag}.sh"
    with open(path, "w") as f:
        f.write('#!/bin/sh\ncase "$1" in bound|renew)\n'
                '  ip addr add "$ip/$mask" dev "$interface"\n'
                '  for r in $router; do ip route add default via "$r" dev "$interface"; done;;\n'
                'esac\n')
    os.chmod(path, stat.S_IRWXU)
    lab.paths.append(path)
    return path


def dhcp(lab, ns, script):
    r = lab.ns(ns, "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", script,
               check=False, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    out = lab.ns(ns, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    return out.split()[3].split("/")[0]


def config(wan_dev, guests, extra_adapter=""):
    y = (f"uplinks:\n  wan: {{device: \"{wan_dev}\", address: {UPLINK_IP}/24, "
         f"gateway: {GATEWAY}, dns: [{GATEWAY}]}}\nvms:\n")
    for i, dev in guests.items():
        y += (f"  vm{i}:\n    adapters:\n      1: {{attach: nat, mac: \"{MAC[i]}\", "
              f"port: \"{dev}\"{extra_adapter if i == 1 else ''}}}\n")
    return y


def http_get(lab, ns, url):
    code = ("import urllib.request,sys;"
            f"sys.stdout.write(urllib.request.urlopen('{url}', timeout=5).read().decode())")
    return lab.ns(ns, "/usr/bin/python3", "-c", code, check=False, timeout=20)


def serve_http(lab, ns, ip, port, text):
    root = f"/tmp/gpt-www-{lab.tag}-{port}"
    os.makedirs(root, exist_ok=True)
    lab.paths.append(root)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(text)
    lab.spawn(ns, "/usr/bin/python3", "-m", "http.server", str(port), "--bind", ip,
              "--directory", root)
    wait_listening(lab, ns, port)


def wait_listening(lab, ns, port, proto="t"):
    """Waits until something listens on `port` in `ns` (Python starts slowly while a
    worker busy-polls one of two cores)."""
    deadline = time.time() + 15
    while time.time() < deadline:
        out = lab.ns(ns, "ss", f"-ln{proto}").stdout
        if f":{port} " in out:
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} in {ns}")


def dns_query(lab, ns, server, name):
    code = ("from scapy.all import DNS, DNSQR, raw; import socket;"
            "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3);"
            f"s.sendto(raw(DNS(id=7, rd=1, qd=DNSQR(qname='{name}'))), ('{server}', 53));"
            "r=DNS(s.recv(2048)); print(r.an.rdata if r.an else 'NXDOMAIN')")
    return lab.ns(ns, "/usr/bin/python3", "-c", code, check=False, timeout=30)


def test_nat_guest_dhcp_gateway_dns_and_outside_servers(lab):
    wan, wan_dev = outside(lab)
    g, dev = lab.guest("n1", MAC[1], None)
    d = lab.start(config(wan_dev, {1: dev}))
    # Everything IP that reaches the outside from the switch, for the check at the end.
    cap = lab.capture(wan, "ip and not src host " + GATEWAY + " and not src host " + SERVER)
    script = hook(lab)
    assert dhcp(lab, g, script) == "10.0.2.15"
    assert lab.ping(g, "10.0.2.2"), "guest cannot ping its gateway"
    assert lab.ping(g, SERVER), "guest cannot ping the outside server"
    # DNS through the proxy at 10.0.2.3, answered by dnsmasq in the outside namespace.
    lab.spawn(wan, "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts",
              f"--listen-address={GATEWAY}", "--bind-interfaces",
              f"--address=/guestport.test/{SERVER}")
    wait_listening(lab, wan, 53, "u")
    r = dns_query(lab, g, "10.0.2.3", "guestport.test")
    assert r.returncode == 0 and r.stdout.strip() == SERVER, r.stdout + r.stderr
    # HTTP and iperf3 to the server behind the gateway.
    serve_http(lab, wan, SERVER, 8080, "hello from outside")
    r = http_get(lab, g, f"http://{SERVER}:8080/")
    assert r.stdout == "hello from outside", r.stdout + r.stderr
    server = lab.spawn(wan, "iperf3", "-s", "-1", "-B", SERVER)
    wait_listening(lab, wan, 5201)
    r = lab.ns(g, "iperf3", "-c", SERVER, "-t", "2", check=False, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    server.wait(timeout=10)
    stats = d.ctl("stats")
    assert sum(w["nat_created"] for w in stats["workers"]) >= 4
    # The operator's view of the sessions: the ping and HTTP flows of the guest.
    sessions = d.ctl("nat")
    assert any(x["proto"] == "tcp" and x["inside"].startswith("10.0.2.15:") and
               x["remote"] == f"{SERVER}:8080" and x["outside"].startswith(f"{UPLINK_IP}:")
               for x in sessions), sessions
    assert sessions and all(x["network"] == "nat:vm1/1" for x in sessions)
    # The outside saw the guest's traffic (ping, DNS, HTTP, iperf3), all of it from the
    # uplink address and none from 10.0.2.x.
    sources = [m.group(1) for m in (re.search(r"length \d+: (\d+\.\d+\.\d+\.\d+)", l)
                                    for l in cap.stop()) if m]
    assert len(sources) > 100, sources[:20]
    assert set(sources) == {UPLINK_IP}, sorted(set(sources))


def test_port_forward_reaches_guest_and_unsolicited_does_not(lab):
    wan, wan_dev = outside(lab)
    g, dev = lab.guest("n2", MAC[1], None)
    d = lab.start(config(wan_dev, {1: dev}, ", port_forwards: [{name: web, proto: tcp, "
                                            "host_port: 8080, guest_port: 80}]"))
    script = hook(lab)
    assert dhcp(lab, g, script) == "10.0.2.15"
    serve_http(lab, g, "10.0.2.15", 80, "hello from the guest")
    r = http_get(lab, wan, f"http://{UPLINK_IP}:8080/")
    assert r.stdout == "hello from the guest", r.stdout + r.stderr
    # Nothing else gets in: a port without a forward.
    serve_http(lab, g, "10.0.2.15", 81, "secret")
    r = http_get(lab, wan, f"http://{UPLINK_IP}:81/")
    assert r.returncode != 0
    drops = d.port("uplink/wan")["drop_reasons"]
    assert drops.get("nat_unsolicited", 0) > 0


def test_two_nat_guests_with_the_same_address_share_a_server(lab):
    wan, wan_dev = outside(lab)
    g1, dev1 = lab.guest("m1", MAC[1], None)
    g2, dev2 = lab.guest("m2", MAC[2], None)
    lab.start(config(wan_dev, {1: dev1, 2: dev2}))
    script = hook(lab)
    assert dhcp(lab, g1, script) == "10.0.2.15"
    assert dhcp(lab, g2, script) == "10.0.2.15"
    # iperf3's server takes one test at a time: one server port per guest.
    server = lab.spawn(wan, "iperf3", "-s", "-B", SERVER)
    s2 = lab.spawn(wan, "iperf3", "-s", "-B", SERVER, "-p", "5202")
    wait_listening(lab, wan, 5201)
    wait_listening(lab, wan, 5202)
    c1 = lab.spawn(g1, "iperf3", "-c", SERVER, "-t", "3", "-p", "5201")
    c2 = lab.spawn(g2, "iperf3", "-c", SERVER, "-t", "2", "-p", "5202")
    assert c1.wait(timeout=30) == 0, c1.stdout.read() + c1.stderr.read()
    assert c2.wait(timeout=30) == 0, c2.stdout.read() + c2.stderr.read()
    assert lab.ping(g1, SERVER) and lab.ping(g2, SERVER)
    server.kill()
    s2.kill()


UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
"""


def udp_echo_round_trip(lab, wan, g, port, size, clear_df=False):
    """Starts a UDP echo server on SERVER:port in the outside namespace; the guest sends
    `size` bytes (DF cleared if asked) and reports whether the same bytes came back."""
    path = f"/tmp/gpt-udp-echo-{lab.tag}-{port}.py"
    with open(path, "w") as f:
        f.write(UDP_ECHO)
    lab.paths.append(path)
    lab.spawn(wan, "/usr/bin/python3", path, SERVER, str(port))
    wait_listening(lab, wan, port, "u")
    code = ("import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n"
            + ("" if not clear_df else
               "s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER: IP_PMTUDISC_DONT\n")
            + f"data=bytes(i % 256 for i in range({size}))\n"
            "for _ in range(3):\n"
            f"  s.sendto(data, ('{SERVER}', {port}))\n"
            "  try:\n"
            "    got=s.recv(65535); print(got == data); break\n"
            "  except socket.timeout: pass\n")
    return lab.ns(g, "/usr/bin/python3", "-c", code, check=False, timeout=20)


def af_xdp(devargs, index):
    """The same veth opened with net_af_xdp. DPDK 22.11's af_packet PMD joins its socket
    to a PACKET_FANOUT group with the DEFRAG flag, so the kernel reassembles fragments
    before the switch sees them (and the ring truncates them at framesz); AF_XDP hands
    over the frames as the guest sent them."""
    return f"net_af_xdp{index}," + devargs.split(",", 1)[1]


def test_fragmented_datagrams_cross_the_nat_both_ways(lab):
    """Datagrams larger than the 1500-byte MTU leave the guest's kernel in fragments; the
    NAT translates every fragment by its first fragment's session, and the outside
    kernel reassembles them (and the same for the answers)."""
    wan, wan_dev = outside(lab)
    g, dev = lab.guest("f1", MAC[1], None)
    d = lab.start(config(af_xdp(wan_dev, 0), {1: af_xdp(dev, 1)}))
    assert dhcp(lab, g, hook(lab)) == "10.0.2.15"
    r = lab.ns(g, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", "4000", SERVER, check=False)
    assert r.returncode == 0, (r.stdout, [(p["name"], p["drop_reasons"]) for p in d.ctl("ports")])
    r = udp_echo_round_trip(lab, wan, g, 9999, 3072)
    assert r.stdout.strip() == "True", r.stdout + r.stderr
    drops = d.port("vm/vm1/1")["drop_reasons"]
    assert drops.get("nat_fragment", 0) == 0 and drops.get("oversize", 0) == 0, drops


def test_nat_fragments_what_exceeds_the_uplink_mtu(lab):
    """The uplink has MTU 1400, the guest 1500: a 1472-byte UDP datagram sent without DF
    leaves the NAT in two fragments (the outside kernel reassembles it); the echo comes
    back fragmented by the outside kernel and reaches the guest whole. With DF the guest
    learns the smaller MTU from the gateway (ICMP fragmentation needed)."""
    wan, wan_dev = outside(lab)
    lab.ns(wan, "ip", "link", "set", "eth0", "mtu", "1400")
    g, dev = lab.guest("f2", MAC[1], None)
    yaml = config(af_xdp(wan_dev, 0), {1: af_xdp(dev, 1)}).replace(
        f"gateway: {GATEWAY},", f"gateway: {GATEWAY}, mtu: 1400,")
    d = lab.start(yaml)
    assert dhcp(lab, g, hook(lab)) == "10.0.2.15"
    r = udp_echo_round_trip(lab, wan, g, 9998, 1472, clear_df=True)
    stats = d.ctl("stats")
    assert r.stdout.strip() == "True", (r.stdout + r.stderr, stats["workers"],
                                        [(p["name"], p["drop_reasons"]) for p in d.ctl("ports")])
    assert sum(w["nat_fragments_made"] for w in stats["workers"]) >= 2
    # With DF (ping -M do) the gateway tells the guest the uplink's MTU.
    r = lab.ns(g, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1450", SERVER, check=False)
    assert "1400" in r.stdout + r.stderr, r.stdout + r.stderr


def test_on_link_hosts_of_the_uplink_are_reached_directly(lab):
    """A host on the uplink's own subnet (203.0.113.20, not the gateway) is resolved by
    ARP from the outside address and sent to directly, as a router does."""
    wan, wan_dev = outside(lab)
    # The on-link host has a MAC of its own (a macvlan on the outside's eth0), so a frame
    # sent to it directly is told apart from one sent via the gateway's MAC. Only the
    # interface that holds an address answers ARP for it.
    onlink_mac = "02:00:00:00:0a:14"
    lab.ns(wan, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1")
    lab.ns(wan, "ip", "link", "add", "host20", "link", "eth0", "address", onlink_mac,
           "type", "macvlan", "mode", "bridge")
    lab.ns(wan, "ip", "addr", "add", "203.0.113.20/24", "dev", "host20")
    lab.ns(wan, "ip", "link", "set", "host20", "up")
    g, dev = lab.guest("o1", MAC[1], None)
    d = lab.start(config(wan_dev, {1: dev}))
    assert dhcp(lab, g, hook(lab)) == "10.0.2.15"
    cap = lab.capture(wan, "icmp and dst host 203.0.113.20")
    # The first echo waits for ARP (the router drops it while asking); later ones pass.
    r = lab.ns(g, "ping", "-c", "4", "-i", "0.3", "-W", "2", "203.0.113.20", check=False)
    assert " 0 received" not in r.stdout, r.stdout
    lines = cap.stop()
    direct = [l for l in lines if f"> {onlink_mac}," in l]
    via_gateway = [l for l in lines if f"> {OUT_MAC}," in l]
    assert direct and not via_gateway, "\n".join(lines)
    slow = d.ctl("stats")["slow_path"]
    assert slow["onlink_unresolved"] >= 1 and slow["inside_learned"] >= 1, slow
