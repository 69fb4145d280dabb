#!/usr/bin/env bash
# The built-in demo: no NIC needed. Creates six guests and an "outside" (network
# namespaces on veth pairs), starts guestportd with deploy/demo.yaml, pings across the
# internal network, to the host over the host-only network, and from a NAT guest and a
# NAT Network guest (addresses from the appliance's DHCP) to a server outside, then
# prints live per-port counters and the NAT sessions.
# Ctrl-C (or --duration N) stops everything and removes what it created.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$here/build}
duration=0
[ "${1:-}" = "--duration" ] && duration=${2:?seconds}

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (namespaces, DPDK)"; exit 1; }
[ -x "$build/control/guestportd" ] || { echo "demo.sh: build first (meson setup build && ninja -C build)"; exit 1; }

vms=(vm1 vm2 vm3 vm4 vm5 vm6 wan)
# vm5 (nat) and vm6 (natnetwork) take their address from the appliance's DHCP server;
# "wan" is the outside world: the uplink's gateway 203.0.113.1 with a server at
# 198.51.100.1 (TEST-NET addresses; no route leaves the machine).
declare -A ip=([vm1]=10.10.10.1/24 [vm2]=10.10.10.2/24 [vm3]=10.10.10.3/24 [vm4]=192.168.56.10/24
               [vm5]="" [vm6]="" [wan]=203.0.113.1/24)
declare -A mac=([vm1]=08:00:27:00:00:01 [vm2]=08:00:27:00:00:02 [vm3]=08:00:27:00:00:03
                [vm4]=08:00:27:00:00:04 [vm5]=08:00:27:00:00:05 [vm6]=08:00:27:00:00:06
                [wan]=02:00:00:00:0a:01)
daemon=""
pids=()
log=$(mktemp /tmp/guestportd-demo.XXXXXX.log)
hook=$(mktemp /tmp/guestport-demo-udhcpc.XXXXXX)

cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  for vm in "${vms[@]}"; do
    for p in $(ip netns pids "gpdemo-$vm" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    ip link del "gpd-$vm" 2>/dev/null || true
    ip netns del "gpdemo-$vm" 2>/dev/null || true
  done
  rm -f "$hook"
  echo "demo: stopped; namespaces, veths and the tap are gone (daemon log: $log)"
}
trap cleanup EXIT INT TERM

for vm in "${vms[@]}"; do
  ns="gpdemo-$vm"
  ip netns add "$ns"
  ip link add "gpd-$vm" type veth peer name eth0 netns "$ns"
  # The switch side of a veth must stay silent: no IPv6 ND/MLD, and no ARP replies for
  # the host's own addresses (Linux answers ARP for any local address on any interface).
  sysctl -qw "net.ipv6.conf.gpd-$vm.disable_ipv6=1" "net.ipv4.conf.gpd-$vm.arp_ignore=8" 2>/dev/null || true
  ip link set "gpd-$vm" up
  ip netns exec "$ns" ip link set eth0 address "${mac[$vm]}"
  [ -n "${ip[$vm]}" ] && ip netns exec "$ns" ip addr add "${ip[$vm]}" dev eth0
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null 2>&1 || true
done

"$build/control/guestportd" --config "$here/deploy/demo.yaml" >"$log" 2>&1 &
daemon=$!
for _ in $(seq 50); do
  "$build/control/guestportctl" -s /run/guestport/demo.sock show stats >/dev/null 2>&1 && break
  kill -0 "$daemon" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done

ip netns exec gpdemo-wan ip addr add 198.51.100.1/32 dev lo
# The guests' DHCP client (busybox udhcpc) with a hook that applies the lease.
cat > "$hook" <<'HOOK'
#!/bin/sh
case "$1" in bound|renew)
  ip addr add "$ip/$mask" dev "$interface"
  for r in $router; do ip route add default via "$r" dev "$interface"; done;;
esac
HOOK
chmod 700 "$hook"
for vm in vm5 vm6; do
  ip netns exec "gpdemo-$vm" udhcpc -i eth0 -f -q -n -t 5 -T 2 -s "$hook" >/dev/null 2>&1 ||
    echo "demo: $vm got no DHCP lease"
done

ip netns exec gpdemo-vm1 ping -i 0.5 10.10.10.2 >/dev/null 2>&1 & pids+=($!)
ip netns exec gpdemo-vm2 ping -i 0.5 10.10.10.3 >/dev/null 2>&1 & pids+=($!)
ip netns exec gpdemo-vm4 ping -i 0.5 192.168.56.1 >/dev/null 2>&1 & pids+=($!)
sleep 1
echo "== vm1 -> vm2 (internal:lab)";  ip netns exec gpdemo-vm1 ping -c 2 -W 2 10.10.10.2 | tail -2
echo "== vm4 -> host 192.168.56.1 (hostonly:hostnet)"; ip netns exec gpdemo-vm4 ping -c 2 -W 2 192.168.56.1 | tail -2
for vm in vm5 vm6; do
  addr=$(ip netns exec "gpdemo-$vm" ip -4 -o addr show dev eth0 | awk '{print $4}')
  echo "== $vm ($addr from the appliance's DHCP) -> outside server 198.51.100.1 through the NAT"
  ip netns exec "gpdemo-$vm" ping -c 2 -W 2 198.51.100.1 | tail -2
done
ip netns exec gpdemo-vm5 ping -i 1 198.51.100.1 >/dev/null 2>&1 & pids+=($!)
echo "== NAT sessions (guestportctl show nat)"
"$build/control/guestportctl" -s /run/guestport/demo.sock show nat
echo "== Ctrl-C to stop"
start=$SECONDS
while kill -0 "$daemon" 2>/dev/null; do
  echo; date +%T
  "$build/control/guestportctl" -s /run/guestport/demo.sock show ports
  [ "$duration" -gt 0 ] && [ $((SECONDS - start)) -ge "$duration" ] && break
  sleep 2
done
