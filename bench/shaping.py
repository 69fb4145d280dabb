"""Bandwidth groups with real TCP: iperf3 from one namespace guest to another through a
guest adapter in a bandwidth group, at several limits set by live re-apply. Prints the
rate TCP achieves at each; not a test (CI never runs it), figures for docs and notes:

    /usr/bin/python3 -m pytest -q -s -p no:cacheprovider bench/shaping.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import lab  # noqa: E402,F401  (the fixture: namespaces, daemon, cleanup)

MAC = {1: "08:00:27:70:00:01", 2: "08:00:27:70:00:02"}


def config(d1, d2, rate):
    return (f"bandwidth_groups: {{g: {rate}}}\nvms:\n"
            f"  vm1: {{adapters: {{1: {{attach: internal:f, mac: \"{MAC[1]}\", port: \"{d1}\", "
            f"bandwidth_group: g}}}}}}\n"
            f"  vm2: {{adapters: {{1: {{attach: internal:f, mac: \"{MAC[2]}\", "
            f"port: \"{d2}\"}}}}}}\n")


def test_tcp_rate_per_limit(lab):
    ns1, d1 = lab.guest("b1", MAC[1], "10.57.0.1/24")
    ns2, d2 = lab.guest("b2", MAC[2], "10.57.0.2/24")
    d = lab.start(config(d1, d2, "0"))
    print("\nlimit      TCP goodput")
    for rate in ("5m", "20m", "100m", "500m", "0"):
        assert d.apply(config(d1, d2, rate)).returncode == 0
        lab.spawn(ns2, "iperf3", "-s", "-1", "-B", "10.57.0.2")
        lab.wait_listening(ns2, 5201)
        r = lab.ns(ns1, "iperf3", "-c", "10.57.0.2", "-t", "4", "-J", check=False, timeout=60)
        got = json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
        print(f"{rate if rate != '0' else 'none':<10} {got:8.1f} Mbit/s")
