#!/usr/bin/env python3
"""Sums gtest JSON reports and pytest JUnit XML reports; prints 'N passed, N failed[, N skipped]'.

Usage: summarize.py REPORT... ; a report that is missing counts as one failure (the
suite crashed before writing it). Exit status 1 if anything failed.
"""
import json
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        if path.endswith(".json"):
            doc = json.load(open(path))
            for suite in doc.get("testsuites", []):
                for t in suite.get("testsuite", []):
                    if t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                        skipped += 1
                    elif t.get("failures"):
                        failed += 1
                    else:
                        passed += 1
        else:
            root = ET.parse(path).getroot()
            for case in root.iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    failed += 1
                elif case.find("skipped") is not None:
                    skipped += 1
                else:
                    passed += 1
    except (OSError, ValueError, ET.ParseError) as e:
        print(f"summarize: {path}: {e}", file=sys.stderr)
        failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
