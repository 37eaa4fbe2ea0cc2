"""Read an optimizer's training state from an ``.h5`` file or a ``.keras`` archive, without TensorFlow.

:func:`read_state` returns an :class:`~kerasopt_compat._state.OptimizerState`:
the canonical optimizer dict, the iteration count, who saved it, and the slots
*per model variable* under the canonical slot names of
:data:`~kerasopt_compat._state.SLOTS`. How each format ties a slot to its
variable (never by position where the file stores a name):

* legacy ``.h5`` (``optimizer_weights`` + ``weight_names``):
  ``{scope}/iter:0`` first (its scope, e.g. ``Adam`` or ``cond_1/Adam`` under
  a LossScaleOptimizer, prefixes every other name), Nadam's
  ``{scope}/momentum_cache:0``, then ``{scope}/{variable}/{slot}:0``.
* Keras 2 ``.h5``: ``iteration:0``, then ``{scope}/{slot}/{variable}:0``
  (``scope`` is the optimizer's name, or nothing under a LossScaleOptimizer);
  EMA averages (``average``) before the slots; the learning rate and Nadam's
  product are not stored.
* Keras 3 ``.h5``: ``{scope}/iteration``, ``{scope}/learning_rate`` (a float
  learning rate only), then ``{scope}/{variable path with _}_{slot}``; Nadam's
  product is ``{scope}/variable``; a LossScaleOptimizer adds its own
  ``iteration``, ``learning_rate``, ``step_counter`` and ``dynamic_scale``.
* ``.keras`` (Keras 2.13+ and Keras 3): ``model.weights.h5`` ->
  ``optimizer/vars/0..N`` (``optimizer/inner_optimizer/vars`` under a
  LossScaleOptimizer), no names. Tied by position only when the whole layout
  is determined (:data:`~kerasopt_compat._state.HEAD`,
  :data:`~kerasopt_compat._state.ORDER`, the stored options, the model's
  trainable variables from ``config.json`` and the layers' ``vars`` in the same
  file) and every count and shape agrees; otherwise no slot is tied and
  :attr:`OptimizerState.notes` says why.

Everything is read-only; nothing named in a file is imported. Malformed input
raises :class:`~kerasopt_compat.ModelFileError` naming the file.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import zipfile
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from . import _tables as T
from ._errors import KerasOptCompatError, ModelFileError, UnsafeModelFileError
from ._modelfile import (
    _KERAS_METADATA,
    _WEIGHTS_H5,
    _ZIP_READ_ERRORS,
    STATE_LAYOUT_KEY,
    PathLike,
    StoredModel,
    _attr_text,
    _canonical,
    _detect,
    _h5py,
    _json,
    open_keras,
    read_model_file,
)
from ._normalize import CustomObjects
from ._state import (
    EXTRA_SLOTS,
    HEAD,
    ORDER,
    SLOTS,
    STANDALONE,
    TAIL,
    NoteTaker,
    OptimizerState,
    Saver,
    StandaloneRow,
    StoredArray,
    VariableState,
    slot_exists,
)

__all__ = ["read_state"]

_METADATA_JSON = _KERAS_METADATA
#: model.weights.h5 up to this size is read into memory at once.
_IN_MEMORY = 64 * 1024 * 1024


def read_state(
    path: PathLike, *, custom_objects: CustomObjects = None, unknown_keys: str = "error", lazy: bool = False
) -> OptimizerState:
    """Read the optimizer's training state stored in a model file.

    ``path`` is an ``.h5``/``.hdf5`` file, a ``.keras`` archive or a TF 2.x
    SavedModel directory (recognised by content). Imports no TensorFlow or
    Keras; ``.h5`` and ``.keras`` need h5py; a SavedModel's checkpoint bundle
    is read by :func:`kerasopt_compat._ckpt.savedmodel_state`; a TF training checkpoint (prefix, ``.index`` or
    folder with a ``checkpoint`` file) by :func:`kerasopt_compat._trainckpt.read_checkpoint_state`.
    ``custom_objects`` lets the canonical dict of your own optimizer
    class through (its slots are then not tied: no slot table; see notes);
    ``unknown_keys`` is as for :func:`~kerasopt_compat.read_optimizer`.
    ``lazy=True`` (``.h5``): every non-scalar slot is a
    :class:`~kerasopt_compat._state.StoredArray` (shape, dtype, position in the
    file) read from the file only when asked, so that a big state is tied
    without reading it and restored one variable at a time.

    >>> st = read_state("model.h5")                                  # doctest: +SKIP
    >>> st.iterations, st.saver.generation, [(v.name, sorted(v.slots)) for v in st.variables][:1]  # doctest: +SKIP
    (3, 'keras2', [('dense/kernel', ['m', 'v'])])

    Raises :class:`ModelFileError` for malformed files (and for TF.js
    files, which store no optimizer state).
    """
    fspath = os.fspath(path)
    from ._trainckpt import is_training_checkpoint, read_checkpoint_state

    if is_training_checkpoint(fspath):  # a TF training checkpoint: prefix, .index, or folder with a checkpoint file
        return read_checkpoint_state(fspath)
    fmt = _detect(fspath)
    if fmt == "h5":
        return _H5Reader(fspath, read_model_file(fspath), custom_objects, unknown_keys, lazy).read()
    if fmt == "keras":
        return _KerasReader(fspath, read_model_file(fspath), custom_objects, unknown_keys).read()
    if fmt == "savedmodel":
        from ._ckpt import savedmodel_state

        return savedmodel_state(fspath, custom_objects=custom_objects, unknown_keys=unknown_keys)
    raise ModelFileError("%s: a TF.js model.json stores no optimizer state" % fspath)


# --------------------------------------------------------------------------- the stored optimizer


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


# --------------------------------------------------------------------------- shared assembly


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


def _h5_str(raw: Any, path: str, what: str) -> str:
    try:
        text: Any = _attr_text(raw, path, what)
    except ModelFileError:
        raise
    except Exception:  # noqa: BLE001 - whatever h5py hands back for a strange attribute
        text = None
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError("%s: %s is not UTF-8 text" % (path, what)) from None
    if not isinstance(text, str):
        raise ModelFileError("%s: %s is not a string (%s)" % (path, what, type(raw).__name__))
    return text


def _name_list(group: Any, attr: str, path: str) -> List[str]:
    """A string-list attribute, also when Keras split it into ``attr0``, ``attr1`` ... (large headers)."""
    where = "%s attribute %r of %s" % ("the", attr, group.name)
    if attr in group.attrs:
        chunks = [group.attrs[attr]]
    else:
        chunks = []
        while "%s%d" % (attr, len(chunks)) in group.attrs:
            chunks.append(group.attrs["%s%d" % (attr, len(chunks))])
        if not chunks:
            raise ModelFileError("%s: %s has no %r attribute" % (path, group.name, attr))
    names: List[str] = []
    for chunk in chunks:
        shape = getattr(chunk, "shape", None)
        if shape is None or len(shape) != 1:
            raise ModelFileError("%s: %s is not a list of names" % (path, where))
        names.extend(_h5_str(item, path, "an entry of %s" % where) for item in chunk)
    return names


@contextlib.contextmanager
def _h5_errors(path: str, what: str) -> Iterator[None]:
    """h5py's own errors on a damaged file (reading an attribute, a group, a link) as ModelFileError."""
    try:
        yield
    except KerasOptCompatError:
        raise
    except (OSError, KeyError, TypeError, IndexError, MemoryError) + _ZIP_READ_ERRORS as exc:  # a zip stream's too
        raise ModelFileError("%s: cannot read %s (damaged?): %s: %s" % (path, what, type(exc).__name__, exc)) from None


