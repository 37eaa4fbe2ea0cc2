"""``BackupAndRestore``: the installed Keras' own callback, that also resumes from the other generation's backup (issue 27).

Keras 2 (``tf.keras`` 2.x, ``tf_keras``) keeps a preempted ``fit`` in a TF checkpoint
(``backup_dir/chief/ckpt-N``, with the epoch in ``ckpt_saved_epoch``); Keras 3 in
``backup_dir/latest.weights.h5`` + ``training_metadata.json``. Neither sees the
other's backup: after an upgrade (or a downgrade) training silently restarts at
epoch 0. :func:`BackupAndRestore` builds, on its first call, a subclass of the
installed Keras' own callback (cached) that, at ``on_train_begin``:

* when the folder holds the installed generation's own backup, or nothing: does
  exactly what the native callback does;
* when it holds only the other generation's backup (``read_state`` names the
  saver): restores the weights, the optimizer state and the epoch from it with
  :func:`~kerasopt_compat.restore_checkpoint` (the model's compiled optimizer's
  config as ``optimizer=``; its warnings pass through), makes that optimizer the
  one ``fit`` trains with, and makes ``fit`` start at the saved epoch. From then on
  the native callback writes its own format.

The foreign backup is never written to. It stays beside the new backup while
training runs (an interrupted run resumes from the native backup once one
exists, from the foreign one before); when ``fit`` ends and
``delete_checkpoint=True`` it is removed with the native one, also when the
native one was preferred (Keras 3 removes the whole folder itself; under Keras 2,
the Keras 3 files are removed beside ``chief/``): a finished training leaves no
stale backup for the other generation to resume from. With
``delete_checkpoint=False`` both are kept, and the next start prefers the
installed generation's own.
"""

from __future__ import annotations

import os
import threading
from typing import Any, FrozenSet, Optional

from .. import _errors as E
from .. import fixes
from .._files.checkpoint import BACKUP_METADATA, BACKUP_WEIGHTS, is_keras2_backup, is_keras3_backup
from .._files.state import read_state
from .._keras.flavour import flavour
from .._keras.live import _reports_installed, serialize
from .checkpoint import restore_checkpoint

__all__ = ["BackupAndRestore"]

_LOCK = threading.Lock()
_CLASS: Optional[type] = None


def _layouts(folder: str) -> FrozenSet[str]:
    """Whose backups ``folder`` holds, by their files: ``"keras3"``, ``"keras2"``, both or none."""
    found = {"keras3": is_keras3_backup(folder), "keras2": is_keras2_backup(folder)}
    return frozenset(k for k, there in found.items() if there)


def _generation_group(generation: Optional[str]) -> str:
    """A backup's format follows the Keras generation: legacy and Keras 2 optimizers are both Keras 2's."""
    return "keras3" if generation == "keras3" else "keras2"


def _is_local(backup_dir: Any) -> bool:
    try:
        path = os.fspath(backup_dir)
    except TypeError:
        return False
    return isinstance(path, str) and "://" not in path


def _build_class() -> type:
    fl = flavour()
    native = fixes.backup_and_restore_class(fl.keras)
    if native is None:
        raise E.MissingDependencyError(
            "kerasopt_compat.BackupAndRestore subclasses the installed Keras' BackupAndRestore callback, and %s has "
            "none (TF 2.3+ has it): install a newer TensorFlow, or use restore_checkpoint(backup_dir, model) "
            "before fit" % fl.describe()
        )
    installed = "keras3" if fl.kind == "keras3" else "keras2"

    class BackupAndRestore(native):  # type: ignore[misc, valid-type]
        __doc__ = _DOC
        __module__ = "kerasopt_compat"
        __qualname__ = "BackupAndRestore"

        #: the :class:`~kerasopt_compat.RestoreReport` of a restore from another generation's backup, else None
        restore_report: Any = None

        def on_train_begin(self, logs: Any = None) -> None:
            self.restore_report = None
            self._koc_foreign = None
            folder = os.fspath(self.backup_dir) if _is_local(self.backup_dir) else None
            found = _layouts(folder) if folder is not None else frozenset()
            super().on_train_begin(logs)
            if folder is None or not found:
                return
            for other in found - {installed}:  # removed when fit ends with delete_checkpoint=True, restored from or not
                self._koc_foreign = (folder, other)
            if installed not in found:  # else its own (preferred, newer): the native callback has restored it
                _restore_foreign(self, folder, installed)

        def on_train_end(self, logs: Any = None) -> None:
            super().on_train_end(logs)
            foreign = getattr(self, "_koc_foreign", None)
            if foreign is not None and getattr(self, "delete_checkpoint", True):  # TF 2.9: always deletes
                _remove_foreign(*foreign)
            self._koc_foreign = None

    return BackupAndRestore


