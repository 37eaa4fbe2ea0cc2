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
from typing import Any, Dict, Mapping, Optional

from .._config import tables as T
from .._config.normalize import CustomObjects, normalize
from .._errors import (
    ConversionWarning,
    InvalidConfigError,
    KerasOptCompatError,
    ModelFileError,
    OptimizerStateError,
    OptimizerStateWarning,
    UnsupportedClassError,
)
from .._files.model import (
    _WRITERS,
    PathLike,
    StoredModel,
    _canonical,
    _detect,
    compile_null_defaults,
    native_entry,
    read_model_file,
    unopenable,
)
from .._keras.flavour import Flavour, flavour
from .._keras.live import _reports_installed, deserialize, serialize
from ..fixes import keras3_loss_config, saved_call_spec

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
        from .savedmodel import is_savedmodel_dir, load_savedmodel

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
                return _with_state(model, fspath, wanted, state, strict, custom_objects, rebuilt=False)
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
    return _with_state(model, fspath, wanted, state, strict, custom_objects, rebuilt=True)


def _recompile_broken_metrics(fl: Flavour, model: Any, stored: StoredModel, custom_objects: Any) -> None:
    """Compile again, metrics resolved, a model whose native loader compiled the
    stored metrics into ones that fail at the first step
    (``_tables.NATIVE_METRICS_BROKEN``); left as loaded when a stored loss or
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


def _state_without_config(path: str, state: str) -> None:
    """A file with optimizer variables but no optimizer config (Keras 3.15 writes
    such a ``.keras`` when the same model was saved as ``.h5`` first): the state
    cannot be restored without knowing the optimizer; say so."""
    from .._errors import NoOptimizerConfigWarning
    from .._files.state import read_state

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
    model: Any, path: str, wanted: Mapping[str, Any], state: str, strict: bool, custom_objects: Any, rebuilt: bool
) -> Any:
    """The loaded model with its optimizer's training state as ``state`` says.

    ``rebuilt``: kerasopt_compat built the optimizer (its conversion warnings
    were given then, once per call)."""
    from .._files.state import read_state
    from .._keras.restore import _attach, restore_state

    if getattr(model, "optimizer", None) is None:
        return model
    if state == "fresh":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)  # said while loading, or the native loader's own
            _attach(model, deserialize(wanted, custom_objects, strict=strict))
        return model
    try:
        stored = read_state(path, custom_objects=_custom_names(custom_objects), lazy=True)
    except KerasOptCompatError as exc:
        return _state_not_restored(model, path, state, "kerasopt_compat cannot read it: %s" % exc)
    unbuilt = _build_unbuilt(model)
    if unbuilt is not None:
        return _state_not_restored(model, path, state, unbuilt)
    if not stored.variables and stored.untied:
        return _state_not_restored(
            model, path, state, "kerasopt_compat cannot tie it to the model's variables: %s" % "; ".join(stored.notes)
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            restore_state(
                model,
                stored,
                strict=state == "require",
                optimizer=None if stored.optimizer else dict(wanted),
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
        import tensorflow as tf

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
            reason = unopenable(self.path, _detect(self.path), self.fl.release() or self.fl.default_family)
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
    from .. import fixes
    from .._files.model import _attr_text, _dumps, _h5py, _json
    from .._optional import parse_version

    try:
        if _detect(path) != "h5":
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


def _custom_names(custom_objects: Optional[Mapping[str, Any]]) -> CustomObjects:
    return list(custom_objects) if isinstance(custom_objects, Mapping) else None


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
        _WRITERS[stored.format](native.file(stored.path), copy, entry, compile_null_defaults(stored, fl.default_family))
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


#: compile() arguments read from a stored training/compile config.
_COMPILE_KEYS = ("loss", "metrics", "weighted_metrics", "loss_weights")
#: Metric names compile() resolves itself from the loss and output shape
#: (Keras 2 and Keras 3 ``compile_utils``): passed through as they are.
_COMPILE_METRIC_NAMES = frozenset(["accuracy", "acc", "crossentropy", "ce"])


def _compile_args(fl: Flavour, stored: Mapping[str, Any], custom_objects: Any) -> Dict[str, Any]:
    """compile() arguments from the stored ones; raises when a loss or metric
    does not resolve in the installed Keras (with ``custom_objects``)."""
    out: Dict[str, Any] = {}
    for key in _COMPILE_KEYS:
        value = stored.get(key)
        if value is None:
            continue
        if key == "loss":
            if fl.default_family == "keras3":
                value = _per_output(value, lambda v: keras3_loss_config(v, _keras3_loss_fn(fl)))  # Keras 2 keys
            out[key] = _per_output(value, lambda v: _object(fl.keras.losses, v, custom_objects))
        elif key == "loss_weights":
            out[key] = value
        else:
            out[key] = _metric_list(fl, value, custom_objects)
    return out


def _keras3_loss_fn(fl: Flavour) -> Any:
    """``class name -> name of the function the installed built-in loss class wraps`` (None: not one)."""

    def own_fn(class_name: str) -> Optional[str]:
        cls = getattr(fl.keras.losses, class_name, None)
        if not isinstance(cls, type):
            return None
        try:
            return getattr(getattr(cls(), "fn", None), "__name__", None)
        except Exception:  # noqa: BLE001 - a class that needs arguments: not a plain wrapper
            return None

    return own_fn


def _per_output(value: Any, convert: Any) -> Any:
    if isinstance(value, Mapping) and "class_name" not in value:
        return {k: convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [convert(v) for v in value]
    return convert(value)


def _metric_list(fl: Flavour, value: Any, custom_objects: Any) -> Any:
    """Keras 2 ``.h5`` stores metrics per output (``[[...]]``); one output: one flat list."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if isinstance(value, Mapping) and "class_name" not in value:
        return {k: _metric_list(fl, v, custom_objects) for k, v in value.items()}
    if isinstance(value, list):
        return [_metric(fl, v, custom_objects) for v in value]
    return _metric(fl, value, custom_objects)


