#!/usr/bin/env bash
# Installs everything guestport needs to build, run its demo and run its test suite on
# Debian 12, as root. Idempotent: does nothing when every package is already there.
set -euo pipefail
pkgs=(
  # build
  build-essential meson ninja-build pkg-config clang-format
  libdpdk-dev dpdk dpdk-dev libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libcli11-dev
  prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing (tests/fuzz): clang with libFuzzer and its sanitizer runtimes
  clang libclang-rt-dev
  # demo and integration tests: real kernel network stacks in namespaces
  iproute2 ethtool iputils-ping iperf3 tcpdump python3 python3-pytest python3-scapy
  isc-dhcp-client udhcpc dnsmasq-base procps curl tshark
  # bench/run.sh --plot
  gnuplot-nox
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
