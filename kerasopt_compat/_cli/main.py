"""The ``kerasopt-compat`` command line (also ``python -m kerasopt_compat``).

Subcommands::

    kerasopt-compat check [--json]
    kerasopt-compat normalize [FILE ...] [-o OUT | --in-place] [--field a.b.c] [--on-error stop|skip|keep]
    kerasopt-compat convert --to TARGET [FILE ...] [same options] [--strict]
    kerasopt-compat fix-model IN OUT --to TARGET [--force] [--check]
    kerasopt-compat state PATH... [--json]
    kerasopt-compat upgrade IN OUT.keras [--force]

and the one-shot form of version 0.1, kept as it was::

    python -m kerasopt_compat [--to legacy|keras2|keras3] [--custom NAME] [--strict] [-q] [--indent N] [FILE ...]

Output goes to standard output (or ``-o``), messages to standard error.
Exit status: 0 ok; 1 a record failed (or, with ``--check``, would change);
2 usage error or an input that cannot be read.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

from .. import __version__
from .._config import stream as S
from .._config import tables as T
from .._config.normalize import parse_json
from .._config.write import resolve_target
from .._errors import KerasOptCompatError
from .._files.atomic import AtomicWrite, same_file
from .common import add_unknown_keys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
GENERATIONS = ("legacy", "keras2", "keras3")
COMMANDS = ("check", "normalize", "convert", "fix-model", "state", "upgrade")

#: (leading bytes, what a file starting with them is)
_MAGIC = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?), not JSON text"),
    (b"PK\x03\x04", "a zip archive (a Keras .keras model?), not JSON text"),
)
#: Inputs larger than this get a progress bar (when stderr is a terminal).
_PROGRESS_BYTES = 8 << 20


class InputProblem(Exception):
    """An input that is not JSON text: one line for standard error, exit status 2."""


def _version() -> str:

    return __version__


# --------------------------------------------------------------------------- reading input


def _sniff(data: bytes) -> None:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise InputProblem("is " + what)


def _open_text(source: str) -> Tuple[TextIO, Optional[int]]:
    """A text stream over ``source`` (``-``: stdin) and its size in bytes if known."""

    if source == "-":
        raw: io.BufferedReader = sys.stdin.buffer  # type: ignore[assignment]
        size = None
    elif os.path.isdir(source):
        raise InputProblem("is a directory (a SavedModel?), not a JSON file")
    else:
        try:
            raw = open(source, "rb")  # noqa: SIM115 - closed with the text wrapper
            size = os.fstat(raw.fileno()).st_size
        except OSError as exc:
            raise InputProblem(exc.strerror or str(exc)) from None
    _sniff(raw.peek(8)[:8])
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline=None), size


def _read_whole(source: str) -> str:
    fh, _ = _open_text(source)
    with fh:
        try:
            return fh.read()
        except UnicodeDecodeError:
            raise InputProblem("is not UTF-8 text (a binary file?), not JSON text") from None


# --------------------------------------------------------------------------- one-shot form (0.1)


def _oneshot_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasopt-compat",
        description="Stored optimizer JSON in, canonical JSON out (one document per file). "
        "Subcommands: %s (see 'kerasopt-compat COMMAND --help')." % ", ".join(COMMANDS),
        epilog="examples:\n"
        "  kerasopt-compat optimizer.json\n"
        "  kerasopt-compat --to legacy --strict a.json b.json\n"
        "  cat stored.json | kerasopt-compat --custom MyOptimizer -\n"
        "  kerasopt-compat normalize runs.jsonl --field config.optimizer -o runs.canonical.jsonl\n\n"
        "exit status: 0 ok, 2 a file could not be read or converted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="JSON files ('-' or none: standard input)")
    _add_target(parser, required=False)
    _add_common(parser)
    parser.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    parser.add_argument("--version", action="version", version="kerasopt_compat %s" % _version())
    return parser


def _oneshot(argv: Sequence[str]) -> int:
    args = _oneshot_parser().parse_args(argv)
    options = S.Options(args.to, (), tuple(args.custom), args.strict, args.unknown_keys)
    status = EXIT_OK
    for source in args.files or ["-"]:
        label = "<stdin>" if source == "-" else source
        try:
            value = parse_json(_read_whole(source))
        except InputProblem as exc:
            _say("%s: %s" % (label, exc))
            status = EXIT_USAGE
            continue
        except ValueError as exc:
            _say("%s: invalid JSON text: %s" % (label, exc))
            status = EXIT_USAGE
            continue
        result = next(S.process_values([value], options, args.indent))
        _report(label, result, args.quiet)
        if result.status == S.FAILED:
            status = EXIT_USAGE
        else:
            print(result.text)
    return status


# --------------------------------------------------------------------------- subcommands


def _target(text: str) -> str:

    try:
        resolve_target(text)
    except KerasOptCompatError:
        raise argparse.ArgumentTypeError(
            "unknown target %r: use a release (%s) or a generation (%s)"
            % (text, ", ".join(r for r in T.RELEASES if not r.startswith("keras3.")) + ", keras3.N", ", ".join(GENERATIONS))
        ) from None
    return text.strip().lower()


def _add_target(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--to",
        required=required,
        type=_target,
        metavar="TARGET",
        help="write the native dict this release reads: tf2.4, tf2.8 ... tf2.21, tf_keras, keras3 (newest) or "
        "keras3.N; or a generation: legacy (TF 2.4-2.10, optimizers.legacy), keras2 (TF 2.11-2.15, tf_keras), keras3",
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--custom",
        action="append",
        default=[],
        metavar="NAME",
        help="let optimizer/schedule class NAME through unchanged (your own class; repeatable)",
    )
    parser.add_argument("--strict", action="store_true", help="with --to: a setting the target cannot hold is an error")
    add_unknown_keys(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no warnings and no progress bar")


def _bulk_parser(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="JSON, JSON array or JSON Lines files ('-': stdin)")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here, atomically ('-': stdout, the default)")
    parser.add_argument("--in-place", action="store_true", help="rewrite the one input FILE (atomically)")
    parser.add_argument(
        "--field",
        metavar="A.B.C",
        help="the optimizer is this field of each record (dotted path); every other field is kept as it was",
    )
    parser.add_argument(
        "--on-error",
        choices=("stop", "skip", "keep"),
        default="stop",
        help="a bad record: stop there (default; with -o nothing is written), skip it, or keep it unchanged",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any record would change")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="worker processes (order is kept)")
    parser.add_argument("--indent", type=int, default=None, help="indent single JSON documents and arrays")
    _add_common(parser)
    parser.set_defaults(run=_bulk, command=name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasopt-compat",
        description="Check, normalize and migrate stored Keras optimizer configs and model files (no TensorFlow "
        "needed but for check's live round trip and upgrade). 'kerasopt-compat COMMAND --help' for each command.",
        epilog="examples:\n"
        "  kerasopt-compat check\n"
        "  kerasopt-compat normalize stored.jsonl -o canonical.jsonl\n"
        "  kerasopt-compat convert --to legacy --field meta.optimizer runs.jsonl --in-place\n"
        "  kerasopt-compat normalize --check --on-error keep registry.jsonl\n"
        "  kerasopt-compat fix-model model.h5 model_tf29.h5 --to tf2.9\n"
        "  kerasopt-compat state model.h5\n"
        "  kerasopt-compat upgrade saved_dir/ model.keras\n\n"
        "exit status: 0 ok; 1 a record failed or (--check) would change; 2 usage or unreadable input",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="kerasopt_compat %s" % _version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser(
        "check",
        help="does it work here? versions, flavour, and a round trip of every optimizer class",
        description="Report Python/TensorFlow/Keras and the flavour, then round-trip every optimizer class "
        "through serialize/deserialize (and install() when TensorFlow is present). Without TF/Keras only the "
        "pure path (normalize/to_native) is checked. Exit 1 on any failure.",
    )
    check.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    check.set_defaults(run=_check_command)
    norm = sub.add_parser(
        "normalize",
        help="stored configs -> canonical dicts",
        description="Rewrite every optimizer config as the canonical (TF 2.9 documented) dict.",
        epilog="example: kerasopt-compat normalize runs.jsonl --field config.optimizer -o out.jsonl",
    )
    _bulk_parser("normalize", norm)
    conv = sub.add_parser(
        "convert",
        help="stored configs -> the dict one Keras generation writes",
        description="Rewrite every optimizer config as the native dict of --to's Keras generation.",
        epilog="example: kerasopt-compat convert --to legacy stored.jsonl -o for_tf29.jsonl",
    )
    _add_target(conv, required=True)
    _bulk_parser("convert", conv)
    # model files: their own parsers (main() hands their arguments over before this one parses); listed here so
    # that --help names every command
    for name, text in _MODEL_COMMANDS:
        sub.add_parser(name, help=text, add_help=False)
    return parser


#: The model-file commands, parsed by their own modules (``_cli.fix``, ``_cli.state``, ``_models.upgrade``).
_MODEL_COMMANDS = (
    ("fix-model", "copy a model file with its stored optimizer (and state) rewritten for another TF/Keras release"),
    ("state", "print the optimizer state a model file or training checkpoint holds"),
    ("upgrade", "load a model file and save it as the installed Keras' .keras archive (needs TF/Keras)"),
)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``kerasopt-compat`` and ``python -m kerasopt_compat``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fix-model"]:
        from . import fix as _fixcli  # lazy: a command's modules load only when it runs (start-up time)

        return _fixcli.main(argv[1:])
    if argv[:1] == ["state"]:
        from . import state as _statecli  # lazy: a command's modules load only when it runs (start-up time)

        return _statecli.main(argv[1:])
    if argv[:1] == ["upgrade"]:
        from . import upgrade as _upgrade  # lazy: a command's modules load only when it runs (start-up time)

        return _upgrade.main(argv[1:])
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        return _oneshot(argv)
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        _say("kerasopt-compat: interrupted; no output file was replaced")
        return 130


# --------------------------------------------------------------------------- normalize / convert


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _report(label: str, result: S.Result, quiet: bool) -> None:
    if not quiet:
        for message in result.warnings:
            _say("warning: %s: %s" % (label, message))
    if result.error is not None:
        _say("%s: %s" % (label, result.error))


class _Run:
    """One normalize/convert run over several inputs: counts and the exit status."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.options = S.Options(
            getattr(args, "to", None),
            tuple(args.field.split(".")) if args.field else (),
            tuple(args.custom),
            args.strict,
            args.unknown_keys,
        )
        self.counts = {S.CONVERTED: 0, S.UNCHANGED: 0, S.FAILED: 0}
        self.stopped = False

    def take(self, label: str, number: Optional[int], result: S.Result) -> Optional[str]:
        """Count one result, report it; the text to write, or None."""
        self.counts[result.status] += 1
        where = label if number is None else "%s:%d" % (label, number)
        _report(where, result, self.args.quiet)
        if result.status != S.FAILED:
            return result.text
        if self.args.on_error == "keep":
            return result.text  # the record as it was
        self.stopped = self.args.on_error == "stop"
        return None

    def summary(self) -> str:
        c = self.counts
        total = sum(c.values())
        text = "kerasopt-compat %s: %d record%s: %d converted, %d unchanged, %d failed" % (
            self.args.command,
            total,
            "" if total == 1 else "s",
            c[S.CONVERTED],
            c[S.UNCHANGED],
            c[S.FAILED],
        )
        if self.stopped:
            text += " (stopped at the first failure: --on-error stop)"
        return text


