"""The ``.h5``/``.hdf5`` container (Keras 2, stand-alone Keras 2.x, early tf.keras, Keras 3's legacy H5), pure.

The optimizer entry is the root attribute ``training_config`` (JSON) ->
``optimizer_config``; the state is the ``optimizer_weights`` group, tied to the
model's variables by the names in ``model_weights`` (or, for stand-alone Keras
2.0-2.3, by that release's ``get_weights()`` order: :data:`~kerasopt_compat._state.slots.STANDALONE`).
Needs h5py. External links, virtual datasets and external storage are never
followed (:func:`_links_inside`, :func:`_plain_storage`).

How the state names its slots, per generation:

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
"""

from __future__ import annotations

import contextlib
import json
import shutil
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from .._config.normalize import CustomObjects
from .._errors import (
    KerasOptCompatError,
    ModelFileError,
    UnsafeModelFileError,
)
from .._optional import import_optional_dependency
from .._state.layout import StateLayout, h5_weights
from .._state.slots import (
    EXTRA_SLOTS,
    SLOTS,
    STANDALONE,
    TAIL,
    NoteTaker,
    OptimizerState,
    Saver,
    StandaloneRow,
    StoredArray,
    VariableState,
)
from .base import (
    _MODEL_CLASSES,
    _ZIP_READ_ERRORS,
    KEEP_STATE,
    Container,
    Rewrite,
    StateRead,
    StoredModel,
    _atomic_file,
    _Builder,
    _dumps,
    _Entry,
    _entry,
    _expected_slots,
    _float_scalar,
    _generation_of,
    _int_scalar,
    _json,
    _Meta,
    _missing_notes,
    _opt_info,
    _Refuse,
    _trainable_indices,
    numpy,
)

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _h5py() -> Any:
    return import_optional_dependency("h5py")


def _read_h5(path: str) -> _Meta:
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as fh:
            raw = fh.attrs.get("training_config")
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:  # h5py's errors on a damaged file
        raise ModelFileError("%s: h5py cannot read the file: %s" % (path, exc)) from None
    if raw is None:
        return _Meta({}, None, "optimizer_config")
    return _Meta(_json(_attr_text(raw, path, "training_config"), path, "the 'training_config' attribute"), (), "optimizer_config")


def _attr_text(raw: Any, path: str, name: str) -> Union[str, bytes]:
    """An h5py string attribute: str, bytes or a numpy bytes/str scalar; anything
    else (a number, an array) is a malformed file."""
    if isinstance(raw, (str, bytes)):
        return raw
    if getattr(raw, "shape", None) == () or getattr(raw, "size", None) == 1:
        item = raw.item() if callable(getattr(raw, "item", None)) else raw
        if isinstance(item, (str, bytes)):
            return item
    raise ModelFileError(
        "%s: the %r attribute is not a string (%s%s); a Keras .h5 file stores it as JSON text"
        % (path, name, type(raw).__name__, " of dtype %s, shape %s" % (raw.dtype, raw.shape) if hasattr(raw, "dtype") else "")
    )