def _links_inside(fh: Any, path: str, what: str) -> None:
    """Refuse an HDF5 file holding an external (or user-defined) link anywhere: such a link is never resolved,
    so no other file (or FIFO) is ever opened through it. Links are listed (``H5Lvisit``), none is followed."""
    h5py = _h5py()
    outside: List[str] = []

    def look(name: bytes, info: Any) -> Optional[int]:
        if info.type not in (h5py.h5l.TYPE_HARD, h5py.h5l.TYPE_SOFT):
            outside.append(name.decode("utf-8", "replace"))
            return 1  # stop at the first
        return None

    fh.id.links.visit(look, info=True)
    if outside:
        raise UnsafeModelFileError(
            "%s: %s holds an HDF5 external link at %r; kerasopt_compat never follows a link out of the file it reads"
            % (path, what, "/" + outside[0])
        )


def _group(parent: Any, name: str, path: str) -> Any:
    """The group ``name`` below ``parent``, None when absent; anything else there (a dataset) is malformed."""
    obj = parent.get(name)
    if obj is None:
        return None
    if not hasattr(obj, "keys") or not hasattr(obj, "visititems"):
        raise ModelFileError(
            "%s: %s is a %s, not a group" % (path, _join(parent.name.rstrip("/"), name), type(obj).__name__.lower())
        )
    return obj


def _plain_storage(dataset: Any, where: str) -> None:
    """Refuse a virtual dataset or one with external storage (its values live in other files, never read),
    and one whose declared size its stored bytes cannot hold (memory follows the file, not a declared shape)."""
    h5py = _h5py()
    plist = dataset.get_create_plist()
    if plist.get_layout() == getattr(h5py.h5d, "VIRTUAL", -1):
        raise UnsafeModelFileError("%s is an HDF5 virtual dataset (its values live in other files); never resolved" % where)
    if plist.get_external_count():
        raise UnsafeModelFileError("%s keeps its values in external files; kerasopt_compat never reads them" % where)
    declared = dataset.dtype.itemsize
    for dim in dataset.shape or ():
        declared *= dim
    stored = dataset.get_storage_size()
    if declared > _DECLARED_FREE and declared > _MAX_RATIO * stored:
        raise ModelFileError(
            "%s declares %d bytes but stores %d: unallocated or compressed more than %dx; not read"
            % (where, declared, stored, _MAX_RATIO)
        )


#: A dataset may declare this many bytes whatever it stores; above, at most ``_MAX_RATIO`` times its stored bytes
#: (Keras writes every dataset uncompressed and allocated).
_DECLARED_FREE = 16 * 1024 * 1024
_MAX_RATIO = 64


def _open_dataset(group: Any, name: str, path: str) -> Any:
    """Dataset ``name`` (a path below ``group``) opened with h5py's low-level calls, its storage checked
    (:func:`_plain_storage`); the caller closes it."""
    h5py = _h5py()
    try:
        dataset = h5py.h5d.open(group.id, name.encode("utf-8"))
    except KeyError:
        raise ModelFileError("%s: %s lists %r, but there is no such dataset" % (path, group.name, name)) from None
    except (ValueError, OSError, RuntimeError, TypeError) as exc:
        raise ModelFileError("%s: cannot open %s/%s as a dataset: %s" % (path, group.name, name, exc)) from None
    try:
        _plain_storage(dataset, "%s: %s/%s" % (path, group.name, name))
    except BaseException:
        dataset.close()
        raise
    return dataset


def _dataset(group: Any, name: str, path: str) -> Any:
    """The value of dataset ``name`` (a path below ``group``), read with h5py's low-level calls (2x faster)."""
    h5py = _h5py()
    dataset = _open_dataset(group, name, path)
    try:
        dtype = dataset.dtype
        if dtype.kind not in "biuf":
            raise ModelFileError("%s: %s/%s holds %s, not numbers" % (path, group.name, name, dtype))
        value = numpy().empty(dataset.shape, dtype=dtype)
        dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, value)
    except (KeyError, ValueError, OSError, RuntimeError, TypeError, MemoryError) as exc:
        raise ModelFileError("%s: cannot read %s/%s (truncated or damaged file?): %s" % (path, group.name, name, exc)) from None
    finally:
        dataset.close()
    return value[()] if value.shape == () else value


def _dataset_or_later(group: Any, name: str, path: str, position: int) -> Any:
    """A scalar's value now, an array's :class:`StoredArray` (read from ``path`` when asked); its
    storage is checked now (:func:`_plain_storage`), as for an eager read."""
    dataset = _open_dataset(group, name, path)
    try:
        shape, dtype = tuple(dataset.shape), dataset.dtype
    finally:
        dataset.close()
    if dtype.kind not in "biuf":
        raise ModelFileError("%s: %s/%s holds %s, not numbers" % (path, group.name, name, dtype))
    if shape == ():
        return _dataset(group, name, path)
    return StoredArray(shape, dtype, position, _H5Later(path, group.name, name))


