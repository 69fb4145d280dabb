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
fmt_xml=$reports/format.xml
bad=$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror 2>&1 | grep -c 'error:' || true)
{
  echo '<testsuite name="format">'
  if [ "$bad" = 0 ]; then echo '<testcase name="clang-format"/>'
  else echo "<testcase name=\"clang-format\"><failure message=\"$bad lines need clang-format\"/></testcase>"; fi
  echo '</testsuite>'
} > "$fmt_xml"
[ "$bad" = 0 ] || { echo "clang-format: $bad problems (run clang-format -i)"; status=1; }

step "unit tests"
build/tests/unit_tests --gtest_output="json:$reports/unit.json" || status=1
step "dataplane tests"
build/tests/dataplane_tests --gtest_output="json:$reports/dataplane.json" || status=1

step "sanitizer build (ASan + UBSan)"
if [ "${GP_SKIP_SANITIZERS:-0}" != 1 ]; then
  [ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined \
      -Db_lundef=false -Dbenchmarks=false || exit 1
  ninja -C build-asan tests/unit_tests tests/dataplane_tests || exit 1
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  build-asan/tests/unit_tests --gtest_output="json:$reports/unit-asan.json" || status=1
  build-asan/tests/dataplane_tests --gtest_output="json:$reports/dataplane-asan.json" || status=1
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

step "integration tests (network namespaces, real kernel stacks)"
GP_BUILD="$root/build" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration \
    --junitxml="$reports/integration.xml" || status=1

step "totals"
/usr/bin/python3 tests/summarize.py "$reports"/*.json "$reports"/*.xml || status=1
rm -rf "$reports"
exit $status
