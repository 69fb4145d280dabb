#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, build-fuzz/) and runs each one:
# first once over its regression inputs (tests/fuzz/regressions/<target>/: every crash
# ever found, kept), then for GP_FUZZ_SECONDS (default 60) from its seed corpus
# (tests/fuzz/corpus/<target>/, copied: the checked-in seeds are never rewritten).
# Any crash, leak, timeout or sanitizer report fails the target; its input is kept
# under $GP_FUZZ_ARTIFACTS (default /tmp/guestport-fuzz) to become a regression input.
#
#   tests/fuzz/run.sh [--junit FILE] [TARGET...]
# Prints one line per target: executions, executions per second, corpus size.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
junit=""
if [ "${1:-}" = "--junit" ]; then junit=$2; shift 2; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_packet fuzz_config fuzz_control fuzz_messages)
seconds=${GP_FUZZ_SECONDS:-60}
artifacts=${GP_FUZZ_ARTIFACTS:-/tmp/guestport-fuzz}
mkdir -p "$artifacts"

if ! command -v clang++ >/dev/null; then
  echo "tests/fuzz/run.sh: clang++ is not installed (deploy/install-deps.sh installs it)"
  exit 1
fi
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbenchmarks=false -Dtests=false || exit 1
fi
ninja -C build-fuzz $(printf 'tests/fuzz/%s ' "${targets[@]}") || exit 1

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
cases=()
for t in "${targets[@]}"; do
  bin=build-fuzz/tests/fuzz/$t
  log=$artifacts/$t.log
  work=$(mktemp -d /tmp/guestport-corpus.XXXXXX)
  cp -r "tests/fuzz/corpus/$t/." "$work/" 2>/dev/null || true
  msg=""
  regress=(tests/fuzz/regressions/$t/*)
  if [ -e "${regress[0]}" ]; then
    if ! "$bin" -rss_limit_mb=4096 -timeout=20 "${regress[@]}" > "$log.regress" 2>&1; then
      msg="a regression input fails again"
      tail -30 "$log.regress"
    fi
  fi
  if [ -z "$msg" ]; then
    "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$t-" -max_len=12000 "$work" > "$log" 2>&1
    rc=$?
    if [ "$rc" != 0 ]; then
      msg="exit $rc: $(grep -m1 -E 'ERROR|SUMMARY|runtime error|deadly signal|Timeout|leak' "$log")"
      tail -40 "$log"
    fi
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" 2>/dev/null | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" 2>/dev/null | tail -1)
  size=$(find "$work" -type f | wc -l)
  echo "$t: ${execs:-0} executions, ${rate:-0}/s, corpus ${size} inputs${msg:+ — FAILED: $msg}"
  rm -rf "$work"
  msg=${msg//\"/\'}
  msg=${msg//</(}
  msg=${msg//>/)}
  msg=${msg//&/and}
  if [ -z "$msg" ]; then
    cases+=("<testcase name=\"$t\"><system-out>${execs:-0} executions, ${rate:-0}/s</system-out></testcase>")
  else
    cases+=("<testcase name=\"$t\"><failure message=\"$msg\"/></testcase>")
    status=1
  fi
done
if [ -n "$junit" ]; then
  { echo '<testsuite name="fuzz">'; printf '%s\n' "${cases[@]}"; echo '</testsuite>'; } > "$junit"
fi
exit $status