class _H5Later:
    """Reads one dataset of an ``.h5`` file, the file opened for that read only."""

    __slots__ = ("path", "group", "name")

    def __init__(self, path: str, group: str, name: str) -> None:
        self.path, self.group, self.name = path, group, name

    def __call__(self) -> Any:
        h5py = _h5py()
        try:
            fh = h5py.File(self.path, "r")
        except (OSError, ValueError) as exc:
            raise ModelFileError("%s: h5py cannot read the file: %s" % (self.path, exc)) from None
        with fh, _h5_errors(self.path, self.group):
            group = fh.get(self.group)
            if group is None:
                raise ModelFileError("%s: %s is gone (the file changed after its state was read)" % (self.path, self.group))
            return _dataset(group, self.name, self.path)


def numpy() -> Any:
    import numpy as np

    return np


# --------------------------------------------------------------------------- .h5


class _H5Reader(NoteTaker):
    def __init__(
        self, path: str, stored: StoredModel, custom_objects: CustomObjects, unknown_keys: str = "error", lazy: bool = False
    ) -> None:
        self.path = path
        self.lazy = lazy
        self.opt = _opt_info(stored, custom_objects, unknown_keys)
        self.notes: List[str] = []
        self.untied = False  # stored slot values left untied (OptimizerState.untied)
        self.extra: Dict[str, Any] = {}

    def read(self) -> OptimizerState:
        h5py = _h5py()
        try:
            fh = h5py.File(self.path, "r")
        except (OSError, ValueError) as exc:
            raise ModelFileError("%s: h5py cannot read the file: %s" % (self.path, exc)) from None
        with fh, _h5_errors(self.path, "the file"):
            _links_inside(fh, self.path, "the file")
            raw_version = fh.attrs.get("keras_version")
            keras_version = _h5_str(raw_version, self.path, "the 'keras_version' attribute") if raw_version is not None else None
            group = _group(fh, "optimizer_weights", self.path)
            if group is None:
                names: List[str] = []
                values: List[Any] = []
            else:
                names = _name_list(group, "weight_names", self.path)
                if self.lazy:
                    values = [_dataset_or_later(group, name, self.path, i) for i, name in enumerate(names)]
                else:
                    values = [_dataset(group, name, self.path) for name in names]
            layer_of = _layer_weights(_group(fh, "model_weights", self.path), self.path) if names else {}
            generation = self._generation(names, keras_version)
            model_vars: Any = None
            if generation == _STANDALONE:
                try:
                    model_vars = _h5_trainable(fh, self.path)
                except _Refuse as exc:
                    model_vars = exc
        saver = Saver(generation or "unknown", keras_version, "h5")
        if not names:
            self.notes.append("the file stores no optimizer weights (saved with include_optimizer=False, or never trained)")
            return self._state(saver, None, ())
        if generation == _STANDALONE:
            # stand-alone Keras 2.0-2.3: the update rules of the legacy classes (_state.STANDALONE)
            saver = saver._replace(generation="legacy", layout=_STANDALONE)
            count, tied = self._standalone(names, values, keras_version, model_vars)
            return self._state(saver, count, tied)
        if generation == "legacy":
            iterations: Optional[int]
            iterations, builder = self._legacy(names, values)
        elif generation == "keras2":
            iterations, builder = self._keras2(names, values)
        else:
            iterations, builder = self._keras3(names, values)
        variables = builder.variables("name") if builder is not None else ()
        variables = tuple(v._replace(layer=layer_of.get(v.name or "")) for v in variables)
        if self.opt.cls in SLOTS and generation is not None and variables:
            self.notes.extend(_missing_notes(variables, _expected_slots(self.opt.cls, generation, self.opt.options)))
        return self._state(saver, iterations, variables)

    def _state(self, saver: Saver, iterations: Optional[int], variables: Tuple[VariableState, ...]) -> OptimizerState:
        return OptimizerState(
            self.path, self.opt.canonical, iterations, saver, variables, self.extra, tuple(self.notes), self.untied
        )

    def _generation(self, names: List[str], keras_version: Optional[str]) -> Optional[str]:
        if names:
            first = names[0]
            if first == "iter:0" or first.endswith("/iter:0"):
                return "legacy"
            if first == "iteration:0" or first.endswith("/iteration:0"):
                return "keras2"
            if first == "iteration" or first.endswith("/iteration"):
                return "keras3"
            release = _standalone_release(keras_version)
            if release is not None or first.rpartition("/")[2] == "iterations:0":
                return _STANDALONE
            raise ModelFileError(
                "%s: the optimizer weights start with %r, not the iteration count of any Keras generation" % (self.path, first)
            )
        return _generation_of(keras_version, self.opt.hint)

    def _standalone(
        self, names: List[str], values: List[Any], keras_version: Optional[str], model_vars: Any
    ) -> Tuple[Optional[int], Tuple[VariableState, ...]]:
        """Stand-alone Keras 2.0-2.3 (:data:`~kerasopt_compat._state.STANDALONE`): the one layout row of
        the stored class whose release, head names, count and shapes agree with the file."""
        cls = self.opt.cls
        if cls is None:
            self._untie("the file stores optimizer weights but no optimizer config: slots not tied")
            return None, ()
        rows = STANDALONE.get(cls)
        if rows is None:
            self._untie("no stand-alone Keras 2.x layout for optimizer class %r: slots not tied" % cls)
            return None, ()
        if isinstance(model_vars, _Refuse):
            self._untie("stand-alone Keras 2.x optimizer weights: slots not tied: %s" % model_vars)
            return None, ()
        release = _standalone_release(keras_version)
        why: List[str] = []
        fits = []
        for row in rows:
            if release is not None and not row.first <= release <= row.last:
                continue
            problem = self._standalone_misfit(row, names, values, model_vars)
            if problem is None:
                fits.append(row)
            else:
                why.append(problem)
        if len(fits) != 1:
            self._untie(
                "the optimizer weights (first %r) fit %s of kerasopt_compat's stand-alone Keras %s layouts for %s%s: "
                "slots not tied"
                % (names[0], len(fits) or "none", keras_version or "2.x", cls, " (%s)" % "; ".join(why) if why else "")
            )
            return None, ()
        row = fits[0]
        at = 0
        iterations: Optional[int] = None
        for what in row.head:
            if what == "iterations":
                iterations = _count(values[at], self.path, "the iteration count %r" % names[at])
            else:
                self.extra[what] = _float_scalar(values[at], self.path, names[at])
            at += 1
        n = len(model_vars)
        slots: List[Dict[str, Any]] = [{} for _ in model_vars]
        for k, slot in enumerate(row.lists):
            for j in range(n):
                value = values[at + k * n + j]
                if not _standalone_placeholder(slot, self.opt.options):
                    slots[j][slot] = value
        if iterations is None:
            self.notes.append(
                "stand-alone Keras %s does not store %s's iteration count (it restarts at 0; %s's update does not "
                "depend on it%s)"
                % (keras_version or "2.0-2.2", cls, cls, "" if not self.opt.options.get("decay") else ", but its decay does")
            )
        variables = tuple(
            VariableState(mv.name, i, mv.shape, slots[i], "name", layer=mv.layer) for i, mv in enumerate(model_vars)
        )
        return iterations, variables

    def _standalone_misfit(
        self, row: StandaloneRow, names: List[str], values: List[Any], model_vars: Sequence[_H5Var]
    ) -> Optional[str]:
        """Why the stored weights do not have ``row``'s layout, or None when they do."""
        n = len(model_vars)
        want = len(row.head) + len(row.lists) * n
        if len(values) != want:
            return "%d weights, not the %d that %s on %d trainable variables stores" % (
                len(values),
                want,
                "+".join(row.head + row.lists) or "nothing",
                n,
            )
        for at, what in enumerate(row.head):
            stored = names[at].rpartition("/")[2]
            if stored != _STANDALONE_HEAD[what] or getattr(values[at], "shape", None) != ():
                return "weight %d is %r, not the scalar %s" % (at, names[at], _STANDALONE_HEAD[what])
        if not row.head and names[0].rpartition("/")[2] in _STANDALONE_HEAD.values():
            return "weight 0 is %r: a layout with a head" % names[0]
        at = len(row.head)
        for k, slot in enumerate(row.lists):
            for j, mv in enumerate(model_vars):
                shape = tuple(getattr(values[at + k * n + j], "shape", ()))
                expected = (1,) if _standalone_placeholder(slot, self.opt.options) else mv.shape
                if shape != expected:
                    return "%s of %s has shape %s, not %s" % (slot, mv.name, shape, expected)
        return None

    def _slot_table(self, generation: str) -> Optional[Dict[str, str]]:
        """The generation's own slot names of the stored class -> canonical, or None (no table: note)."""
        if self.opt.cls is None:
            self._untie("the file stores optimizer weights but no optimizer config: slots not tied")
            return None
        if self.opt.cls not in SLOTS:
            self._untie("no slot table for optimizer class %r: slots not tied" % self.opt.cls)
            return None
        table = {getattr(s, generation): s.canonical for s in SLOTS[self.opt.cls] if getattr(s, generation)}
        table.update({getattr(s, generation): s.canonical for s in EXTRA_SLOTS if getattr(s, generation)})
        return table

    def _legacy(self, names: List[str], values: List[Any]) -> Tuple[int, Optional[_Builder]]:
        scope = names[0][: -len("iter:0")]
        iterations = _int_scalar(values[0], self.path, "the iteration count %r" % names[0])
        table = self._slot_table("legacy")
        builder = _Builder(self.path) if table is not None else None
        for name, value in zip(names[1:], values[1:]):
            if not (name.startswith(scope) and name.endswith(":0")):
                raise ModelFileError(
                    "%s: optimizer weight %r does not follow %r (legacy names)" % (self.path, name, scope + "...:0")
                )
            rest = name[len(scope) : -2]
            if rest == "momentum_cache":
                self.extra["momentum_cache"] = _float_scalar(value, self.path, name)
                continue
            var, _, slot = rest.rpartition("/")
            if builder is None or table is None:
                continue
            if not var or slot not in table:
                self.notes.append("optimizer weight %r: not a %s slot; skipped" % (name, self.opt.cls))
                continue
            builder.add(_Entry(var, table[slot], value))
        return iterations, builder

    def _keras2(self, names: List[str], values: List[Any]) -> Tuple[int, Optional[_Builder]]:
        iterations = _int_scalar(values[0], self.path, "the iteration count %r" % names[0])
        table = self._slot_table("keras2")
        if table is None:
            return iterations, None
        rest = names[1:]
        for name in rest:
            if not name.endswith(":0"):
                raise ModelFileError("%s: optimizer weight %r lacks the ':0' of Keras 2 names" % (self.path, name))
        stripped = [n[:-2] for n in rest]
        parses = {}
        for scope in self._keras2_scopes(stripped):
            parsed = self._keras2_parse(stripped, scope, table)
            if parsed is not None:
                parses[tuple(parsed)] = scope
        if len(parses) != 1:
            self._untie(
                "the Keras 2 optimizer weight names do not split into scope/slot/variable in exactly one way (%d): slots not tied"
                % len(parses)
            )
            return iterations, None
        builder = _Builder(self.path)
        for (var, slot), value in zip(next(iter(parses)), values[1:]):
            builder.add(_Entry(var, slot, value))
        return iterations, builder

    def _keras2_scopes(self, stripped: List[str]) -> List[str]:
        scopes = [""]
        name = self.opt.options.get("name")
        if isinstance(name, str) and name:
            scopes.append(name + "/")
        firsts = {n.split("/", 1)[0] for n in stripped}
        if len(firsts) == 1:
            scopes.append(firsts.pop() + "/")
        return list(dict.fromkeys(scopes))

    @staticmethod
    def _keras2_parse(stripped: List[str], scope: str, table: Mapping[str, str]) -> Optional[List[Tuple[str, str]]]:
        out = []
        for name in stripped:
            if not name.startswith(scope):
                return None
            slot, _, var = name[len(scope) :].partition("/")
            if slot not in table or not var:
                return None
            out.append((var, table[slot]))
        return out

    def _keras3(self, names: List[str], values: List[Any]) -> Tuple[Optional[int], Optional[_Builder]]:
        # {scope}/iteration, {scope}/learning_rate, {scope}/{path with _}_{slot}; a LossScaleOptimizer adds its own.
        scopes = [n.rpartition("/")[0] for n in names if n.rpartition("/")[2] == "iteration"]
        own = self.opt.options.get("name")
        last = [s for s in scopes if s.rpartition("/")[2] == own]
        if len(last) == 1:
            scope_name = own
            iteration_at = names.index(_join(last[0], "iteration"))
        elif len(scopes) == 1 and not self.opt.wrapped:
            scope_name = scopes[0].rpartition("/")[2]
            iteration_at = 0
        else:
            raise ModelFileError(
                "%s: cannot tell which of the iteration counts %s belongs to the optimizer %r" % (self.path, scopes, own)
            )
        raw = _int_scalar(values[iteration_at], self.path, "the iteration count %r" % names[iteration_at])
        table = self._slot_table("keras3")
        builder = _Builder(self.path) if table is not None else None
        tail = dict((stored, extra) for extra, stored in TAIL.get("keras3", {}).get(self.opt.cls or "", ()))
        suffixes = sorted(table or {}, key=len, reverse=True)
        for i, (name, value) in enumerate(zip(names, values)):
            parent, _, leaf = name.rpartition("/")
            mine = parent.rpartition("/")[2] == scope_name
            if i == iteration_at or (leaf == "iteration" and not mine):
                continue
            if leaf == "learning_rate":
                if mine:
                    self.extra["learning_rate"] = _float_scalar(value, self.path, name)
                continue
            if self.opt.wrapped and not mine and leaf in ("dynamic_scale", "step_counter"):
                key = "loss_scale" if leaf == "dynamic_scale" else "loss_scale_counter"
                self.extra[key] = (
                    _float_scalar(value, self.path, name) if leaf == "dynamic_scale" else _int_scalar(value, self.path, name)
                )
                continue
            if mine and leaf in tail:
                self.extra[tail[leaf]] = _float_scalar(value, self.path, name)
                continue
            if builder is None or table is None:
                continue
            slot = next((s for s in suffixes if leaf.endswith("_" + s) and len(leaf) > len(s) + 1), None)
            if not mine or slot is None:
                self.notes.append("optimizer weight %r: not a %s slot; skipped" % (name, self.opt.cls))
                continue
            builder.add(_Entry(leaf[: -len(slot) - 1], table[slot], value))
        return self._accumulation(raw), builder

    def _accumulation(self, raw: int) -> int:
        steps = self.opt.options.get("gradient_accumulation_steps")
        if isinstance(steps, int) and not isinstance(steps, bool) and steps > 1:
            self.extra["raw_iterations"] = raw
            return raw // steps
        return raw


