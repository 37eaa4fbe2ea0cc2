"""Atomic writes of the package's outputs, and the checks that an output is not an input.

Every file or directory the package writes for a user (``fix_model``, ``upgrade_model``, ``normalize -o``,
``--in-place``, ``--report``) is written to a temporary beside it, ``NAME.kerasopt_compat-tmp-XXXXXXXX``
(visible, so a user who finds one after a killed run knows what it is), and renamed into place once
complete: ``NAME`` is then either absent, its old content, or the whole new output. The output gets the
mode a plain ``open(NAME, "w")`` would give it (an existing file's mode, else ``0o666`` less the umask;
directories and the files in them what ``mkdir``/``open`` give), not ``mkstemp``'s ``0o600``.

A temporary left by a process killed mid-write (SIGKILL, power loss) is removed by the next write of the
same output: only names matching that output's own temporary pattern, owned by the current user, regular
files or directories (never symlinks), and not changed since before this process started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional

from .._errors import ModelFileError

__all__ = ["TEMP_MARK", "AtomicWrite", "atomic_path", "check_folder", "overlap", "remove_stale", "same_file", "write_file"]

#: Between the output's name and the random part of its temporaries' names.
TEMP_MARK = ".kerasopt_compat-tmp-"
#: The suffixes a temporary may carry after its random part (``upgrade``: Keras 3 saves only ``*.keras``).
_SUFFIXES = ("", ".keras")
_RANDOM = 8  # hex digits

_UMASK_LOCK = threading.Lock()
_IMPORTED = time.time()


def _started() -> float:
    """When this process started (seconds since the epoch, never later than the truth): from ``/proc`` on
    Linux, else when this module was first imported."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
        started = boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED
    return min(started, _IMPORTED)


def umask() -> int:
    """The process' umask (read from ``/proc`` where it is there; else set and restored under a lock)."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _file_mode(dst: str) -> int:
    """What ``open(dst, "w")`` leaves: the mode of an existing regular file, else ``0o666`` less the umask."""
    try:
        st = os.lstat(dst)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode) & 0o777
    return 0o666 & ~umask()


def _split(dst: str) -> tuple[str, str]:
    """``dst``'s folder and name (``out/`` is ``out`` in its parent)."""
    folder, name = os.path.split(os.path.abspath(dst))
    return folder, name


def check_folder(dst: str) -> tuple[str, str]:
    """``dst``'s folder and name; :class:`ModelFileError` when the folder does not exist.

    >>> check_folder("/no/such/folder/out.h5")
    Traceback (most recent call last):
      ...
    kerasopt_compat._errors.ModelFileError: /no/such/folder/out.h5: cannot write it: the folder /no/such/folder does not exist
    """
    folder, name = _split(dst)
    if not os.path.isdir(folder):
        raise ModelFileError("%s: cannot write it: the folder %s does not exist" % (dst, folder))
    return folder, name


def _temp_pattern(name: str) -> re.Pattern[str]:
    suffixes = "|".join(re.escape(s) for s in _SUFFIXES if s)
    return re.compile(r"\A%s%s[0-9a-f]{%d}(?:%s)?\Z" % (re.escape(name), re.escape(TEMP_MARK), _RANDOM, suffixes))


def _newest_change(path: str, st: os.stat_result) -> float:
    """The latest ``st_ctime`` in ``path`` (a directory: every entry below it, links not followed)."""
    newest = st.st_ctime
    if stat.S_ISDIR(st.st_mode):
        for here, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(here, name)).st_ctime)
    return newest


#: folder -> the names in it that hold TEMP_MARK, listed once per process: a stale temporary is older than the
#: process, so the first listing holds every one (a bulk run writing 10 000 files into one folder lists it once).
_LISTED: Dict[str, List[str]] = {}
_LISTED_LOCK = threading.Lock()


def _temporaries_in(folder: str) -> List[str]:
    key = os.path.realpath(folder)
    with _LISTED_LOCK:
        if key not in _LISTED:
            try:
                _LISTED[key] = [n for n in os.listdir(folder) if TEMP_MARK in n]
            except OSError:
                return []
        return list(_LISTED[key])


