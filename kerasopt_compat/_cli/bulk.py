"""``fix-model --to TARGET IN... -o OUTDIR`` and ``upgrade IN... -o OUTDIR``: many model files at once.

Each ``IN`` is a model file, a SavedModel directory, or a folder walked for
``.h5``/``.hdf5``/``.keras`` files, TF.js ``model.json`` files (``fix-model``
only) and SavedModel directories (a directory holding ``saved_model.pb``, not
walked into; a folder with SavedModel parts but no ``saved_model.pb`` is skipped
and said, exit status 1). Each is fixed by :func:`kerasopt_compat.fix_model` (or upgraded
by :func:`kerasopt_compat.upgrade_model` to ``NAME.keras``) into ``OUTDIR``
under its path relative to the folder it was found in (a file given by
itself: its name), one file at a time or with ``--jobs N`` worker processes;
every output is written atomically and no input is touched. Per file: a line
on error (``--on-error stop`` stops there, ``skip`` goes on), the warnings
unless ``-q``, a progress bar on a terminal, and with ``--report FILE.jsonl``
one JSON line (path, output, container, class, what changed, state,
warnings, error). Then one summary line, and the exit status of
``normalize``: 0 ok, 1 a file failed or was skipped or (``--check``) would change, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import time
import warnings
from collections import Counter
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .._errors import KerasOptCompatError
from .._files import model as _model
from .._files.atomic import check_folder, overlap, write_file
from .._files.registry import detect

__all__ = ["add_options", "incomplete_savedmodel", "many_or_one", "model_files", "one_file", "run"]

#: File names walked for (lower case): model files by extension, TF.js by name.
_SUFFIXES = (".h5", ".hdf5", ".keras")
_TFJS_NAME = "model.json"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _is_savedmodel(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


#: What a SavedModel directory holds besides ``saved_model.pb``: a folder with one of these and no
#: ``saved_model.pb`` is a damaged or partly copied SavedModel, reported as skipped (never walked into).
_SAVEDMODEL_PARTS = ("keras_metadata.pb", "fingerprint.pb", os.path.join("variables", "variables.index"))


def incomplete_savedmodel(path: str) -> Optional[str]:
    """Why the folder ``path`` is skipped, when it holds SavedModel parts but no ``saved_model.pb``; else None.

    >>> incomplete_savedmodel(".") is None
    True
    """
    if not os.path.isdir(path) or _is_savedmodel(path):
        return None
    parts = [p for p in _SAVEDMODEL_PARTS if os.path.isfile(os.path.join(path, p))]
    if not parts:
        return None
    return "skipped: a SavedModel directory without saved_model.pb (it holds %s); copy the whole SavedModel" % (
        ", ".join(p.replace(os.sep, "/") for p in parts)
    )


def add_options(p: argparse.ArgumentParser) -> None:
    """The options of the many-files form, shared by ``fix-model`` and ``upgrade``."""
    p.add_argument("-o", "--output-dir", metavar="OUTDIR", help="write every IN into this folder (paths kept relative to IN)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="with -o: worker processes")
    p.add_argument(
        "--on-error",
        choices=("stop", "skip"),
        default="stop",
        help="with -o: a file that fails: stop there (default) or go on with the others",
    )
    p.add_argument("--report", metavar="FILE.jsonl", help="with -o: one JSON line per file (what changed, warnings, error)")


def many_or_one(p: argparse.ArgumentParser, args: argparse.Namespace, command: str, out: str) -> Optional[int]:
    """With ``-o OUTDIR``: run the many-files form, its exit status. Else check ``IN OUT`` (``out``: how usage
    names OUT) and set ``args.src``/``args.dst``; None."""
    if args.output_dir is not None:
        return run(args, command)
    if len(args.paths) != 2:
        p.error("give IN and %s, or several IN with -o OUTDIR" % out)
    if args.jobs != 1 or args.report or args.on_error != "stop":
        p.error("--jobs, --report and --on-error are for -o OUTDIR")
    args.src, args.dst = args.paths
    return None


def model_files(
    inputs: List[str], tfjs: bool = True, skipped: Optional[List[Tuple[str, str]]] = None
) -> Iterator[Tuple[str, str]]:
    """``(input path, output path relative to OUTDIR)`` of every model file under ``inputs``, sorted per input.

    ``tfjs=False`` leaves TF.js ``model.json`` files out of walked folders. A folder that holds
    SavedModel parts but no ``saved_model.pb`` (:func:`incomplete_savedmodel`) is not walked into;
    ``(its path, why)`` is appended to ``skipped`` when given.

    >>> list(model_files([]))
    []
    """
    for root in inputs:
        # a FIFO or device given by name is a file too: fix_model refuses it as that file's error, never opening it
        if os.path.isfile(root) or _is_savedmodel(root) or (os.path.exists(root) and not os.path.isdir(root)):
            yield root, os.path.basename(os.path.normpath(root))
            continue
        if not os.path.isdir(root):
            raise FileNotFoundError(root)
        found = []
        for here, dirs, files in os.walk(root):
            why = incomplete_savedmodel(here)
            if why is not None:
                if skipped is not None:
                    skipped.append((here, why))
                dirs.clear()
                continue
            dirs.sort()
            for name in list(dirs):
                if _is_savedmodel(os.path.join(here, name)):
                    found.append(os.path.join(here, name))
                    dirs.remove(name)  # a SavedModel is one model, not a folder to walk
            for name in sorted(files):
                if name.lower().endswith(_SUFFIXES) or (tfjs and name == _TFJS_NAME):
                    found.append(os.path.join(here, name))
        for path in sorted(found):
            yield path, os.path.relpath(path, root)


Job = Tuple[str, str, str, Dict[str, Any]]  # (command, input, output, options)


def _fix_one(src: str, dst: str, options: Dict[str, Any]) -> Dict[str, Any]:
    line: Dict[str, Any] = {"path": src, "output": None if options["check"] else dst}
    try:
        if not options["check"]:
            os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        result = _model.fix_model(src, dst, **options)
    except Exception as exc:  # noqa: BLE001 -- whatever a damaged file raises, it is that file's line; the run goes on
        line.update(error=_error_text(exc), output=None)
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
    return line


def _upgrade_one(src: str, dst: str, options: Dict[str, Any]) -> Dict[str, Any]:
    from .._models.upgrade import upgrade_model  # lazy: only upgrade runs load the live side (start-up time)

    line: Dict[str, Any] = {"path": src, "output": dst}
    try:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        upgrade_model(src, dst, **options)
    except Exception as exc:  # noqa: BLE001 -- native Keras' own load errors too: one file's failure is its line
        line.update(error=_error_text(exc), output=None)
        return line
    try:  # the optimizer the .keras file now holds (a model saved without one has none)
        written: Optional[str] = _model.read_optimizer(dst)["class_name"]
    except KerasOptCompatError:
        written = None
    line.update(container=detect(src).format, **{"class": written}, changed=True, state=options.get("state"), error=None)
    return line


def _error_text(exc: BaseException) -> str:
    """A report line's error: the package's message (and OSError's) as is, any other exception with its class."""
    if isinstance(exc, (KerasOptCompatError, OSError)):
        return str(exc)
    return "%s: %s" % (type(exc).__name__, exc)


_WORKERS: Dict[str, Callable[[str, str, Dict[str, Any]], Dict[str, Any]]] = {
    "fix-model": _fix_one,
    "upgrade": _upgrade_one,
}


def _one(job: Job) -> Dict[str, Any]:
    """One file (in a worker process with ``--jobs``): the report line as a dict."""
    command, src, dst, options = job
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            line = _WORKERS[command](src, dst, options)
        line["warnings"] = [
            "%s: %s" % (w.category.__name__, _unprefixed(w.message, src)) for w in _about_the_file(caught, command)
        ]
    except Exception as exc:  # noqa: BLE001 -- never let one file end the run
        line = _failed(job, exc)
    return line


def _failed(job: Job, exc: BaseException) -> Dict[str, Any]:
    """The report line of a file whose worker failed outside the per-file handler (or whose process died)."""
    return {"path": job[1], "output": None, "error": _error_text(exc), "warnings": []}


def _unprefixed(message: Any, path: str) -> str:
    """``message`` without a leading ``path: `` (the report line and the printed warning name the file once).

    >>> _unprefixed("a.h5: kept", "a.h5"), _unprefixed("b.h5: kept", "a.h5")
    ('kept', 'b.h5: kept')
    """
    text = str(message)
    prefix = "%s: " % path
    return text[len(prefix) :] if text.startswith(prefix) else text


#: Per command, warning classes that are not about the file: ``upgrade`` loads through the installed
#: TensorFlow/Keras, whose own deprecation notices would drown the file's warnings.
_NOISE: Dict[str, Tuple[type, ...]] = {"upgrade": (DeprecationWarning, FutureWarning)}


def _about_the_file(caught: List[Any], command: str) -> List[Any]:
    return [w for w in caught if not issubclass(w.category, _NOISE.get(command, ()))]


def one_file(args: argparse.Namespace, command: str, call: Callable[[], Any]) -> Tuple[Any, Optional[int]]:
    """The ``IN OUT`` form: ``(call(), None)``, or ``(None, 2)`` after printing the package's error; the
    warnings about ``args.src`` printed either way unless ``-q``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return call(), None
        except KerasOptCompatError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return None, EXIT_USAGE
        finally:
            if not args.quiet:
                for item in _about_the_file(caught, command):
                    print("warning: %s: %s" % (args.src, _unprefixed(item.message, args.src)), file=sys.stderr)


def _results(jobs: List[Job], workers: int, stop: Any) -> Iterator[Dict[str, Any]]:
    """Report lines in input order; with ``workers > 1`` at most ``2 * workers`` files in flight.

    A worker process that dies (a crash in a C library on a damaged file, the kernel's out-of-memory killer)
    fails the one file it was reading (its report line says so); a new worker takes its place and the other
    files go on, each done once (see :class:`_Crew`)."""
    if workers == 1:
        for job in jobs:
            yield _one(job)
            if stop():
                return
        return

    # upgrade's workers load TensorFlow/JAX/PyTorch, which are multithreaded: fresh interpreters, never a fork
    context: Any = multiprocessing.get_context("spawn" if jobs and jobs[0][0] == "upgrade" else None)
    existed = {job[2] for job in jobs if os.path.lexists(job[2])}  # outputs not written by this run
    crew = _Crew(context, workers)
    done: Dict[int, Dict[str, Any]] = {}  # finished lines waiting for the ones before them
    head = ahead = 0  # the next line to yield, the next file to start
    try:
        while head < len(jobs):
            while ahead < len(jobs) and ahead - head < 2 * workers and crew.can_start():
                crew.start(ahead, jobs[ahead])
                ahead += 1
            if head not in done:
                for index, line in crew.wait():
                    if line is None:  # its worker died before sending it
                        line = _failed(jobs[index], RuntimeError(_DIED))
                        _drop_unreported(jobs[index][2], existed)
                    done[index] = line
                continue
            yield done.pop(head)
            head += 1
            if stop():
                break
        crew.close()  # the files still being read are finished (never reported), as a stopped pool did
    except BaseException:  # KeyboardInterrupt, the caller gone (GeneratorExit), anything: no worker outlives the run
        crew.terminate()
        raise


_DIED = "the worker process reading this file died (crashed or was killed)"


def _drop_unreported(dst: str, existed: Any) -> None:
    """The output of a file whose worker died: written by that worker (atomically, so whole) before its line
    came back, when it was not there before this run; removed, as the file's line says it failed (a run
    again needs no ``--force``). An output that was there before the run is never touched."""
    if dst in existed or not os.path.lexists(dst):
        return

    try:
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        else:
            os.unlink(dst)
    except OSError:
        pass


class _Crew:
    """At most ``size`` worker processes of ``context``, each reading one file at a time.

    Each worker has a pipe of its own: a job goes down, its report line comes back. The parent waits on
    the pipes and the processes' sentinels (:func:`multiprocessing.connection.wait`), never on a lock or
    a thread of its own, so a worker killed at any moment ends only the file it was given and is replaced
    by a new one when there is work. (A ``concurrent.futures`` pool was used before: after a worker was
    killed, CPython 3.12.1/3.13.0 could block forever in its shutdown.)"""

    def __init__(self, context: Any, size: int) -> None:
        self.context = context
        self.size = size
        self.idle: List[Tuple[Any, Any]] = []  # (process, connection) waiting for a job
        self.busy: Dict[Any, Tuple[Any, int, Job]] = {}  # connection -> (process, index, the job it reads)
        self.closing: Dict[Any, Any] = {}  # connection -> process, told to end (close())

    def can_start(self) -> bool:
        """Whether a job given now starts at once (an idle worker, or room for a new one)."""
        return bool(self.idle) or len(self.busy) < self.size

    def start(self, index: int, job: Job) -> None:
        """Give ``job`` (the ``index``-th) to an idle worker, or to a new one."""
        while self.idle:
            process, conn = self.idle.pop()
            try:
                conn.send(job)
            except (OSError, EOFError):  # an idle worker killed from outside: it never had this file
                self._reap(process, conn)
                continue
            self.busy[conn] = (process, index, job)
            return
        process, conn = self._spawn()
        try:
            conn.send(job)
        except (OSError, EOFError):  # a new worker already dead: wait() reports the file as its worker's death
            pass
        self.busy[conn] = (process, index, job)

    def _spawn(self) -> Tuple[Any, Any]:
        ours, theirs = self.context.Pipe()
        # a forked worker inherits the parent's end of every pipe and closes them (else a worker would hold
        # another one's pipe open and neither would see the parent gone)
        inherited = [ours] + [conn for _, conn in self.idle] + list(self.busy)
        if self.context.get_start_method() != "fork":
            inherited = []
        process = self.context.Process(target=_serve, args=(theirs, inherited), name="kerasopt-compat worker")
        try:
            process.start()
        finally:
            theirs.close()
        return process, ours

    def wait(self) -> List[Tuple[int, Optional[Dict[str, Any]]]]:
        """Block until a busy worker sends its line or dies: ``(index, line)`` of each such job, ``line``
        None when its worker died without sending it (that worker is reaped; a new one starts when needed)."""
        finished: List[Tuple[int, Optional[Dict[str, Any]]]] = []
        for conn in self._ready(list(self.busy), [process for process, _, _ in self.busy.values()]):
            process, index, job = self.busy.pop(conn)
            line: Optional[Dict[str, Any]] = None
            try:
                if conn.poll():  # also a line sent just before the worker died
                    line = conn.recv()
            except (OSError, EOFError):  # killed before or while sending it
                line = None
            except Exception as exc:  # noqa: BLE001 -- a line that does not unpickle: that file's line
                line = _failed(job, exc)
            if line is None or not process.is_alive():
                self._reap(process, conn)
            else:
                self.idle.append((process, conn))
            finished.append((index, line))
        return finished

    @staticmethod
    def _ready(conns: List[Any], processes: List[Any]) -> List[Any]:
        """Of ``conns`` (one per process of ``processes``), those with a line to read or whose process ended."""

        by_sentinel = {process.sentinel: conn for conn, process in zip(conns, processes)}
        ready = multiprocessing.connection.wait(conns + list(by_sentinel))
        found: List[Any] = []
        for item in ready:
            conn = by_sentinel.get(item, item) if isinstance(item, int) else item
            if conn not in found:
                found.append(conn)
        return found

    @staticmethod
    def _reap(process: Any, conn: Any) -> None:
        conn.close()
        process.join(5)
        if process.is_alive():  # its pipe is closed but it runs on: never left behind
            process.kill()
            process.join()
        process.close()  # its sentinel's descriptor: a long run may replace many workers

    def close(self) -> None:
        """End every worker after the file it reads (that line dropped, never reported), and reap them all."""
        for _, conn in self.idle:
            self._end(conn)
        self.closing.update((conn, process) for process, conn in self.idle)
        self.closing.update((conn, process) for conn, (process, _, _) in self.busy.items())
        self.idle, self.busy = [], {}
        while self.closing:
            for conn in self._ready(list(self.closing), list(self.closing.values())):
                try:
                    conn.recv()  # the line of the file it was reading; then it reads the end
                except (OSError, EOFError):  # it returned (or died)
                    self._reap(self.closing.pop(conn), conn)
                    continue
                except Exception:  # noqa: BLE001 -- a line that does not unpickle: dropped all the same
                    pass
                self._end(conn)

    @staticmethod
    def _end(conn: Any) -> None:
        try:
            conn.send(None)  # no more jobs: the worker returns
        except (OSError, EOFError):  # gone already: its sentinel says so
            pass

    def terminate(self) -> None:
        """SIGTERM every worker (each removes the temporary output it was writing), SIGKILL after 5 s; reap all."""

        workers = self.idle + [(process, conn) for conn, (process, _, _) in self.busy.items()]
        workers += [(process, conn) for conn, process in self.closing.items()]
        self.idle, self.busy, self.closing = [], {}, {}
        for process, conn in workers:
            try:
                process.terminate()
            except (OSError, ValueError):
                pass
            conn.close()  # a worker that outlives SIGTERM (swallowed where Python only prints it) sees the end
        until = time.monotonic() + 5
        for process, _ in workers:
            process.join(max(0.0, until - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            process.close()


def _serve(conn: Any, inherited: List[Any]) -> None:
    """A worker process: reads jobs from ``conn`` one at a time and sends each one's line back, until
    ``None`` or the parent is gone (``inherited``: connections a forked worker closes)."""
    for other in inherited:
        other.close()
    _worker_setup()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if job is None:
            return
        line = _one(job)
        try:
            conn.send(line)
        except (OSError, EOFError):
            return
        except Exception as exc:  # noqa: BLE001 -- e.g. a line that does not pickle: that file's line
            conn.send(_failed(job, exc))


def _worker_setup() -> None:
    """In each worker: SIGTERM (the run ends early: an exception or Ctrl-C in the parent) ends the file being
    written as any failure does, its temporary output removed, instead of killing the process on the spot.
    SIGINT (Ctrl-C reaches the whole process group) is left to the parent, which then terminates its workers."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _keras_name(rel: str) -> str:
    """``upgrade``'s output for an input at ``rel``: the same path with ``.keras`` for its extension
    (a model file's, or a SavedModel directory's ``.savedmodel``).

    >>> _keras_name("a/m.h5"), _keras_name("x.savedmodel"), _keras_name("saved_dir")
    ('a/m.keras', 'x.keras', 'saved_dir.keras')
    """
    stem = os.path.normpath(rel)
    base, ext = os.path.splitext(stem)
    return (base if ext.lower() in _SUFFIXES + (".savedmodel",) else stem) + ".keras"


def run(args: argparse.Namespace, command: str = "fix-model") -> int:
    """The many-files ``fix-model`` (``args`` from ``_cli.fix.parser``) or ``upgrade`` (``_models.upgrade.parser``)."""
    say = "kerasopt-compat %s: " % command
    if args.jobs < 1:
        print(say + "--jobs must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.report:
        try:
            check_folder(args.report)
        except KerasOptCompatError as exc:
            print(say + "--report %s" % exc, file=sys.stderr)
            return EXIT_USAGE
    out_dir = args.output_dir
    upgrade = command == "upgrade"
    skipped: List[Tuple[str, str]] = []
    try:
        pairs = list(model_files(args.paths, tfjs=not upgrade, skipped=skipped))
    except FileNotFoundError as exc:
        print(say + "no such file or directory: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    targets = [os.path.abspath(os.path.join(out_dir, _keras_name(rel) if upgrade else rel)) for _, rel in pairs]
    # outputs inside a walked folder would be walked next time; inputs inside OUTDIR overwritten (links resolved:
    # OUTDIR may be a symlink to an input's folder)
    for path in args.paths:
        if overlap(out_dir, path):
            print(say + "-o %s overlaps the input %s; pick another output folder" % (out_dir, path), file=sys.stderr)
            return EXIT_USAGE
    real = Counter(os.path.realpath(t) for t in targets)  # OUTDIR/a may be a symlink to OUTDIR/b
    if len(real) != len(targets):
        twice = sorted(t for t in targets if real[os.path.realpath(t)] > 1)
        print(say + "two inputs would be written to %s; give them apart" % twice[0], file=sys.stderr)
        return EXIT_USAGE
    if upgrade:
        options: Dict[str, Any] = dict(force=args.force, strict=args.strict, state=args.state)
        args.check = False
    else:
        options = dict(
            target=args.to,
            force=args.force,
            check=args.check,
            strict=args.strict,
            custom_objects=list(args.custom),
            unknown_keys=args.unknown_keys,
            state=args.state,
        )
    jobs = [(command, src, dst, options) for (src, _), dst in zip(pairs, targets)]
    counts = {"rewritten": 0, "unchanged": 0, "failed": 0}
    stopped = False

    def stop() -> bool:
        return stopped

    report = _Report(args.report)
    for path, why in skipped:  # said first, whatever happens to the files found
        print("%s: %s" % (path, why), file=sys.stderr)
        report.write({"path": path, "output": None, "error": why, "skipped": True, "warnings": []})
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
    verb = "would change" if args.check else "written as .keras" if upgrade else "rewritten"
    summary = say + "%d file%s: %d %s, " % (total, "" if total == 1 else "s", counts["rewritten"], verb)
    summary += "" if upgrade else "%d unchanged, " % counts["unchanged"]
    summary += "%d failed" % counts["failed"]
    if skipped:
        summary += "; %d folder%s skipped (SavedModel parts without saved_model.pb)" % (
            len(skipped),
            "" if len(skipped) == 1 else "s",
        )
    if stopped:
        summary += " (stopped at the first failure: --on-error stop; %d not tried)" % (len(jobs) - total)
    print(summary, file=sys.stderr)
    if counts["failed"] or skipped or (args.check and counts["rewritten"]):
        return EXIT_FAILED
    return EXIT_OK


def _bar(args: argparse.Namespace, total: int) -> Any:
    """A tqdm bar (files) on a terminal; None otherwise or without tqdm."""
    if args.quiet or not sys.stderr.isatty() or total < 2:
        return None
    try:
        from tqdm import tqdm  # optional dependency (progress bars)
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

        def fill(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write("".join(text + "\n" for text in self.lines))

        write_file(self.path, fill)
