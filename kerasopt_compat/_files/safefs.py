"""Opening the files a model is made of, as untrusted input (pure: standard library only).

* Only regular files are read: a FIFO, socket or device named like a model
  file (or a checkpoint shard) would block or never end; it is that file's
  :class:`~kerasopt_compat.UnsafeModelFileError`. Files are opened with ``O_NONBLOCK`` and checked with
  ``fstat`` on the open descriptor, so opening a FIFO never blocks.
* Inside a SavedModel folder, a file whose real path leaves the folder (a
  symlink to ``/etc/passwd``, to ``..``) is refused: a model's files are read
  from that model only (:func:`inside`).
"""

from __future__ import annotations

import os
import stat
from typing import IO, Optional

from .._errors import UnsafeModelFileError

__all__ = ["open_regular", "check_regular", "inside", "kind_of"]

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
)


def kind_of(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words.

    >>> import stat
    >>> kind_of(stat.S_IFIFO)
    'a FIFO (named pipe)'
    """
    return next((label for test, label in _KINDS if test(mode)), "not a regular file")


def _refuse(path: str, mode: int, what: Optional[str]) -> UnsafeModelFileError:
    return UnsafeModelFileError(
        "%s: %sis %s, not a regular file; kerasopt_compat reads regular files only"
        % (path, "%s " % what if what else "", kind_of(mode))
    )


def open_regular(path: str, what: Optional[str] = None, root: Optional[str] = None) -> IO[bytes]:
    """``open(path, "rb")`` of a regular file; anything else (a FIFO, a device...) is an
    :class:`~kerasopt_compat.UnsafeModelFileError`, and with ``root`` so is a file whose real path is not
    inside the folder ``root`` (:func:`inside`).
    ``OSError`` (missing, unreadable) is left to the caller."""
    if root is not None:
        inside(path, root, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(path, mode, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str, what: Optional[str] = None, root: Optional[str] = None) -> None:
    """Refuse ``path`` unless it is a regular file (symlinks followed; with ``root``, one inside it), before a
    library (h5py, zipfile) opens it by name. ``OSError`` is left to the caller."""
    if root is not None:
        inside(path, root, what)
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _refuse(path, mode, what)


def inside(path: str, root: str, what: Optional[str] = None) -> None:
    """Refuse ``path`` when its real path (symlinks resolved) is not inside the real path of ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnsafeModelFileError(
            "%s: %sis a link to %s, outside %s; kerasopt_compat never follows a link out of the model it reads"
            % (path, "%s " % what if what else "", real, root)
        )
