"""Sum the pytest junit reports of every tox env: one closing line for CI.

Usage: python tools/junit_summary.py .tox  ->  per-env lines, then
'tests: N passed, N failed, N skipped'. Exit 1 when an env has no report or
when nothing ran.
"""

from __future__ import annotations

import pathlib
import sys
import xml.etree.ElementTree as ET


def main(root: str) -> int:
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    rows = []
    for report in sorted(pathlib.Path(root).glob("*/tmp/junit.xml")):
        env = report.parent.parent.name
        suite = ET.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        tests = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        passed = tests - failed - skipped
        totals["passed"] += passed
        totals["failed"] += failed
        totals["skipped"] += skipped
        rows.append(
            "%-16s %6d passed %4d failed %5d skipped  %6.1f s" % (env, passed, failed, skipped, float(suite.get("time", 0)))
        )
    print("\n".join(rows))
    print("tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % totals)
    return 0 if rows and totals["passed"] and not totals["failed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".tox"))