def _write_h5(
    src: str, dst: str, entry: Dict[str, Any], compile_defaults: Mapping[str, Any], optimizer_weights: Any = KEEP_STATE
) -> None:
    """``optimizer_weights``: keep them, None (remove them) or a ``_state.layout.StateLayout``.

    Kept weights: a byte copy with the new ``training_config``. New or removed
    ones: a new file, every other object copied by HDF5 itself (chunking,
    compression and filters as stored) and the new optimizer weights stored
    with the layout of the old ones (:func:`_dataset_layout`), so that the copy
    is no larger than the source needs (HDF5 never gives back the space of a
    deleted dataset: deleting and recreating them in a byte copy grew a 486 MB
    file to 567 MB)."""
    h5py = _h5py()

    def training_config(fh: Any) -> None:
        raw = fh.attrs["training_config"]
        doc = json.loads(_attr_text(raw, src, "training_config"))
        doc["optimizer_config"] = entry
        text = _dumps(doc)
        fh.attrs["training_config"] = text if isinstance(_attr_text(raw, src, "training_config"), str) else text.encode("utf-8")

    def fill(tmp: str) -> None:
        if optimizer_weights is KEEP_STATE:
            shutil.copyfile(src, tmp)
            with h5py.File(tmp, "r+") as fh:
                training_config(fh)
            return
        with h5py.File(src, "r") as fin, h5py.File(tmp, "w") as fout:
            for key in fin.attrs:
                fout.attrs.create(key, fin.attrs[key], dtype=fin.attrs.get_id(key).dtype)
            old: Dict[str, Any] = {}  # the old optimizer weights' layouts and shapes, by name

            def remember(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    old[name] = (_dataset_layout(obj), obj.shape)

            for key in fin:
                link = fin.get(key, getlink=True)
                if not isinstance(link, h5py.HardLink):  # never followed out of the file
                    kind = type(link).__name__
                    raise ModelFileError("%s: the root member %r is a link (%s), not stored in the file" % (src, key, kind))
                if key == "optimizer_weights":
                    fin[key].visititems(remember)
                else:
                    fin.copy(fin[key], fout, name=key)
            if optimizer_weights is not None:
                group = fout.create_group("optimizer_weights")
                group.attrs["weight_names"] = [n.encode("utf-8") for n in optimizer_weights.names]
                common: Dict[str, Any] = next((layout for layout, _ in old.values() if layout), {})
                for name, value in zip(optimizer_weights.names, optimizer_weights.values):
                    shape = tuple(getattr(value, "shape", ()))
                    layout, was = old.get(name, (common, None))
                    if layout and was != shape:  # another variable or shape: HDF5 picks the chunks, filters kept
                        layout = dict(layout, chunks=True)
                    if not shape:  # HDF5 stores scalars contiguous, unfiltered
                        layout = {}
                    group.create_dataset(name, data=value, **layout)
            training_config(fout)

    _atomic_file(dst, fill)


def _dataset_layout(ds: Any) -> Dict[str, Any]:
    """The storage options of an ``h5py`` dataset, as ``create_dataset`` takes them."""
    if ds.chunks is None:
        return {}
    return {
        "chunks": ds.chunks,
        "compression": ds.compression,
        "compression_opts": ds.compression_opts,
        "shuffle": ds.shuffle,
        "fletcher32": ds.fletcher32,
    }


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
        """Stand-alone Keras 2.0-2.3 (:data:`~kerasopt_compat._state.slots.STANDALONE`): the one layout row of
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


#: Stored name (last component) of each head entry of :data:`~kerasopt_compat._state.slots.STANDALONE`.
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


class H5(Container):
    """An HDF5 ``.h5``/``.hdf5`` model file (whatever its name says)."""

    format = "h5"
    label = "HDF5 .h5"
    state_removable = True
    kinds = {"h5-named-keras": "HDF5 .h5 file named .keras"}

    def claims(self, path: str, head: Optional[bytes]) -> bool:
        return head is not None and head.startswith(_HDF5_MAGIC)

    def read_meta(self, path: str) -> _Meta:
        return _read_h5(path)

    def model_config(self, path: str) -> Any:
        with _h5py().File(path, "r") as fh:
            raw = fh.attrs.get("model_config")
        return None if raw is None else _json(_attr_text(raw, path, "model_config"), path, "the 'model_config' attribute")

    def kind(self, path: str) -> str:
        return "h5-named-keras" if path.lower().endswith(".keras") else self.format

    def read_state(self, read: StateRead) -> OptimizerState:
        return _H5Reader(read.path, read.stored, read.custom_objects, read.unknown_keys, read.lazy).read()

    def lay_out_state(self, state: OptimizerState, family: str) -> Tuple[Optional[StateLayout], List[str]]:
        return h5_weights(state, family)

    def write(self, job: Rewrite) -> None:
        _write_h5(job.src, job.dst, job.entry, job.compile_defaults, optimizer_weights=job.state)


CONTAINER = H5()
