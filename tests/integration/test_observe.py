"""Seeing into a running guestportd: Prometheus metrics scraped with curl move with
traffic; DPDK's dpdk-telemetry.py lists and answers the /guestport/ commands; DPDK's
dpdk-dumpcap captures from a running daemon's port and tshark reads the file."""
import json
import os
import re
import socket
import subprocess
import time

from conftest import sh

MAC = {1: "08:00:27:50:00:01", 2: "08:00:27:50:00:02"}


def pair(lab, subnet, **kw):
    a, da = lab.guest("o1", MAC[1], f"{subnet}.1/24")
    b, db = lab.guest("o2", MAC[2], f"{subnet}.2/24")
    y = "vms:\n"
    for i, dev in ((1, da), (2, db)):
        y += (f"  vm{i}:\n    adapters:\n      1: {{attach: internal:lab, mac: \"{MAC[i]}\", "
              f"port: \"{dev}\"}}\n")
    return a, b, lab.start(y, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(port):
    r = sh("curl", "-sf", f"http://127.0.0.1:{port}/metrics", check=False, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout


def sample(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    raise AssertionError(f"{name}{{{want}}} not in the scrape")


def test_metrics_counters_move_with_traffic(lab):
    port = free_port()
    a, b, d = pair(lab, "10.82.0", metrics=f"127.0.0.1:{port}")
    first = scrape(port)
    assert "# TYPE guestport_port_rx_packets_total counter" in first
    # Ours start with guestport_; prometheus-cpp adds its exposer's own (exposer_...).
    assert all(l.startswith(("guestport_", "exposer_")) for l in first.splitlines()
               if l and l[0] != "#")
    rx = sample(first, "guestport_port_rx_packets_total", port="vm/vm1/1")
    assert sample(first, "guestport_snapshot_generation") == 1
    assert sample(first, "guestport_applies_total", result="ok") == 1
    assert sample(first, "guestport_network_ports", network="internal:lab") == 2
    assert lab.ping(a, "10.82.0.2", count=5)
    second = scrape(port)
    assert sample(second, "guestport_port_rx_packets_total", port="vm/vm1/1") >= rx + 5
    assert sample(second, "guestport_port_tx_packets_total", port="vm/vm2/1") >= 5
    assert sample(second, "guestport_worker_busy_cycles_total", worker="0") > 0
    assert sample(second, "guestport_network_fdb_entries", network="internal:lab") == 2
    assert 'guestport_port_drops_total{port="vm/vm1/1",reason="oversize"}' in second


def telemetry(prefix, *commands):
    """dpdk-telemetry.py answers each command on stdin with one JSON line."""
    r = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input="\n".join(commands) + "\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    for line in r.stdout.splitlines():
        line = line.strip().lstrip("-->").strip()
        if line.startswith("{"):
            out.update(json.loads(line))
    return out


def test_dpdk_telemetry_lists_and_answers_guestport_commands(lab):
    a, b, d = pair(lab, "10.83.0")
    assert lab.ping(a, "10.83.0.2", count=3)
    listing = telemetry(d.prefix, "/")
    assert "/guestport/stats" in listing["/"], listing
    assert "/guestport/port" in listing["/"]
    got = telemetry(d.prefix, "/guestport/stats", "/guestport/ports", "/guestport/port,vm/vm1/1")
    assert got["/guestport/stats"]["snapshot_version"] == 1, got
    assert set(got["/guestport/ports"]) == {"vm/vm1/1", "vm/vm2/1"}
    assert got["/guestport/port"]["rx_packets"] >= 3
    assert got["/guestport/port"]["segment"] == "internal:lab"


def test_dumpcap_captures_a_running_port_and_tshark_reads_it(lab, hugepages):
    a, b, d = pair(lab, "10.84.0", hugepages="true")
    port_id = d.port("vm/vm2/1")["port_id"]
    pcap = os.path.join(d.dir, "vm2.pcapng")
    cap = subprocess.Popen(["dpdk-dumpcap", f"--file-prefix={d.prefix}", "-i", str(port_id),
                            "-c", "6", "-w", pcap], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    lab.procs.append(cap)
    deadline = time.time() + 30
    # Ping until dumpcap has its six frames (it attaches within a second or two).
    while cap.poll() is None and time.time() < deadline:
        lab.ping(a, "10.84.0.2", count=2)
    out = cap.communicate(timeout=30)[0]
    assert cap.returncode == 0, out
    r = sh("tshark", "-r", pcap, "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "icmp.type",
           check=False)
    assert r.returncode == 0, r.stderr
    rows = [l.split("\t") for l in r.stdout.splitlines()]  # ARP frames have no IP fields
    # dumpcap stops after the burst that reaches its count: 6 frames or a few more.
    assert 6 <= len(rows) <= 6 + 32, r.stdout
    icmp = [x for x in rows if len(x) == 3 and x[2] in ("0", "8")]
    assert icmp, rows
    assert {x[0] for x in icmp} <= {"10.84.0.1", "10.84.0.2"}
    # The daemon ran in shared hugepage memory; on exit it gives every page back.
    assert d.stop() == 0
    mounts = [l.split()[1] for l in open("/proc/mounts") if l.split()[2] == "hugetlbfs"]
    left = [f for m in mounts for f in os.listdir(m) if f.startswith(d.prefix + "map_")]
    assert not left, left[:5]
