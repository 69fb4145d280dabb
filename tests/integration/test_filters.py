"""Adapter filters with real kernel stacks: an ACL that denies TCP port 80 stops curl
while ping passes, is counted per rule in `show acl` and is lifted by a live re-apply;
port security stops a guest that takes another source address or MAC."""
from test_nat import serve_http

MAC = {i: f"08:00:27:60:00:{i:02x}" for i in range(1, 4)}


def config(g1, g2, acl="", security=""):
    return ("vms:\n"
            f"  vm1: {{adapters: {{1: {{attach: internal:f, mac: \"{MAC[1]}\", "
            f"port: \"{g1}\"{acl}{security}}}}}}}\n"
            f"  vm2: {{adapters: {{1: {{attach: internal:f, mac: \"{MAC[2]}\", "
            f"port: \"{g2}\"}}}}}}\n")


DENY_WEB = ", acl: {ingress: [{name: no-web, action: deny, proto: tcp, dst_port: 80}]}"


def curl(lab, ns, url):
    return lab.ns(ns, "curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", url,
                  check=False, timeout=20)


def test_an_acl_denying_tcp_80_blocks_curl_while_ping_passes(lab):
    ns1, dev1 = lab.guest("f1", MAC[1], "10.55.0.1/24")
    ns2, dev2 = lab.guest("f2", MAC[2], "10.55.0.2/24")
    serve_http(lab, ns2, "10.55.0.2", 80, "hello\n")
    d = lab.start(config(dev1, dev2, acl=DENY_WEB))
    assert lab.ping(ns1, "10.55.0.2"), "ping must pass the ACL"
    r = curl(lab, ns1, "http://10.55.0.2/")
    assert r.stdout != "200", "curl reached port 80 through a deny rule"
    acl = d.ctl("acl")
    assert len(acl) == 1 and acl[0]["port"] == "vm/vm1/1" and acl[0]["direction"] == "ingress"
    rule = acl[0]["rules"][0]
    assert rule["name"] == "no-web" and rule["action"] == "deny" and rule["matches"] >= 1, acl
    assert acl[0]["no_match"] >= 3, acl  # the pings and ARP-free IPv4 that no rule matched
    assert d.port("vm/vm1/1")["drop_reasons"].get("acl_deny", 0) >= 1
    # The text view says the same.
    from conftest import GUESTPORTCTL, sh
    text = sh(GUESTPORTCTL, "-s", d.socket, "show", "acl").stdout
    assert "no-web" in text and "deny" in text, text
    # Lifted live: the same adapter, no ACL.
    r = d.apply(config(dev1, dev2))
    assert r.returncode == 0, r.stdout + r.stderr
    assert curl(lab, ns1, "http://10.55.0.2/").stdout == "200"
    assert d.ctl("acl") == []


def test_port_security_stops_a_guest_that_takes_another_address(lab):
    ns1, dev1 = lab.guest("s1", MAC[1], "10.56.0.1/24")
    ns2, dev2 = lab.guest("s2", MAC[2], "10.56.0.2/24")
    d = lab.start(config(dev1, dev2, security=", port_security: {ipv4: [10.56.0.1]}"))
    assert lab.ping(ns1, "10.56.0.2"), "its own address passes"
    # Another address on the same guest: neither its ARP nor its pings get through.
    lab.ns(ns1, "ip", "addr", "add", "10.56.0.9/24", "dev", "eth0")
    r = lab.ns(ns1, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-I", "10.56.0.9", "10.56.0.2",
               check=False)
    assert r.returncode != 0, "a spoofed source address got an answer:\n" + r.stdout
    assert d.port("vm/vm1/1")["drop_reasons"].get("spoofed_ip", 0) >= 1
    # Another MAC: nothing passes at all.
    lab.ns(ns1, "ip", "neigh", "flush", "all")
    lab.ns(ns1, "ip", "link", "set", "eth0", "address", MAC[3])
    assert not lab.ping(ns1, "10.56.0.2", count=2), "a spoofed MAC got through"
    assert d.port("vm/vm1/1")["drop_reasons"].get("spoofed_mac", 0) >= 1
    # Its own MAC back: it is let in again.
    lab.ns(ns1, "ip", "link", "set", "eth0", "address", MAC[1])
    lab.ns(ns1, "ip", "neigh", "flush", "all")
    lab.ns(ns2, "ip", "neigh", "flush", "all")
    assert lab.ping(ns1, "10.56.0.2"), "the guest's own MAC and address pass again"


def test_port_security_lets_in_the_address_the_appliance_leased(lab):
    """A real DHCP client (udhcpc) behind `port_security: {dhcp: true}`: before its lease
    only DHCP passes, after it the leased address does and no other."""
    from test_dhcp import address_of, hostonly, udhcpc
    iface = f"gps{lab.tag}"[:15]
    ns, dev = lab.guest("l1", MAC[1], None)
    d = lab.start(hostonly(lab, iface) +
                  f"vms:\n  vm1: {{adapters: {{1: {{attach: hostonly:hn, mac: \"{MAC[1]}\", "
                  f"port: \"{dev}\", port_security: {{dhcp: true}}}}}}}}\n")
    # An address of its own choosing first: dropped.
    lab.ns(ns, "ip", "addr", "add", "192.168.198.77/24", "dev", "eth0")
    assert not lab.ping(ns, "192.168.198.1", count=2), "an address nobody leased got through"
    assert d.port("vm/vm1/1")["drop_reasons"].get("spoofed_ip", 0) >= 1
    lab.ns(ns, "ip", "addr", "flush", "dev", "eth0")
    lab.ns(ns, "ip", "neigh", "flush", "all")
    r = udhcpc(lab, ns)
    assert r.returncode == 0, r.stdout + r.stderr
    assert address_of(lab, ns) == ["192.168.198.101"]
    assert lab.ping(ns, "192.168.198.1"), "the leased address is the guest's own"