def _bulk(args: argparse.Namespace) -> int:
    sources = args.files or ["-"]
    if args.in_place and (args.output or len(sources) != 1 or sources[0] == "-"):
        _say("kerasopt-compat: --in-place takes exactly one input FILE and no -o")
        return EXIT_USAGE
    # --in-place rewrites the file itself: through a symlink, the file it points to (the link stays a link)
    out_path = os.path.realpath(sources[0]) if args.in_place else args.output
    if out_path and out_path != "-" and not args.in_place:
        if any(s != "-" and same_file(s, out_path) for s in sources):  # links resolved, hard links seen
            _say("kerasopt-compat: -o %s is one of the inputs; use --in-place to rewrite it" % out_path)
            return EXIT_USAGE
    if args.jobs < 1:
        _say("kerasopt-compat: --jobs must be at least 1")
        return EXIT_USAGE
    run = _Run(args)
    status = EXIT_OK
    try:
        target = _Output(None if args.check else (out_path or "-"))
    except KerasOptCompatError as exc:  # OUT's folder missing or not writable
        _say("kerasopt-compat: %s" % exc)
        return EXIT_USAGE
    with _output(target) as out:
        for source in sources:
            label = "<stdin>" if source == "-" else source
            try:
                _convert_source(run, source, label, out)
            except InputProblem as exc:
                _say("%s: %s" % (label, exc))
                status = EXIT_USAGE
            if run.stopped:
                break
        if run.stopped or status:
            out.abort()
    _say(run.summary())
    if status:
        return status
    if run.counts[S.FAILED]:
        return EXIT_FAILED
    if args.check and run.counts[S.CONVERTED]:
        return EXIT_FAILED
    return EXIT_OK


