"""Side-by-side throughput: the same pcap through dpdk-testpmd io (the plumbing ceiling),
Open vSwitch with DPDK (when installed: NORMAL bridge with static sink MACs for L2,
ct(commit,nat(src=...)) for NAT) and guestport, on DPDK vdevs (net_pcap with infinite_rx=1 -> the switch -> net_null, no
NIC), one worker core each, interleaved over N rounds. Prints one table (Mpps per
worker core: median, min, max; ratios of medians) and, with --plot, a PNG (gnuplot) of
Mpps against frame size and against NAT flow count. Driven by bench/run.sh.

    /usr/bin/python3 bench/run.py --guestportd build-release/control/guestportd [--rounds 5]
        [--window 3] [--scenarios l2-16,l2-4096] [--smoke] [--out DIR] [--latency]

--latency adds latency percentiles through two vhost-user ports of each switch at 10, 50
and 90 % of that path's throughput (bench/latency.py, bench/latency_probe.cc).

Every process it starts is stopped by PID; OVS runs from a private directory with its
own database and touches no system service."""
import argparse
import json
import struct
import threading
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from scapy.all import IP, UDP, Ether, Raw, wrpcap

import latency

HERE = os.path.dirname(os.path.abspath(__file__))
ROUTER = "52:54:00:12:35:02"  # a nat adapter's gateway MAC (VirtualBox's)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mac(kind, i):
    return f"02:{kind:02x}:00:00:{(i >> 8) & 0xff:02x}:{i & 0xff:02x}"


def frame(src, dst, size, sport=1000, dport=2000, sip="10.0.0.1", dip="10.0.1.1"):
    p = Ether(src=src, dst=dst) / IP(src=sip, dst=dip) / UDP(sport=sport, dport=dport)
    pad = max(0, size - 4 - len(p))  # size counts the FCS, as RFC 2544 frame sizes do
    return p / Raw(b"\x00" * pad)


