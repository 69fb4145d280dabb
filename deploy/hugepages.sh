#!/usr/bin/env bash
# Reserves 2 MB hugepages for guestportd and mounts hugetlbfs if needed (root).
# Usage: deploy/hugepages.sh [MB]   (default 512). guestportd's `hugepages: auto` uses
# them when enough are free and falls back to --no-huge otherwise.
set -euo pipefail
mb=${1:-512}
pages=$(( (mb + 1) / 2 ))
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
cur=$(cat "$nr")
[ "$cur" -ge "$pages" ] || echo "$pages" > "$nr"
grep -q ' hugetlbfs ' /proc/mounts || { mkdir -p /dev/hugepages; mount -t hugetlbfs nodev /dev/hugepages; }
echo "hugepages: $(cat "$nr") x 2 MB reserved, $(grep HugePages_Free /proc/meminfo | awk '{print $2}') free"
