"""Latency through each switch as a VM sees it (bench/run.py --latency): the switch gets
two vhost-user ports; bench/latency_probe (a DPDK process, virtio-user on both sockets)
first sends as fast as it can (the path's throughput, as received), then at 10, 50 and
90 % of that rate, each frame stamped with the TSC at which it was sent; the receiving
port reads the same TSC. Reports min, median, p99, p99.9 and max per load. Then the
same with 9000-byte frames (jumbo: every switch's ports at MTU 9000), at its
throughput and half of it. Over the harness's rounds (--rounds, the order of systems
rotating), every figure is the median of its rounds.

testpmd forwards io between two net_vhost ports; guestport has the two as adapters of
one internal network (model virtio-net, the probe's MACs pinned as static_macs); Open
vSwitch, where installed, has two dpdkvhostuser ports on a NORMAL bridge with the MACs
in its FDB. Everything runs on hugepages (vhost-user shares the VM's memory): the
harness reserves 2 MB pages when too few are free and gives them back afterwards."""
import json
import os
import statistics
import subprocess
import time

NR = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
FREE = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
MAC_A, MAC_B = "02:1a:00:00:00:01", "02:1a:00:00:00:02"  # the probe's two ports
LOADS = (0.1, 0.5, 0.9)
# Frame sizes (with the FCS) and the loads each is measured at besides its throughput.
SIZES = ((64, LOADS), (9000, (0.5,)))