def _layer_weights(group: Any, path: str) -> Dict[str, Tuple[str, int]]:
    """Where an ``.h5`` file stores each model variable: its name (without ``:0``; Keras 3's optimizer
    spells it with ``_`` for ``/``, so that form too) -> (top-level layer, position among its weights).
    A name two variables share (in either form) is left out."""
    if group is None or not hasattr(group, "attrs") or "layer_names" not in group.attrs:
        return {}
    out: Dict[str, Tuple[str, int]] = {}
    clashes = set()
    for layer in _name_list(group, "layer_names", path):
        sub = _group(group, layer, path)
        if sub is None or not hasattr(sub, "attrs") or "weight_names" not in sub.attrs:
            continue
        for i, name in enumerate(_name_list(sub, "weight_names", path)):
            bare = name[:-2] if name.endswith(":0") else name
            for form in dict.fromkeys((bare, bare.replace("/", "_"))):
                if form in out:
                    clashes.add(form)
                out[form] = (layer, i)
    return {k: v for k, v in out.items() if k not in clashes}


#: ``_H5Reader._generation``'s name for stand-alone Keras 2.0-2.3 optimizer weights.
_STANDALONE = "standalone"
#: Stored name (last component) of each head entry of :data:`~kerasopt_compat._state.STANDALONE`.
_STANDALONE_HEAD = {"iterations": "iterations:0", "momentum_cache": "m_schedule:0"}