# name -> (what, build(dir) -> pcap path, sink MACs for L2 / None for NAT, frames in the pcap)
def l2_pcap(d, pairs, sizes, name):
    pkts = []
    for rep in range(max(1, 64 // pairs)):
        for i in range(pairs):
            for s in sizes:
                pkts.append(frame(mac(1, i), mac(2, i), s, sport=1000 + rep))
    path = os.path.join(d, name + ".pcap")
    wrpcap(path, pkts)
    return path, [mac(2, i) for i in range(pairs)], len(pkts)


def write_frames(path, frames):
    """A pcap (microsecond stamps, all 0) of raw Ethernet frames, written with struct, not
    scapy: a million frames take seconds this way."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for b in frames:
            f.write(struct.pack("<IIII", 0, 0, len(b), len(b)) + bytes(b))


def nat_pcap(d, flows, name):
    """64-byte UDP frames from a nat adapter's guest (10.0.2.15), one flow each: source
    ports 1024..61023 to servers 203.0.113.x."""
    tmpl = bytes(frame("08:00:27:00:00:01", ROUTER, 64, sport=0, dip="203.0.113.1",
                       sip="10.0.2.15"))

    def frames():
        for i in range(flows):
            b = bytearray(tmpl)
            b[33] = 1 + i // 60000  # 203.0.113.x
            b[34:36] = struct.pack("!H", 1024 + i % 60000)
            ip = b[14:34]
            ip[10:12] = b"\0\0"
            c = sum(struct.unpack("!10H", bytes(ip)))
            c = (c & 0xffff) + (c >> 16)
            b[24:26] = struct.pack("!H", ~((c & 0xffff) + (c >> 16)) & 0xffff)
            b[40:42] = b"\0\0"  # UDP checksum: none (allowed over IPv4)
            yield b

    path = os.path.join(d, name + ".pcap")
    write_frames(path, frames())
    return path, None, flows


LEARN_MACS = 131072  # l2-learn: both tables sized for twice as many (LEARN_TABLE)
LEARN_TABLE = 262144
CAPACITY_TABLE = 65536  # l2-capacity: both tables this size (static entries included)
CAPACITY_OFFER = 81920


def src_mac(i):
    return f"02:03:00:{(i >> 16) & 0xff:02x}:{(i >> 8) & 0xff:02x}:{i & 0xff:02x}"


def learn_pcap(d, sources, name):
    """64-byte frames from `sources` distinct source MACs, all to the sink's MAC (static
    in every switch): RFC 2889's learning frames."""
    tmpl = bytes(frame(src_mac(0), mac(2, 0), 64))

    def frames():
        for i in range(sources):
            b = bytearray(tmpl)
            b[6:12] = bytes.fromhex(src_mac(i).replace(":", ""))
            yield b

    path = os.path.join(d, name + ".pcap")
    write_frames(path, frames())
    return path, [mac(2, 0)], sources


SCENARIOS = {
    "l2-16": ("L2, 64 B, 16 MAC pairs", lambda d: l2_pcap(d, 16, [64], "l2-16")),
    "l2-4096": ("L2, 64 B, 4096 MAC pairs", lambda d: l2_pcap(d, 4096, [64], "l2-4096")),
    "l2-imix": ("L2, IMIX 7:4:1 of 64/570/1518 B, 16 MAC pairs",
                lambda d: l2_pcap(d, 16, [64] * 7 + [570] * 4 + [1518], "l2-imix")),
    "l2-1518": ("L2, 1518 B, 16 MAC pairs", lambda d: l2_pcap(d, 16, [1518], "l2-1518")),
    "nat-1k": ("NAT, 64 B UDP, 1k flows", lambda d: nat_pcap(d, 1024, "nat-1k")),
    "nat-64k": ("NAT, 64 B UDP, 64k flows", lambda d: nat_pcap(d, 65536, "nat-64k")),
    "nat-1m": ("NAT, 64 B UDP, 1M flows", lambda d: nat_pcap(d, 1 << 20, "nat-1m")),
    # NAT sessions made per second (millions): the pcap's first pass, every frame a new
    # flow; testpmd makes none. Sized for OVS's mbuf pool (OVS_MAX_FRAMES).
    "nat-churn": ("NAT new sessions, M/s, 192k new flows",
                  lambda d: nat_pcap(d, CHURN_FLOWS, "nat-churn")),
    # guestport re-applies its config every 100 ms while it forwards (each apply is a
    # new snapshot, a publish and an RCU grace period); the others forward as in l2-16.
    "l2-16-apply": ("L2, 64 B, 16 MAC pairs, apply every 100 ms",
                    lambda d: l2_pcap(d, 16, [64], "l2-16-apply")),
    # RFC 2889 5.8 (learning rate) and 5.7 (address caching capacity) on the same vdevs:
    # new source MACs a second while the source replays at full speed (the MAC table's
    # entry count polled, its slope between 10 and 90 %, as nat-churn), and how many of
    # more sources than the table holds each switch keeps. testpmd learns nothing.
    "l2-learn": (f"MAC learning, M new MACs/s ({LEARN_MACS} sources)",
                 lambda d: learn_pcap(d, LEARN_MACS, "l2-learn")),
    "l2-capacity": (f"MACs held, thousands ({CAPACITY_TABLE}-entry tables, "
                    f"{CAPACITY_OFFER} sources)",
                    lambda d: learn_pcap(d, CAPACITY_OFFER, "l2-capacity")),
}
CHURN_FLOWS = 196608
# What the plot puts on its axes: frame size (IMIX at its mean) and NAT flows.
PLOT_SIZE = {"l2-16": 64, "l2-imix": (7 * 64 + 4 * 570 + 1518) / 12, "l2-1518": 1518}
PLOT_FLOWS = {"nat-1k": 1024, "nat-64k": 65536, "nat-1m": 1 << 20}


class Proc:
    """A process of ours, its output in a file; stopped by PID."""

    def __init__(self, cmd, log_path, **kw):
        self.log_path = log_path
        self.out = open(log_path, "w+")
        self.p = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, **kw)

    def text(self):
        self.out.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.close()


# CPUs of the worker cores (guestport's workers, testpmd's forwarding cores, OVS's PMD
# threads); CPU 0 keeps the main/control threads. --workers N sets N of them.
WORKER_CPUS = [1]


def worker_cpus(n):
    """N worker CPUs from CPU 1 up; on a host with fewer CPUs they wrap around (a
    functional run, not a figure)."""
    ncpu = os.cpu_count() or 2
    return [(1 + k) % ncpu for k in range(n)]


def split_pcap(path, n):
    """The pcap's frames dealt round-robin into n files, one per receive queue of the
    source (net_pcap has a queue per rx_pcap): what RSS does with many flows."""
    with open(path, "rb") as f:
        data = f.read()
    outs = [bytearray(data[:24]) for _ in range(n)]
    off, i = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        outs[i % n] += data[off:off + 16 + incl]
        off, i = off + 16 + incl, i + 1
    paths = []
    for k, o in enumerate(outs):
        q = f"{path[:-5]}.q{k}.pcap"
        with open(q, "wb") as f:
            f.write(o)
        paths.append(q)
    return paths


