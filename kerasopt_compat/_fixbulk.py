"""``fix-model --to TARGET IN... -o OUTDIR``: many model files at once.

Each ``IN`` is a model file, a SavedModel directory, or a folder walked for
``.h5``/``.hdf5``/``.keras`` files, TF.js ``model.json`` files and SavedModel
directories (a directory holding ``saved_model.pb``, not walked into). Each is
fixed by :func:`kerasopt_compat.fix_model` into ``OUTDIR`` under its path
relative to the folder it was found in (a file given by itself: its name), one
file at a time or with ``--jobs N`` worker processes; every output is written
atomically and no input is touched. Per file: a line on error (``--on-error
stop`` stops there, ``skip`` goes on), the warnings unless ``-q``, a progress
bar on a terminal, and with ``--report FILE.jsonl`` one JSON line (path,
output, container, class, what changed, state, warnings, error). Then one
summary line, and the exit status of ``normalize``: 0 ok, 1 a file failed or
(``--check``) would change, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ._errors import KerasOptCompatError

__all__ = ["model_files", "run"]

#: File names walked for (lower case): model files by extension, TF.js by name.
_SUFFIXES = (".h5", ".hdf5", ".keras")
_TFJS_NAME = "model.json"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _is_savedmodel(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def model_files(inputs: List[str]) -> Iterator[Tuple[str, str]]:
    """``(input path, output path relative to OUTDIR)`` of every model file under ``inputs``, sorted per input.

    >>> list(model_files([]))
    []
    """
    for root in inputs:
        if os.path.isfile(root) or _is_savedmodel(root):
            yield root, os.path.basename(os.path.normpath(root))
            continue
        if not os.path.isdir(root):
            raise FileNotFoundError(root)
        found = []
        for here, dirs, files in os.walk(root):
            dirs.sort()
            for name in list(dirs):
                if _is_savedmodel(os.path.join(here, name)):
                    found.append(os.path.join(here, name))
                    dirs.remove(name)  # a SavedModel is one model, not a folder to walk
            for name in sorted(files):
                if name.lower().endswith(_SUFFIXES) or name == _TFJS_NAME:
                    found.append(os.path.join(here, name))
        for path in sorted(found):
            yield path, os.path.relpath(path, root)


def _one(job: Tuple[str, str, Dict[str, Any]]) -> Dict[str, Any]:
    """Fix one file (in a worker process with ``--jobs``): the report line as a dict."""
    from ._modelfile import fix_model

    src, dst, options = job
    line: Dict[str, Any] = {"path": src, "output": None if options["check"] else dst}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if not options["check"]:
                os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
            result = fix_model(src, dst, **options)
        except (KerasOptCompatError, OSError) as exc:
            line.update(error=str(exc), output=None)
        else:
            before = result.before if isinstance(result.before, dict) else {}
            line.update(
                container=result.format,
                family=result.family,
                **{"class": before.get("class_name")},
                changed=result.changed,
                state=result.state,
                error=None,
            )
    line["warnings"] = ["%s: %s" % (w.category.__name__, w.message) for w in caught]
    return line


def _results(jobs: List[Tuple[str, str, Dict[str, Any]]], workers: int, stop: Any) -> Iterator[Dict[str, Any]]:
    """Report lines in input order; with ``workers > 1`` at most ``2 * workers`` files in flight."""
    if workers == 1:
        for job in jobs:
            yield _one(job)
            if stop():
                return
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    window: Any = deque()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = iter(jobs)
        for job in pending:
            window.append(pool.submit(_one, job))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
                if stop():
                    break
        while window and not stop():
            yield window.popleft().result()
        for future in window:
            future.cancel()


def run(args: argparse.Namespace) -> int:
    """The bulk ``fix-model`` (``args`` from ``_fixcli.parser``)."""
    if args.jobs < 1:
        print("kerasopt-compat fix-model: --jobs must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    out_dir = args.output_dir
    try:
        pairs = list(model_files(args.paths))
    except FileNotFoundError as exc:
        print("kerasopt-compat fix-model: no such file or directory: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    targets = [os.path.abspath(os.path.join(out_dir, rel)) for _, rel in pairs]
    if len(set(targets)) != len(targets):
        twice = sorted({t for t in targets if targets.count(t) > 1})
        print("kerasopt-compat fix-model: two inputs would be written to %s; give them apart" % twice[0], file=sys.stderr)
        return EXIT_USAGE
    out_abs = os.path.abspath(out_dir)
    for path in args.paths:  # outputs inside a walked folder would be walked next time; inputs inside OUTDIR overwritten
        here = os.path.abspath(path)
        if _within(out_abs, here) or _within(here, out_abs):
            message = "-o %s overlaps the input %s; pick another output folder" % (out_dir, path)
            print("kerasopt-compat fix-model: " + message, file=sys.stderr)
            return EXIT_USAGE
    options = dict(
        target=args.to,
        force=args.force,
        check=args.check,
        strict=args.strict,
        custom_objects=list(args.custom),
        unknown_keys=args.unknown_keys,
        state=args.state,
    )
    jobs = [(src, dst, options) for (src, _), dst in zip(pairs, targets)]
    counts = {"rewritten": 0, "unchanged": 0, "failed": 0}
    stopped = False

    def stop() -> bool:
        return stopped

    report = _Report(args.report)
    bar = _bar(args, len(jobs))
    try:
        for line in _results(jobs, args.jobs, stop):
            report.write(line)
            if bar is not None:
                bar.update(1)
            if not args.quiet:
                for text in line["warnings"]:
                    print("warning: %s: %s" % (line["path"], text), file=sys.stderr)
            if line["error"] is not None:
                counts["failed"] += 1
                error = line["error"]
                print(error if error.startswith(line["path"]) else "%s: %s" % (line["path"], error), file=sys.stderr)
                stopped = args.on_error == "stop"
            else:
                counts["rewritten" if line["changed"] else "unchanged"] += 1
    finally:
        if bar is not None:
            bar.close()
        report.close()
    total = sum(counts.values())
    verb = "would change" if args.check else "rewritten"
    summary = "kerasopt-compat fix-model: %d file%s: %d %s, %d unchanged, %d failed" % (
        total,
        "" if total == 1 else "s",
        counts["rewritten"],
        verb,
        counts["unchanged"],
        counts["failed"],
    )
    if stopped:
        summary += " (stopped at the first failure: --on-error stop; %d not tried)" % (len(jobs) - total)
    print(summary, file=sys.stderr)
    if counts["failed"] or (args.check and counts["rewritten"]):
        return EXIT_FAILED
    return EXIT_OK


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _bar(args: argparse.Namespace, total: int) -> Any:
    """A tqdm bar (files) on a terminal; None otherwise or without tqdm."""
    if args.quiet or not sys.stderr.isatty() or total < 2:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit=" files", file=sys.stderr, leave=False)


class _Report:
    """``--report FILE.jsonl``: one JSON line per file, written atomically at the end."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self.lines: List[str] = []

    def write(self, line: Dict[str, Any]) -> None:
        if self.path:
            self.lines.append(json.dumps(line, sort_keys=True))

    def close(self) -> None:
        if not self.path:
            return
        tmp = "%s.tmp-%d" % (self.path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(text + "\n" for text in self.lines))
        os.replace(tmp, self.path)