def _restore_foreign(callback: Any, folder: str, installed: str) -> None:
    """Restore ``callback.model`` from the other generation's backup in ``folder`` and set the epoch fit starts at."""
    state = read_state(folder)
    saver = state.saver.generation if state.saver is not None else None
    if _generation_group(saver) == installed:
        return  # the installed generation's format after all: the native callback has read it
    model = callback.model
    if getattr(model, "optimizer", None) is None:
        raise E.NoOptimizerError(
            "BackupAndRestore: %s holds a %s backup; restoring its optimizer state needs a compiled model" % (folder, saver)
        )
    report = restore_checkpoint(folder, model, optimizer=serialize(model.optimizer))
    if report.epoch is None:
        raise E.ModelFileError("BackupAndRestore: the %s backup in %s stores no epoch counter" % (saver, folder))
    if model.optimizer is not report.optimizer:  # restore_state attaches it; fit must train with this one
        model.optimizer = report.optimizer
    fixes.rebuild_train_function(model)
    if installed == "keras3":
        fixes.keras3_backup_start_epoch(callback, model, report.epoch)
    else:
        fixes.keras2_backup_start_epoch(model._training_state, report.epoch)
    callback.restore_report = report


def _remove_foreign(folder: str, group: str) -> None:
    """Remove the foreign backup restored from (``delete_checkpoint=True``, ``fit`` ended): only its own files."""
    import shutil  # lazy: only at the end of a fit that restored a foreign backup

    if group == "keras2":
        shutil.rmtree(os.path.join(folder, "chief"), ignore_errors=True)
        return
    for name in (BACKUP_WEIGHTS, BACKUP_METADATA):
        for path in (os.path.join(folder, name), os.path.join(folder, name + ".bkp")):
            if os.path.lexists(path) and not os.path.isdir(path):
                os.remove(path)


_DOC = """The installed Keras' ``BackupAndRestore`` callback that also resumes from the other generation's backup.

Same arguments as the installed Keras' own ``keras.callbacks.BackupAndRestore``
(Keras 2: ``backup_dir, save_freq="epoch", delete_checkpoint=True,
save_before_preemption=False``; Keras 3: ``backup_dir, save_freq="epoch",
double_checkpoint=False, delete_checkpoint=True``), passed to it unchanged.

At ``on_train_begin``, when ``backup_dir`` holds the installed generation's own
backup (or none), it is the native callback. When it holds only the other
generation's (a Keras 2 ``chief/ckpt-N`` under Keras 3, a Keras 3
``latest.weights.h5`` + ``training_metadata.json`` under Keras 2), the weights,
the optimizer state and the epoch are restored from it with
:func:`~kerasopt_compat.restore_checkpoint` (the compiled optimizer's config as
``optimizer=``; its :class:`~kerasopt_compat.OptimizerStateWarning` subclasses
pass through, its errors are raised), ``fit`` starts at the saved epoch and the
callback goes on writing the installed Keras' own format.
``restore_report`` is that restore's :class:`~kerasopt_compat.RestoreReport`
(None otherwise). A folder holding both generations' backups is the installed
one's. The other generation's backup is never written to; it is removed when
``fit`` ends with ``delete_checkpoint=True`` (as Keras removes its own), kept
otherwise (the installed generation's own is then preferred at the next start).
"""


@_reports_installed
def BackupAndRestore(backup_dir: Any, *args: Any, **kwargs: Any) -> Any:
    global _CLASS
    with _LOCK:
        if _CLASS is None:
            _CLASS = _build_class()
    return _CLASS(backup_dir, *args, **kwargs)


BackupAndRestore.__doc__ = _DOC