def source(pcap):
    """net_pcap devargs replaying a pcap (or one per queue, a list) in a loop."""
    files = pcap if isinstance(pcap, list) else [pcap]
    return "net_pcap0," + ",".join(f"rx_pcap={f}" for f in files) + ",infinite_rx=1"


def mbufs_for(frames):
    # net_pcap keeps every frame of the file in an mbuf; rings and caches on top.
    return max(32768, 2 * frames + 16384) if frames <= 131072 else frames + 65536


def rate(sample, window):
    """Mpps from a counter: sample() twice, `window` seconds apart."""
    t0, c0 = time.monotonic(), sample()
    time.sleep(window)
    t1, c1 = time.monotonic(), sample()
    return (c1 - c0) / (t1 - t0) / 1e6


def run_testpmd(work, pcap, frames, window):
    n = mbufs_for(frames)
    mem = 256 + n * 4096 // (1 << 20)
    nw = len(WORKER_CPUS)
    lcores = ",".join(["0@0"] + [f"{k + 1}@{c}" for k, c in enumerate(WORKER_CPUS)])
    cmd = ["dpdk-testpmd", "--lcores", lcores, "--no-huge", "--no-pci", "-m", str(mem),
           "--file-prefix", f"gpb-tp{os.getpid()}", "--vdev", source(pcap),
           "--vdev", "net_null0,no-rx=1", "--",
           "--forward-mode=io", f"--total-num-mbufs={n}", "--stats-period=1",
           f"--nb-cores={nw}", f"--rxq={nw}", f"--txq={nw}"]
    p = Proc(cmd, os.path.join(work, "testpmd.log"))
    try:
        def tx1():  # port 1's TX-packets in the last statistics block printed
            deadline = time.time() + 30
            while time.time() < deadline:
                blocks = re.findall(r"NIC statistics for port 1.*?TX-packets:\s*(\d+)", p.text(),
                                    re.S)
                if blocks:
                    return int(blocks[-1]), time.monotonic()
                if p.p.poll() is not None:
                    raise RuntimeError("testpmd exited:\n" + p.text()[-2000:])
                time.sleep(0.2)
            raise RuntimeError("testpmd printed no statistics:\n" + p.text()[-2000:])

        # stats-period samples are a second apart: count over whole samples.
        c0, t0 = wait_new(tx1)
        time.sleep(window)
        c1, t1 = wait_new(tx1)
        return (c1 - c0) / (t1 - t0) / 1e6
    finally:
        p.stop()


