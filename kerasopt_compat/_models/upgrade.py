"""``upgrade_model(IN, OUT)`` and ``kerasopt-compat upgrade IN OUT.keras``: any model file to the installed Keras' ``.keras``.

The model is loaded with :func:`kerasopt_compat.load_model` (so a TF 2.x
SavedModel in Keras 3, a Keras 2 ``.h5`` with its optimizer made right, the
optimizer state restored by variable) and saved by the installed Keras as
its native ``.keras`` archive, atomically: written to a temporary file in
OUT's folder (``OUT.kerasopt_compat-tmp-XXXXXXXX.keras``), then moved into place with ``os.replace``
(:mod:`._atomic`). IN is never written, also not through a link.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Mapping, Optional

from .._errors import KerasOptCompatError, ModelFileError, OptimizerStateError, OptimizerStateWarning
from .._files.atomic import check_folder, write_file
from .._files.base import PathLike
from .._files.model import _refuse_input_as_output
from .._keras.flavour import flavour
from .._keras.live import deserialize, serialize
from .._keras.restore import _attach, _Live, restore_state
from .._optional import parse_version
from .load import load_model

__all__ = ["upgrade_model"]


def upgrade_model(
    src: PathLike,
    dst: PathLike,
    custom_objects: Optional[Mapping[str, Any]] = None,
    *,
    force: bool = False,
    strict: bool = False,
    state: str = "restore",
) -> str:
    """Load ``src`` with :func:`kerasopt_compat.load_model` and save it as the installed Keras' ``.keras`` at ``dst``.

    ``dst`` must end in ``.keras`` and not exist (unless ``force``), and may not
    be ``src``; ``src`` is never modified. ``custom_objects``, ``strict`` and
    ``state`` go to :func:`~kerasopt_compat.load_model` (its warnings are the
    caller's). Plain ``keras.models.load_model(dst)`` then gives the model, its
    compiled loss/metrics and optimizer with the state ``state`` says. Returns
    ``dst``.

    >>> upgrade_model("saved_by_tf215/", "model.keras")          # doctest: +SKIP
    'model.keras'
    """

    src_path, dst_path = os.fspath(src), os.fspath(dst)
    if not dst_path.endswith(".keras"):
        raise ModelFileError("upgrade_model: the output must be a .keras file", key="dst", value=dst_path, has_value=True)
    if not os.path.exists(src_path):
        raise ModelFileError("upgrade_model: %s does not exist" % src_path, key="src", value=src_path, has_value=True)
    _refuse_input_as_output(src_path, dst_path, "upgrade_model")
    check_folder(dst_path)  # before the (slow) load
    if os.path.lexists(dst_path):
        if not force:
            raise ModelFileError("upgrade_model: %s exists (force=True replaces it)" % dst_path, value=dst_path, has_value=True)
        if os.path.isdir(dst_path):
            raise ModelFileError("upgrade_model: %s is a directory" % dst_path, value=dst_path, has_value=True)
    fl = flavour()
    if fl.kind != "keras3" and parse_version(fl.keras_version or "0")[:2] < (2, 13):
        exc = ModelFileError(
            "upgrade_model: the installed Keras cannot write .keras archives (Keras 2.13+, tf_keras and Keras 3 can)"
        )
        exc.note_installed(fl.describe())
        raise exc
    model = load_model(src_path, custom_objects, state=state, strict=strict)
    if getattr(model, "optimizer", None) is not None:
        if _Live(model.optimizer).generation == "legacy":
            _archive_generation(model, src_path, state, strict)
        elif state == "fresh":
            # saved built (zero slots, iteration 0): an unbuilt one makes Keras 3's loader warn that the counts differ
            _Live(model.optimizer).build(model.trainable_variables)
    write_file(dst_path, model.save, suffix=".keras")  # Keras 3 saves only to a name ending in .keras
    return dst_path


def _archive_generation(model: Any, src_path: str, state: str, strict: bool) -> None:
    """Give ``model`` the installed default (Keras 2) class of its legacy optimizer, the state restored into it.

    Keras 2.13-2.15 and tf_keras 2.x save a legacy (``optimizers.legacy``,
    OptimizerV2) optimizer into a ``.keras`` archive that their own
    ``load_model`` cannot read ("'Adam' object has no attribute 'build'"; seen
    with TF 2.13 and 2.15): the archive gets the default namespace's class.
    Its state is restored by variable from ``src_path`` in that generation
    (:func:`~kerasopt_compat.restore_state`, ``generation="keras2"``): where
    the two generations' update rules differ (Nadam, RMSprop) that says so with
    its :class:`~kerasopt_compat.OptimizerStateWarning` subclass, or raises
    with ``state="require"``. Keras 3 has no legacy optimizers."""

    if state != "fresh":
        try:
            restore_state(model, src_path, strict=state == "require", generation="keras2")
            return
        except OptimizerStateError:
            raise
        except KerasOptCompatError as exc:
            warnings.warn(
                "%s: the legacy optimizer's state was not restored into the Keras 2 class the .keras archive needs "
                "(%s); training restarts from a fresh optimizer state" % (src_path, exc),
                OptimizerStateWarning,
                stacklevel=3,
            )
    optimizer = deserialize(serialize(model.optimizer), strict=strict)  # namespace-neutral: the default class
    _attach(model, optimizer)
    _Live(optimizer).build(model.trainable_variables)
