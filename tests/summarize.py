#!/usr/bin/env python3
"""Sums gtest JSON reports and pytest JUnit XML reports; prints 'N passed, N failed[, N skipped]'.

Usage: summarize.py REPORT[@EXIT_STATUS]...

Nothing can vanish from the totals:
- a report that is missing or unreadable counts as one failure (the binary crashed
  before writing it);
- failures outside any test (a gtest environment whose SetUp failed, e.g. EAL init;
  pytest collection errors) count as failures;
- a report with no test at all counts as one failure;
- when the binary's exit status is given and is not 0 but its report shows no failed
  test, that counts as one failure (a crash after the report, a sanitizer at exit).
Exit status 1 if anything failed.
"""
import json
import sys
import xml.etree.ElementTree as ET


def gtest(path):
    doc = json.load(open(path))
    p = f = s = 0
    for suite in doc.get("testsuites", []):
        for t in suite.get("testsuite", []):
            if t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                s += 1
            elif t.get("failures"):
                f += 1
            else:
                p += 1
    # Failures recorded outside any test (global environment SetUp/TearDown).
    outside = int(doc.get("failures", 0)) - f
    if outside > 0 or doc.get("ad_hoc_test_result", {}).get("failures"):
        print(f"summarize: {path}: {max(outside, 1)} failure(s) outside any test", file=sys.stderr)
        f += max(outside, 1)
    return p, f, s


def junit(path):
    root = ET.parse(path).getroot()
    p = f = s = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            f += 1
        elif case.find("skipped") is not None:
            s += 1
        else:
            p += 1
    # Errors pytest records on the suite itself (collection errors without a testcase).
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    declared = sum(int(x.get("errors", 0)) + int(x.get("failures", 0)) for x in suites)
    if declared > f:
        f = declared
    return p, f, s


def main(args):
    passed = failed = skipped = 0
    for arg in args:
        path, _, rc = arg.partition("@")
        try:
            p, f, s = gtest(path) if path.endswith(".json") else junit(path)
        except (OSError, ValueError, ET.ParseError) as e:
            print(f"summarize: {path}: {e} (counted as one failure)", file=sys.stderr)
            failed += 1
            continue
        if p + f + s == 0:
            print(f"summarize: {path}: no test ran (counted as one failure)", file=sys.stderr)
            f = 1
        if rc and rc != "0" and f == 0:
            print(f"summarize: {path}: exit status {rc} but no failed test (counted as one failure)",
                  file=sys.stderr)
            f = 1
        passed, failed, skipped = passed + p, failed + f, skipped + s
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