def _metric(fl: Flavour, value: Any, custom_objects: Any) -> Any:
    if isinstance(value, Mapping) and value.get("class_name") == "MeanMetricWrapper":
        fn = (value.get("config") or {}).get("fn")
        if isinstance(fn, str):
            value = fn  # a metric function, by its name
    if isinstance(value, str) and value in _COMPILE_METRIC_NAMES:
        return value
    return _object(fl.keras.metrics, value, custom_objects)


def _object(namespace: Any, value: Any, custom_objects: Any) -> Any:
    """A stored loss/metric for compile(). A name in ``custom_objects`` becomes
    that object; one the installed Keras resolves on its own passes through
    (compile() names it as stored); serialized objects are
    rebuilt by the installed Keras' own ``deserialize``. Anything else raises."""
    if value is None:
        return value
    if isinstance(value, str):
        if isinstance(custom_objects, Mapping) and value in custom_objects:
            return _callable(custom_objects[value], value)  # compile() itself would not look there
        _callable(namespace.get(value), value)
        return value
    return _callable(namespace.deserialize(value, custom_objects=custom_objects), value)


def _callable(obj: Any, stored: Any) -> Any:
    """A resolved loss or metric must be callable: Keras 2.13+ and Keras 3 return
    an unknown name unchanged, as a string that fails at the first step."""
    if isinstance(obj, str) or not callable(obj):
        raise ValueError("Unknown loss or metric: %r" % (stored,))
    return obj


def _same_error(a: BaseException, b: BaseException) -> bool:
    return type(a) is type(b) and str(a) == str(b)


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


def optimizer_matches(fl: Flavour, optimizer: Any, wanted: Mapping[str, Any], custom_objects: Any = None) -> bool:
    """Whether a live optimizer holds the hyperparameters of canonical ``wanted``.

    ``wanted`` is first written for the loaded optimizer's own generation
    (``to_native``: legacy ``decay`` becomes ``InverseTimeDecay`` for the new
    optimizers) and read back, then compared key by key, floats within
    float32 precision; optimizer names are not compared.
    """
    from .._config.write import write

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
