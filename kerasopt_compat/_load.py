"""``load_model``: the installed flavour's own loader, with the stored optimizer made right.

The installed ``load_model`` reads the file first. When it fails because of the
stored optimizer, or returns an optimizer other than the one the file holds
(compared as canonical dicts, :func:`optimizer_matches`), the model is loaded
again by the same native loader from a temporary copy whose optimizer entry
was rewritten for the installed flavour (:func:`kerasopt_compat.fix_model`),
so loss, metrics, weights and, where the loader restores it, the optimizer
state come from the native loader as usual.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import warnings
from typing import Any, Mapping, Optional

from ._errors import (
    ConversionWarning,
    KerasOptCompatError,
    ModelFileError,
    OptimizerStateWarning,
)
from ._flavour import Flavour, flavour
from ._live import _reports_installed, serialize
from ._modelfile import _WRITERS, PathLike, StoredModel, _canonical, native_entry, read_model_file
from ._normalize import CustomObjects, normalize

__all__ = ["load_model", "optimizer_matches"]

_LAYERS_NOTE = (
    "kerasopt_compat: the stored optimizer was not the cause: this file does not load with compile=False either "
    "(its layers or model config are what the installed Keras rejects)"
)


@_reports_installed
def load_model(
    path: PathLike,
    custom_objects: Optional[Mapping[str, Any]] = None,
    compile: bool = True,  # noqa: A002 - the name Keras uses
    *,
    strict: bool = False,
    **kwargs: Any,
) -> Any:
    """Load a model with the installed Keras, restoring the optimizer the file holds.

    Same arguments as the installed ``load_model`` (extra ``kwargs`` are passed
    on). With ``compile=True`` and a stored optimizer, the result's optimizer
    has the stored hyperparameters even where the native loader fails on the
    optimizer (``Unknown optimizer: Custom>Adam``, ``weight_decay is not a
    valid argument``) or silently replaces it (Keras 3 reading a Keras 2
    ``.h5``). Legacy ``decay`` becomes an equivalent ``InverseTimeDecay``
    (:class:`DecayConversionWarning`); a setting the installed Keras cannot
    hold gives :class:`LossyConversionWarning`, or :class:`LossyConversionError`
    with ``strict=True``. When the optimizer had to be rebuilt and its state
    (iteration count, slots) was not restored, one
    :class:`OptimizerStateWarning` says so. Errors that are not about the
    optimizer are raised as the native loader raised them, with a note that
    the optimizer was not the cause.

    >>> model = load_model("saved_by_tf215.h5")                     # doctest: +SKIP
    >>> serialize(model.optimizer)["config"]["learning_rate"]       # doctest: +SKIP
    0.123
    """
    fl = flavour()
    native = fl.keras.models.load_model
    fspath = os.fspath(path)
    if not compile:
        return native(fspath, custom_objects=custom_objects, compile=False, **kwargs)
    try:
        stored: Optional[StoredModel] = read_model_file(fspath)
    except ModelFileError:
        stored = None  # not a container kerasopt_compat reads: leave it all to the loader
    if stored is None or stored.optimizer is None:
        return native(fspath, custom_objects=custom_objects, compile=True, **kwargs)
    wanted = _canonical(stored, _custom_names(custom_objects))
    try:
        model = native(fspath, custom_objects=custom_objects, compile=True, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any loader error: find out whether the optimizer caused it
        _raise_if_layers(native, fspath, custom_objects, kwargs, exc)
    else:
        if model.optimizer is not None and optimizer_matches(fl, model.optimizer, wanted, custom_objects):
            return model
    return _load_fixed(fl, native, stored, wanted, custom_objects, strict, kwargs)


def _custom_names(custom_objects: Optional[Mapping[str, Any]]) -> CustomObjects:
    return list(custom_objects) if isinstance(custom_objects, Mapping) else None


def _raise_if_layers(native: Any, path: str, custom_objects: Any, kwargs: Mapping[str, Any], exc: BaseException) -> None:
    """Return when ``path`` loads with ``compile=False`` (so the optimizer was in the
    way); otherwise re-raise the loader's own error ``exc`` with a note."""
    try:
        native(path, custom_objects=custom_objects, compile=False, **kwargs)
    except Exception:  # noqa: BLE001
        _add_note(exc, _LAYERS_NOTE)
        raise exc from None


def _add_note(exc: BaseException, note: str) -> None:
    add_note = getattr(exc, "add_note", None)
    if callable(add_note):  # Python 3.11+
        add_note(note)
        return
    # Python < 3.11: the note goes on the message, the exception keeps its type.
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (exc.args[0] + "\n" + note,)


def _load_fixed(
    fl: Flavour,
    native: Any,
    stored: StoredModel,
    wanted: Mapping[str, Any],
    custom_objects: Any,
    strict: bool,
    kwargs: Mapping[str, Any],
) -> Any:
    entry = native_entry(wanted, fl.default_family, stored.format, strict=strict)
    folder = tempfile.mkdtemp(prefix="kerasopt_compat-")
    try:
        copy = os.path.join(folder, os.path.basename(os.path.normpath(stored.path)) or "model")
        _WRITERS[stored.format](stored.path, copy, entry)
        try:
            model = native(copy, custom_objects=custom_objects, compile=True, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise ModelFileError(
                "%s: the installed Keras still failed after the stored optimizer was rewritten for it: %s: %s"
                % (stored.path, type(exc).__name__, exc)
            ) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if _iterations(model.optimizer) == 0:
        warnings.warn(
            "%s: the optimizer was rebuilt from its stored config; its state (iteration count, slot variables) "
            "was not restored, so training restarts from a fresh optimizer state" % stored.path,
            OptimizerStateWarning,
            stacklevel=3,
        )
    return model


def _iterations(optimizer: Any) -> Optional[int]:
    try:
        value = optimizer.iterations
        numpy_fn = getattr(value, "numpy", None)
        return int(numpy_fn() if callable(numpy_fn) else value)
    except Exception:  # noqa: BLE001 - no readable iteration count
        return None


def optimizer_matches(fl: Flavour, optimizer: Any, wanted: Mapping[str, Any], custom_objects: Any = None) -> bool:
    """Whether a live optimizer holds the hyperparameters of canonical ``wanted``.

    ``wanted`` is first written for the loaded optimizer's own generation
    (``to_native``: legacy ``decay`` becomes ``InverseTimeDecay`` for the new
    optimizers) and read back, then compared key by key, floats within
    float32 precision; optimizer names are not compared.
    """
    from ._write import write

    try:
        got = serialize(optimizer, custom_objects=_custom_names(custom_objects))
        family = fl.family_of(type(getattr(optimizer, "inner_optimizer", optimizer)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)
            expected = normalize(write(normalize(wanted), family))
    except KerasOptCompatError:
        return False
    return _close(_unnamed(got), _unnamed(expected))


def _unnamed(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _unnamed(v) for k, v in obj.items() if k != "name"}
    if isinstance(obj, list):
        return [_unnamed(v) for v in obj]
    return obj


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return bool(a == b)
