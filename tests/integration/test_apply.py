"""Re-applying the config to a running guestportd with real kernel stacks: a port
forward added by `guestportctl apply` works at once and stops when removed; an adapter
added at run time comes up and its guest gets a DHCP lease; a broken config is refused
with FILE:LINE:COLUMN and changes nothing; a 200-packets-a-second ping between two
untouched guests loses nothing across 20 applies; SIGHUP re-reads the file."""
import json
import os
import re
import signal
import time

from conftest import GUESTPORTCTL, sh
from test_dhcp import address_of, hostonly, udhcpc
from test_nat import config as nat_config, dhcp, hook, http_get, outside, serve_http, UPLINK_IP

MAC = {i: f"08:00:27:40:00:0{i}" for i in range(1, 10)}


def internal(name, dev, mac, extra=""):
    return (f"  {name}:\n    adapters:\n      1: {{attach: internal:lab, mac: \"{mac}\", "
            f"port: \"{dev}\"{extra}}}\n")


def test_port_forward_added_by_apply_works_and_removing_it_stops_it(lab):
    wan, wan_dev = outside(lab)
    g, dev = lab.guest("f1", "08:00:27:30:00:01", None)
    d = lab.start(nat_config(wan_dev, {1: dev}))
    assert dhcp(lab, g, hook(lab)) == "10.0.2.15"
    serve_http(lab, g, "10.0.2.15", 80, "forwarded")
    assert http_get(lab, wan, f"http://{UPLINK_IP}:8080/").returncode != 0
    sessions_before = len(d.ctl("nat"))
    forward = ", port_forwards: [{name: web, proto: tcp, host_port: 8080, guest_port: 80}]"
    r = d.apply(nat_config(wan_dev, {1: dev}, forward))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "added port_forward vm1/1/web: tcp -:8080 -> -:80" in r.stdout, r.stdout
    got = http_get(lab, wan, f"http://{UPLINK_IP}:8080/")
    assert got.stdout == "forwarded", got.stdout + got.stderr
    assert len(d.ctl("nat")) > sessions_before
    r = d.apply(nat_config(wan_dev, {1: dev}))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "removed port_forward vm1/1/web" in r.stdout, r.stdout
    assert http_get(lab, wan, f"http://{UPLINK_IP}:8080/").returncode != 0
    # The guest's own connections out are untouched by all this.
    assert lab.ping(g, "198.51.100.1")


def test_adapter_added_by_apply_comes_up_and_gets_a_lease(lab):
    iface = f"gpa{lab.tag}"[:15]
    ns1, dev1 = lab.guest("h1", MAC[1], None)
    ns2, dev2 = lab.guest("h2", MAC[2], None)
    one = (f"  vm1:\n    adapters:\n      1: {{attach: hostonly:hn, mac: \"{MAC[1]}\", "
           f"port: \"{dev1}\"}}\n")
    two = (f"  vm2:\n    adapters:\n      1: {{attach: hostonly:hn, mac: \"{MAC[2]}\", "
           f"port: \"{dev2}\"}}\n")
    d = lab.start(hostonly(lab, iface) + "vms:\n" + one)
    assert udhcpc(lab, ns1).returncode == 0
    r = d.apply(hostonly(lab, iface) + "vms:\n" + one + two)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "added adapter vm2/1" in r.stdout, r.stdout
    assert [v["name"] for v in d.ctl("vms")] == ["vm1", "vm2"]
    assert d.port("vm/vm2/1")["link"] == "up"
    got = udhcpc(lab, ns2)
    assert got.returncode == 0, got.stdout + got.stderr
    (ip,) = address_of(lab, ns2)
    assert ip.startswith("192.168.198."), ip
    leases = {l["mac"]: l for l in d.ctl("dhcp")}
    assert leases[MAC[2]]["ip"] == ip and leases[MAC[2]]["state"] == "bound"
    assert MAC[1] in leases  # vm1's lease survived the apply
    assert lab.ping(ns2, address_of(lab, ns1)[0])


