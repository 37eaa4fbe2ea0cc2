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

import os
import shutil
import tempfile
import warnings
from typing import Any, Mapping, Optional

from .. import fixes
from .._config import tables as T
from .._errors import (
    ConversionWarning,
    InvalidConfigError,
    KerasOptCompatError,
    ModelFileError,
    UnsupportedClassError,
)
from .._files.base import PathLike, Rewrite, StoredModel, _canonical, _dumps, _json
from .._files.h5 import _attr_text, _h5py
from .._files.model import compile_null_defaults, native_entry, read_model_file, unopenable
from .._files.registry import BY_FORMAT, detect
from .._keras.flavour import Flavour, flavour
from .._keras.live import _custom_names, _reports_installed, deserialize, optimizer_matches
from .._optional import parse_version
from .compile import _compile_args
from .resume import _STATES, _one_line, _state_without_config, _with_state
from .savedmodel import is_savedmodel_dir, load_savedmodel

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
    state: str = "restore",
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

    ``state`` says what happens to the optimizer's training state (iteration
    count and slots) so that ``fit`` goes on where the saver stopped:

    * ``"restore"`` (default): the state is read from the file without
      TensorFlow (:func:`read_state`) and assigned slot by model variable
      (:func:`restore_state`), replacing what the native loader assigned by
      position; every inexact part is an :class:`OptimizerStateWarning`
      subclass. A state kerasopt_compat cannot read or tie leaves the
      optimizer as the native loader made it, with an
      :class:`OptimizerStateWarning` saying so.
    * ``"require"``: the same, but anything short of an exact restore raises
      :class:`OptimizerStateError` (nothing is returned).
    * ``"fresh"``: the stored hyperparameters with a fresh state (iteration 0),
      no warning.

    With Keras 3 (any backend), a TF 2.x SavedModel directory, which Keras 3's
    own loader refuses, is rebuilt from its ``keras_metadata.pb`` model config
    by Keras 3's legacy config loader (custom layers from ``custom_objects``),
    its weights assigned by variable from ``variables/`` without TensorFlow,
    and compiled and resumed as above (:mod:`kerasopt_compat._models.savedmodel`); what
    cannot be rebuilt (no Keras metadata, no model config, no variables)
    raises :class:`ModelFileError` (``keras.layers.TFSMLayer`` remains the
    inference-only route).

    >>> model = load_model("saved_by_tf215.h5")                     # doctest: +SKIP
    >>> serialize(model.optimizer)["config"]["learning_rate"]       # doctest: +SKIP
    0.123
    """
    if state not in _STATES:
        raise InvalidConfigError("state must be one of %s" % (_STATES,), key="state", value=state, has_value=True)
    fl = flavour()
    fspath = os.fspath(path)
    if fl.default_family == "keras3":
        if is_savedmodel_dir(fspath):  # Keras 3 refuses these: rebuilt from keras_metadata.pb and variables/
            return load_savedmodel(fl, fspath, custom_objects, compile, state, strict, kwargs)
    native = _NativeLoader(fl, fspath, custom_objects, kwargs)
    try:
        return _load(fl, native, fspath, custom_objects, compile, strict, state)
    finally:
        native.close()


def _load(
    fl: Flavour,
    native: _NativeLoader,
    fspath: str,
    custom_objects: Any,
    compile: bool,
    strict: bool,
    state: str,  # noqa: A002
) -> Any:
    if not compile:
        return native(fspath, compile=False)
    try:
        stored: Optional[StoredModel] = read_model_file(fspath)
    except ModelFileError:
        stored = None  # not a container kerasopt_compat reads: leave it all to the loader
    if stored is None or stored.optimizer is None:
        model = native(fspath)
        if stored is not None and state != "fresh":
            _state_without_config(fspath, state)
        return model
    try:
        wanted = _canonical(stored, _custom_names(custom_objects))
    except KerasOptCompatError:
        # An optimizer kerasopt_compat cannot read (a custom class not in
        # custom_objects...): the native loader alone decides, as without us.
        return native(fspath)
    native_error: Optional[BaseException] = None
    if compile_null_defaults(stored, fl.default_family):
        # a compile argument the installed Keras cannot take as stored (null): the rewritten copy
        model = None
    else:
        try:
            model = native(fspath)
        except Exception as exc:  # noqa: BLE001 - any loader error: find out whether the optimizer caused it
            native.raise_unless_compile_is_the_cause(exc)
            native_error = exc
        else:
            if model.optimizer is not None and optimizer_matches(fl, model.optimizer, wanted, custom_objects):
                _recompile_broken_metrics(fl, model, stored, custom_objects)
                return _with_state(model, fspath, stored, wanted, state, strict, custom_objects, rebuilt=False)
    try:
        model = _load_fixed(fl, native, stored, wanted, strict)
    except _FixedCopyFailed as failed:
        # Still failing with the optimizer rewritten: something else in the
        # compile arguments (Keras 3.15 cannot read the loss "mse" from any
        # .h5). Compile ourselves from the stored arguments, but only when
        # every stored loss and metric resolves in the installed Keras;
        # otherwise the loader's own error stands (a custom metric the caller
        # did not pass in custom_objects).
        model = _compile_fresh(fl, native, stored, wanted, custom_objects, strict, failed.__cause__, native_error)
    else:
        _recompile_broken_metrics(fl, model, stored, custom_objects)
    return _with_state(model, fspath, stored, wanted, state, strict, custom_objects, rebuilt=True)


def _recompile_broken_metrics(fl: Flavour, model: Any, stored: StoredModel, custom_objects: Any) -> None:
    """Compile again, metrics resolved, a model whose native loader compiled the
    stored metrics into ones that fail at the first step
    (``_config.tables.NATIVE_METRICS_BROKEN``); left as loaded when a stored loss or
    metric does not resolve (the native outcome stands)."""
    broken = T.NATIVE_METRICS_BROKEN.get((stored.format, fl.default_family))
    if broken is None or not _has_class(stored.compile_args.get("metrics"), broken):
        return
    try:
        args = _compile_args(fl, stored.compile_args, custom_objects)
    except Exception:  # noqa: BLE001 - a loss/metric that does not resolve: as the native loader made it
        return
    model.compile(optimizer=model.optimizer, **args)


def _has_class(value: Any, class_name: str) -> bool:
    """Whether a stored compile argument holds a serialized object of ``class_name`` (at any depth)."""
    if isinstance(value, Mapping):
        return value.get("class_name") == class_name or any(_has_class(v, class_name) for v in value.values())
    if isinstance(value, list):
        return any(_has_class(v, class_name) for v in value)
    return False


class _NativeLoader:
    """The installed ``load_model`` with the caller's arguments; a file format
    the installed Keras cannot open gets a note saying so (``unopenable``)."""

    def __init__(self, fl: Flavour, path: str, custom_objects: Any, kwargs: Mapping[str, Any]) -> None:
        self.fl, self.path, self.custom_objects, self.kwargs = fl, path, custom_objects, kwargs
        self.load = fl.keras.models.load_model
        #: Keras 3: a temporary copy of ``path`` whose Keras 1/2 model config was repaired
        #: (:func:`_repaired_config_copy`), read in its place; None when not needed
        self.repaired: Optional[str] = _repaired_config_copy(fl, path)

    def file(self, path: str) -> str:
        """The file the native loader reads for ``path`` (the repaired copy of the caller's file)."""
        return self.repaired if self.repaired is not None and path == self.path else path

    def close(self) -> None:
        if self.repaired is not None:
            shutil.rmtree(os.path.dirname(self.repaired), ignore_errors=True)
            self.repaired = None

    def __call__(self, path: str, compile: bool = True) -> Any:  # noqa: A002 - the name Keras uses
        try:
            return self.load(self.file(path), custom_objects=self.custom_objects, compile=compile, **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised unchanged, with a note when the format is the cause
            if path == self.path:
                self._note_format(exc)
            raise

    def _note_format(self, exc: BaseException) -> None:
        if getattr(exc, "_koc_noted", False):
            return
        try:
            reason = unopenable(self.path, detect(self.path).format, self.fl.release() or self.fl.default_family)
        except ModelFileError:
            return
        if reason is not None:
            _add_note(exc, "kerasopt_compat: the stored optimizer was not the cause: this file is %s" % reason)
            exc._koc_noted = True  # type: ignore[attr-defined]

    def raise_unless_compile_is_the_cause(self, exc: BaseException) -> None:
        """Return when the file loads with ``compile=False`` (the optimizer or the
        compile arguments are in the way); otherwise re-raise ``exc`` with a note."""
        try:
            self(self.path, compile=False)
        except Exception:  # noqa: BLE001
            if not getattr(exc, "_koc_noted", False):  # not already said: the file format is the cause
                _add_note(exc, _LAYERS_NOTE)
            raise exc from None


def _repaired_config_copy(fl: Flavour, path: str) -> Optional[str]:
    """Keras 3 reading a Keras 1/2 ``.h5``: a temporary copy whose ``model_config`` has the
    rewrites of :data:`kerasopt_compat.fixes.KERAS3_LEGACY_CONFIG_REWRITES` that the installed
    release needs, or None (not Keras 3, not an ``.h5``, nothing to rewrite, unreadable: the
    native loader then reads the file itself and says what it says)."""
    if fl.default_family != "keras3":
        return None

    try:
        if detect(path).format != "h5":
            return None
        h5py = _h5py()
        with h5py.File(path, "r") as fh:
            raw = fh.attrs.get("model_config")
            if raw is None:
                return None
            text = _attr_text(raw, path, "model_config")
        doc = _json(text, path, "model_config")
    except (KerasOptCompatError, OSError, ValueError, ImportError):
        return None
    if not isinstance(doc, dict) or not fixes.keras3_legacy_model_config(doc, parse_version(fl.keras_version or "3")):
        return None
    folder = tempfile.mkdtemp(prefix="kerasopt_compat-")
    copy = os.path.join(folder, os.path.basename(path) or "model.h5")
    try:
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as fh:
            out = _dumps(doc)
            fh.attrs["model_config"] = out if isinstance(text, str) else out.encode("utf-8")
    except (OSError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return copy


def _add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)``; before Python 3.11 (no notes in tracebacks) the note
    is also added to the message, and the exception keeps its type."""
    add_note = getattr(exc, "add_note", None)
    if callable(add_note):  # Python 3.11+
        add_note(note)
        return
    try:
        exc.__notes__ = list(getattr(exc, "__notes__", [])) + [note]  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # pragma: no cover - exceptions with __slots__
        pass
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (exc.args[0] + "\n" + note,)
    else:
        exc.args = exc.args + (note,)


def _load_fixed(fl: Flavour, native: _NativeLoader, stored: StoredModel, wanted: Mapping[str, Any], strict: bool) -> Any:
    loader = "tf_keras" if fl.kind == "tf_keras" else fl.default_family
    try:
        # for the installed release where the tables know it (TF 2.9/2.10: their
        # optimizers.experimental class where the legacy one would lose a setting)
        entry = native_entry(wanted, fl.default_family, stored.format, loader=loader, strict=strict, target=fl.release())
    except UnsupportedClassError as exc:  # its own loader cannot read the class from a dict: build it ourselves
        raise _FixedCopyFailed() from exc
    folder = tempfile.mkdtemp(prefix="kerasopt_compat-")
    try:
        copy = os.path.join(folder, os.path.basename(os.path.normpath(stored.path)) or "model")
        defaults = compile_null_defaults(stored, fl.default_family)
        BY_FORMAT[stored.format].write(Rewrite(native.file(stored.path), copy, entry, defaults))
        try:
            model = native(copy)
        except Exception as exc:  # noqa: BLE001
            raise _FixedCopyFailed() from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return model


class _FixedCopyFailed(Exception):
    """The native loader failed on the copy with the rewritten optimizer too."""


def _compile_fresh(
    fl: Flavour,
    native: _NativeLoader,
    stored: StoredModel,
    wanted: Mapping[str, Any],
    custom_objects: Any,
    strict: bool,
    cause: Optional[BaseException],
    native_error: Optional[BaseException],
) -> Any:
    """``load_model(compile=False)``, then ``compile()`` with ``deserialize(wanted)``
    and the stored loss, metrics and loss weights.

    A stored loss or metric that the installed Keras cannot resolve (a custom
    function not in ``custom_objects``) is not compiled in as a bare name that
    would fail at the first training step: the native loader's own error
    ``native_error`` is raised unchanged (or, when the native loader returned a
    model, a :class:`ModelFileError` saying what failed)."""
    try:
        args = _compile_args(fl, stored.compile_args, custom_objects)
    except Exception as exc:  # noqa: BLE001 - a loss/metric the installed Keras cannot resolve
        if native_error is not None and (cause is None or _same_error(native_error, cause)):
            raise native_error from None  # the optimizer was not the cause: the loader's own error
        if cause is not None:
            # The loader's error on the file with the optimizer made right: when
            # the untouched file failed on the optimizer first, say so.
            if native_error is not None:
                _add_note(
                    cause,
                    "kerasopt_compat: the installed load_model failed on the stored optimizer (%s); with the "
                    "optimizer rewritten for it, it fails as above" % _one_line(native_error),
                )
            raise cause from None
        raise ModelFileError(
            "%s: cannot compile the model with its stored loss/metrics %r: %s: %s (the installed load_model "
            "failed with: %s)" % (stored.path, stored.compile_args, type(exc).__name__, exc, cause)
        ) from exc
    model = native(stored.path, compile=False)
    with warnings.catch_warnings():
        # _load_fixed already said it while writing the same optimizer: once per call
        warnings.simplefilter("ignore", ConversionWarning)
        optimizer = deserialize(wanted, custom_objects, strict=strict)
    try:
        model.compile(optimizer=optimizer, **args)
    except Exception as exc:  # noqa: BLE001 - say what failed and what the loader said first
        raise ModelFileError(
            "%s: cannot compile the model with its stored loss/metrics %r: %s: %s (the installed load_model "
            "failed with: %s)" % (stored.path, stored.compile_args, type(exc).__name__, exc, cause)
        ) from exc
    return model


def _same_error(a: BaseException, b: BaseException) -> bool:
    return type(a) is type(b) and str(a) == str(b)
