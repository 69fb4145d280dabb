"""Fixtures for integration tests: guests are network namespaces on veth pairs (the
root-side end is opened by guestportd as an af_packet port), the daemon is the real
guestportd binary. Everything a test creates is removed, even when it fails: processes
by PID, then namespaces and veths. Names carry the pytest process id so that runs can
go side by side."""
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

BUILD = os.environ.get("GP_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
GUESTPORTD = os.path.join(BUILD, "control", "guestportd")
GUESTPORTCTL = os.path.join(BUILD, "control", "guestportctl")
_seq = itertools.count()


def sh(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, **kw)


class Lab:
    """Namespaces, veths and background processes of one test."""

    def __init__(self):
        self.tag = f"{os.getpid() % 10000}{next(_seq)}"
        self.namespaces = []
        self.links = []
        self.procs = []
        self.paths = []  # files and folders a test made; removed at cleanup
        self.port_index = itertools.count()

    def guest(self, name, mac, cidr, host=None):
        """A namespace `name` whose eth0 has `mac` and `cidr`; returns (netns, devargs).
        host: the namespace (Lab.host) the switch side goes to, else the root one."""
        ns = f"gpt{self.tag}-{name}"
        root_side = f"gp{self.tag}{name}"[:15]
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "add", root_side, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self.links.append(root_side)
        self.switch_side(root_side, host)
        self.ns(ns, "ip", "link", "set", "eth0", "address", mac)
        if cidr:
            self.ns(ns, "ip", "addr", "add", cidr, "dev", "eth0")
        self.ns(ns, "ip", "link", "set", "eth0", "up")
        self.ns(ns, "ip", "link", "set", "lo", "up")
        # TESTING.md: veth hands af_packet unfinished checksums unless tx offload is off.
        self.ns(ns, "ethtool", "-K", "eth0", "tx", "off")
        devargs = f"net_af_packet{next(self.port_index)},iface={root_side}"
        return ns, devargs

    def host(self, name):
        """A namespace for a second appliance (a host of its own: af_packet's fanout
        groups, which the PMD numbers from its pid and the interface index, are per
        namespace, so two appliances' ports can never meet in one)."""
        ns = f"gpt{self.tag}-{name}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        self.ns(ns, "ip", "link", "set", "lo", "up")
        return ns

    def switch_side(self, link, host=None):
        """A veth end the switch opens: moved to `host` if given, silent, up."""
        pre = []
        if host:
            sh("ip", "link", "set", link, "netns", host)
            pre = ["ip", "netns", "exec", host]
        # No IPv6 ND/MLD, and no ARP replies for the host's own addresses (Linux answers
        # ARP for any local address on any link).
        sh(*pre, "sysctl", "-qw", f"net.ipv6.conf.{link}.disable_ipv6=1",
           f"net.ipv4.conf.{link}.arp_ignore=8", check=False)
        sh(*pre, "ip", "link", "set", link, "up")

    def wire(self, name, host_b=None):
        """A veth pair joining two appliances' uplinks back to back (the second end in
        `host_b` if given); returns the two ends' af_packet devargs."""
        a, b = f"gp{self.tag}{name}a"[:15], f"gp{self.tag}{name}b"[:15]
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        self.links.append(a)
        self.switch_side(a)
        self.switch_side(b, host_b)
        return [f"net_af_packet{next(self.port_index)},iface={end}" for end in (a, b)]

    def ns(self, ns, *cmd, check=True, timeout=30):
        return sh("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)

    def spawn(self, ns, *cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, **kw)
        self.procs.append(p)
        return p

    def capture(self, ns, bpf, iface="eth0"):
        """A tcpdump on `iface` of `ns` that is listening when this returns."""
        return Capture(self, ns, bpf, iface)

    def wait_listening(self, ns, port, proto="t"):
        """Until something listens on `port` in `ns` (no fixed sleeps before clients)."""
        deadline = time.time() + 15
        while time.time() < deadline:
            if f":{port} " in self.ns(ns, "ss", f"-ln{proto}").stdout:
                return
            time.sleep(0.05)
        raise AssertionError(f"nothing listens on {port} in {ns}")

    def ping(self, ns, ip, count=3):
        r = self.ns(ns, "ping", "-c", str(count), "-i", "0.2", "-W", "2", ip, check=False)
        return r.returncode == 0

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for ns in self.namespaces:
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sh("ip", "netns", "del", ns, check=False)
        for link in self.links:
            sh("ip", "link", "del", link, check=False)
        for path in self.paths:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.unlink(path)


class Capture:
    """tcpdump that must really have run: start() returns once it says it is listening,
    stop() checks its exit status. Tests pair every "saw nothing" with a positive
    control in the same capture (a frame the observer must see)."""

    def __init__(self, lab, ns, bpf, iface):
        # --immediate-mode: every frame reaches us at once, none waits in a ring block
        # that SIGINT would discard. Lines go to a file: a full pipe would block tcpdump
        # in write(), and SIGINT there makes it exit 14 ("Interrupted system call").
        self.out = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "--immediate-mode", "-l", "-nn", "-e", "-i",
             iface, bpf], stdout=self.out, stderr=subprocess.PIPE, text=True)
        lab.procs.append(self.proc)
        self.err = ""
        deadline = time.time() + 10
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:  # exited
                break
            self.err += line
            if "listening on" in line:
                return
        self.proc.kill()
        raise AssertionError(f"tcpdump did not start in {ns}: {self.err}")

    def stop(self):
        """Stops it (SIGINT, as at a terminal) and returns the captured lines."""
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=15)
        assert self.proc.returncode == 0, f"tcpdump exited {self.proc.returncode}: {err}"
        self.out.seek(0)
        lines = self.out.read().splitlines()
        self.out.close()
        return lines


