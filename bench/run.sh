#!/bin/bash
# Side-by-side throughput of guestport, dpdk-testpmd io and (when installed) Open vSwitch
# with DPDK on DPDK vdevs; see bench/run.py. Builds a release build first.
#   bash bench/run.sh [--rounds N] [--window S] [--scenarios a,b] [--smoke] [--out DIR]
#                     [--latency | --latency-only] [--plot PNG]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d build-release ]; then
  meson setup build-release --buildtype=release -Dbenchmarks=false >/dev/null
fi
echo "[bench] building build-release (--buildtype=release)" >&2
ninja -C build-release control/guestportd control/guestportctl bench/latency_probe >/dev/null
exec /usr/bin/python3 bench/run.py --guestportd build-release/control/guestportd "$@"