class Hugepages:
    """At least `mb` MB of free 2 MB pages and a hugetlbfs mount while in the block."""

    def __init__(self, mb):
        self.mb, self.before, self.mounted = mb, None, False

    def __enter__(self):
        if not os.path.exists(NR):
            raise RuntimeError("no 2 MB hugepages on this kernel: vhost-user needs them")
        if not any(" hugetlbfs " in l for l in open("/proc/mounts")):
            os.makedirs("/dev/hugepages", exist_ok=True)
            subprocess.run(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"], check=True)
            self.mounted = True
        self.before = int(open(NR).read())
        need = self.mb // 2 - int(open(FREE).read())
        if need > 0:
            with open(NR, "w") as f:
                f.write(str(self.before + need))
        if int(open(FREE).read()) * 2 < self.mb:
            self.__exit__(None, None, None)
            raise RuntimeError(f"could not reserve {self.mb} MB of 2 MB hugepages")
        return self

    def __exit__(self, *exc):
        with open(NR, "w") as f:
            f.write(str(self.before))
        if self.mounted:
            subprocess.run(["umount", "/dev/hugepages"], check=False)


def probe(run, probe_bin, work, sock_a, sock_b, rate, seconds, size):
    """One probe run; its JSON result."""
    cmd = [probe_bin, "--in-memory", "--single-file-segments", "--no-pci", "-l", "0", "-m", "256",
           f"--file-prefix=gpb-lp{os.getpid()}", "--log-level=*:error",
           f"--vdev=net_virtio_user0,path={sock_a},mac={MAC_A}",
           f"--vdev=net_virtio_user1,path={sock_b},mac={MAC_B}",
           "--", "--rate-mpps", f"{rate:.4f}", "--seconds", str(seconds), "--size", str(size)]
    p = run.Proc(cmd, os.path.join(work, "probe.log"))
    try:
        p.p.wait(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        p.stop()
        raise RuntimeError("latency_probe did not finish:\n" + p.text()[-2000:])
    out = p.text()
    p.stop()
    line = next((l for l in out.splitlines() if l.startswith("{")), None)
    if p.p.returncode != 0 or line is None:
        raise RuntimeError("latency_probe failed:\n" + out[-2000:])
    return json.loads(line)


def sweep(run, probe_bin, work, sock_a, sock_b, seconds, name):
    """Per frame size, throughput first, then the loads: {(size, load): result}, load 1.0
    being the throughput run."""
    res = {}
    for size, loads in SIZES:
        res[(size, 1.0)] = probe(run, probe_bin, work, sock_a, sock_b, 0, seconds, size)
        top = res[(size, 1.0)]["received_mpps"]
        run.log(f"[bench]   {name}, {size} B: {top:.2f} Mpps through two vhost-user ports")
        if top <= 0:
            raise RuntimeError(f"{name} forwarded no {size}-byte frame between its vhost-user "
                               "ports")
        for load in loads:
            r = probe(run, probe_bin, work, sock_a, sock_b, top * load, seconds, size)
            res[(size, load)] = r
            run.log(f"[bench]   {name}, {size} B at {load:.0%}: p50 {r['p50_ns'] / 1e3:.1f} us, "
                    f"p99 {r['p99_ns'] / 1e3:.1f} us, lost {r['lost']}")
    return res


def wait_for(path, proc, what, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.p.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{what} made no socket {path}:\n" + proc.text()[-3000:])
        time.sleep(0.1)


def testpmd(run, probe_bin, work, seconds):
    a, b = os.path.join(work, "tp-a.sock"), os.path.join(work, "tp-b.sock")
    cmd = ["dpdk-testpmd", "--in-memory", "-l", "0,1", "-m", "256", "--no-pci",
           f"--file-prefix=gpb-lt{os.getpid()}", f"--vdev=net_vhost0,iface={a}",
           f"--vdev=net_vhost1,iface={b}", "--", "--forward-mode=io", "--nb-cores=1",
           "--max-pkt-len=9018",
           "--total-num-mbufs=16384", "--stats-period=0", "--auto-start"]
    # testpmd leaves when its standard input closes: give it a pipe that stays open.
    p = run.Proc(cmd, os.path.join(work, "testpmd-lat.log"), stdin=subprocess.PIPE)
    try:
        wait_for(b, p, "testpmd")
        return sweep(run, probe_bin, work, a, b, seconds, "testpmd")
    finally:
        p.stop()


def guestport(run, gpd, gpctl, probe_bin, work, seconds):
    a, b = os.path.join(work, "gp-a.sock"), os.path.join(work, "gp-b.sock")
    sock = os.path.join(work, "gp-lat.sock")
    cfg = (f"appliance: {{workers: 1, worker_cpus: [1], control_socket: {sock}, "
           f"file_prefix: gpb-lg{os.getpid()}, hugepages: true, memory_mb: 320, mbufs: 16384, "
           "metrics: \"off\"}\n"
           "networks: {lat: {mode: internal, mtu: 9000}}\n"
           "vms:\n"
           f"  a: {{adapters: {{1: {{attach: internal:lat, model: virtio-net, mac: '{MAC_A}', "
           f"port: 'net_vhost0,iface={a}', static_macs: ['{MAC_A}']}}}}}}\n"
           f"  b: {{adapters: {{1: {{attach: internal:lat, model: virtio-net, mac: '{MAC_B}', "
           f"port: 'net_vhost1,iface={b}', static_macs: ['{MAC_B}']}}}}}}\n")
    path = os.path.join(work, "guestport-lat.yaml")
    with open(path, "w") as f:
        f.write(cfg)
    p = run.Proc([gpd, "--config", path], os.path.join(work, "guestportd-lat.log"))
    try:
        wait_for(b, p, "guestportd")
        res = sweep(run, probe_bin, work, a, b, seconds, "guestport")
        r = subprocess.run([gpctl, "-s", sock, "show", "ports", "--json"], capture_output=True,
                           text=True)
        if r.returncode == 0:
            drops = {x["name"]: x.get("drop_reasons", {}) for x in json.loads(r.stdout)}
            run.log(f"[bench]   guestport drops: {drops}")
        return res
    finally:
        p.stop()


def ovs(run, probe_bin, work, seconds):
    """OVS (run.Ovs) with two dpdkvhostuser ports (OVS makes the sockets) on a NORMAL
    bridge with the probe's MACs in its FDB."""
    o = run.Ovs(work, "ovs-lat")
    try:
        o.start_vswitchd(["other_config:dpdk-socket-mem=1024",
                          f"other_config:dpdk-extra=--no-pci --file-prefix=gpb-lo{os.getpid()}"])
        for port in ("vhua", "vhub"):
            o.vsctl("add-port", "br0", port, "--", "set", "Interface", port,
                    "type=dpdkvhostuser", "mtu_request=9000")
        for port, m in (("vhua", MAC_A), ("vhub", MAC_B)):
            o.appctl("fdb/add", "br0", port, "0", m)
        wait_for(f"{o.d}/vhub", o.procs[-1], "ovs-vswitchd")
        return sweep(run, probe_bin, work, f"{o.d}/vhua", f"{o.d}/vhub", seconds, "OVS-DPDK")
    finally:
        o.stop()


def run_all(run, systems, gpd, gpctl, probe_bin, work, seconds, rounds=1):
    """{system: {(size, load): result}} for the systems that ran: over `rounds` rounds
    (the order of systems rotating, as for throughput), each figure the median of its
    rounds (lost: the median too)."""
    runs = {s: [] for s in systems}
    with Hugepages(2048):
        for rnd in range(rounds):
            order = systems[rnd % len(systems):] + systems[:rnd % len(systems)]
            for s in order:
                run.log(f"[bench] latency: round {rnd + 1} of {rounds}, {s}")
                if s == "testpmd":
                    runs[s].append(testpmd(run, probe_bin, work, seconds))
                elif s == "ovs":
                    runs[s].append(ovs(run, probe_bin, work, seconds))
                else:
                    runs[s].append(guestport(run, gpd, gpctl, probe_bin, work, seconds))
    out = {}
    for s, rs in runs.items():
        out[s] = {k: {f: statistics.median(r[k][f] for r in rs) for f in rs[0][k]}
                  for k in rs[0]}
    return out


def table(results):
    """The printed table: one row per system and load."""
    names = {"testpmd": "testpmd io", "ovs": "OVS-DPDK", "guestport": "guestport"}
    rows = ["", "Latency through two vhost-user ports, UDP, one worker core "
            "(latency_probe; latencies in us; medians of the rounds)",
            f"{'system':12} {'bytes':>5} {'load':>5} {'Mpps':>7} {'Gbit/s':>7} {'min':>7} "
            f"{'median':>7} {'p99':>7} {'p99.9':>7} {'max':>8} {'lost':>8}"]
    for s, res in results.items():
        for (size, load), r in res.items():
            tag = "max" if load == 1.0 else f"{load:.0%}"
            gbit = r["received_mpps"] * size * 8 / 1e3
            rows.append(f"{names[s]:12} {size:5d} {tag:>5} {r['received_mpps']:7.2f} {gbit:7.2f} "
                        f"{r['min_ns'] / 1e3:7.1f} {r['p50_ns'] / 1e3:7.1f} "
                        f"{r['p99_ns'] / 1e3:7.1f} {r['p999_ns'] / 1e3:7.1f} "
                        f"{r['max_ns'] / 1e3:8.1f} {r['lost']:8.0f}")
    return "\n".join(rows)