def _standalone_release(keras_version: Optional[str]) -> Optional[Tuple[int, int, int]]:
    """``(2, 3, 1)`` for a stand-alone Keras 2.0-2.3 ``keras_version`` (``2.3.1``); None for anything
    else (``2.2.4-tf`` is tf.keras, 2.4+ stand-alone Keras is tf.keras underneath)."""
    parts = (keras_version or "").split(".")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        return None
    release = (int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) == 3 else 0)
    return release if (2, 0, 0) <= release < (2, 4, 0) else None


def _standalone_placeholder(slot: str, options: Mapping[str, Any]) -> bool:
    """Adam's ``vhat`` list holds ``K.zeros(1)`` placeholders when ``amsgrad`` is off (Keras 2.1.3-2.3)."""
    return slot == "vhat" and not options.get("amsgrad")


def _count(value: Any, path: str, what: str) -> int:
    """An iteration count: an integer scalar, or a float scalar holding a whole number."""
    if getattr(getattr(value, "dtype", None), "kind", None) == "f" and getattr(value, "shape", None) == ():
        number = float(value)
        if number != int(number) or number < 0:
            raise ModelFileError("%s: %s is %r, not a whole number" % (path, what, number))
        return int(number)
    return _int_scalar(value, path, what)


class _H5Var(NamedTuple):
    """A trainable model variable as an ``.h5`` file stores it."""

    name: str  # its weight name without ``:0`` (``dense_1/kernel``)
    layer: Tuple[str, int]  # (layer name, position among the layer's weight_names)
    shape: Tuple[int, ...]


