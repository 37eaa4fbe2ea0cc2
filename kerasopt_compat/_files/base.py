"""What every container shares, pure (no TensorFlow): the stored model, its JSON, the slot assembly, the interface.

A *container* is one model-file format (:mod:`.h5`, :mod:`.keras_zip`,
:mod:`.savedmodel`, :mod:`.tfjs`): a :class:`Container` says how to recognise
it, read its stored optimizer entry and compile arguments, read its optimizer
state and write a copy with a new entry (and state). :mod:`.registry` lists
them; :func:`~kerasopt_compat.read_optimizer`, :func:`~kerasopt_compat.read_state`
and :func:`~kerasopt_compat.fix_model` dispatch through it.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from .._config import tables as T
from .._config.normalize import MAX_JSON_DEPTH, CustomObjects, json_too_deep, normalize
from .._errors import (
    KerasOptCompatError,
    ModelFileError,
    NoOptimizerError,
)
from .._state.layout import StateLayout
from .._state.slots import (
    EXTRA_SLOTS,
    SLOTS,
    OptimizerState,
    VariableState,
    slot_exists,
)
from .atomic import write_file

PathLike = Union[str, "os.PathLike[str]"]


#: The ``metadata.json`` key fix_model adds to a ``.keras`` archive whose optimizer state it laid out for
#: another generation (``keras2``/``keras3``): ``keras_version`` still names the saver, which no longer
#: says the layout. Keras ignores the key.
STATE_LAYOUT_KEY = "kerasopt_compat_state_layout"


#: Largest JSON document read from a model file (a zip member could claim any size).
_MAX_JSON_BYTES = 64 * 1024 * 1024


class StoredModel(NamedTuple):
    """What a model file stores besides weights, as kerasopt_compat reads it."""

    path: str
    #: "h5", "keras", "savedmodel" or "tfjs"
    format: str
    #: the optimizer entry as stored (a bare name such as "adam" is read as
    #: ``{"class_name": "adam", "config": {}}``), or None
    optimizer: Optional[Dict[str, Any]]
    #: loss, metrics, loss_weights, ... as stored (``training_config`` of
    #: .h5/SavedModel/TF.js, ``compile_config`` of .keras), without the optimizer
    compile_args: Dict[str, Any]


def _canonical(stored: StoredModel, custom_objects: CustomObjects, unknown_keys: str = "error") -> Dict[str, Any]:
    if stored.optimizer is None:
        raise NoOptimizerError(
            "%s: the model file (%s) holds no optimizer; %s"
            % (stored.path, _FORMAT_LABEL[stored.format], _NO_OPTIMIZER[stored.format])
        )
    try:
        return normalize(_drop_file_markers(stored.optimizer), custom_objects=custom_objects, unknown_keys=unknown_keys)
    except KerasOptCompatError as exc:
        exc.note_file(stored.path)
        raise


def _drop_file_markers(obj: Any) -> Any:
    """A copy without the model-file-only keys (``_config.tables.MODEL_FILE_DROPPED_TOP_LEVEL``)
    of every serialized object (a dict with ``class_name``) in it."""
    if isinstance(obj, Mapping):
        drop = T.MODEL_FILE_DROPPED_TOP_LEVEL if "class_name" in obj else frozenset()
        return {k: _drop_file_markers(v) for k, v in obj.items() if k not in drop}
    if isinstance(obj, list):
        return [_drop_file_markers(v) for v in obj]
    return obj


#: How messages name each container, by format (filled by each :class:`Container` subclass).
_FORMAT_LABEL: Dict[str, str] = {}
#: Why a file of each container holds no optimizer config, by format (filled by each :class:`Container` subclass).
_NO_OPTIMIZER: Dict[str, str] = {}


def _json(data: Union[str, bytes], path: str, where: str) -> Any:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ModelFileError("%s: %s is not UTF-8 text" % (path, where)) from None
    if json_too_deep(data):
        raise ModelFileError("%s: %s is nested too deeply (more than %d levels)" % (path, where, MAX_JSON_DEPTH))
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError("%s: %s is not valid JSON: %s" % (path, where, exc)) from None


class _Meta(NamedTuple):
    """A container's parsed document and where the optimizer sits in it."""

    #: the whole JSON document (metadata, config.json, attribute, model.json)
    doc: Any
    #: keys from ``doc`` to the dict holding the optimizer (None: no such dict)
    holder: Optional[Tuple[str, ...]]
    #: key of the optimizer inside the holder
    key: str