def test_invalid_config_is_refused_and_changes_nothing(lab):
    a, da = lab.guest("i1", MAC[1], "10.79.0.1/24")
    b, db = lab.guest("i2", MAC[2], "10.79.0.2/24")
    good = "vms:\n" + internal("vm1", da, MAC[1]) + internal("vm2", db, MAC[2])
    d = lab.start(good)
    assert lab.ping(a, "10.79.0.2")
    version = d.ctl("stats")["snapshot_version"]
    # Two errors at once, each with its place in the file (line 1 is the header).
    bad = good.replace("attach: internal:lab, mac: \"" + MAC[2], "attach: bogus:lab, mac: \"" + MAC[2])
    bad += "  vm3:\n    adapters:\n      1: {attach: internal:lab, mtu: 99999}\n"
    r = d.apply(bad)
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [l for l in r.stderr.splitlines() if ": error: " in l]
    assert len(errors) >= 2, r.stderr  # all of them at once, not just the first
    assert all(re.match(r"^/\S+\.yaml:\d+:\d+: error: ", e) for e in errors), errors
    assert any(":8:" in e and "bogus" in e for e in errors), errors
    assert "running configuration is unchanged" in r.stderr
    # A change the daemon can only make at a restart is refused the same way.
    restart = d.header.replace("workers: 1", "workers: 2")
    path = os.path.join(d.dir, "restart.yaml")
    with open(path, "w") as f:
        f.write(restart + good)
    r = sh(GUESTPORTCTL, "-s", d.socket, "apply", "-f", path, check=False)
    assert r.returncode == 1 and f"{path}:1:" in r.stderr and "appliance.workers" in r.stderr, r.stderr
    # A dry run prints the change and makes none.
    r = d.apply(good + internal("vm9", "net_null0", MAC[9]), dry_run=True)
    assert r.returncode == 0 and "added vm vm9" in r.stdout and "dry run" in r.stdout, r.stdout
    assert d.ctl("stats")["snapshot_version"] == version
    assert [v["name"] for v in d.ctl("vms")] == ["vm1", "vm2"]
    assert lab.ping(a, "10.79.0.2")
    # Nobody at the socket: exit code 2.
    r = sh(GUESTPORTCTL, "-s", d.socket + ".nobody", "show", "ports", check=False)
    assert r.returncode == 2, r.stderr


def test_ping_between_untouched_guests_loses_nothing_across_20_applies(lab):
    a, da = lab.guest("p1", MAC[1], "10.80.0.1/24")
    b, db = lab.guest("p2", MAC[2], "10.80.0.2/24")
    extras = [lab.guest(f"p{i}", MAC[i], f"10.80.1.{i}/24") for i in (3, 4, 5)]
    base = "vms:\n" + internal("vm1", da, MAC[1]) + internal("vm2", db, MAC[2])
    d = lab.start(base)
    assert lab.ping(a, "10.80.0.2")
    # 200 packets a second for as long as the applies take (each one must be answered).
    count = 2400
    ping = lab.spawn(a, "ping", "-i", "0.005", "-c", str(count), "-W", "1", "10.80.0.2")
    time.sleep(0.5)
    for i in range(20):
        # VMs come and go on the same network and on others; policies and MTUs change.
        y = base
        for k, (ns, dev) in enumerate(extras):
            if (i + k) % 3 == 0:
                continue
            net = "lab" if (i + k) % 2 else "side"
            extra = ", promiscuous: allow-all" if i % 4 == k else ""
            extra += ", model: virtio-net, mtu: 9000" if i % 5 == k else ""
            y += (f"  x{k}:\n    adapters:\n      1: {{attach: internal:{net}, "
                  f"mac: \"{MAC[3 + k]}\", port: \"{dev}\"{extra}}}\n")
        r = d.apply(y)
        assert r.returncode == 0, r.stdout + r.stderr
        time.sleep(0.25)
    out, err = ping.communicate(timeout=60)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out + err
    st = d.ctl("stats")
    assert m.group(1) == str(count) and m.group(2) == str(count), (
        out.splitlines()[-3:], {k: st[k] for k in ("fdb_moves", "fdb_learned", "fdb_aged")},
        [(p["name"], p["rx_packets"], p["tx_packets"], p["drop_reasons"])
                        for p in d.ctl("ports")])
    assert d.ctl("stats")["applies_ok"] == 21  # the start and 20 applies
    drops = d.port("vm/vm2/1")["drop_reasons"]
    assert not drops, drops


