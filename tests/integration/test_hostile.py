"""Hostile guests on real kernel stacks: a guest acting as a rogue DHCP server on a
host-only network where the appliance serves DHCP (unsolicited OFFERs and ACKs, as a
rogue sends them: it never sees the clients' DISCOVERs, which the appliance takes), and
a guest poisoning ARP for the appliance's DHCP server address. Nothing of the rogue
reaches the honest guest (a capture with a positive control), whose real DHCP client
(udhcpc) gets its lease from the appliance and whose kernel's ARP cache keeps the
appliance's MAC; the refused frames are counted as dhcp_spoof and arp_spoof. With
`dhcp_trusted: true` the same messages are let through."""
import time

from test_dhcp import address_of, hostonly, udhcpc

ROGUE, HONEST = "08:00:27:30:00:01", "08:00:27:30:00:02"
SERVER = "192.168.198.100"  # the appliance's DHCP server on hostonly() networks


def config(dev_rogue, dev_honest, trusted=False):
    extra = ", dhcp_trusted: true" if trusted else ""
    return ("vms:\n"
            f"  rogue: {{adapters: {{1: {{attach: hostonly:hn, mac: \"{ROGUE}\", "
            f"port: \"{dev_rogue}\"{extra}}}}}}}\n"
            f"  honest: {{adapters: {{1: {{attach: hostonly:hn, mac: \"{HONEST}\", "
            f"port: \"{dev_honest}\"}}}}}}\n")


# What a rogue server sends without being asked (it never sees the clients' DISCOVERs:
# the appliance takes those): OFFERs and ACKs, broadcast and straight to the honest
# guest's MAC, for a run of transaction ids. Then a datagram to port 69, which the honest
# guest must see (the positive control of the same capture).
ROGUE_SENDS = (
    "from scapy.all import BOOTP, DHCP, IP, UDP, Ether, sendp\n"
    "frames = []\n"
    "for xid in range(1, 11):\n"
    f"    for dst, ip in [('ff:ff:ff:ff:ff:ff', '255.255.255.255'), ('{HONEST}', '192.168.198.200')]:\n"
    "        for kind in ['offer', 'ack']:\n"
    f"            frames.append(Ether(src='{ROGUE}', dst=dst) / IP(src='192.168.198.66', dst=ip) /\n"
    "                          UDP(sport=67, dport=68) /\n"
    f"                          BOOTP(op=2, xid=xid, yiaddr='192.168.198.200', chaddr=bytes.fromhex('{HONEST.replace(':', '')}')) /\n"
    "                          DHCP(options=[('message-type', kind), ('server_id', '192.168.198.66'),\n"
    "                                        ('router', '192.168.198.66'), 'end']))\n"
    f"frames.append(Ether(src='{ROGUE}', dst='ff:ff:ff:ff:ff:ff') / IP(src='192.168.198.66', dst='255.255.255.255') /\n"
    "              UDP(sport=4000, dport=69) / b'control')\n"
    "sendp(frames, iface='eth0', inter=0.002, verbose=False)\n")


def rogue_run(lab, d, ns_r, ns_h):
    """The rogue's frames, captured at the honest guest; returns the capture's lines."""
    cap = lab.capture(ns_h, "udp")
    lab.ns(ns_r, "/usr/bin/python3", "-c", ROGUE_SENDS)
    deadline = time.time() + 10  # until the switch has taken all 41 of the rogue's frames
    while time.time() < deadline and d.port("vm/rogue/1")["rx_packets"] < 41:
        time.sleep(0.05)
    time.sleep(0.2)
    lines = cap.stop()
    assert any("192.168.198.66.4000 > 255.255.255.255.69" in l for l in lines), "\n".join(lines)
    return lines