class Daemon:
    def __init__(self, lab, yaml_text, workers=1, hugepages="false", metrics="off", name="",
                 netns=None):
        self.lab = lab
        self.dir = tempfile.mkdtemp(prefix="gpt-")
        self.socket = os.path.join(self.dir, "control.sock")
        self.prefix = f"gpt{lab.tag}{name}"  # two daemons of one test: a name each
        self.header = (f"appliance: {{workers: {workers}, control_socket: {self.socket}, "
                       f"file_prefix: {self.prefix}, hugepages: {hugepages}, "
                       f"metrics: \"{metrics}\"}}\n")
        self.config = os.path.join(self.dir, "guestport.yaml")
        self.write(yaml_text)
        self.log = open(os.path.join(self.dir, "guestportd.log"), "w+")
        # netns: the daemon runs as on another host (its ports' interfaces are there).
        pre = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(pre + [GUESTPORTD, "--config", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"guestportd exited {self.proc.returncode}: {self.output()}")
            if os.path.exists(self.socket) and self.ctl("stats", check=False) is not None:
                return
            time.sleep(0.1)
        raise AssertionError("guestportd did not open its control socket: " + self.output())

    def write(self, yaml_text, path=None):
        """Writes a config (the daemon's appliance header + yaml_text); returns its path."""
        path = path or self.config
        with open(path, "w") as f:
            f.write(self.header + yaml_text)
        return path

    def apply(self, yaml_text, dry_run=False):
        """`guestportctl apply` of a new config file; the CompletedProcess."""
        path = self.write(yaml_text, os.path.join(self.dir, f"apply-{next(_seq)}.yaml"))
        cmd = [GUESTPORTCTL, "-s", self.socket, "apply", "-f", path] + (["--dry-run"] if dry_run else [])
        return sh(*cmd, check=False, timeout=90)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def ctl(self, what, check=True):
        r = sh(GUESTPORTCTL, "-s", self.socket, "show", what, "--json", check=False)
        if r.returncode != 0:
            if check:
                raise AssertionError(r.stderr)
            return None
        return json.loads(r.stdout)

    def port(self, name):
        return next(p for p in self.ctl("ports") if p["name"] == name)

    def stop(self):
        if self.log.closed:  # stopped already
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("guestportd did not stop on SIGTERM")
        print(f"--- guestportd log ({self.config}) ---\n{self.output()}")  # shown on failure
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


NR = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
MB_NEEDED = 1024  # the switch's 256 MB and a second DPDK process's pools (VM, dumpcap)


def free_hugepage_mb():
    for line in open("/proc/meminfo"):
        if line.startswith("HugePages_Free:"):
            return int(line.split()[1]) * 2
    return 0


@pytest.fixture
def hugepages():
    """Enough free 2 MB pages and a hugetlbfs mount; both restored afterwards."""
    if not os.path.exists(NR):
        pytest.skip("no 2 MB hugepages on this kernel")
    before = int(open(NR).read())
    mounted_here = False
    if not any(" hugetlbfs " in l for l in open("/proc/mounts")):
        os.makedirs("/dev/hugepages", exist_ok=True)
        sh("mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages")
        mounted_here = True
    need = MB_NEEDED - free_hugepage_mb()
    if need > 0:
        with open(NR, "w") as f:
            f.write(str(before + (need + 1) // 2))
    if free_hugepage_mb() < MB_NEEDED:
        pytest.fail(f"could not reserve {MB_NEEDED} MB of hugepages "
                    f"({free_hugepage_mb()} MB free)")
    try:
        yield
    finally:
        with open(NR, "w") as f:
            f.write(str(before))
        if mounted_here:
            sh("umount", "/dev/hugepages", check=False)


@pytest.fixture
def lab():
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    lab = Lab()
    daemons = []
    lab.start = lambda yaml_text, **kw: daemons.append(Daemon(lab, yaml_text, **kw)) or daemons[-1]
    codes = []
    try:
        yield lab
    finally:
        try:
            for d in daemons:
                try:
                    codes.append(d.stop())
                except AssertionError as e:
                    codes.append(str(e))
        finally:
            lab.cleanup()
    assert all(c == 0 for c in codes), f"guestportd exit codes {codes}"
