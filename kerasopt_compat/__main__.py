"""Command line: stored optimizer JSON in, canonical JSON out.

    python -m kerasopt_compat [--to legacy|keras2|keras3] [--indent N] [FILE ...]

Reads each FILE (or standard input) as JSON text written by any TF/Keras
version and prints its canonical dict (or, with ``--to``, the dict that Keras
generation would write). Imports no TensorFlow. Exit status 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from ._errors import KerasOptCompatError
from ._normalize import loads
from ._write import to_native


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kerasopt_compat", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="JSON files (default: standard input)")
    parser.add_argument("--to", choices=["legacy", "keras2", "keras3"], help="write this generation's native dict instead")
    parser.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    args = parser.parse_args(argv)
    sources = args.files or ["-"]
    status = 0
    for source in sources:
        try:
            text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
            out = loads(text)
            if args.to:
                out = to_native(out, args.to)
        except (OSError, KerasOptCompatError) as exc:
            print("%s: %s" % (source, exc), file=sys.stderr)
            status = 2
            continue
        print(json.dumps(out, indent=args.indent, allow_nan=False))
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
