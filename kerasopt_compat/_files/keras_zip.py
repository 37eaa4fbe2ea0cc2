"""The ``.keras`` archive container (Keras 2.13-2.15, tf_keras, Keras 3), pure.

The optimizer entry is the zip member ``config.json`` -> ``compile_config`` ->
``optimizer``; the state is ``optimizer/vars`` of the member ``model.weights.h5``
(read with :mod:`.h5`'s safe dataset access), tied to the model's variables by
the archive's own tracked paths (``layers/dense_1/vars/0``), as Keras does.
Members are streamed, never read whole beyond :data:`_IN_MEMORY`.

The slots in ``optimizer/vars/0..N`` (``optimizer/inner_optimizer/vars`` under a
LossScaleOptimizer) carry no names: they are tied only when the whole layout is
determined (:data:`~kerasopt_compat._state.slots.HEAD`,
:data:`~kerasopt_compat._state.slots.ORDER`, the stored options, the model's
trainable variables from ``config.json`` and the layers' ``vars`` in the same
file) and every count and shape agrees; otherwise none is tied and
:attr:`OptimizerState.notes` says why.

A bare ``.weights.h5`` (Keras 3 ``BackupAndRestore``'s ``latest.weights.h5``) has the same layout
without ``config.json``: :func:`read_weights_file_state` ties its slots by the file's own layer paths
where they determine the order (:class:`_WeightsFileReader`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import re
import shutil
import zipfile
import zlib
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple

from .._config.normalize import CustomObjects
from .._errors import (
    ModelFileError,
    UnsafeModelFileError,
)
from .._state.layout import StateLayout, keras_weights
from .._state.slots import (
    EXTRA_SLOTS,
    HEAD,
    ORDER,
    SLOTS,
    TAIL,
    TAIL_FIRST,
    NoteTaker,
    OptimizerState,
    Saver,
    VariableState,
    class_named,
    slot_exists,
)
from .base import (
    _ALL_TRAINABLE,
    _MAX_JSON_BYTES,
    _MODEL_CLASSES,
    _ZIP_READ_ERRORS,
    KEEP_STATE,
    STATE_LAYOUT_KEY,
    Container,
    Rewrite,
    StateRead,
    StoredModel,
    _atomic_file,
    _dumps,
    _entry,
    _float_lr,
    _float_scalar,
    _generation_of,
    _int_scalar,
    _json,
    _Meta,
    _Opt,
    _opt_info,
    _Refuse,
    _trainable_indices,
)
from .h5 import _dataset, _group, _h5_errors, _h5py, _links_inside
from .safefs import open_regular

_ZIP_MAGIC = b"PK\x03\x04"


_KERAS_CONFIG = "config.json"


_WEIGHTS_H5 = "model.weights.h5"  # the .keras archive member holding the weights and optimizer variables


_KERAS_METADATA = "metadata.json"


def _read_keras(path: str) -> _Meta:
    doc = _json(_zip_member(path, _KERAS_CONFIG), path, _KERAS_CONFIG)
    holder = ("compile_config",) if isinstance(doc, Mapping) and doc.get("compile_config") is not None else None
    return _Meta(doc, holder, "optimizer")


def open_keras(path: str) -> zipfile.ZipFile:
    """A ``.keras`` archive opened for reading; :class:`ModelFileError` when it is not a readable zip archive or
    holds a member name twice (Keras never writes one twice; a reader taking the last copy and a writer
    rewriting every copy would disagree)."""
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ModelFileError("%s: not a readable zip archive: %s" % (path, exc)) from None
    names = zf.namelist()
    seen = set()
    for name in names:
        if name in seen:
            zf.close()
            raise UnsafeModelFileError(
                "%s: the archive holds %r more than once; a .keras archive Keras writes has each member once" % (path, name)
            )
        seen.add(name)
    return zf


def _zip_member(path: str, name: str) -> bytes:
    zf = open_keras(path)
    try:
        with zf:
            try:
                info = zf.getinfo(name)
            except KeyError:
                raise ModelFileError("%s: a zip archive without %s, not a .keras model" % (path, name)) from None
            if info.file_size > _MAX_JSON_BYTES:
                raise ModelFileError("%s: %s is larger than %d bytes" % (path, name, _MAX_JSON_BYTES))
            return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise ModelFileError("%s: cannot read %s from the zip archive: %s" % (path, name, exc)) from None


def _write_keras(
    src: str,
    dst: str,
    entry: Dict[str, Any],
    compile_defaults: Mapping[str, Any],
    optimizer_values: Any = None,
    layout: Optional[str] = None,
) -> None:
    """``optimizer_values``: None (keep them) or the new ``optimizer/vars/0..N`` of ``model.weights.h5``,
    laid out for generation ``layout`` (recorded in ``metadata.json``, :data:`STATE_LAYOUT_KEY`)."""

    def fill(tmp: str) -> None:
        with open_keras(src) as zin, zipfile.ZipFile(tmp, "w") as zout:
            for info in zin.infolist():
                rewritten = (_KERAS_CONFIG, _KERAS_METADATA if layout is not None else None)
                if info.filename not in rewritten and not (info.filename == _WEIGHTS_H5 and optimizer_values is not None):
                    _copy_member(zin, zout, info, src)  # streamed: memory does not follow a member's size
                    continue
                data = _read_member(zin, info, src)
                if info.filename == _WEIGHTS_H5 and optimizer_values is not None:
                    data = _replace_optimizer_vars(data, optimizer_values)
                if info.filename == _KERAS_METADATA and layout is not None:
                    meta = json.loads(data.decode("utf-8-sig"))
                    if isinstance(meta, dict):
                        meta[STATE_LAYOUT_KEY] = layout
                        data = _dumps(meta).encode("utf-8")
                if info.filename == _KERAS_CONFIG:
                    doc = json.loads(data.decode("utf-8-sig"))
                    compile_config = dict(doc["compile_config"], optimizer=entry)
                    for key, value in compile_defaults.items():
                        if key in compile_config and compile_config[key] is None:
                            compile_config[key] = value
                    doc["compile_config"] = compile_config
                    data = _dumps(doc).encode("utf-8")
                zout.writestr(info, data, compress_type=info.compress_type)

    _atomic_file(dst, fill)


def _read_member(zin: zipfile.ZipFile, info: zipfile.ZipInfo, src: str) -> bytes:
    if info.file_size > _MAX_JSON_BYTES and info.filename != _WEIGHTS_H5:
        raise ModelFileError("%s: %s is larger than %d bytes" % (src, info.filename, _MAX_JSON_BYTES))
    try:
        return zin.read(info)
    except _ZIP_READ_ERRORS as exc:
        raise ModelFileError("%s: cannot read %s from the zip archive (damaged?): %s" % (src, info.filename, exc)) from None


def _copy_member(zin: zipfile.ZipFile, zout: zipfile.ZipFile, info: zipfile.ZipInfo, src: str) -> None:
    """Copy one member as it is (its data checked against its CRC as it streams through)."""
    out_info = copy.copy(info)
    try:
        with zin.open(info) as fin, zout.open(out_info, "w", force_zip64=info.file_size > 0x7FFFFFFF) as fout:
            shutil.copyfileobj(fin, fout, 1024 * 1024)
    except _ZIP_READ_ERRORS as exc:
        raise ModelFileError("%s: cannot read %s from the zip archive (damaged?): %s" % (src, info.filename, exc)) from None


def _replace_optimizer_vars(data: bytes, values: Any) -> bytes:
    """``model.weights.h5`` (bytes) with ``optimizer/vars`` holding ``values`` as datasets ``0..N``."""

    h5py = _h5py()
    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as fh:
        group = fh["optimizer/vars"]
        for key in list(group):
            del group[key]
        for i, value in enumerate(values):
            group.create_dataset(str(i), data=value)
    return buf.getvalue()


_METADATA_JSON = _KERAS_METADATA


#: model.weights.h5 up to this size is read into memory at once.
_IN_MEMORY = 64 * 1024 * 1024


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

    def _stored_vars(self, group: Any, group_name: str) -> List[Any]:
        """The optimizer's stored variables ``0..N`` (the iteration count first); empty, with a note, when the
        optimizer was never built."""
        values = _indexed(group, self.path)
        if not values:
            self.notes.append("%s is empty (the optimizer was never built)" % group_name)
        return values

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
        values = self._stored_vars(group, group_name)
        if not values:
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
        tail = [(extra, None) for extra, _ in TAIL.get(generation, {}).get(cls, ())]
        if options.get(TAIL_FIRST):
            out.extend(tail)
            tail = []
        by_name = {s.canonical: s for s in SLOTS[cls]}
        for block in ORDER[cls][generation]:
            present = [s for s in block if slot_exists(by_name[s], generation, options)]
            if len(present) > 1:
                out.extend((s, i) for i in range(n_vars) for s in present)
            elif present:
                out.extend((present[0], i) for i in range(n_vars))
        out.extend(tail)
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


class _WeightsFileReader(_KerasReader):
    """The optimizer state of a bare Keras 3 ``.weights.h5`` (``BackupAndRestore``'s ``latest.weights.h5``):
    ``optimizer/vars`` as in a ``.keras`` archive's ``model.weights.h5``, but no ``config.json`` and no
    optimizer config. The class is the one whose default name ``optimizer/vars`` carries (Keras 3 writes
    the optimizer's ``name`` there); the model's trainable variables, in order, are read from the file's
    own layer paths (:func:`_file_model_vars`) where they determine it; the options that decide which
    slots exist (``amsgrad``, ``momentum``, ``centered``, ``use_ema``, a float learning rate or a schedule)
    are those of the one slot layout that fits the stored variables' count and every shape. Anything
    else leaves the slots untied, with a note: never tied by bare position."""

    def __init__(
        self,
        path: str,
        root: Optional[str] = None,
        trainable_paths: Optional[List[str]] = None,
        class_name: Optional[str] = None,
    ) -> None:
        super().__init__(path, StoredModel(path, "checkpoint", None, {}), None, "error")
        self.root = root
        self.trainable_paths = trainable_paths
        self.class_name = class_name

    def read(self) -> OptimizerState:
        with _open_weights_file(self.path, self.root) as fh:
            return self._read_file(fh, Saver("keras3", None, "checkpoint"))

    def _read_file(self, fh: Any, saver: Saver) -> OptimizerState:
        group_name = "optimizer/vars"
        group = _group(fh, group_name, self.path)
        if group is None:
            self.notes.append("the weights file stores no optimizer variables")
            return self._state(saver, None, ())
        values = self._stored_vars(group, group_name)
        if not values:
            return self._state(saver, None, ())
        raw = _int_scalar(values[0], self.path, "%s/0 (the iteration count)" % group_name)
        name = group.attrs.get("name")
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        cls = class_named(name) if isinstance(name, str) else None
        if cls is None and name is None and self.class_name in SLOTS:
            # Keras 3.0-3.3 (checked: 3.3.3) write no optimizer name into the file: the caller's class (the
            # optimizer the state is restored into); the slot layout must still fit every stored shape
            cls = self.class_name
            self.notes.append("a weights file stores no optimizer config and no optimizer name: class %s as given" % cls)
        elif cls is None:
            self._untie(
                "a weights file stores no optimizer config, and its optimizer's name %r is no class's default name: "
                "slots not tied; pass the optimizer yourself" % (name,)
            )
            self.extra["raw_iterations"] = raw
            return self._state(saver, None, ())
        else:
            self.notes.append(
                "a weights file stores no optimizer config: class %s inferred from its optimizer's name %r" % (cls, name)
            )
        self.extra["class_name"] = cls
        try:
            model_vars: List[_ModelVar] = []
            _file_model_vars(_group(fh, "layers", self.path), "layers", self.path, model_vars)
            root_vars = _group(fh, "vars", self.path)
            if root_vars is not None and len(root_vars.keys()):
                raise _Refuse("the model itself holds variables outside its layers")
            options = self._fitting_options(cls, values, model_vars)
        except _Refuse as exc:
            try:
                model_vars, options = self._in_given_order(fh, cls, values, exc)
            except _Refuse as why:
                self._untie("%s: slots not tied: %s" % (group_name, why))
                self.extra["raw_iterations"] = raw
                return self._state(saver, None, ())
        self.opt = _Opt(None, cls, False, options, None)
        return self._state(saver, raw, self._tie(values, model_vars, "keras3", group_name))

    def _in_given_order(self, fh: Any, cls: str, values: List[Any], why: _Refuse) -> Tuple[List[_ModelVar], Dict[str, Any]]:
        """The model's trainable variables in the order ``trainable_paths`` gives (the places in the file of the
        trainable variables of the model restored into, in its order: Keras 3's ``load_weights`` assigns
        ``optimizer/vars`` in that order), where the file alone does not give it (``why``)."""
        if self.trainable_paths is None:
            raise why
        shapes: Dict[str, Any] = {}
        _vars_groups(fh, "", self.path, shapes, 0)
        missing = [p for p in self.trainable_paths if p not in shapes]
        if missing or len(set(self.trainable_paths)) != len(self.trainable_paths):
            raise _Refuse(
                "%s; and the model's trainable variables are not each one model variable of the file (%s)"
                % (why, ", ".join(missing[:5]) or "repeated places")
            )
        model_vars = [_ModelVar(p, tuple(shapes[p])) for p in self.trainable_paths]
        try:
            options = self._fitting_options(cls, values, model_vars)
        except _Refuse as exc:
            raise _Refuse("%s; in the order of the model restored into: %s" % (why, exc)) from None
        self.notes.append(
            "the file alone does not give the order of the model's trainable variables (%s): taken from the model "
            "restored into (its trainable variables' places in the file, in its order, as Keras' load_weights "
            "assigns the optimizer's variables)" % why
        )
        return model_vars, options

    def _fitting_options(self, cls: str, values: List[Any], model_vars: List[_ModelVar]) -> Dict[str, Any]:
        """The options of the one slot layout of ``cls`` that fits the stored variables (count and shapes)."""
        switches = sorted({row.when for row in SLOTS.get(cls, ()) if row.when} | {"use_ema"})
        if TAIL.get("keras3", {}).get(cls):
            switches.append(TAIL_FIRST)
        shapes = [tuple(getattr(v, "shape", ())) for v in values]
        fits: Dict[Tuple[Tuple[str, Optional[int]], ...], Dict[str, Any]] = {}
        for lr, *flags in itertools.product((0.001, None), *[(False, True)] * len(switches)):
            options: Dict[str, Any] = dict(zip(switches, flags), learning_rate=lr)
            self.opt = _Opt(None, cls, False, options, None)
            layout = self._layout("keras3", len(model_vars))
            if len(layout) == len(values) and all(
                shape == (() if index is None else model_vars[index].shape) for (_, index), shape in zip(layout, shapes)
            ):
                fits.setdefault(tuple(layout), options)
        counts = "%d stored variables on %d model variables (every variable of the file's layers taken as trainable)" % (
            len(values),
            len(model_vars),
        )
        if not fits:
            raise _Refuse("%s fit no slot layout of %s" % (counts, cls))
        if len(fits) > 1:
            raise _Refuse(
                "%s fit %d slot layouts of %s (%s): the file does not say which"
                % (counts, len(fits), cls, " / ".join(_options_text(o) for o in fits.values()))
            )
        options = next(iter(fits.values()))
        self.notes.append("the stored variables fit one slot layout of %s: %s" % (cls, _options_text(options)))
        return options


def _options_text(options: Mapping[str, Any]) -> str:
    """The options of a slot layout as a note says them: ``amsgrad``, ``momentum, use_ema``, ``no optional slots``."""
    words = [k for k, v in sorted(options.items()) if k != "learning_rate" and v]
    if options.get("learning_rate") is None:
        words.append("a learning-rate schedule")
    return ", ".join(words) or "no optional slots"


_NUMBERED = re.compile(r"(?P<base>[a-z0-9_]+?)(?:_(?P<n>[1-9][0-9]*))?")


def _file_model_vars(group: Any, where: str, path: str, out: List[_ModelVar]) -> None:
    """Append the variables of the layers in ``group`` (a weights file's ``layers``, at ``where``) to ``out``
    in the model's order, read from the file alone: its groups are named per class in list order
    (``dense``, ``dense_1``, ...), so the order is known when one class holds all the layers of a level;
    every variable counts as trainable, so each layer must be of a class whose variables all are."""
    if group is None:
        return
    parsed = []
    for key in group.keys():
        m = _NUMBERED.fullmatch(key)
        if m is None:
            raise _Refuse("%s/%s is not a group name Keras gives a layer" % (where, key))
        parsed.append((m.group("base"), int(m.group("n") or 0), key))
    bases = sorted({base for base, _, _ in parsed})
    if len(bases) > 1:
        raise _Refuse(
            "%s holds layers of several classes (%s): their order in the model is not in the file" % (where, ", ".join(bases))
        )
    for base, _, key in sorted(parsed, key=lambda t: t[1]):
        sub = group[key]
        if not hasattr(sub, "keys"):
            raise _Refuse("%s/%s is not a group" % (where, key))
        held = set(sub.keys())
        own = _group(sub, "vars", path)
        if "layers" in held:  # a nested model
            if held - {"layers", "vars"} or (own is not None and len(own.keys())):
                raise _Refuse("nested model %s/%s stores variables or sub-objects outside its layers" % (where, key))
            _file_model_vars(_group(sub, "layers", path), "%s/%s/layers" % (where, key), path, out)
            continue
        if held - {"vars"}:
            raise _Refuse("layer %s/%s stores sub-objects %s" % (where, key, sorted(held - {"vars"})))
        shapes = _indexed_shapes(own, path) if own is not None else []
        if shapes and base not in {_snake(cls) for cls in _ALL_TRAINABLE}:  # all of whose variables are trainable
            raise _Refuse("which variables of layer %s/%s are trainable is not known without the model's config" % (where, key))
        out.extend(_ModelVar("%s/%s/vars/%d" % (where, key, i), shape) for i, shape in enumerate(shapes))


#: Deepest nesting of a weights file's groups walked for the model's variables.
_MAX_GROUP_DEPTH = 64


def weights_file_variables(path: str, root: Optional[str] = None, keys: Optional[List[str]] = None) -> Dict[str, Any]:
    """The model's variables in a bare Keras 3 ``.weights.h5``, without Keras: ``{where: shape}`` for every
    dataset ``0..N-1`` of a ``vars`` group outside ``optimizer`` (``layers/dense/vars/0``, ``vars/0`` for the
    model's own), the paths by which Keras' ``load_weights`` assigns them; with ``keys``, ``{where: value}``
    for those (each one a dataset of such a group, else :class:`~kerasopt_compat.ModelFileError`). ``root``: the
    folder the file must really be in."""
    with _open_weights_file(path, root) as fh:
        shapes: Dict[str, Any] = {}
        _vars_groups(fh, "", path, shapes, 0)
        if keys is None:
            return shapes
        out: Dict[str, Any] = {}
        for key in keys:
            if key not in shapes:
                raise ModelFileError("%s: no model variable %r in the weights file" % (path, key))
            where, _, index = key.rpartition("/")
            out[key] = _dataset(fh[where], index, path)
        return out


@contextlib.contextmanager
def _open_weights_file(path: str, root: Optional[str]) -> Iterator[Any]:
    """A bare ``.weights.h5`` opened for reading (a regular file inside ``root``, no link out of it); h5py's
    errors while it is open become :class:`~kerasopt_compat.ModelFileError`."""
    try:
        raw = open_regular(path, "the weights file", root)
    except OSError as exc:
        raise ModelFileError("%s: cannot read the weights file: %s" % (path, exc.strerror or exc)) from None
    with raw:
        try:
            fh = _h5py().File(raw, "r")
        except (OSError, ValueError) as exc:
            raise ModelFileError("%s: not readable HDF5: %s" % (path, exc)) from None
        with fh, _h5_errors(path, "the weights file"):
            _links_inside(fh, path, "the weights file")
            yield fh


def _vars_groups(group: Any, where: str, path: str, out: Dict[str, Any], depth: int) -> None:
    if depth > _MAX_GROUP_DEPTH:
        raise ModelFileError("%s: groups nested deeper than %d" % (path, _MAX_GROUP_DEPTH))
    for key in sorted(group.keys()):
        if not depth and key == "optimizer":
            continue
        sub = _group(group, key, path) if hasattr(group.get(key), "keys") else None
        if sub is None:
            continue
        here = "%s/%s" % (where, key) if where else key
        if key == "vars":
            for index, shape in zip(_index_keys(sub, path), _indexed_shapes(sub, path)):
                out["%s/%s" % (here, index)] = shape
        else:
            _vars_groups(sub, here, path, out, depth + 1)


def read_weights_file_state(
    path: str,
    root: Optional[str] = None,
    trainable_paths: Optional[List[str]] = None,
    class_name: Optional[str] = None,
) -> OptimizerState:
    """The optimizer state in a bare Keras 3 ``.weights.h5`` (see :class:`_WeightsFileReader`), without Keras.
    ``root``: the folder the file must really be in. ``trainable_paths``: the places in the file
    (``layers/dense/vars/0``) of the trainable variables of the model the state is for, in its order; used
    where the file alone does not give that order (layers of several classes at one level), with a note.
    ``class_name``: the optimizer class the state is for, used where the file names no optimizer (Keras 3.0-3.3)."""
    return _WeightsFileReader(path, root, trainable_paths, class_name).read()


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


class KerasZip(Container):
    """A ``.keras`` zip archive (Keras 2.13+, tf_keras, Keras 3)."""

    format = "keras"
    label = ".keras archive"

    def claims(self, path: str, head: Optional[bytes]) -> bool:
        return head is not None and head.startswith(_ZIP_MAGIC)

    def read_meta(self, path: str) -> _Meta:
        return _read_keras(path)

    def model_config(self, path: str) -> Any:
        doc = _json(_zip_member(path, _KERAS_CONFIG), path, _KERAS_CONFIG)
        return {k: v for k, v in doc.items() if k != "compile_config"} if isinstance(doc, Mapping) else None

    def read_state(self, read: StateRead) -> OptimizerState:
        return _KerasReader(read.path, read.stored, read.custom_objects, read.unknown_keys).read()

    def lay_out_state(self, state: OptimizerState, family: str) -> Tuple[Optional[StateLayout], List[str]]:
        return keras_weights(state, family)

    def write(self, job: Rewrite) -> None:
        if job.state is KEEP_STATE:
            _write_keras(job.src, job.dst, job.entry, job.compile_defaults)
        else:
            _write_keras(job.src, job.dst, job.entry, job.compile_defaults, optimizer_values=job.state.values, layout=job.family)


CONTAINER = KerasZip()
