"""A VLAN trunk peer for the integration tests (the kernel here has no 802.1Q module):
answers ARP and ICMP echo for one address per VLAN on eth0, tagged as it was asked.

    vlan_peer.py MAC VID:ADDRESS [VID:ADDRESS ...]     (VID 0: untagged)

Prints "ready" once it is sniffing; one line "VID ADDRESS" per request it answers."""
import sys
import threading

from scapy.all import ARP, ICMP, IP, AsyncSniffer, Dot1Q, Ether, conf, sendp

conf.verb = 0
mac = sys.argv[1]
addresses = {}
for arg in sys.argv[2:]:
    vid, ip = arg.split(":")
    addresses[(int(vid), ip)] = True


def answer(p):
    if Ether not in p or p[Ether].src == mac:
        return
    vid = p[Dot1Q].vlan if Dot1Q in p else 0
    tag = (lambda x: Dot1Q(vlan=vid) / x) if vid else (lambda x: x)
    if ARP in p and p[ARP].op == 1 and (vid, p[ARP].pdst) in addresses:
        reply = ARP(op=2, hwsrc=mac, psrc=p[ARP].pdst, hwdst=p[ARP].hwsrc, pdst=p[ARP].psrc)
        sendp(Ether(src=mac, dst=p[Ether].src) / tag(reply), iface="eth0")
        print(vid, p[ARP].pdst, flush=True)
    elif ICMP in p and p[ICMP].type == 8 and (vid, p[IP].dst) in addresses:
        reply = IP(src=p[IP].dst, dst=p[IP].src) / ICMP(type=0, id=p[ICMP].id, seq=p[ICMP].seq)
        sendp(Ether(src=mac, dst=p[Ether].src) / tag(reply / p[ICMP].payload), iface="eth0")
        print(vid, p[IP].dst, flush=True)


listening = threading.Event()
sniffer = AsyncSniffer(iface="eth0", prn=answer, store=False, started_callback=listening.set)
sniffer.start()
listening.wait()
print("ready", flush=True)
sniffer.join()
