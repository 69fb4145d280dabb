"""Jumbo frames with real kernel stacks: guests at MTU 9000 on af_packet ports whose
devargs say nothing about frame sizes (guestportd sizes the rings, the mbufs and the
switch-side interfaces from the config), the NIC model's rule (an AMD adapter carries
no jumbo frame and the switch counts what it drops), and path-MTU discovery through
the NAT to a 1500-byte uplink."""
import json
import re

from test_nat import GATEWAY, SERVER, UPLINK_IP, outside

MAC = {i: f"08:00:27:50:00:{i:02x}" for i in range(1, 5)}


def jumbo_guest(lab, name, i, cidr):
    ns, dev = lab.guest(name, MAC[i], cidr)
    lab.ns(ns, "ip", "link", "set", "eth0", "mtu", "9000")
    return ns, dev


def two_guests(lab, model1):
    g1 = jumbo_guest(lab, "j1", 1, "10.66.0.1/24")
    g2 = jumbo_guest(lab, "j2", 2, "10.66.0.2/24")
    model = f", model: {model1}" if model1 else ""
    d = lab.start(
        "networks:\n  jl: {mode: internal, mtu: 9000}\n"
        "vms:\n"
        f"  vm1: {{adapters: {{1: {{attach: internal:jl, mac: \"{MAC[1]}\", "
        f"port: \"{g1[1]}\"{model}}}}}}}\n"
        f"  vm2: {{adapters: {{1: {{attach: internal:jl, model: virtio-net, "
        f"mac: \"{MAC[2]}\", port: \"{g2[1]}\"}}}}}}\n")
    return g1, g2, d


def root_side(devargs):
    return re.search(r"iface=([^,]+)", devargs).group(1)


def test_virtio_guests_carry_jumbo_frames_whole(lab):
    (ns1, dev1), (ns2, dev2), d = two_guests(lab, "virtio-net")
    # The switch-side veths were set to the network's MTU by guestportd itself.
    for dev in (dev1, dev2):
        assert open(f"/sys/class/net/{root_side(dev)}/mtu").read().strip() == "9000"
    assert d.port("vm/vm1/1")["mtu"] == 9000
    r = lab.ns(ns1, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-M", "do", "-s", "8972",
               "10.66.0.2", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "8980 bytes from 10.66.0.2" in r.stdout, r.stdout  # whole: 8972 + 8 of ICMP
    lab.spawn(ns2, "iperf3", "-s", "-1", "-B", "10.66.0.2")
    lab.wait_listening(ns2, 5201)
    r = lab.ns(ns1, "iperf3", "-c", "10.66.0.2", "-t", "2", "-J", check=False, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    assert res["end"]["sum_received"]["bytes"] > 10_000_000, res["end"]["sum_received"]
    # The connection used jumbo segments: the MSS both ends agreed on is 8948 (9000 less
    # 40 bytes of headers and 12 of timestamps).
    assert res["start"]["tcp_mss_default"] > 8000, res["start"].get("tcp_mss_default")
    reasons = d.port("vm/vm1/1")["drop_reasons"]
    assert "oversize" not in reasons and "nic_model_mtu" not in reasons, reasons


def test_an_amd_adapter_drops_jumbo_frames_and_counts_them(lab):
    (ns1, _), (ns2, _), d = two_guests(lab, None)  # vm1 keeps the default Am79C973
    assert "never carries jumbo frames" in d.output(), d.output()  # the start-up warning
    assert lab.ping(ns1, "10.66.0.2"), "small frames pass"
    before = d.port("vm/vm1/1")["drop_reasons"].get("nic_model_mtu", 0)
    r = lab.ns(ns1, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", "8972",
               "10.66.0.2", check=False)
    assert r.returncode != 0, "a jumbo frame crossed an AMD adapter:\n" + r.stdout
    assert d.port("vm/vm1/1")["drop_reasons"].get("nic_model_mtu", 0) >= before + 2
    # And towards it: vm2 (virtio) pings vm1 with jumbo frames; none arrive.
    r = lab.ns(ns2, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", "8972",
               "10.66.0.1", check=False)
    assert r.returncode != 0, r.stdout
    assert d.port("vm/vm2/1")["drop_reasons"].get("nic_model_mtu", 0) >= 2


def test_path_mtu_discovery_through_the_nat_to_a_1500_byte_uplink(lab):
    """The guest and the server both run MTU 9000, the uplink between them 1500. The
    server's SYN-ACK offers an MSS of 8960, so the guest's first segments are too large
    for the uplink: the NAT answers ICMP fragmentation-needed (next-hop MTU 1500), the
    guest's kernel lowers its path MTU and the upload completes."""
    wan, wan_dev = outside(lab)
    lab.ns(wan, "ip", "link", "set", "eth0", "mtu", "9000")
    ns, dev = jumbo_guest(lab, "pm", 3, "10.0.2.15/24")
    lab.ns(ns, "ip", "route", "add", "default", "via", "10.0.2.2")
    d = lab.start(
        f"uplinks:\n  wan: {{device: \"{wan_dev}\", address: {UPLINK_IP}/24, "
        f"gateway: {GATEWAY}, mtu: 1500}}\n"
        "vms:\n"
        f"  vm1: {{adapters: {{1: {{attach: nat, model: virtio-net, mtu: 9000, "
        f"mac: \"{MAC[3]}\", port: \"{dev}\"}}}}}}\n")
    lab.spawn(wan, "iperf3", "-s", "-1", "-B", SERVER)
    lab.wait_listening(wan, 5201)
    r = lab.ns(ns, "iperf3", "-c", SERVER, "-t", "2", "-J", check=False, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    assert res["end"]["sum_received"]["bytes"] > 1_000_000, res["end"]["sum_received"]
    route = lab.ns(ns, "ip", "route", "get", SERVER).stdout
    assert "mtu 1500" in route, "the guest never learned the path MTU: " + route
    assert d.ctl("stats")["slow_path"]["frag_needed_sent"] >= 1


def test_a_host_only_network_at_9000_keeps_its_host_interface_at_1500(lab):
    """DPDK's tap PMD cannot carry more than 1500 bytes: the host interface stays at 1500
    (with a warning), 1500-byte packets reach it, larger ones are dropped and counted."""
    ns, dev = jumbo_guest(lab, "ho", 4, "192.168.198.10/24")
    iface = f"gpj{lab.tag}"[:15]
    d = lab.start(
        f"networks:\n  hn: {{mode: hostonly, mtu: 9000, host_interface: {{name: {iface}, "
        f"address: 192.168.198.1/24}}}}\n"
        f"vms:\n  vm1: {{adapters: {{1: {{attach: hostonly:hn, model: virtio-net, "
        f"mac: \"{MAC[4]}\", port: \"{dev}\"}}}}}}\n")
    assert "carries at most 1500" in d.output(), d.output()
    assert open(f"/sys/class/net/{iface}/mtu").read().strip() == "1500"
    assert d.port("host/hn")["mtu"] == 1500
    assert d.port("vm/vm1/1")["mtu"] == 9000
    r = lab.ns(ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-M", "do", "-s", "1472",
               "192.168.198.1", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = lab.ns(ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", "8972",
               "192.168.198.1", check=False)
    assert r.returncode != 0, r.stdout
    # Counted at the sender, as every unicast a destination cannot take.
    assert d.port("vm/vm1/1")["drop_reasons"].get("oversize", 0) >= 2, d.port("vm/vm1/1")