def test_sighup_rereads_the_config_file(lab):
    a, da = lab.guest("s1", MAC[1], "10.81.0.1/24")
    b, db = lab.guest("s2", MAC[2], "10.81.0.2/24")
    d = lab.start("vms:\n" + internal("vm1", da, MAC[1]))
    assert not lab.ping(a, "10.81.0.2", count=1)
    # Linux keeps the failed ARP entry and sends nothing for it for a few seconds.
    lab.ns(a, "ip", "neigh", "flush", "dev", "eth0")
    d.write("vms:\n" + internal("vm1", da, MAC[1]) + internal("vm2", db, MAC[2]))
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline and len(d.ctl("vms")) != 2:
        time.sleep(0.1)
    assert [v["name"] for v in d.ctl("vms")] == ["vm1", "vm2"]
    assert lab.ping(a, "10.81.0.2"), json.dumps(d.ctl("ports"))
    assert '"source":"SIGHUP"' in d.output() and '"result":"ok"' in d.output()
    # A broken file on SIGHUP is refused and logged; the running config stays.
    d.write("vms:\n  vm1: {adapters: {1: {attach: internal:lab, mtu: -5}}}\n")
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline and '"result":"refused"' not in d.output():
        time.sleep(0.1)
    assert '"result":"refused"' in d.output(), d.output()
    assert len(d.ctl("vms")) == 2
    assert lab.ping(a, "10.81.0.2")


def test_control_socket_survives_malformed_silent_and_oversized_clients(lab):
    import socket as so
    a, da = lab.guest("c1", MAC[1], "10.85.0.1/24")
    d = lab.start("vms:\n" + internal("vm1", da, MAC[1]))
    assert oct(os.stat(d.socket).st_mode & 0o777) == "0o600"

    def exchange(payload, read=True):
        s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
        s.settimeout(10)
        s.connect(d.socket)
        if payload:
            s.sendall(payload)
        if not read:
            return s
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, body = data.partition(b"\n")
        assert head.startswith(b"GP/1 "), data
        return json.loads(body)

    silent = exchange(None, read=False)  # says nothing: dropped after 2 s
    for payload, error in [(b"show ports\n", "header"),
                           (b"GP/7 2\n{}", "unsupported protocol version"),
                           (b"GP/1 999999999\n", "too large"),
                           (b"GP/1 5\n[1,2]", "JSON object"),
                           (b"GP/1 4\nnull", "JSON object"),
                           (b'GP/1 14\n{"cmd":"halt"}', "unknown command"),
                           (b"GP/1 9\n{\"cmd\":1}", "needs \"cmd\"")]:
        r = exchange(payload)
        assert r["ok"] is False and error in r["error"], (payload, r)
    # Those were answered while the silent client still had its connection; it gets an
    # answer of its own at its deadline.
    head, _, body = silent.recv(65536).partition(b"\n")
    assert head.startswith(b"GP/1 ") and "incomplete" in json.loads(body)["error"], body
    silent.close()
    # Half a frame, then the client goes away: nothing breaks.
    exchange(b'GP/1 100\n{"cmd":', read=False).close()
    assert d.ctl("stats")["snapshot_version"] == 1
    assert d.proc.poll() is None
