#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs dependencies, builds, checks
# formatting, runs unit and dataplane tests (also under ASan+UBSan), runs the
# integration tests with real kernel stacks in network namespaces, and ends with the
# totals line "N passed, N failed[, N skipped]".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: run as root (namespaces, DPDK)"; exit 1; }
bash deploy/install-deps.sh || exit 1

reports=$(mktemp -d /tmp/guestport-reports.XXXXXX)
status=0
step() { echo; echo "=== $*"; }

step "build"
[ -f build/build.ninja ] || meson setup build || exit 1
ninja -C build || exit 1

step "clang-format"
# A missing clang-format, or one that fails to run, is a failed check, not a pass.
fmt_xml=$reports/format.xml
fmt_out=$reports/format.out
fmt_msg=""
if ! command -v clang-format >/dev/null; then
  fmt_msg="clang-format is not installed"
else
  git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run --Werror > "$fmt_out" 2>&1
  fmt_rc=$?
  bad=$(grep -c 'error:' "$fmt_out" || true)
  if [ "$fmt_rc" != 0 ] || [ "$bad" != 0 ]; then
    fmt_msg="clang-format exit $fmt_rc, $bad problems (run clang-format -i)"
    head -20 "$fmt_out"
  fi
fi
{
  echo '<testsuite name="format">'
  if [ -z "$fmt_msg" ]; then echo '<testcase name="clang-format"/>'
  else echo "<testcase name=\"clang-format\"><failure message=\"$fmt_msg\"/></testcase>"; fi
  echo '</testsuite>'
} > "$fmt_xml"
[ -z "$fmt_msg" ] || { echo "clang-format: $fmt_msg"; status=1; }

# Each report is named here whether or not the binary wrote it, with the binary's exit
# status: a crash before the report, or a failure outside any test, cannot vanish.
reports_list=()
gtest_run() {  # gtest_run NAME BINARY
  local name=$1 bin=$2 rc=0
  "$bin" --gtest_output="json:$reports/$name.json" || rc=$?
  [ "$rc" = 0 ] || status=1
  reports_list+=("$reports/$name.json@$rc")
}
step "unit tests"
gtest_run unit build/tests/unit_tests
step "dataplane tests"
gtest_run dataplane build/tests/dataplane_tests

step "sanitizer build (ASan + UBSan)"
if [ "${GP_SKIP_SANITIZERS:-0}" = 1 ]; then
  # Allowed for a quick local run, never silent: it shows in the totals as a failure.
  echo "GP_SKIP_SANITIZERS=1: the sanitizer pass is skipped and counted as failed"
  printf '%s\n' '<testsuite name="sanitizers">' \
    '<testcase name="asan-ubsan"><failure message="skipped by GP_SKIP_SANITIZERS=1"/></testcase>' \
    '</testsuite>' > "$reports/sanitizers.xml"
  status=1
else
  # An existing build-asan must really have the sanitizers on (a plain one is redone).
  if [ -f build-asan/build.ninja ] &&
     ! meson introspect build-asan --buildoptions 2>/dev/null |
       /usr/bin/python3 -c 'import json,sys; o={x["name"]:x["value"] for x in json.load(sys.stdin)}; sys.exit(0 if o.get("b_sanitize")=="address,undefined" else 1)'; then
    echo "build-asan is not a sanitizer build: configuring it again"
    meson setup --wipe build-asan -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbenchmarks=false || exit 1
  fi
  [ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined \
      -Db_lundef=false -Dbenchmarks=false || exit 1
  ninja -C build-asan tests/unit_tests tests/dataplane_tests || exit 1
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  gtest_run unit-asan build-asan/tests/unit_tests
  gtest_run dataplane-asan build-asan/tests/dataplane_tests
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

step "fuzzing (libFuzzer, ASan + UBSan: regression inputs, then each target for a while)"
# tests/fuzz/run.sh: about a minute per target (GP_FUZZ_SECONDS); executions and rates
# are printed per target. A crash, leak or sanitizer report fails its target.
rc=0
GP_FUZZ_SECONDS=${GP_FUZZ_SECONDS:-60} bash tests/fuzz/run.sh --junit "$reports/fuzz.xml" || rc=$?
[ "$rc" = 0 ] || status=1
reports_list+=("$reports/fuzz.xml@$rc")

step "integration tests (network namespaces, real kernel stacks)"
rc=0
GP_BUILD="$root/build" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration \
    --junitxml="$reports/integration.xml" || rc=$?
[ "$rc" = 0 ] || status=1
reports_list+=("$reports/integration.xml@$rc")

step "benchmarks, smoke runs (figures printed, never asserted)"
# Each micro bench for a moment, bench/run.sh --smoke (a release build, one short
# round of one scenario through testpmd and guestport) and its latency probe: they must
# build and run.
bench_xml=$reports/bench.xml
{
  echo '<testsuite name="bench-smoke">'
  for b in l2_forward_bench nat_bench; do
    if build/bench/$b --benchmark_min_time=0.05 > "$reports/$b.out" 2>&1; then
      echo "<testcase name=\"$b\"/>"
    else
      echo "<testcase name=\"$b\"><failure message=\"build/bench/$b failed\"/></testcase>"
      status=1
    fi
    tail -4 "$reports/$b.out" >&2
  done
  if bash bench/run.sh --smoke --no-ovs > "$reports/run.out" 2>&1; then
    echo '<testcase name="bench/run.sh --smoke"/>'
  else
    echo '<testcase name="bench/run.sh --smoke"><failure message="bench/run.sh --smoke failed"/></testcase>'
    status=1
  fi
  tail -6 "$reports/run.out" >&2
  # Two workers, the pcap dealt over two receive queues, NAT frames handed between them.
  if bash bench/run.sh --smoke --no-ovs --workers 2 --scenarios nat-1k > "$reports/run2.out" 2>&1; then
    echo '<testcase name="bench/run.sh --smoke --workers 2"/>'
  else
    echo '<testcase name="bench/run.sh --smoke --workers 2"><failure message="bench/run.sh --smoke --workers 2 failed"/></testcase>'
    status=1
  fi
  tail -4 "$reports/run2.out" >&2
  # The latency probe through two vhost-user ports of testpmd and of guestport (hugepages).
  if bash bench/run.sh --smoke --no-ovs --latency-only > "$reports/latency.out" 2>&1; then
    echo '<testcase name="bench/run.sh --smoke --latency-only"/>'
  else
    echo '<testcase name="bench/run.sh --smoke --latency-only"><failure message="bench/run.sh --smoke --latency-only failed"/></testcase>'
    status=1
  fi
  tail -11 "$reports/latency.out" >&2
  echo '</testsuite>'
} > "$bench_xml"

step "totals"
/usr/bin/python3 tests/summarize.py "$reports/format.xml" "$bench_xml" "${reports_list[@]}" \
    $( [ -f "$reports/sanitizers.xml" ] && echo "$reports/sanitizers.xml" ) || status=1
rm -rf "$reports"
exit $status
