"""The optimizer state of a loaded model, as ``load_model(state=...)`` says: restored by variable, fresh, or required.

Shared by :mod:`.load` (every container the installed loader opens) and
:mod:`.savedmodel` (TF 2.x SavedModels rebuilt in Keras 3): the state is read
from the file (:func:`~kerasopt_compat.read_state`, lazily) and restored into
the model's optimizer (:func:`~kerasopt_compat.restore_state`); whatever is not
restored is an :class:`~kerasopt_compat.OptimizerStateWarning`, or an
:class:`~kerasopt_compat.OptimizerStateError` with ``state="require"``.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Optional

from .._errors import ConversionWarning, KerasOptCompatError, NoOptimizerConfigWarning, OptimizerStateError, OptimizerStateWarning
from .._files.base import StoredModel
from .._files.state import read_state, read_stored_state
from .._keras.live import _custom_names, deserialize
from .._keras.restore import _attach, restore_state
from ..fixes import saved_call_spec


def _state_without_config(path: str, state: str) -> None:
    """A file with optimizer variables but no optimizer config (Keras 3.15 writes
    such a ``.keras`` when the same model was saved as ``.h5`` first): the state
    cannot be restored without knowing the optimizer; say so."""

    try:
        stored = read_state(path)
    except KerasOptCompatError:
        return
    extra = stored.extra if isinstance(stored.extra, Mapping) else {}
    if stored.optimizer is not None or not (stored.iterations or extra.get("raw_iterations")):
        return
    why = (
        "%s stores optimizer variables but no optimizer config (Keras 3.15 leaves it out of a .keras saved after "
        "an .h5 of the same model), so its optimizer state was not restored; the optimizer is whatever the installed "
        "loader compiled; use kerasopt_compat.restore_state(model, path, optimizer=...) to restore it" % path
    )
    if state == "require":
        raise OptimizerStateError("load_model(state='require'): " + why)
    warnings.warn(why, NoOptimizerConfigWarning, stacklevel=3)


#: load_model's ``state`` values.
_STATES = ("restore", "require", "fresh")


def _with_state(
    model: Any,
    path: str,
    stored: StoredModel,
    wanted: Mapping[str, Any],
    state: str,
    strict: bool,
    custom_objects: Any,
    rebuilt: bool,
) -> Any:
    """The loaded model with its optimizer's training state as ``state`` says.

    ``stored``: the file's stored entry, as the caller read it (not parsed again);
    ``rebuilt``: kerasopt_compat built the optimizer (its conversion warnings
    were given then, once per call)."""

    if getattr(model, "optimizer", None) is None:
        return model
    if state == "fresh":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)  # said while loading, or the native loader's own
            _attach(model, deserialize(wanted, custom_objects, strict=strict))
        return model
    try:
        found = read_stored_state(path, stored, _custom_names(custom_objects), lazy=True)
    except KerasOptCompatError as exc:
        return _state_not_restored(model, path, state, "kerasopt_compat cannot read it: %s" % exc)
    unbuilt = _build_unbuilt(model)
    if unbuilt is not None:
        return _state_not_restored(model, path, state, unbuilt)
    if not found.variables and found.untied:
        return _state_not_restored(
            model, path, state, "kerasopt_compat cannot tie it to the model's variables: %s" % "; ".join(found.notes)
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            restore_state(
                model,
                found,
                strict=state == "require",
                optimizer=None if found.optimizer else dict(wanted),
                reuse_native=not rebuilt,  # slots the native loader already tied right are kept, not read again
            )
        except OptimizerStateError:
            raise
        except KerasOptCompatError as exc:
            failed: Optional[KerasOptCompatError] = exc
        else:
            failed = None
    for w in caught:  # again, outside: the caller's filters apply; conversion warnings once per call
        if rebuilt and issubclass(w.category, ConversionWarning) and not issubclass(w.category, OptimizerStateWarning):
            continue
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if failed is not None:
        return _state_not_restored(model, path, state, "restoring it failed: %s" % failed)
    return model


def _weights_created(model: Any) -> bool:
    try:
        model.trainable_variables  # noqa: B018 - Keras 2 raises ValueError before the weights exist
    except ValueError:
        return False
    return True


def _build_unbuilt(model: Any) -> Optional[str]:
    """Build a model that the native loader returned without its weights (a Keras 2 ``Sequential`` fed a
    dict, :func:`~kerasopt_compat.fixes.saved_call_spec`) by calling it once, in inference mode, on zeros
    of the input spec it was saved with: TensorFlow's checkpoint then restores each weight as it is
    created, as at the model's first call without kerasopt_compat, and the state can be tied to them.
    None when the weights exist (now), else why they do not."""
    if _weights_created(model):
        return None
    spec = saved_call_spec(model)
    if spec is None:
        return (
            "the installed loader returned the model without weights (they are created at its first call) and "
            "it records no input spec to build it with"
        )
    try:
        import tensorflow as tf  # the installed TensorFlow: only Keras 2 models are built this way

        zeros = tf.nest.map_structure(lambda s: tf.zeros([1 if d is None else d for d in s.shape], s.dtype), spec)
        model(zeros, training=False)
    except Exception as exc:  # noqa: BLE001 - the model's own reason, in the warning
        return (
            "the installed loader returned the model without weights (they are created at its first call) and "
            "calling it on zeros of its saved input spec failed: %s" % _one_line(exc)
        )
    if not _weights_created(model):
        return "the installed loader returned the model without weights, and calling it did not create them"
    return None


def _state_not_restored(model: Any, path: str, state: str, why: str) -> Any:
    iterations = _iterations(model.optimizer)
    if state == "require":
        raise OptimizerStateError("%s: load_model(state='require'): the optimizer state was not restored: %s" % (path, why))
    if iterations:
        what = "the optimizer keeps what the installed loader restored (%d iterations), tied by position only" % iterations
    else:
        what = "training restarts from a fresh optimizer state"
    warnings.warn(
        "%s: optimizer state not restored by kerasopt_compat (%s); %s" % (path, why, what), OptimizerStateWarning, stacklevel=4
    )
    return model


def _one_line(exc: Any) -> str:
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, text[0] if text else "")


def _iterations(optimizer: Any) -> Optional[int]:
    try:
        value = optimizer.iterations
        numpy_fn = getattr(value, "numpy", None)
        return int(numpy_fn() if callable(numpy_fn) else value)
    except Exception:  # noqa: BLE001 - no readable iteration count
        return None