def _dig(doc: Any, keys: Tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    return doc


def _split(path: str, fmt: str, meta: _Meta) -> StoredModel:
    holder = _dig(meta.doc, meta.holder) if meta.holder is not None else None
    if holder is None:
        return StoredModel(path, fmt, None, {})
    if not isinstance(holder, Mapping):
        raise ModelFileError("%s: %r is not a JSON object" % (path, "/".join(meta.holder or ())))
    optimizer = holder.get(meta.key)
    args = {k: v for k, v in holder.items() if k != meta.key}
    if optimizer is not None and not isinstance(optimizer, Mapping):
        if isinstance(optimizer, str):  # compile(optimizer="adam") in a .keras config
            optimizer = {"class_name": optimizer, "config": {}}
        else:
            raise ModelFileError("%s: the stored optimizer is not a JSON object" % path, key=meta.key)
    return StoredModel(path, fmt, dict(optimizer) if optimizer is not None else None, args)


def _atomic_file(dst: str, fill: Callable[[str], None]) -> None:

    write_file(dst, fill)


def _dumps(doc: Any) -> str:
    return json.dumps(doc, allow_nan=False)


class _Opt(NamedTuple):
    """What the stored optimizer entry says about the slot layout."""

    canonical: Optional[Dict[str, Any]]
    #: canonical class name of the optimizer that holds the slots (the inner one of a LossScaleOptimizer)
    cls: Optional[str]
    wrapped: bool
    #: the slot-holding optimizer's stored config (raw: the options that decide which slots exist)
    options: Mapping[str, Any]
    #: generation the stored entry itself names (module / is_legacy_optimizer), or None
    hint: Optional[str]


def _opt_info(stored: StoredModel, custom_objects: CustomObjects, unknown_keys: str = "error") -> _Opt:
    if stored.optimizer is None:
        return _Opt(None, None, False, {}, None)
    canonical = _canonical(stored, custom_objects, unknown_keys)
    raw: Mapping[str, Any] = stored.optimizer
    cls = canonical.get("class_name")
    wrapped = cls == T.LOSS_SCALE_CLASS
    if wrapped:
        inner = (canonical.get("config") or {}).get("inner_optimizer") or {}
        cls = inner.get("class_name") if isinstance(inner, Mapping) else None
        raw_inner = (raw.get("config") or {}).get("inner_optimizer") if isinstance(raw.get("config"), Mapping) else None
        raw = raw_inner if isinstance(raw_inner, Mapping) else {}
    stored_options = raw.get("config")
    options: Mapping[str, Any] = stored_options if isinstance(stored_options, Mapping) else {}
    hint = None
    module = raw.get("module")
    if options.get("is_legacy_optimizer") is True or (isinstance(module, str) and ".legacy" in module):
        hint = "legacy"
    elif options.get("is_legacy_optimizer") is False:
        hint = "keras2"
    return _Opt(canonical, cls if isinstance(cls, str) else None, wrapped, options, hint)


def _float_lr(options: Mapping[str, Any]) -> bool:
    lr = options.get("learning_rate", options.get("lr"))
    return isinstance(lr, (int, float)) and not isinstance(lr, bool)


def _generation_of(keras_version: Optional[str], hint: Optional[str]) -> Optional[str]:
    if hint is not None:
        return hint
    if keras_version:
        major_minor = keras_version.split(".")[:2]
        try:
            major, minor = int(major_minor[0]), int(major_minor[1]) if len(major_minor) > 1 else 0
        except ValueError:
            return None
        if major >= 3:
            return "keras3"
        if major == 2 and minor <= 10:
            return "legacy"
    return None


class _Entry(NamedTuple):
    var: str
    slot: str
    value: Any


class _Builder:
    """Collects named slot entries and turns them into VariableStates (first-appearance order)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.order: List[str] = []
        self.slots: Dict[str, Dict[str, Any]] = {}

    def add(self, entry: _Entry) -> None:
        slots = self.slots.get(entry.var)
        if slots is None:
            slots = self.slots[entry.var] = {}
            self.order.append(entry.var)
        if entry.slot in slots:
            raise ModelFileError(
                "%s: the optimizer weights hold slot %r of variable %r twice" % (self.path, entry.slot, entry.var)
            )
        slots[entry.slot] = entry.value

    def variables(self, tie: str) -> Tuple[VariableState, ...]:
        out = []
        for index, var in enumerate(self.order):
            slots = self.slots[var]
            shapes = {tuple(v.shape) for v in slots.values()}
            if len(shapes) != 1:
                raise ModelFileError(
                    "%s: the slots of variable %r have different shapes: %s"
                    % (self.path, var, ", ".join("%s %s" % (k, tuple(v.shape)) for k, v in sorted(slots.items())))
                )
            out.append(VariableState(var, index, shapes.pop(), dict(slots), tie))
        return tuple(out)


def _expected_slots(cls: str, generation: str, options: Mapping[str, Any]) -> List[str]:
    out = [s.canonical for s in EXTRA_SLOTS if slot_exists(s, generation, options)]
    out.extend(s.canonical for s in SLOTS[cls] if slot_exists(s, generation, options))
    return out


def _missing_notes(variables: Sequence[VariableState], expected: Sequence[str]) -> List[str]:
    notes = []
    for var in variables:
        missing = [s for s in expected if s not in var.slots]
        if missing:
            notes.append("variable %r: no stored %s slot (the stored options create it)" % (var.name, "/".join(missing)))
    return notes


def _int_scalar(value: Any, path: str, what: str) -> int:
    shape = getattr(value, "shape", None)
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if shape != () or kind not in ("i", "u"):
        raise ModelFileError(
            "%s: %s is not an integer scalar (shape %s, dtype %s)" % (path, what, shape, getattr(value, "dtype", None))
        )
    return int(value)


def _float_scalar(value: Any, path: str, what: str) -> float:
    shape = getattr(value, "shape", None)
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if shape != () or kind not in ("f", "i", "u"):
        raise ModelFileError("%s: %s is not a number (shape %s)" % (path, what, shape))
    return float(value)


def numpy() -> Any:
    import numpy as np  # heavy: only where stored values are read

    return np


#: What zipfile raises on a damaged member: a bad CRC, a truncated or corrupt stream, an unknown compression
#: method, an encrypted member.
_ZIP_READ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError, ValueError)


#: Layer classes all of whose stored variables are trainable (when the layer is), in
#: Keras 2.13+ and Keras 3, unless the config turns on LoRA or quantization.
_ALL_TRAINABLE = frozenset(
    """Dense EinsumDense Embedding Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose
    DepthwiseConv1D DepthwiseConv2D SeparableConv1D SeparableConv2D LayerNormalization PReLU
    LSTMCell GRUCell SimpleRNNCell""".split()
)


#: Model classes whose config lists their layers in ``model.layers`` order.
_MODEL_CLASSES = frozenset(["Sequential", "Functional", "Model"])


class _Refuse(Exception):
    """The positional layout is not determined: no slot is tied (the message goes to notes)."""


def _entry(layer: Any, path: str) -> Tuple[str, Mapping[str, Any]]:
    """A layer entry's class name (without a ``package>`` prefix) and config."""
    if not isinstance(layer, Mapping) or not isinstance(layer.get("config"), Mapping):
        raise ModelFileError("%s: config.json: a layer entry is not a JSON object with a config" % path)
    cls = layer.get("class_name")
    if not isinstance(cls, str) or not cls:
        raise ModelFileError("%s: config.json: a layer entry has no class_name" % path)
    return cls.rsplit(">", 1)[-1], layer["config"]


def _trainable_indices(cls: Any, cfg: Mapping[str, Any], n: int, name: str) -> List[int]:
    if any(cfg.get(k) for k in _VARIANT_KEYS):
        raise _Refuse("layer %r (%s) uses %s" % (name, cls, "/".join(k for k in _VARIANT_KEYS if cfg.get(k))))
    if cls in _ALL_TRAINABLE:
        return list(range(n))
    if cls == "BatchNormalization":
        # gamma (scale), beta (center), moving_mean, moving_variance
        k = int(cfg.get("scale", True) is not False) + int(cfg.get("center", True) is not False)
        if n != k + 2:
            raise _Refuse("layer %r (BatchNormalization) stores %d variables, expected %d" % (name, n, k + 2))
        return list(range(k))
    raise _Refuse("layer %r: which variables of a %r layer are trainable is not in kerasopt_compat's table" % (name, cls))


#: ``Rewrite.state``: leave the stored optimizer state as it is.
KEEP_STATE: Any = object()


class StateRead(NamedTuple):
    """What :meth:`Container.read_state` is asked (:func:`~kerasopt_compat.read_state`'s arguments)."""

    path: str
    #: the file's stored entry, read once by the caller
    stored: StoredModel
    custom_objects: CustomObjects = None
    unknown_keys: str = "error"
    lazy: bool = False


class Rewrite(NamedTuple):
    """What :meth:`Container.write` is asked: copy ``src`` to ``dst`` (atomically) with the optimizer entry
    ``entry``, null compile arguments filled from ``compile_defaults``, and the state :data:`KEEP_STATE` (as
    stored), None (removed; only where ``state_removable``) or a :class:`StateLayout` laid out for ``family``."""

    src: str
    dst: str
    entry: Dict[str, Any]
    compile_defaults: Mapping[str, Any]
    state: Any = KEEP_STATE
    family: Optional[str] = None


class Container:
    """One model-file format: all that :func:`~kerasopt_compat.read_optimizer`, :func:`~kerasopt_compat.read_state`
    and :func:`~kerasopt_compat.fix_model` need of it. One subclass per container module, one instance of it
    in :data:`kerasopt_compat._files.registry.CONTAINERS`; a new container is one module and one row there."""

    #: the key of ``StoredModel.format``/``FixResult.format`` and of the tables (``_config.tables.UNOPENABLE``, ...)
    format: str = ""
    #: how messages name it
    label: str = ""
    #: why a file of this container holds no optimizer config (:class:`~kerasopt_compat.NoOptimizerError`)
    no_optimizer: str = "it was saved without compile(), with include_optimizer=False or from a model that was not compiled"
    #: whether the container is a folder (a copy is a folder too)
    folder: bool = False
    #: finer kinds of this container that :meth:`kind` returns (keys of ``_config.tables.UNOPENABLE``) -> how messages name them
    kinds: Dict[str, str] = {}
    #: whether the container can hold an optimizer state at all
    stores_state: bool = True
    #: whether ``fix_model(state="drop")`` can remove its state (its loaders then start fresh without complaint)
    state_removable: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _FORMAT_LABEL[cls.format] = cls.label
        _NO_OPTIMIZER[cls.format] = cls.no_optimizer

    def claims(self, path: str, head: Optional[bytes]) -> bool:
        """Whether ``path`` is this container: ``head`` is the file's first 8 bytes, None for a folder."""
        raise NotImplementedError

    def read_meta(self, path: str) -> _Meta:
        """The parsed document holding the optimizer entry and compile arguments, and where they sit in it."""
        raise NotImplementedError

    def read_stored(self, path: str) -> StoredModel:
        """The stored optimizer entry and compile arguments (no conversion)."""
        return _split(path, self.format, self.read_meta(path))

    def model_config(self, path: str) -> Any:
        """The stored model config without the training/compile config, or None (what cannot be read is said
        where the file is read for its optimizer)."""
        return None

    def kind(self, path: str) -> str:
        """The key of ``_config.tables.UNOPENABLE`` for this file: the format, or a finer kind of it."""
        return self.format

    def read_state(self, read: StateRead) -> OptimizerState:
        """The stored optimizer state (:func:`~kerasopt_compat.read_state`)."""
        raise ModelFileError("%s: a %s stores no optimizer state" % (read.path, self.label))

    def lay_out_state(self, state: OptimizerState, family: str) -> Tuple[Optional[StateLayout], List[str]]:
        """``state`` laid out as a ``family`` loader of this container assigns it, or None and why not."""
        return None, ["only .h5 and .keras files are laid out for another generation"]

    def write(self, job: Rewrite) -> None:
        """The copy :class:`Rewrite` describes."""
        raise NotImplementedError


#: Keys of a layer config that change which variables it has (Keras 3 LoRA, quantization).
_VARIANT_KEYS = ("lora_rank", "quantization_config")