def remove_stale(dst: str) -> List[str]:
    """Remove the temporaries of ``dst`` that a killed process left behind; the paths removed.

    Only names ``basename(dst) + TEMP_MARK + 8 hex digits (+ .keras)`` in ``dst``'s folder, that are a regular
    file or a directory (not a symlink), owned by this user, and unchanged since before this process
    started (a concurrent writer's temporary is being written, so it is newer): nothing else is touched.
    """
    folder, name = _split(dst)
    pattern = _temp_pattern(name)
    started = _started()
    removed: List[str] = []
    for entry in _temporaries_in(folder):
        if not pattern.match(entry):
            continue
        path = os.path.join(folder, entry)
        try:
            st = os.lstat(path)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                continue
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                continue
            if _newest_change(path, st) >= started:
                continue
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def _new_temp(dst: str, directory: bool, suffix: str = "") -> str:
    """Create an empty temporary (mode 0o600/0o700 while it is written) beside ``dst``; its path."""
    folder, name = check_folder(dst)
    if suffix not in _SUFFIXES:
        raise ValueError("temporary suffix %r" % suffix)  # pragma: no cover - a programming error
    for _ in range(100):
        path = os.path.join(folder, "%s%s%s%s" % (name, TEMP_MARK, os.urandom(_RANDOM // 2).hex(), suffix))
        try:
            if directory:
                os.mkdir(path, 0o700)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600))
        except FileExistsError:
            continue
        except OSError as exc:
            raise ModelFileError("%s: cannot write it: %s" % (dst, exc.strerror or exc)) from None
        return path
    raise ModelFileError("%s: cannot find a free temporary name beside it" % dst)  # pragma: no cover


def _tree_modes(top: str) -> None:
    """Give a written directory tree what ``mkdir``/``open`` give under the umask (links left alone)."""
    mask = umask()
    os.chmod(top, 0o777 & ~mask)
    for here, dirs, files in os.walk(top):
        for name, mode in [(d, 0o777) for d in dirs] + [(f, 0o666) for f in files]:
            path = os.path.join(here, name)
            if not os.path.islink(path):
                os.chmod(path, mode & ~mask)


class AtomicWrite:
    """A temporary beside ``dst`` (``self.tmp``; an empty file, or an empty directory with ``directory=True``)
    that :meth:`commit` moves into place with the mode ``open``/``mkdir`` would give, or :meth:`discard` removes.

    Stale temporaries of ``dst`` (:func:`remove_stale`) are removed first. A missing or unwritable folder is
    :class:`ModelFileError`. ``suffix``: ``""`` or ``".keras"`` (for a writer that insists on the extension).
    """

    def __init__(self, dst: str, *, directory: bool = False, suffix: str = "") -> None:
        self.dst = dst
        self.directory = directory
        remove_stale(dst)
        self.tmp: Optional[str] = _new_temp(dst, directory, suffix)

    def commit(self) -> None:
        """Set the modes and move the temporary over ``dst`` (an existing directory ``dst`` goes only once the
        new one is in place)."""
        tmp = self.tmp
        if tmp is None:
            raise ValueError("already committed or discarded")  # pragma: no cover - a programming error
        if self.directory:
            _tree_modes(tmp)
        else:
            os.chmod(tmp, _file_mode(self.dst))
        if os.path.isdir(self.dst) and not os.path.islink(self.dst):
            old = _new_temp(self.dst, directory=True)
            os.rmdir(old)
            os.rename(self.dst, old)
            try:
                os.rename(tmp, self.dst)
            except OSError:
                os.rename(old, self.dst)
                raise
            self.tmp = None
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, self.dst)
            self.tmp = None

    def discard(self) -> None:
        """Remove the temporary (nothing if it was committed)."""
        tmp, self.tmp = self.tmp, None
        if tmp is None:
            return
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(dst: str, *, directory: bool = False, suffix: str = "") -> Iterator[str]:
    """``with atomic_path(dst) as tmp: write(tmp)``: ``dst`` replaced by ``tmp`` when the block succeeds,
    ``tmp`` removed when it raises (see :class:`AtomicWrite`)."""
    job = AtomicWrite(dst, directory=directory, suffix=suffix)
    try:
        yield job.tmp or ""
        job.commit()
    finally:
        job.discard()


def write_file(dst: str, fill: Callable[[str], None], suffix: str = "") -> None:
    """``fill(tmp)`` writes the file, then it replaces ``dst`` atomically."""
    with atomic_path(dst, suffix=suffix) as tmp:
        fill(tmp)


# --------------------------------------------------------------------------- is the output an input?


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def same_file(a: str, b: str) -> bool:
    """``a`` and ``b`` name one file or folder: the same path once links are resolved, or (both existing) the
    same ``st_dev``/``st_ino`` (hard links).

    >>> same_file(".", "./")
    True
    """
    if _real(a) == _real(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def overlap(a: str, b: str) -> bool:
    """``a`` and ``b`` are the same file or folder, or one lies inside the other (links resolved).

    >>> overlap("/tmp", "/tmp/x"), overlap("/tmp/a", "/tmp/b")
    (True, False)
    """
    if same_file(a, b):
        return True
    ra, rb = _real(a), _real(b)
    return _within(ra, rb) or _within(rb, ra)