def churn_rate(sample, total, at_reply=False):
    """Millions of new entries a second (NAT sessions, MACs): sample() counts those made so far;
    polled as fast as it answers, the slope between 10 % and 90 % of `total`. A sample is
    timed at the middle of its call, or at its reply (at_reply: where the answering
    thread is the one that is busy making the entries, a reply waits for it and the
    count is read just before it is sent)."""
    pts, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        c = sample()
        t1 = time.monotonic()
        pts.append((t1 if at_reply else (t0 + t1) / 2, c))
        if c >= 0.9 * total:
            break
        time.sleep(0.002)
    lo = next((p for p in pts if p[1] >= 0.1 * total), None)
    hi = next((p for p in pts if p[1] >= 0.9 * total), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        raise RuntimeError(f"the count did not reach 90 % of {total} in 60 s: {pts[-3:]}")
    log(f"[bench]   {len(pts)} samples, {hi[1] - lo[1]} more in {hi[0] - lo[0]:.3f} s")
    return (hi[1] - lo[1]) / (hi[0] - lo[0]) / 1e6


def gp_call(sock, request):
    """One request on guestportd's control socket (GP/1 frames: a "GP/1 <length>" line,
    then that many bytes of JSON), without a guestportctl process: about a millisecond,
    so a fast count is sampled finely."""
    import socket
    body = json.dumps(request).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(10)
        c.connect(sock)
        c.sendall(f"GP/1 {len(body)}\n".encode() + body)
        buf = b""
        while b"\n" not in buf:
            chunk = c.recv(65536)
            if not chunk:
                raise RuntimeError("control socket closed before a reply")
            buf += chunk
        head, rest = buf.split(b"\n", 1)
        n = int(head.split()[1])
        while len(rest) < n:
            chunk = c.recv(65536)
            if not chunk:
                raise RuntimeError("control socket closed mid-reply")
            rest += chunk
    r = json.loads(rest[:n])
    if not r.get("ok"):
        raise RuntimeError(f"guestportd refused {request}: {r.get('error')}")
    return r["data"]


def held_count(sample):
    """Entries held once the count stops growing: unchanged for 2 s (60 s at most)."""
    last, since, deadline = sample(), time.monotonic(), time.monotonic() + 60
    while time.monotonic() < deadline and time.monotonic() - since < 2:
        time.sleep(0.25)
        c = sample()
        if c != last:
            last, since = c, time.monotonic()
    return last


def wait_new(sample):
    """The first sample that differs from the current one (a fresh stats block)."""
    c, _ = sample()
    while True:
        c2, t2 = sample()
        if c2 != c:
            return c2, t2
        time.sleep(0.05)


def run_guestport(work, gpd, gpctl, pcap, sinks, frames, window, apply_every=0.0, churn=False,
                  learn=None):
    """learn: "rate" (l2-learn, M new MACs/s) or "held" (l2-capacity, thousands held)."""
    n = mbufs_for(frames)
    # NAT: room for every flow of the pcap in the one worker's table (about 165 B a
    # session, mapped outside the EAL's memory; memory_mb keeps a margin for it anyway).
    sessions = 1 << max(18, (2 * frames - 1).bit_length())
    # --no-huge: an mbuf takes a 4 KiB page of its own; NAT tables on top.
    mem = 192 + n * 4096 // (1 << 20) + (sessions * 300 // (1 << 20) + 96 if sinks is None else 0)
    sock = os.path.join(work, "gp.sock")
    nat = "" if sinks is not None else f", nat: {{sessions: {sessions}}}"
    cpus = ", ".join(str(c) for c in WORKER_CPUS)
    if learn is not None:  # `nat` is empty for L2: the MAC table's size goes there
        nat = f", mac_table_size: {LEARN_TABLE if learn == 'rate' else CAPACITY_TABLE}"
    head = (f"appliance: {{workers: {len(WORKER_CPUS)}, worker_cpus: [{cpus}], "
            f"control_socket: {sock}, "
            f"file_prefix: gpb{os.getpid()}, hugepages: false, memory_mb: {mem}, mbufs: {n}, "
            f"metrics: \"off\"{nat}}}\n")
    src = f"\"{source(pcap)}\""
    if sinks is not None:
        macs = ", ".join(f"'{m}'" for m in sinks)
        cfg = head + ("networks: {bench: {mode: internal, mac_ageing: 300}}\n"
                      "vms:\n"
                      f"  src: {{adapters: {{1: {{attach: internal:bench, port: {src}, "
                      "mac: '02:01:ff:00:00:01', mac_limit: 0}}}\n"
                      "  sink: {adapters: {1: {attach: internal:bench, port: \"net_null0,no-rx=1\", "
                      f"mac: '02:02:ff:00:00:01', promiscuous: allow-all, static_macs: [{macs}]}}}}}}\n")
        sink_port = "vm/sink/1"
    else:
        cfg = head + (
            "uplinks: {wan: {device: \"net_null0,no-rx=1\", address: 198.51.100.10/24, "
            "gateway: 198.51.100.1, gateway_mac: '02:00:00:00:0c:01'}}\n"
            "vms:\n"
            f"  src: {{adapters: {{1: {{attach: nat, port: {src}, mac: '08:00:27:00:00:01'}}}}}}\n")
        sink_port = "uplink/wan"
    path = os.path.join(work, "guestport.yaml")
    with open(path, "w") as f:
        # churn, learn: the source's cable is plugged in by an apply once the daemon is
        # up, so the first frame of the pcap meets an empty table while it is watched.
        src_mac_cfg = "mac: '08:00:27:00:00:01'" if sinks is None else "mac: '02:01:ff:00:00:01'"
        f.write(cfg.replace(src_mac_cfg, src_mac_cfg + ", cable_connected: false")
                if churn or learn else cfg)
    p = Proc([gpd, "--config", path], os.path.join(work, "guestportd.log"))
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if p.p.poll() is not None:
                raise RuntimeError("guestportd exited:\n" + p.text()[-3000:])
            r = subprocess.run([gpctl, "-s", sock, "show", "ports", "--json"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("guestportd did not start:\n" + p.text()[-3000:])

        def tx():
            r = subprocess.run([gpctl, "-s", sock, "show", "ports", "--json"],
                               capture_output=True, text=True, check=True)
            return next(x["tx_packets"] for x in json.loads(r.stdout) if x["name"] == sink_port)

        if learn:
            def stats():
                return gp_call(sock, {"cmd": "show", "what": "stats"})["fdb_entries"]

            base = stats()  # the static sink MAC
            live = os.path.join(work, "guestport-live.yaml")
            with open(live, "w") as f:
                f.write(cfg)
            subprocess.run([gpctl, "-s", sock, "apply", "-f", live], capture_output=True,
                           text=True, check=True)
            if learn == "rate":  # the control thread learns and answers in one loop
                return churn_rate(lambda: stats() - base, frames, at_reply=True)
            return (held_count(stats) - base) / 1e3
        if churn:
            live = os.path.join(work, "guestport-live.yaml")
            with open(live, "w") as f:
                f.write(cfg)

            def made():
                r = subprocess.run([gpctl, "-s", sock, "show", "stats", "--json"],
                                   capture_output=True, text=True, check=True)
                return sum(w["nat_created"] for w in json.loads(r.stdout)["workers"])

            subprocess.run([gpctl, "-s", sock, "apply", "-f", live], capture_output=True,
                           text=True, check=True)
            return churn_rate(made, frames)
        time.sleep(1)  # warm: NAT sessions made, caches hot
        if apply_every <= 0:
            return rate(tx, window)
        # Re-apply while counting: the network's mac_ageing flips between two values,
        # so every apply is a real change (a new snapshot published and retired).
        stop, applied = threading.Event(), []
        alt = os.path.join(work, "guestport-alt.yaml")
        with open(alt, "w") as f:
            f.write(cfg.replace("mac_ageing: 300", "mac_ageing: 301"))

        def loop():
            i = 0
            while not stop.is_set():
                t = time.monotonic()
                r = subprocess.run([gpctl, "-s", sock, "apply", "-f", alt if i % 2 else path],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError("apply refused: " + r.stdout + r.stderr)
                applied.append(time.monotonic() - t)
                i += 1
                stop.wait(max(0.0, apply_every - (time.monotonic() - t)))

        th = threading.Thread(target=loop, daemon=True)
        th.start()
        try:
            mpps = rate(tx, window)
        finally:
            stop.set()
            th.join()
        log(f"[bench]   {len(applied)} applies, median {statistics.median(applied) * 1e3:.1f} ms "
            "each (guestportctl round trip)")
        return mpps
    finally:
        p.stop()


OVS_DPDK = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
# OVS makes its own mempool (262144 mbufs at most, halved until it fits); net_pcap with
# infinite_rx needs one mbuf per frame of the file on top of the rings.
OVS_MAX_FRAMES = 200000


class Ovs:
    """ovsdb-server with its own database and ovs-vswitchd-dpdk, from a private directory
    (database, sockets, logs); no system service is touched. Every process is stopped by
    PID (stop())."""

    def __init__(self, work, name):
        self.d = d = os.path.join(work, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        self.env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d, OVS_SYSCONFDIR=d)
        self.db = f"unix:{d}/db.sock"
        self.sh("ovsdb-tool", "create", f"{d}/conf.db", OVS_SCHEMA)
        self.procs = [Proc(["ovsdb-server", f"{d}/conf.db", f"--remote=punix:{d}/db.sock",
                            f"--unixctl={d}/ovsdb.ctl", f"--pidfile={d}/ovsdb.pid"],
                           os.path.join(d, "ovsdb.out"), env=self.env)]
        deadline = time.time() + 20
        while not os.path.exists(f"{d}/db.sock"):
            if time.time() > deadline or self.procs[0].p.poll() is not None:
                self.stop()
                raise RuntimeError("ovsdb-server did not start:\n" + self.procs[0].text())
            time.sleep(0.1)

    def sh(self, *c):
        return subprocess.run(list(c), check=True, capture_output=True, text=True, env=self.env)

    def vsctl(self, *c):
        return self.sh("ovs-vsctl", f"--db={self.db}", "--timeout=60", *c)

    def appctl(self, *c):
        return self.sh("ovs-appctl", "-t", f"{self.d}/vswitchd.ctl", *c)

    def start_vswitchd(self, dpdk_config):
        """Initializes the database with DPDK on (PMDs on WORKER_CPUS, main on CPU 0, the
        other_config entries given) and starts ovs-vswitchd-dpdk with a netdev bridge br0."""
        self.vsctl("--no-wait", "init")
        mask = sum(1 << c for c in WORKER_CPUS)
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                   f"other_config:pmd-cpu-mask={mask:#x}", "other_config:dpdk-lcore-mask=0x1",
                   *dpdk_config)
        self.procs.append(Proc([OVS_DPDK, self.db, f"--unixctl={self.d}/vswitchd.ctl",
                                f"--pidfile={self.d}/vswitchd.pid"],
                               os.path.join(self.d, "vswitchd.out"), env=self.env))
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")

    def vswitchd_log(self):
        return self.procs[-1].text()

    def stop(self):
        for p in reversed(self.procs):
            p.stop()


def run_ovs(work, pcap, sinks, frames, window, churn=False, learn=None):
    """OVS (class Ovs) with a netdev bridge; L2: NORMAL forwarding with the sink MACs
    added as static FDB entries (fdb/add); NAT (sinks None): userspace conntrack with
    source NAT to the uplink address and the next hop's MAC, as a NAT router does."""
    ovs = Ovs(work, "ovs")
    try:
        mem = 1200 + mbufs_for(frames) * 4096 // (1 << 20)  # OVS asks for 262144 mbufs first
        # --legacy-mem (what --no-huge is anyway) keeps OVS from adding --in-memory
        ovs.start_vswitchd([f"other_config:dpdk-extra=--no-huge --legacy-mem --no-pci -m {mem} "
                            f"--file-prefix=gpb-ovs{os.getpid()}"])
        if learn is not None:  # nothing is learned before NORMAL is put back
            ovs.vsctl("set", "bridge", "br0", "other_config:mac-table-size="
                      f"{LEARN_TABLE if learn == 'rate' else CAPACITY_TABLE}")
            ovs.sh("ovs-ofctl", "del-flows", "br0")
        ovs.vsctl("add-port", "br0", "src", "--", "set", "Interface", "src", "type=dpdk",
                  f"options:dpdk-devargs={source(pcap)}",
                  f"options:n_rxq={len(pcap) if isinstance(pcap, list) else 1}",
                  "options:n_rxq_desc=4096")
        ovs.vsctl("add-port", "br0", "sink", "--", "set", "Interface", "sink", "type=dpdk",
                  "options:dpdk-devargs=net_null0,no-rx=1")

        def conns():  # conntrack's connections
            m = re.search(r"Total:\s*(\d+)", ovs.appctl("dpctl/ct-stats-show").stdout)
            return int(m.group(1)) if m else 0

        if sinks is None:
            # Until the NAT flow is in, frames go NORMAL (no conntrack): churn counts
            # connections from that moment.
            ovs.sh("ovs-ofctl", "del-flows", "br0")
            ovs.appctl("dpctl/ct-set-maxconns", str(max(3000000, 2 * frames)))
            ovs.sh("ovs-ofctl", "add-flow", "br0",
                   "priority=10,ip,in_port=src,actions=ct(commit,zone=1,"
                   "nat(src=198.51.100.10:1024-65535)),mod_dl_src:02:00:00:00:0a:0a,"
                   "mod_dl_dst:02:00:00:00:0c:01,dec_ttl,output:sink")
            if churn:
                return churn_rate(conns, frames)
        for m in sinks or []:
            ovs.appctl("fdb/add", "br0", "sink", "0", m)
        if learn is not None:
            def entries():  # the MAC table's current entries
                r = ovs.appctl("fdb/stats-show", "br0").stdout
                m = re.search(r"Current/maximum MAC entries in the table:\s*(\d+)", r)
                if m is None:
                    raise RuntimeError("no entry count in fdb/stats-show:\n" + r)
                return int(m.group(1))

            base = entries()
            ovs.sh("ovs-ofctl", "add-flow", "br0", "priority=0,actions=NORMAL")
            if learn == "rate":
                return churn_rate(lambda: entries() - base, frames)
            return (held_count(entries) - base) / 1e3

        def tx():  # live datapath counters (the database's are refreshed every 5 s)
            r = ovs.appctl("dpctl/show", "-s")
            m = re.search(r"port \d+: sink.*?TX packets:(\d+)", r.stdout, re.S)
            if m is None:
                raise RuntimeError("no sink port in dpctl/show:\n" + r.stdout)
            return int(m.group(1))

        deadline = time.time() + 30
        while tx() == 0:
            if time.time() > deadline:
                raise RuntimeError("OVS forwards nothing:\n" + ovs.vswitchd_log()[-3000:])
            time.sleep(0.2)
        time.sleep(1)
        mpps = rate(tx, window)
        if sinks is None:  # the NAT really happened: conntrack holds the flows
            r = ovs.appctl("dpctl/ct-stats-show")
            log("[bench]   OVS conntrack: " + " ".join(r.stdout.split())[:120])
        if mpps == 0:
            raise RuntimeError("OVS stopped forwarding: " + str(tx()) + "\n" +
                               ovs.appctl("dpif-netdev/pmd-stats-show").stdout +
                               ovs.vsctl("list", "Interface").stdout)
        return mpps
    finally:
        ovs.stop()


def plot(results, systems, png, work, title):
    """Two panels: Mpps against frame size (L2, 16 MAC pairs) and against NAT flows."""
    if shutil.which("gnuplot") is None:
        log("[bench] gnuplot is not installed (apt-get install gnuplot-nox): no plot")
        return
    names = {"testpmd": "testpmd io", "ovs": "OVS-DPDK", "guestport": "guestport"}
    panels = []
    for key, axis, xlabel, logx in ((PLOT_SIZE, "size", "frame size, bytes (IMIX at its mean)", 0),
                                    (PLOT_FLOWS, "flows", "NAT flows", 1)):
        lines = []
        for s in systems:
            pts = [(x, statistics.median(results[(n, s)])) for n, x in sorted(
                key.items(), key=lambda kv: kv[1]) if results.get((n, s))]
            if not pts:
                continue
            dat = os.path.join(work, f"plot-{axis}-{s}.dat")
            with open(dat, "w") as f:
                f.writelines(f"{x} {y}\n" for x, y in pts)
            lines.append(f"'{dat}' using 1:2 with linespoints lw 2 title '{names[s]}'")
        if lines:
            panels.append((xlabel, logx, lines))
    if not panels:
        log("[bench] nothing to plot (no frame-size or NAT-flow scenario ran)")
        return
    gp = [f"set terminal pngcairo size {620 * len(panels)},460 font ',10'",
          f"set output '{png}'", f"set multiplot layout 1,{len(panels)} title "
          f"'guestport side by side, Mpps per worker core ({title})'", "set grid",
          "set ylabel 'Mpps (median)'", "set yrange [0:*]", "set key top right"]
    for xlabel, logx, lines in panels:
        gp += (["set logscale x 2", "set format x '%.0s%c'", "set xrange [512:2097152]"]
               if logx else ["unset logscale x", "set format x '%g'", "set xrange [0:1600]"])
        gp += [f"set xlabel '{xlabel}'", "plot " + ", ".join(lines)]
    gp.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        log("[bench] gnuplot failed: " + r.stderr)
    else:
        log(f"[bench] plot written to {png}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--guestportd", required=True)
    ap.add_argument("--guestportctl", default=None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--scenarios", default=",".join(n for n in SCENARIOS if n != "nat-1m"),
                    help="comma-separated; nat-1m (about 9 GB of memory per run) only if named")
    ap.add_argument("--smoke", action="store_true", help="one short round of one scenario")
    ap.add_argument("--out", default=None, help="where to keep pcaps and logs")
    ap.add_argument("--no-ovs", action="store_true", help="leave Open vSwitch out")
    ap.add_argument("--plot", default=None, help="write a PNG of the results (gnuplot)")
    ap.add_argument("--latency", action="store_true",
                    help="also latency percentiles through vhost-user ports (hugepages)")
    ap.add_argument("--latency-only", action="store_true", help="latency, no throughput scenario")
    ap.add_argument("--latency-seconds", type=float, default=3.0, help="per load level")
    ap.add_argument("--probe", default=None, help="bench/latency_probe binary")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker cores for every system (CPUs 1..N; the pcap dealt over N "
                         "receive queues): scaling with cores, on a host that has them")
    a = ap.parse_args()
    if a.workers < 1:
        sys.exit("--workers must be at least 1")
    WORKER_CPUS[:] = worker_cpus(a.workers)
    if a.workers >= (os.cpu_count() or 2):
        log(f"[bench] {a.workers} workers on {os.cpu_count()} CPUs: they share CPUs with each "
            "other or with the main threads; the figures say nothing about scaling")
    gpctl = a.guestportctl or os.path.join(os.path.dirname(a.guestportd), "guestportctl")
    probe_bin = a.probe or os.path.join(os.path.dirname(a.guestportd), "..", "bench",
                                        "latency_probe")
    names = [] if a.latency_only else [n for n in a.scenarios.split(",") if n]
    if a.smoke:
        names, a.rounds, a.window, a.latency_seconds = names[:1], 1, 1.0, 1.0
    for n in names:
        if n not in SCENARIOS:
            sys.exit(f"unknown scenario {n} (known: {', '.join(SCENARIOS)})")
    work = a.out or tempfile.mkdtemp(prefix="gp-bench-")
    os.makedirs(work, exist_ok=True)
    systems = ["testpmd", "guestport"]
    if os.path.exists(OVS_DPDK) and not a.no_ovs:
        systems.append("ovs")
    else:
        log("[bench] Open vSwitch with DPDK is not installed (apt-get install "
            "openvswitch-switch-dpdk): testpmd and guestport only")
    results = {(n, s): [] for n in names for s in systems}
    total_skip = 0
    pcaps = {}
    for n in names:
        log(f"[bench] writing {n}.pcap")
        pcaps[n] = SCENARIOS[n][1](work)
        if a.workers > 1:
            path, sinks, frames = pcaps[n]
            pcaps[n] = (split_pcap(path, a.workers), sinks, frames)
    total = a.rounds * len(names) * len(systems)
    done = 0
    for rnd in range(a.rounds):
        for n in names:
            path, sinks, frames = pcaps[n]
            # The order rotates each round, so drift of the host's speed hits all alike.
            order = systems[rnd % len(systems):] + systems[:rnd % len(systems)]
            for s in order:
                done += 1
                log(f"[bench] {done}/{total} round {rnd + 1} {n} {s}")
                learn = {"l2-learn": "rate", "l2-capacity": "held"}.get(n)
                if s == "testpmd" and (n == "nat-churn" or learn):  # no sessions, no MACs
                    continue
                if s == "testpmd":
                    mpps = run_testpmd(work, path, frames, a.window)
                elif s == "ovs":
                    if n.endswith("-apply"):  # OVS is not re-configured: l2-16 says it
                        continue
                    if frames > OVS_MAX_FRAMES:
                        log(f"[bench]   (OVS sizes its own mbuf pool, at most {OVS_MAX_FRAMES} "
                            "mbufs: it cannot hold this pcap for net_pcap's infinite_rx)")
                        continue
                    mpps = run_ovs(work, path, sinks, frames, a.window, n == "nat-churn",
                                   learn)
                else:
                    mpps = run_guestport(work, a.guestportd, gpctl, path, sinks, frames,
                                         a.window, 0.1 if n.endswith("-apply") else 0.0,
                                         n == "nat-churn", learn)
                if mpps <= 0:
                    raise RuntimeError(f"{s} forwarded nothing in {n} (logs in {work})")
                results[(n, s)].append(mpps)
                unit = {"nat-churn": "M/s", "l2-learn": "M/s", "l2-capacity": "thousand"}
                log(f"[bench]   {mpps:.2f} {unit.get(n, 'Mpps')}")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    if names:
        cores = "one worker core" if a.workers == 1 else f"{a.workers} worker cores"
        print(f"\nguestport side-by-side, {cores}, {a.rounds} interleaved rounds of "
              f"{a.window:g} s, CPU: {cpu}, {os.cpu_count()} CPUs")
        print("Mpps per worker core: median (min-max)" if a.workers == 1 else
              f"Mpps with {a.workers} worker cores (CPUs {WORKER_CPUS}): median (min-max)")
        print(f"{'scenario':48} {'testpmd io':>20} {'OVS-DPDK':>20} {'guestport':>20} "
              f"{'gp/testpmd':>11} {'gp/OVS':>8}")
        fmt = lambda v: f"{statistics.median(v):6.2f} ({min(v):.2f}-{max(v):.2f})" if v else "-"
        ratio = lambda x, y: f"{statistics.median(x) / statistics.median(y):.2f}x" if x and y else "-"
        for n in names:
            tp, gp = results[(n, "testpmd")], results[(n, "guestport")]
            ov = results.get((n, "ovs"), [])
            print(f"{SCENARIOS[n][0]:48} {fmt(tp):>20} {fmt(ov):>20} {fmt(gp):>20} "
                  f"{ratio(gp, tp):>11} {ratio(gp, ov):>8}")
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump({f"{n}/{s}": v for (n, s), v in results.items()}, f, indent=1)
    if a.plot:
        plot(results, systems, a.plot, work, f"{a.rounds} rounds, {cpu}")
    if a.latency or a.latency_only:
        WORKER_CPUS[:] = [1]  # latency is measured through one worker core
        lat = latency.run_all(sys.modules[__name__], systems, a.guestportd, gpctl, probe_bin,
                              work, a.latency_seconds, a.rounds)
        print(latency.table(lat))
        with open(os.path.join(work, "latency.json"), "w") as f:
            json.dump({s: {f"{k[0]}B/{k[1]}": v for k, v in r.items()} for s, r in lat.items()},
                      f, indent=1)
    if a.out is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
