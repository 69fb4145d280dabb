"""The appliance's DHCP server on a host-only network, with the real clients a guest
runs: busybox udhcpc and ISC dhclient. Each client gets a hook script of our own that
configures only the namespace's interface (never the machine's resolv.conf)."""
import os
import stat
import time

MAC1, MAC2 = "08:00:27:20:00:01", "08:00:27:20:00:02"


def hostonly(lab, iface, extra=""):
    return (f"networks:\n  hn: {{mode: hostonly, host_interface: {{name: {iface}, "
            f"address: 192.168.198.1/24}}{extra}}}\n")


def write_hook(lab, body):
    path = f"/tmp/gpt-hook-{lab.tag}-{time.monotonic_ns()}.sh"
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, stat.S_IRWXU)
    lab.paths.append(path)
    return path


def udhcpc(lab, ns):
    hook = write_hook(lab, 'case "$1" in bound|renew) ip addr add "$ip/$mask" dev "$interface";; esac\n')
    r = lab.ns(ns, "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", hook,
               check=False, timeout=30)
    return r


def address_of(lab, ns):
    out = lab.ns(ns, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    return [w.split("/")[0] for w in out.split() if "/" in w and w[0].isdigit()]


def test_udhcpc_gets_a_lease_and_reaches_the_host(lab):
    iface = f"gpd{lab.tag}"[:15]
    ns, dev = lab.guest("d1", MAC1, None)
    d = lab.start(hostonly(lab, iface) +
                  f"vms:\n  vm1: {{adapters: {{1: {{attach: hostonly:hn, mac: \"{MAC1}\", "
                  f"port: \"{dev}\"}}}}}}\n")
    r = udhcpc(lab, ns)
    assert r.returncode == 0, r.stdout + r.stderr
    assert address_of(lab, ns) == ["192.168.198.101"]
    assert lab.ping(ns, "192.168.198.1"), "leased guest cannot reach the host interface"
    leases = d.ctl("dhcp")
    assert [(l["ip"], l["mac"], l["state"]) for l in leases] == \
        [("192.168.198.101", MAC1, "bound")]


def test_dhclient_gets_a_lease_and_a_second_guest_another(lab):
    iface = f"gpd{lab.tag}"[:15]
    ns1, dev1 = lab.guest("e1", MAC1, None)
    ns2, dev2 = lab.guest("e2", MAC2, None)
    d = lab.start(hostonly(lab, iface, ", dhcp: {lower: 192.168.198.50, upper: 192.168.198.60}") +
                  "vms:\n"
                  f"  vm1: {{adapters: {{1: {{attach: hostonly:hn, mac: \"{MAC1}\", port: \"{dev1}\"}}}}}}\n"
                  f"  vm2: {{adapters: {{1: {{attach: hostonly:hn, mac: \"{MAC2}\", port: \"{dev2}\"}}}}}}\n")
    hook = write_hook(lab, 'case "$reason" in BOUND|RENEW|REBOOT) '
                           'ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface";; esac\n')
    lease = f"/tmp/gpt-dhclient-{lab.tag}.leases"
    pid = f"/tmp/gpt-dhclient-{lab.tag}.pid"
    lab.paths += [lease, pid]
    lab.spawn(ns1, "dhclient", "-d", "-1", "-sf", hook, "-pf", pid, "-lf", lease, "eth0")
    deadline = time.time() + 20
    while time.time() < deadline and not address_of(lab, ns1):
        time.sleep(0.2)
    assert address_of(lab, ns1) == ["192.168.198.50"]
    r = udhcpc(lab, ns2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert address_of(lab, ns2) == ["192.168.198.51"]
    assert lab.ping(ns1, "192.168.198.51"), "the two leased guests cannot talk"
    states = {(l["ip"], l["state"]) for l in d.ctl("dhcp")}
    assert states == {("192.168.198.50", "bound"), ("192.168.198.51", "bound")}