class _Output:
    """Where results go: stdout, nothing (``--check``), or a temporary file
    renamed over the destination when everything went well."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self.aborted = False
        self.job: Optional[AtomicWrite] = None
        self.fh: Optional[TextIO] = None
        if path == "-":
            self.fh = sys.stdout
        elif path is not None:
            self.job = AtomicWrite(path)
            self.fh = open(self.job.tmp or "", "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed in close()

    def write(self, text: str) -> None:
        if self.fh is not None:
            self.fh.write(text)

    def abort(self) -> None:
        self.aborted = True

    def close(self, ok: bool) -> None:
        if self.job is None or self.fh is None:
            if self.fh is not None:
                self.fh.flush()
            return
        try:
            self.fh.close()
            if ok and not self.aborted:
                self.job.commit()  # the mode open() gives: an existing OUT's own, else 0o666 less the umask
        finally:
            self.job.discard()


@contextlib.contextmanager
def _output(out: _Output) -> Iterator[_Output]:
    """``out`` (a file written atomically, stdout or nothing), closed: replaced only when the block succeeded."""
    ok = False
    try:
        yield out
        ok = True
    finally:
        out.close(ok)


def _convert_source(run: _Run, source: str, label: str, out: _Output) -> None:
    fh, size = _open_text(source)
    with fh:
        try:
            first = fh.readline()
        except UnicodeDecodeError:
            raise InputProblem("is not UTF-8 text (a binary file?), not JSON text") from None
        kind = _kind(first)
        if kind == "jsonl":
            _convert_lines(run, fh, first, label, out, size)
            return
        try:
            value = parse_json(first + fh.read())
        except UnicodeDecodeError:
            raise InputProblem("is not UTF-8 text (a binary file?), not JSON text") from None
        except ValueError as exc:
            raise InputProblem("is not JSON, a JSON array or JSON Lines: %s" % exc) from None
    indent = run.args.indent
    if isinstance(value, list):
        out.write("[\n" if value else "[")
        written = 0
        for number, result in enumerate(S.process_values(value, run.options, indent), 1):
            text = run.take(label, number, result)
            if text is not None:
                out.write((",\n" if written else "") + text)
                written += 1
            if run.stopped:
                return
        out.write("\n]\n" if value else "]\n")
    else:
        result = next(S.process_values([value], run.options, indent))
        text = run.take(label, None, result)
        if text is not None:
            out.write(text + "\n")


def _kind(first: str) -> str:
    """``jsonl`` when the first line is a whole JSON object, else ``json``."""
    stripped = first.strip()
    if not stripped.startswith("{"):
        return "json"
    try:
        parse_json(stripped)
    except ValueError:
        return "json"  # a pretty-printed document
    return "jsonl"


def _convert_lines(run: _Run, fh: TextIO, first: str, label: str, out: _Output, size: Optional[int]) -> None:
    batches = S.batches(fh, first)
    bar = _progress(run.args, size)
    try:
        for start, lines, results in _map_batches(run, batches):
            for offset, result in enumerate(results):
                text = run.take(label, start + offset, result)
                if text is not None:
                    out.write(text + "\n")
                if run.stopped:
                    return
            if bar is not None:
                bar.update(len(lines))
    except UnicodeDecodeError:
        raise InputProblem("is not UTF-8 text (a binary file?), not JSON Lines") from None
    finally:
        if bar is not None:
            bar.close()


def _map_batches(run: _Run, batches: Iterator[Tuple[int, List[str]]]) -> Iterator[Tuple[int, List[str], List[S.Result]]]:
    """Results of every batch, in order; with ``--jobs N`` at most 2N batches in flight."""
    if run.args.jobs == 1:
        for start, lines in batches:
            yield start, lines, S.process_lines(lines, run.options)
        return
    from concurrent.futures import ProcessPoolExecutor  # lazy: only --jobs runs need it (start-up time)

    window: Deque[Tuple[int, List[str], Any]] = deque()
    with ProcessPoolExecutor(max_workers=run.args.jobs) as pool:
        for start, lines in batches:
            window.append((start, lines, pool.submit(S.process_lines, lines, run.options)))
            if len(window) >= 2 * run.args.jobs:
                first_start, first_lines, future = window.popleft()
                yield first_start, first_lines, future.result()
        while window:
            first_start, first_lines, future = window.popleft()
            yield first_start, first_lines, future.result()


def _progress(args: argparse.Namespace, size: Optional[int]) -> Any:
    """A tqdm bar (records) on a terminal for large inputs; None otherwise or without tqdm."""
    if args.quiet or not sys.stderr.isatty() or (size is not None and size < _PROGRESS_BYTES):
        return None
    try:
        from tqdm import tqdm  # optional dependency (progress bars)
    except ImportError:
        return None
    return tqdm(unit=" records", unit_scale=True, file=sys.stderr, leave=False)


# --------------------------------------------------------------------------- check


def _check_command(args: argparse.Namespace) -> int:
    from .check import run_check  # lazy: a command's modules load only when it runs (start-up time)

    report = run_check()
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(_format_check(report))
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _format_check(report: Dict[str, Any]) -> str:
    lines = ["kerasopt_compat %s on Python %s" % (report["kerasopt_compat"], report["python"])]
    lines.append("installed: %s" % report["installed"])
    lines.append(report["note"])
    columns: List[str] = report["columns"]
    width = max([len("class")] + [len(row["class"]) for row in report["rows"]])
    lines.append("%-*s  %s" % (width, "class", "  ".join(columns)))
    for row in report["rows"]:
        cells = ["%-*s" % (len(col), row[col]) for col in columns]
        lines.append("%-*s  %s" % (width, row["class"], "  ".join(cells)))
    if report["newer_than_tables"]:
        lines.append(
            "the installed Keras has what this kerasopt_compat does not know (kept or passed through, with "
            "UnknownKeyWarning; a newer kerasopt_compat may know it):"
        )
        lines.extend("  %s" % item for item in report["newer_than_tables"])
    for problem in report["problems"]:
        lines.append("problem: %s" % problem)
    lines.append("ok" if report["ok"] else "FAILED: %d problem(s)" % len(report["problems"]))
    return "\n".join(lines)
