#!/usr/bin/env python3
"""End-to-end throughput through guestportd with real kernel stacks: iperf3 TCP between
two namespace guests on an internal network (L2), and from a NAT guest to a server in an
"outside" namespace. Uses the integration-test fixtures (namespaces, veth, af_packet),
removes everything it creates. Prints Gbit/s; never run as a test.

Usage (root, after building): /usr/bin/python3 bench/iperf_netns.py [seconds]
On a 2-core machine the switch's worker, both stacks and iperf3 share the cores:
the figures are magnitudes only."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import Daemon, Lab  # noqa: E402
import test_nat as nat  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def iperf(lab, server_ns, client_ns, ip):
    srv = lab.spawn(server_ns, "iperf3", "-s", "-1", "-B", ip)
    nat.wait_listening(lab, server_ns, 5201)
    r = lab.ns(client_ns, "iperf3", "-c", ip, "-t", str(SECONDS), "-J", timeout=SECONDS + 30)
    srv.wait(timeout=10)
    return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9


def main():
    lab = Lab()
    try:
        a, da = lab.guest("ba", "08:00:27:40:00:01", "10.90.0.1/24")
        b, db = lab.guest("bb", "08:00:27:40:00:02", "10.90.0.2/24")
        d = Daemon(lab, "vms:\n"
                   f"  a: {{adapters: {{1: {{attach: internal:b, mac: '08:00:27:40:00:01', port: '{da}'}}}}}}\n"
                   f"  b: {{adapters: {{1: {{attach: internal:b, mac: '08:00:27:40:00:02', port: '{db}'}}}}}}\n")
        print(f"L2 internal network, TCP: {iperf(lab, b, a, '10.90.0.2'):.2f} Gbit/s")
        d.stop()
        wan, wan_dev = nat.outside(lab)
        g, dev = lab.guest("bn", nat.MAC[1], None)
        d = Daemon(lab, nat.config(wan_dev, {1: dev}))
        nat.dhcp(lab, g, nat.hook(lab))
        print(f"NAT guest -> outside, TCP: {iperf(lab, wan, g, nat.SERVER):.2f} Gbit/s")
        d.stop()
    finally:
        lab.cleanup()


if __name__ == "__main__":
    main()