#: Layer classes whose ``.h5`` weights are all trainable (when the layer is), besides
#: :data:`_ALL_TRAINABLE`: Keras 2.x recurrent layers store their cell's weights themselves.
_H5_ALL_TRAINABLE = frozenset(["LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "ConvLSTM2D"])


def _h5_trainable(fh: Any, path: str) -> List[_H5Var]:
    """The model's trainable variables in ``model.trainable_weights`` order, from an ``.h5`` file:
    the layers in ``model_weights``' ``layer_names`` order, each layer's trainable weights (the
    first of its ``weight_names``, by layer class: :func:`_trainable_indices`), the layer's
    class and ``trainable`` flag from ``model_config`` (Keras 2.0/2.1 store a Sequential's config
    as the bare list of layers)."""
    raw = fh.attrs.get("model_config")
    if raw is None:
        raise _Refuse("the file stores no model_config")
    doc = _json(_h5_str(raw, path, "the 'model_config' attribute"), path, "model_config")
    config = doc.get("config") if isinstance(doc, Mapping) else None
    layers = config if isinstance(config, list) else config.get("layers") if isinstance(config, Mapping) else None
    if not isinstance(layers, list):
        raise _Refuse("model_config lists no layers")
    if isinstance(config, Mapping) and config.get("trainable") is False:
        raise _Refuse("the whole model is frozen (trainable: false)")
    by_name: Dict[str, Tuple[str, Mapping[str, Any]]] = {}
    for layer in layers:
        cls, cfg = _entry(layer, path)
        if isinstance(cfg.get("name"), str):
            by_name[cfg["name"]] = (cls, cfg)
    group = fh.get("model_weights")
    if group is None or not hasattr(group, "attrs") or "layer_names" not in group.attrs:
        raise _Refuse("the file has no model_weights with layer_names")
    out: List[_H5Var] = []
    for layer in _name_list(group, "layer_names", path):
        sub = group.get(layer)
        weight_names = _name_list(sub, "weight_names", path) if sub is not None and hasattr(sub, "attrs") else []
        if not weight_names:
            continue
        if layer not in by_name:
            raise _Refuse("model_weights holds layer %r, which model_config does not list" % layer)
        cls, cfg = by_name[layer]
        if cls in _MODEL_CLASSES:
            raise _Refuse("nested model %r: its weights' trainable order is not read from an old .h5" % layer)
        if cfg.get("trainable") is False:
            continue
        if cls in _H5_ALL_TRAINABLE:
            indices = list(range(len(weight_names)))
        else:
            indices = _trainable_indices(cls, cfg, len(weight_names), layer)
        for i in indices:
            name = weight_names[i]
            dataset = sub.get(name)
            if dataset is None or not hasattr(dataset, "shape"):
                raise ModelFileError("%s: model_weights/%s lists %r, but there is no such dataset" % (path, layer, name))
            out.append(_H5Var(name[:-2] if name.endswith(":0") else name, (layer, i), tuple(dataset.shape)))
    return out


def _join(scope: str, leaf: str) -> str:
    return "%s/%s" % (scope, leaf) if scope else leaf


# --------------------------------------------------------------------------- .keras

#: Layer classes all of whose stored variables are trainable (when the layer is), in
#: Keras 2.13+ and Keras 3, unless the config turns on LoRA or quantization.
_ALL_TRAINABLE = frozenset(
    """Dense EinsumDense Embedding Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose
    DepthwiseConv1D DepthwiseConv2D SeparableConv1D SeparableConv2D LayerNormalization PReLU
    LSTMCell GRUCell SimpleRNNCell""".split()
)
#: Keys of a layer config that change which variables it has (Keras 3 LoRA, quantization).
_VARIANT_KEYS = ("lora_rank", "quantization_config")
#: Model classes whose config lists their layers in ``model.layers`` order.
_MODEL_CLASSES = frozenset(["Sequential", "Functional", "Model"])


class _Refuse(Exception):
    """The positional layout is not determined: no slot is tied (the message goes to notes)."""


class _ModelVar(NamedTuple):
    path: str
    shape: Tuple[int, ...]


class _KerasReader(NoteTaker):
    def __init__(self, path: str, stored: StoredModel, custom_objects: CustomObjects, unknown_keys: str = "error") -> None:
        self.path = path
        self.stored = stored
        self.opt = _opt_info(stored, custom_objects, unknown_keys)
        self.notes: List[str] = []
        self.untied = False  # stored slot values left untied (OptimizerState.untied)
        self.extra: Dict[str, Any] = {}

    def read(self) -> OptimizerState:
        zf = open_keras(self.path)  # refuses an archive holding a member twice
        with zf:
            keras_version, layout = self._keras_version(zf)
            generation = layout or _generation_of(keras_version, self.opt.hint)
            if generation is None and keras_version is not None and keras_version.startswith("2."):
                generation = "keras2"
            saver = Saver(generation or "unknown", keras_version, "keras")
            doc = _json(_member(zf, "config.json", self.path), self.path, "config.json")
            try:
                info = zf.getinfo(_WEIGHTS_H5)
                # small archives: one read into memory (h5py reads a zip member stream slowly)
                weights: Any = io.BytesIO(zf.read(info)) if info.file_size <= _IN_MEMORY else zf.open(info)
            except KeyError:
                self.notes.append("the archive has no %s: no state stored" % _WEIGHTS_H5)
                return self._state(saver, None, ())
            except (OSError,) + _ZIP_READ_ERRORS as exc:
                raise ModelFileError("%s: cannot read %s: %s" % (self.path, _WEIGHTS_H5, exc)) from None
            with weights:
                h5py = _h5py()
                try:
                    fh = h5py.File(weights, "r")
                except (OSError, ValueError) as exc:
                    raise ModelFileError("%s: %s is not readable HDF5: %s" % (self.path, _WEIGHTS_H5, exc)) from None
                with fh, _h5_errors(self.path, _WEIGHTS_H5):
                    _links_inside(fh, self.path, _WEIGHTS_H5)
                    return self._read(fh, doc, saver)

    def _keras_version(self, zf: zipfile.ZipFile) -> Tuple[Optional[str], Optional[str]]:
        """The saver's ``keras_version``, and the generation whose layout ``fix_model`` wrote the state in (or None)."""
        try:
            zf.getinfo(_METADATA_JSON)
        except KeyError:
            return None, None
        meta = _json(_member(zf, _METADATA_JSON, self.path), self.path, _METADATA_JSON)
        version = meta.get("keras_version") if isinstance(meta, Mapping) else None
        if version is not None and not isinstance(version, str):
            raise ModelFileError("%s: %s: 'keras_version' is not a string" % (self.path, _METADATA_JSON))
        layout = meta.get(STATE_LAYOUT_KEY) if isinstance(meta, Mapping) else None
        if layout is not None and layout not in ("keras2", "keras3"):
            raise ModelFileError("%s: %s: %r is not keras2 or keras3: %r" % (self.path, _METADATA_JSON, STATE_LAYOUT_KEY, layout))
        return version, layout

    def _state(self, saver: Saver, iterations: Optional[int], variables: Tuple[VariableState, ...]) -> OptimizerState:
        return OptimizerState(
            self.path, self.opt.canonical, iterations, saver, variables, self.extra, tuple(self.notes), self.untied
        )

    def _read(self, fh: Any, doc: Any, saver: Saver) -> OptimizerState:
        group_name = "optimizer/inner_optimizer/vars" if self.opt.wrapped else "optimizer/vars"
        group = _group(fh, group_name, self.path)
        inner = "optimizer/inner_optimizer/vars"
        if group is None and not self.opt.wrapped and _group(fh, inner, self.path) is not None:
            group_name, group = inner, _group(fh, inner, self.path)
        if group is None:
            what = "a legacy optimizer's state is never stored in a .keras archive (Keras 2.13-2.15)"
            self.notes.append("the archive stores no optimizer variables" + ("; " + what if saver.generation == "legacy" else ""))
            return self._state(saver, None, ())
        values = _indexed(group, self.path)
        if not values:
            self.notes.append("%s is empty (the optimizer was never built)" % group_name)
            return self._state(saver, None, ())
        raw = _int_scalar(values[0], self.path, "%s/0 (the iteration count)" % group_name)
        if saver.generation not in ("keras2", "keras3"):
            self._untie("saver generation not determined: slots not tied")
            self.extra["raw_iterations"] = raw
            return self._state(saver, None, ())
        if self.opt.cls is None:
            self._untie(
                "the archive stores optimizer variables but no optimizer config (Keras 3.15 leaves it out of a .keras "
                "saved after an .h5 of the same model): slots not tied; pass the optimizer yourself"
            )
            self.extra["raw_iterations"] = raw
            return self._state(saver, None, ())
        iterations = self._accumulation(raw, saver.generation)
        try:
            model_vars = _trainable(doc, fh, self.path)
            variables = self._tie(values, model_vars, saver.generation, group_name)
        except _Refuse as exc:
            self._untie("%s: slots not tied by position: %s" % (group_name, exc))
            return self._state(saver, iterations, ())
        return self._state(saver, iterations, variables)

    def _accumulation(self, raw: int, generation: str) -> int:
        steps = self.opt.options.get("gradient_accumulation_steps")
        if generation == "keras3" and isinstance(steps, int) and not isinstance(steps, bool) and steps > 1:
            self.extra["raw_iterations"] = raw
            return raw // steps
        return raw

    def _layout(self, generation: str, n_vars: int) -> List[Tuple[str, Optional[int]]]:
        """The optimizer variables the saver created, in order: (what, model variable index or None)."""
        cls, options = self.opt.cls, self.opt.options
        if cls not in SLOTS or generation not in ORDER.get(cls, {}):
            raise _Refuse("no slot table for optimizer class %r in %s" % (cls, generation))
        out: List[Tuple[str, Optional[int]]] = []
        extra_slots = {s.canonical: s for s in EXTRA_SLOTS}
        for what, condition in HEAD[generation]:
            if what == "iterations":
                out.append((what, None))
            elif what == "momentum_cache":
                if cls == condition:
                    out.append((what, None))
            elif what == "learning_rate":
                if _float_lr(options):
                    out.append((what, None))
            elif slot_exists(extra_slots[what], generation, options):
                out.extend((what, i) for i in range(n_vars))
        by_name = {s.canonical: s for s in SLOTS[cls]}
        for block in ORDER[cls][generation]:
            present = [s for s in block if slot_exists(by_name[s], generation, options)]
            if len(present) > 1:
                out.extend((s, i) for i in range(n_vars) for s in present)
            elif present:
                out.extend((present[0], i) for i in range(n_vars))
        out.extend((extra, None) for extra, _ in TAIL.get(generation, {}).get(cls, ()))
        return out

    def _tie(self, values: List[Any], model_vars: List[_ModelVar], generation: str, group_name: str) -> Tuple[VariableState, ...]:
        layout = self._layout(generation, len(model_vars))
        if len(layout) != len(values):
            raise _Refuse(
                "%d stored variables, but %s %s with these options on %d trainable variables creates %d"
                % (len(values), generation, self.opt.cls, len(model_vars), len(layout))
            )
        slots: List[Dict[str, Any]] = [{} for _ in model_vars]
        for position, ((what, index), value) in enumerate(zip(layout, values)):
            shape = tuple(getattr(value, "shape", ()))
            if index is None:
                if shape != ():
                    raise _Refuse("%s/%d (%s) has shape %s, not a scalar" % (group_name, position, what, shape))
                if what == "iterations":
                    continue
                self.extra[what] = _float_scalar(value, self.path, "%s/%d" % (group_name, position))
                continue
            if shape != model_vars[index].shape:
                raise _Refuse(
                    "%s/%d (%s of %s) has shape %s, the variable %s"
                    % (group_name, position, what, model_vars[index].path, shape, model_vars[index].shape)
                )
            slots[index][what] = value
        if not any(slots):  # a class without slots here (SGD without momentum): nothing to tie, as in .h5
            return ()
        return tuple(
            VariableState(None, i, mv.shape, slots[i], "position", model_path=mv.path) for i, mv in enumerate(model_vars)
        )


def _member(zf: zipfile.ZipFile, name: str, path: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ModelFileError("%s: a zip archive without %s, not a .keras model" % (path, name)) from None
    if info.file_size > 64 * 1024 * 1024:
        raise ModelFileError("%s: %s is larger than 64 MiB" % (path, name))
    try:
        return zf.read(info)
    except (OSError,) + _ZIP_READ_ERRORS as exc:
        raise ModelFileError("%s: cannot read %s: %s" % (path, name, exc)) from None


def _indexed(group: Any, path: str) -> List[Any]:
    """The datasets ``0..N-1`` of a ``vars`` group, in index order; anything else is malformed."""
    return [_dataset(group, key, path) for key in _index_keys(group, path)]


def _indexed_shapes(group: Any, path: str) -> List[Tuple[int, ...]]:
    """The shapes of the datasets ``0..N-1`` of a ``vars`` group (nothing read)."""
    h5py = _h5py()
    shapes = []
    for key in _index_keys(group, path):
        try:
            dataset = h5py.h5d.open(group.id, key.encode())
        except (KeyError, ValueError, OSError, RuntimeError, TypeError) as exc:
            raise ModelFileError("%s: %s/%s is not a readable dataset: %s" % (path, group.name, key, exc)) from None
        try:
            shapes.append(tuple(dataset.shape))
        finally:
            dataset.close()
    return shapes


def _index_keys(group: Any, path: str) -> List[str]:
    keys = list(group.keys())
    expected = [str(i) for i in range(len(keys))]
    if sorted(keys, key=lambda k: (len(k), k)) != expected:
        raise ModelFileError("%s: %s holds %s, not the datasets 0..%d" % (path, group.name, sorted(keys)[:5], len(keys) - 1))
    return expected


def _trainable(doc: Any, fh: Any, path: str) -> List[_ModelVar]:
    """The model's trainable variables (path in model.weights.h5, shape), in ``model.trainable_variables`` order.

    ``model.weights.h5`` names each layer by where Keras tracked it, not by ``layer.name``: the
    model's ``layers`` list is one group per layer, named after the layer's class in snake case,
    numbered per class in list order (``layers/dense``, ``layers/dense_1``, ``layers/lstm``); a
    layer's own variables are in ``vars``, the sub-layers it tracks in groups named by attribute
    (:data:`_SUBLAYERS`: ``cell``, ``forward_layer``, ``layer``), a nested model's layers in its
    own ``layers`` (Keras 2.13-2.15 and Keras 3 ``saving_lib``, checked in 2.15 and 3.15).
    """
    if not isinstance(doc, Mapping) or doc.get("class_name") not in _MODEL_CLASSES:
        raise _Refuse(
            "the model is not a Sequential or Functional model (class %r)"
            % (doc.get("class_name") if isinstance(doc, Mapping) else None)
        )
    config = doc.get("config")
    if not isinstance(config, Mapping):
        raise _Refuse("config.json has no model config")
    if config.get("trainable") is False:
        raise _Refuse("the whole model is frozen (trainable: false)")
    root_vars = _group(fh, "vars", path)
    if root_vars is not None and len(root_vars.keys()):
        raise _Refuse("the model itself holds variables outside its layers")
    out: List[_ModelVar] = []
    _model_vars(config, _group(fh, "layers", path), "layers", path, True, out)
    return out


#: Sub-layers a layer class tracks in ``model.weights.h5``, in the order their trainable
#: variables follow the layer's own in ``trainable_variables`` (Keras 2.13+ and Keras 3, checked in
#: 2.15 and 3.15): (attribute, config keys holding the sub-layer's entry, first present wins) or
#: (attribute, the sub-layer's class, whose config is the layer's own: the RNN cells).
_SUBLAYERS: Dict[str, Tuple[Tuple[str, Tuple[str, ...], Optional[str]], ...]] = {
    "LSTM": (("cell", (), "LSTMCell"),),
    "GRU": (("cell", (), "GRUCell"),),
    "SimpleRNN": (("cell", (), "SimpleRNNCell"),),
    "Bidirectional": (("forward_layer", ("layer",), None), ("backward_layer", ("backward_layer", "layer"), None)),
    "TimeDistributed": (("layer", ("layer",), None),),
}


def _snake(class_name: str) -> str:
    """Keras' ``to_snake_case`` of a class name (Keras 3 ``naming``; Keras 2's ``generic_utils`` agrees on class names)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _holds_data(obj: Any) -> bool:
    """Whether an h5 object is, or holds, a dataset (Keras 2's Bidirectional tracks its unbuilt
    template ``layer``: an empty group, no variables to place)."""
    if not hasattr(obj, "visititems"):
        return True
    return obj.visititems(lambda _name, item: True if not hasattr(item, "visititems") else None) is not None


def _entry(layer: Any, path: str) -> Tuple[str, Mapping[str, Any]]:
    """A layer entry's class name (without a ``package>`` prefix) and config."""
    if not isinstance(layer, Mapping) or not isinstance(layer.get("config"), Mapping):
        raise ModelFileError("%s: config.json: a layer entry is not a JSON object with a config" % path)
    cls = layer.get("class_name")
    if not isinstance(cls, str) or not cls:
        raise ModelFileError("%s: config.json: a layer entry has no class_name" % path)
    return cls.rsplit(">", 1)[-1], layer["config"]


def _model_vars(config: Mapping[str, Any], group: Any, where: str, path: str, trainable: bool, out: List[_ModelVar]) -> None:
    """Append the trainable variables of a model's ``layers`` (tracked in ``group``, at ``where``) to ``out``."""
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise _Refuse("config.json lists no layers" + ("" if where == "layers" else " for %s" % where))
    used: Dict[str, int] = {}
    listed = set()
    for layer in layers:
        cls, cfg = _entry(layer, path)
        if not isinstance(cfg.get("name"), str):
            raise ModelFileError("%s: config.json: a %r layer has no name" % (path, cls))
        key = _snake(cls)  # Keras' _get_unique_name: dense, dense_1, ... per class, in list order
        used[key] = used.get(key, -1) + 1
        key = key if used[key] == 0 else "%s_%d" % (key, used[key])
        listed.add(key)
        sub = _group(group, key, path) if group is not None else None
        if sub is not None:
            _layer_vars(cls, cfg, sub, "%s/%s" % (where, key), path, trainable and cfg.get("trainable") is not False, out)
    stray = sorted(set(group.keys()) - listed) if group is not None else []
    if stray:
        raise _Refuse("model.weights.h5 holds layers under %s that config.json does not list: %s" % (where, stray))


def _layer_vars(
    cls: str, cfg: Mapping[str, Any], group: Any, where: str, path: str, trainable: bool, out: List[_ModelVar]
) -> None:
    """Append one layer's trainable variables (its own, then its sub-layers') to ``out``."""
    name = cfg.get("name", cls)
    if cls in _MODEL_CLASSES:
        if set(group.keys()) - {"layers", "vars"} or len(_group(group, "vars", path) or ()):
            raise _Refuse("nested model %r stores variables or sub-objects outside its layers" % name)
        _model_vars(cfg, _group(group, "layers", path), where + "/layers", path, trainable, out)
        return
    subs = _SUBLAYERS.get(cls, ())
    tabled = {"vars"} | {attr for attr, _, _ in subs}
    extra = [key for key in group.keys() if key not in tabled and _holds_data(group[key])]
    if extra:
        raise _Refuse("layer %r (%s) stores sub-objects %s" % (name, cls, sorted(extra)))
    vars_group = _group(group, "vars", path)
    shapes = _indexed_shapes(vars_group, path) if vars_group is not None else []
    if shapes:
        indices = _trainable_indices(cls, cfg, len(shapes), name)
        if trainable:
            out.extend(_ModelVar("%s/vars/%d" % (where, i), shapes[i]) for i in indices)
    for attr, keys, fixed in subs:
        sub = _group(group, attr, path)
        if sub is None:
            continue
        if fixed is not None:
            sub_cls, sub_cfg = fixed, cfg
        else:
            entry = next((cfg[k] for k in keys if isinstance(cfg.get(k), Mapping)), None)
            if entry is None:
                raise _Refuse("layer %r (%s) stores %r but its config has no %s" % (name, cls, attr, " or ".join(keys)))
            sub_cls, sub_cfg = _entry(entry, path)
        _layer_vars(
            sub_cls, sub_cfg, sub, "%s/%s" % (where, attr), path, trainable and sub_cfg.get("trainable") is not False, out
        )


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
