"""Compare Keras' own test suite run plainly and with ``kerasopt_compat.install()``.

    python tools/keras_suite.py PLAIN.xml INSTALLED.xml [--report OUT.json]

Every test that passes plainly must pass with install() active, except the
tests listed in SHAPE_TESTS (tests asserting the exact native dict shape that
install() deliberately changes; README lists them with the reason). Prints the
counts and every changed outcome; exit status 1 when a test regressed.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from typing import Dict

#: test id -> why install() may change its outcome (none known: Keras' suites
#: call keras.src.* internals, which install() never patches).
SHAPE_TESTS: Dict[str, str] = {}


def outcomes(path: str) -> Dict[str, str]:
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = "%s::%s" % (case.get("classname"), case.get("name"))
        if case.find("failure") is not None or case.find("error") is not None:
            out[name] = "failed"
        elif case.find("skipped") is not None:
            out[name] = "skipped"
        else:
            out[name] = "passed"
    return out


def main(argv) -> int:
    plain, installed = outcomes(argv[0]), outcomes(argv[1])
    if not plain or not any(v == "passed" for v in plain.values()):
        print("keras_suite: no Keras test passed plainly in %s: nothing was compared" % argv[0])
        return 1
    changed = {name: (plain[name], installed.get(name, "missing")) for name in plain if installed.get(name) != plain[name]}
    regressions = [n for n, (a, b) in changed.items() if a == "passed" and n not in SHAPE_TESTS]
    counts = {
        "plain": {k: sum(v == k for v in plain.values()) for k in ("passed", "failed", "skipped")},
        "installed": {k: sum(v == k for v in installed.values()) for k in ("passed", "failed", "skipped")},
        "changed": len(changed),
        "regressions": len(regressions),
        "allowed_shape_tests": sorted(n for n in changed if n in SHAPE_TESTS),
    }
    print("Keras suite plainly: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % counts["plain"])
    print("with install():      %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % counts["installed"])
    for name, (a, b) in sorted(changed.items()):
        print("changed: %s: %s -> %s%s" % (name, a, b, " (allowed: %s)" % SHAPE_TESTS[name] if name in SHAPE_TESTS else ""))
    if "--report" in argv:
        with open(argv[argv.index("--report") + 1], "w") as fh:
            json.dump(counts, fh, indent=1)
    if regressions:
        print("keras_suite: %d test(s) pass plainly and fail with install()" % len(regressions))
        return 1
    print("keras_suite: no outcome changed by install()" if not changed else "keras_suite: only allowed changes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
