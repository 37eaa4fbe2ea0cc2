"""Command line: stored optimizer JSON in, canonical JSON out.

    python -m kerasopt_compat [--to legacy|keras2|keras3] [--custom NAME] [--strict] [-q] [--indent N] [FILE ...]
    python -m kerasopt_compat fix-model IN OUT --to TARGET [--force] [--check]

Reads each FILE (or standard input, also as ``-``) as JSON text written by any
TF/Keras version and prints its canonical dict (or, with ``--to``, the dict
that Keras generation would write), one JSON document per line. Imports no
TensorFlow. Problems are reported on standard error, one line per file, and
the other files are still processed.

Exit status: 0 when every file was converted, 2 when a file could not be read
or is not an optimizer config.

``fix-model`` copies a model file, rewriting only its stored optimizer for a
TARGET release (see ``python -m kerasopt_compat fix-model --help``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence

from ._errors import KerasOptCompatError, UnknownClassError
from ._normalize import loads
from ._write import to_native

#: (leading bytes, what a file starting with them is)
_MAGIC = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?), not JSON text"),
    (b"PK\x03\x04", "a zip archive (a Keras .keras model?), not JSON text"),
)
_GENERATIONS = ("legacy", "keras2", "keras3")


class InputProblem(Exception):
    """A file that is not JSON text: one line for standard error."""


def _read(source: str) -> str:
    if source == "-":
        data = sys.stdin.buffer.read()
    elif os.path.isdir(source):
        raise InputProblem("is a directory (a SavedModel?), not a JSON file")
    else:
        try:
            with open(source, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise InputProblem(exc.strerror or str(exc)) from None
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise InputProblem("is " + what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputProblem("is not UTF-8 text (a binary file?), not JSON text") from None


def _convert(text: str, args: argparse.Namespace) -> Dict[str, Any]:
    out = loads(text, custom_objects=args.custom)
    if args.to:
        out = to_native(out, args.to, strict=args.strict, custom_objects=args.custom)
    return out


def _message(exc: KerasOptCompatError) -> str:
    if isinstance(exc, UnknownClassError) and exc.class_name:
        return exc.with_hint("if it is your own class, pass --custom %s to copy it through unchanged" % exc.class_name)
    return str(exc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kerasopt_compat",
        description=__doc__.split("\n\n")[0],
        epilog="examples:\n"
        "  python -m kerasopt_compat optimizer.json\n"
        "  python -m kerasopt_compat --to legacy --strict a.json b.json\n"
        "  cat stored.json | python -m kerasopt_compat --custom MyOptimizer -\n\n"
        "exit status: 0 ok, 2 a file could not be read or converted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="JSON files ('-' or none: standard input)")
    parser.add_argument(
        "--to",
        choices=_GENERATIONS,
        help="write the native dict of this Keras generation instead: legacy (TF 2.4-2.10, optimizers.legacy), "
        "keras2 (TF 2.11-2.15, tf_keras), keras3 (TF 2.16+, Keras 3)",
    )
    parser.add_argument(
        "--custom",
        action="append",
        default=[],
        metavar="NAME",
        help="let optimizer/schedule class NAME through unchanged (your own class; repeatable)",
    )
    parser.add_argument("--strict", action="store_true", help="with --to: a setting the target cannot hold is an error")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")
    parser.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fix-model"]:
        from . import _fixcli

        return _fixcli.main(argv[1:])
    args = _parser().parse_args(argv)
    status = 0
    for source in args.files or ["-"]:
        label = "<stdin>" if source == "-" else source
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = _convert(_read(source), args)
            except InputProblem as exc:
                print("%s: %s" % (label, exc), file=sys.stderr)
                status = 2
                continue
            except KerasOptCompatError as exc:
                print("%s: %s" % (label, _message(exc)), file=sys.stderr)
                status = 2
                continue
            finally:
                _print_warnings(label, caught, args.quiet)
        print(json.dumps(out, indent=args.indent, allow_nan=False))
    return status


def _print_warnings(label: str, caught: List[warnings.WarningMessage], quiet: bool) -> None:
    if quiet:
        return
    for item in caught:
        print("warning: %s: %s" % (label, item.message), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
