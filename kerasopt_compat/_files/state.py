"""Read an optimizer's training state from any container, without TensorFlow.

:func:`read_state` returns an :class:`~kerasopt_compat._state.slots.OptimizerState`:
the canonical optimizer dict, the iteration count, who saved it, and the slots
*per model variable* under the canonical slot names of
:data:`~kerasopt_compat._state.slots.SLOTS`. The container (:mod:`.registry`)
reads it: how each ties a slot to its variable (never by position where the
file stores a name or an edge) is said in its module (:mod:`.h5`,
:mod:`.keras_zip`, :mod:`.savedmodel`, :mod:`.checkpoint`).

Everything is read-only; nothing named in a file is imported. Malformed input
raises :class:`~kerasopt_compat.ModelFileError` naming the file.
"""

from __future__ import annotations

import os

from .._config.normalize import CustomObjects
from .._state.slots import (
    OptimizerState,
)
from .base import PathLike, StateRead, StoredModel
from .registry import BY_FORMAT, detect

__all__ = ["read_state"]


def read_state(
    path: PathLike, *, custom_objects: CustomObjects = None, unknown_keys: str = "error", lazy: bool = False
) -> OptimizerState:
    """Read the optimizer's training state stored in a model file.

    ``path`` is an ``.h5``/``.hdf5`` file, a ``.keras`` archive or a TF 2.x
    SavedModel directory (recognised by content). Imports no TensorFlow or
    Keras; ``.h5`` and ``.keras`` need h5py; a SavedModel's checkpoint bundle
    is read by :func:`kerasopt_compat._files.bundle.savedmodel_state`.
    ``custom_objects`` lets the canonical dict of your own optimizer
    class through (its slots are then not tied: no slot table; see notes);
    ``unknown_keys`` is as for :func:`~kerasopt_compat.read_optimizer`.
    ``lazy=True`` (``.h5``, training checkpoints): every non-scalar slot is a
    :class:`~kerasopt_compat._state.slots.StoredArray` (shape, dtype, position in the
    file) read from the file only when asked, so that a big state is tied
    without reading it and restored one variable at a time.

    >>> st = read_state("model.h5")                                  # doctest: +SKIP
    >>> st.iterations, st.saver.generation, [(v.name, sorted(v.slots)) for v in st.variables][:1]  # doctest: +SKIP
    (3, 'keras2', [('dense/kernel', ['m', 'v'])])

    Raises :class:`ModelFileError` for malformed files (and for TF.js
    files, which store no optimizer state).
    """
    fspath = os.fspath(path)
    return read_stored_state(fspath, detect(fspath).read_stored(fspath), custom_objects, unknown_keys, lazy)


def read_stored_state(
    path: str, stored: StoredModel, custom_objects: CustomObjects = None, unknown_keys: str = "error", lazy: bool = False
) -> OptimizerState:
    """:func:`read_state` of a file whose stored entry the caller has read already (``load_model``)."""
    return BY_FORMAT[stored.format].read_state(StateRead(path, stored, custom_objects, unknown_keys, lazy))


# --------------------------------------------------------------------------- the stored optimizer


# --------------------------------------------------------------------------- .keras
