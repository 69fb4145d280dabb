#!/usr/bin/env bash
# Configures (first time) and builds guestport into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build
ninja -C build