def test_a_rogue_dhcp_server_is_silenced_and_the_honest_guest_gets_its_lease(lab):
    iface = f"gph{lab.tag}"[:15]
    ns_r, dev_r = lab.guest("r", ROGUE, "192.168.198.66/24")
    ns_h, dev_h = lab.guest("h", HONEST, None)
    d = lab.start(hostonly(lab, iface) + config(dev_r, dev_h))
    lines = rogue_run(lab, d, ns_r, ns_h)
    assert not any(".67 > " in l for l in lines), "\n".join(lines)
    assert d.port("vm/rogue/1")["drop_reasons"].get("dhcp_spoof", 0) == 40
    # The honest guest's real client gets the appliance's lease, and the rogue's answers
    # to it (were any to come) are refused as well.
    r = udhcpc(lab, ns_h)
    assert r.returncode == 0, r.stdout + r.stderr
    assert address_of(lab, ns_h) == ["192.168.198.101"], "the lease is not the appliance's"
    assert d.port("vm/honest/1")["drop_reasons"].get("dhcp_spoof", 0) == 0


def test_a_dhcp_trusted_adapter_may_send_dhcp_server_messages(lab):
    iface = f"gpi{lab.tag}"[:15]
    ns_r, dev_r = lab.guest("r", ROGUE, "192.168.198.66/24")
    ns_h, dev_h = lab.guest("h", HONEST, None)
    d = lab.start(hostonly(lab, iface) + config(dev_r, dev_h, trusted=True))
    lines = rogue_run(lab, d, ns_r, ns_h)
    assert sum(".67 > " in l for l in lines) == 40, "\n".join(lines)
    assert d.port("vm/rogue/1")["drop_reasons"].get("dhcp_spoof", 0) == 0


def test_arp_poisoning_of_the_server_address_is_refused(lab):
    iface = f"gpj{lab.tag}"[:15]
    ns_r, dev_r = lab.guest("r", ROGUE, "192.168.198.66/24")
    ns_h, dev_h = lab.guest("h", HONEST, "192.168.198.20/24")
    d = lab.start(hostonly(lab, iface) + config(dev_r, dev_h))
    # The honest guest resolves the server (the appliance answers ARP for it).
    lab.ping(ns_h, SERVER, count=1)  # for the ARP it makes; an echo answer does not matter
    neigh = lab.ns(ns_h, "ip", "neigh", "show", SERVER).stdout
    assert "lladdr" in neigh, f"the appliance did not answer ARP for {SERVER}: {neigh!r}"
    good = neigh.split("lladdr")[1].split()[0]
    assert good != ROGUE
    # The rogue claims the address: gratuitous ARP requests and replies, as arpspoof
    # does, to broadcast and straight to the honest guest.
    poison = (
        "from scapy.all import ARP, Ether, sendp\n"
        f"for op, dst in [(1, 'ff:ff:ff:ff:ff:ff'), (2, 'ff:ff:ff:ff:ff:ff'), (2, '{HONEST}')]:\n"
        f"    sendp(Ether(src='{ROGUE}', dst=dst) / ARP(op=op, hwsrc='{ROGUE}', psrc='{SERVER}',"
        f" hwdst=dst, pdst='{SERVER}' if op == 1 else '192.168.198.20'), iface='eth0',"
        " count=5, inter=0.05, verbose=False)\n")
    cap = lab.capture(ns_h, "arp")
    lab.ns(ns_r, "/usr/bin/python3", "-c", poison)
    # Positive control in the same capture: the rogue's ARP for the honest guest.
    lab.ns(ns_r, "ping", "-c", "1", "-W", "1", "192.168.198.20", check=False)
    time.sleep(0.3)
    lines = cap.stop()
    assert any("who-has 192.168.198.20" in l for l in lines), "\n".join(lines)
    assert not any(f"{SERVER} is-at {ROGUE}" in l or f"tell {SERVER}" in l and ROGUE in l
                   for l in lines), "\n".join(lines)
    neigh = lab.ns(ns_h, "ip", "neigh", "show", SERVER).stdout
    assert ROGUE not in neigh and good in neigh, neigh
    assert d.port("vm/rogue/1")["drop_reasons"].get("arp_spoof", 0) == 15
