"""Model files: read and rewrite the optimizer stored in them, without TensorFlow.

Containers (all opened read-only; nothing named in a file is ever imported or
executed):

* ``.h5``/``.hdf5`` (Keras 2 and Keras 3's legacy H5 format): the root
  attribute ``training_config`` (JSON) -> ``optimizer_config``. Needs h5py.
* ``.keras`` archives (Keras 2.13-2.15, tf_keras, Keras 3): the zip member
  ``config.json`` -> ``compile_config`` -> ``optimizer``. Standard library.
* SavedModel directories (TF 2.x Keras 2, tf_keras): ``keras_metadata.pb``, a
  ``SavedMetadata`` protobuf whose root node (``node_path == "root"``) carries
  the model's metadata JSON -> ``training_config`` -> ``optimizer_config``.
  Read with the small wire-format reader below (no protobuf package needed).
* TF.js ``model.json`` (tensorflowjs converter): ``modelTopology`` ->
  ``training_config`` -> ``optimizer_config``.

:func:`read_optimizer` returns the canonical dict; :func:`fix_model` rewrites
only the stored optimizer entry for a target release.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import warnings
import zipfile
import zlib
from typing import Any, Callable, Collection, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple, Union

from . import _tables as T
from . import _write
from ._errors import (
    ConversionWarning,
    FileFormatWarning,
    InvalidConfigError,
    KerasOptCompatError,
    ModelConfigWarning,
    ModelFileError,
    NoOptimizerError,
    OptimizerStateWarning,
    UnknownKeyWarning,
    UnsafeModelFileError,
)
from ._normalize import MAX_JSON_DEPTH, CustomObjects, custom_names, json_too_deep, normalize
from ._optional import import_optional_dependency
from ._protowire import LEN, VARINT, Field, fields, len_field
from ._safefs import kind_of, open_regular

__all__ = ["read_optimizer", "read_model_file", "fix_model", "FixResult", "StoredModel", "resolve_target"]

PathLike = Union[str, "os.PathLike[str]"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_METADATA_PB = "keras_metadata.pb"
_KERAS_CONFIG = "config.json"
_WEIGHTS_H5 = "model.weights.h5"  # the .keras archive member holding the weights and optimizer variables
_KERAS_METADATA = "metadata.json"
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


# --------------------------------------------------------------------------- reading


def read_optimizer(path: PathLike, *, custom_objects: CustomObjects = None, unknown_keys: str = "error") -> Dict[str, Any]:
    """Return the canonical dict of the optimizer stored in a model file.

    ``path`` is an ``.h5``/``.hdf5`` file, a ``.keras`` archive, a SavedModel
    directory (or its ``keras_metadata.pb``) or a TF.js ``model.json``;
    the container is recognised by its content, not its name. Imports no
    TensorFlow or Keras; ``.h5`` needs h5py (``pip install 'kerasopt_compat[h5]'``).

    >>> read_optimizer("model.h5")                                   # doctest: +SKIP
    {'class_name': 'Adam', 'config': {'name': 'Adam', 'learning_rate': 0.123, 'decay': 0.0, 'beta_1': 0.8, ...}}

    Raises :class:`NoOptimizerError` when the file was saved without an
    optimizer, :class:`ModelFileError` when it is not a model file Keras
    writes, and the errors of :func:`normalize` (with the file named) when
    the stored optimizer is not readable. ``unknown_keys="keep"`` keeps keys
    and optimizer classes a Keras newer than kerasopt_compat wrote, as in
    :func:`normalize`.
    """
    stored = read_model_file(path)
    return _canonical(stored, custom_objects, unknown_keys)


def _canonical(stored: StoredModel, custom_objects: CustomObjects, unknown_keys: str = "error") -> Dict[str, Any]:
    if stored.optimizer is None:
        raise NoOptimizerError(
            "%s: the model file (%s) holds no optimizer; it was saved without compile(), with "
            "include_optimizer=False or from a model that was not compiled" % (stored.path, _FORMAT_LABEL[stored.format])
        )
    try:
        return normalize(_drop_file_markers(stored.optimizer), custom_objects=custom_objects, unknown_keys=unknown_keys)
    except KerasOptCompatError as exc:
        exc.note_file(stored.path)
        raise


def _drop_file_markers(obj: Any) -> Any:
    """A copy without the model-file-only keys (``_tables.MODEL_FILE_DROPPED_TOP_LEVEL``)
    of every serialized object (a dict with ``class_name``) in it."""
    if isinstance(obj, Mapping):
        drop = T.MODEL_FILE_DROPPED_TOP_LEVEL if "class_name" in obj else frozenset()
        return {k: _drop_file_markers(v) for k, v in obj.items() if k not in drop}
    if isinstance(obj, list):
        return [_drop_file_markers(v) for v in obj]
    return obj


_FORMAT_LABEL = {"h5": "HDF5 .h5", "keras": ".keras archive", "savedmodel": "SavedModel", "tfjs": "TF.js model.json"}


def read_model_file(path: PathLike) -> StoredModel:
    """Read the stored optimizer entry and compile arguments of a model file (no conversion)."""
    fspath = os.fspath(path)
    fmt = _detect(fspath)
    reader = _READERS[fmt]
    meta = reader(fspath)
    return _split(fspath, fmt, meta)


def _detect(path: str) -> str:
    if os.path.isdir(path):
        if os.path.lexists(os.path.join(path, _METADATA_PB)):  # not a regular file: refused when it is read
            return "savedmodel"
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ModelFileError(
                "%s: a SavedModel without %s: it was not written by Keras' model.save() "
                "(tf.saved_model.save and Keras 3's model.export() store no optimizer config)" % (path, _METADATA_PB)
            )
        raise ModelFileError("%s: a directory that is not a SavedModel (no %s)" % (path, _METADATA_PB))
    if os.path.basename(path) == _METADATA_PB:
        return "savedmodel"
    try:
        with open_regular(path) as fh:  # a FIFO or device: ModelFileError, never a blocking open
            head = fh.read(8)
    except OSError as exc:
        raise ModelFileError("%s: cannot open: %s" % (path, exc.strerror or exc)) from None
    if head.startswith(_HDF5_MAGIC):
        return "h5"
    if head.startswith(_ZIP_MAGIC):
        return "keras"
    if head.lstrip()[:1] == b"{" or head.startswith(b"\xef\xbb\xbf"):
        return "tfjs"
    raise ModelFileError("%s: not a Keras model file (.h5, .keras, SavedModel directory or TF.js model.json)" % path)


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


# --- .h5


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


# --- .keras


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


# --- SavedModel (keras_metadata.pb)


def _pb_path(path: str) -> str:
    return path if os.path.basename(path) == _METADATA_PB else os.path.join(path, _METADATA_PB)


def _read_savedmodel(path: str) -> _Meta:
    pb = _pb_path(path)
    try:
        with open_regular(pb, root=os.path.dirname(pb)) as fh:
            data = fh.read(_MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise ModelFileError("%s: cannot read %s: %s" % (path, _METADATA_PB, exc.strerror or exc)) from None
    if len(data) > _MAX_JSON_BYTES:
        raise ModelFileError("%s: %s is larger than %d bytes" % (path, _METADATA_PB, _MAX_JSON_BYTES))
    metadata = _root_metadata(data, path)
    doc = _json(metadata, path, "the root node's metadata in %s" % _METADATA_PB)
    holder = ("training_config",) if isinstance(doc, Mapping) and doc.get("training_config") is not None else None
    return _Meta(doc, holder, "optimizer_config")


# Protobuf wire format (https://protobuf.dev/programming-guides/encoding/), just
# what keras/protobuf/saved_metadata.proto needs:
#   message SavedMetadata { repeated SavedObject nodes = 1; }
#   message SavedObject { int32 node_id = 2; string node_path = 3;
#                         string identifier = 4; string metadata = 5; VersionDef version = 6; }
_NODES, _NODE_ID, _NODE_PATH, _METADATA = 1, 2, 3, 5


def _fields(data: bytes, path: str) -> List[Field]:
    return fields(data, "%s: %s" % (path, _METADATA_PB), "SavedMetadata")


def _is_root(node: List[Field]) -> bool:
    node_id = next((f.value for f in node if f.number == _NODE_ID and f.wire_type == VARINT), 0)
    node_path = next((f.value for f in node if f.number == _NODE_PATH and f.wire_type == LEN), b"")
    return node_id == 0 and node_path == b"root"


def _root_node(data: bytes, path: str) -> Tuple[int, List[Field]]:
    """Index (among the top-level fields) and fields of the root SavedObject."""
    for index, field in enumerate(_fields(data, path)):
        if field.number == _NODES and field.wire_type == LEN:
            assert isinstance(field.value, bytes)
            node = _fields(field.value, path)
            if _is_root(node):
                return index, node
    raise ModelFileError("%s: %s has no root node (node_path 'root')" % (path, _METADATA_PB))


def _root_metadata(data: bytes, path: str) -> bytes:
    _, node = _root_node(data, path)
    for field in node:
        if field.number == _METADATA and field.wire_type == LEN:
            assert isinstance(field.value, bytes)
            return field.value
    raise ModelFileError("%s: the root node of %s has no metadata" % (path, _METADATA_PB))


def _replace_root_metadata(data: bytes, metadata: bytes, path: str) -> bytes:
    """``data`` with the root node's metadata string replaced; every other byte kept."""
    index, node = _root_node(data, path)
    node_bytes = b"".join(len_field(_METADATA, metadata) if f.number == _METADATA else f.raw for f in node)
    top = _fields(data, path)
    return b"".join(len_field(_NODES, node_bytes) if i == index else f.raw for i, f in enumerate(top))


# --- TF.js


def _read_tfjs(path: str) -> _Meta:
    try:
        with open_regular(path) as fh:
            data = fh.read(_MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise ModelFileError("%s: cannot read: %s" % (path, exc.strerror or exc)) from None
    if len(data) > _MAX_JSON_BYTES:
        raise ModelFileError("%s: larger than %d bytes" % (path, _MAX_JSON_BYTES))
    doc = _json(data, path, "the file")
    if isinstance(doc, Mapping) and "trainingConfig" in doc:
        raise ModelFileError(
            "%s: a model.json written by TF.js itself ('trainingConfig', TF.js optimizer names); kerasopt_compat "
            "reads the tensorflowjs converter layout ('modelTopology' -> 'training_config') only" % path
        )
    if not isinstance(doc, Mapping) or "modelTopology" not in doc:
        raise ModelFileError("%s: JSON text, but not a TF.js model.json (no 'modelTopology')" % path)
    topology = doc.get("modelTopology")
    holder = ("modelTopology", "training_config")
    if not (isinstance(topology, Mapping) and topology.get("training_config") is not None):
        return _Meta(doc, None, "optimizer_config")
    return _Meta(doc, holder, "optimizer_config")


_READERS: Dict[str, Callable[[str], _Meta]] = {
    "h5": _read_h5,
    "keras": _read_keras,
    "savedmodel": _read_savedmodel,
    "tfjs": _read_tfjs,
}


def file_kind(path: PathLike, fmt: str) -> str:
    """The format key of ``_tables.UNOPENABLE``: ``fmt`` (the container read by
    content), or ``"h5-named-keras"`` (an HDF5 file whose name ends in
    ``.keras``) or ``"savedmodel-no-variables"``."""
    fspath = os.fspath(path)
    if fmt == "h5" and fspath.lower().endswith(".keras"):
        return "h5-named-keras"
    if fmt == "savedmodel":
        folder = os.path.dirname(fspath) if os.path.basename(fspath) == _METADATA_PB else fspath
        if not os.path.isdir(os.path.join(folder, "variables")):
            return "savedmodel-no-variables"
    return fmt


_KIND_LABEL = {
    **_FORMAT_LABEL,
    "h5-named-keras": "HDF5 .h5 file named .keras",
    "savedmodel-no-variables": "SavedModel without variables/",
}


def unopenable(path: PathLike, fmt: str, release: str) -> Optional[str]:
    """Why ``release``'s own ``load_model`` (a RELEASES key or generation name)
    cannot open the ``fmt`` file ``path``, and what works instead; None when it
    can (``_tables.UNOPENABLE``; a generation: when none of its releases can).

    >>> unopenable("model.json", "tfjs", "tf2.15")[:44]
    'a TF.js model.json, which tf2.15 cannot open'
    >>> unopenable("model.h5", "h5", "keras3") is None
    True
    """
    kind = file_kind(path, fmt)
    loaders = T.FILE_LOADERS.get(_target_key(release)) or T.FILE_LOADERS[resolve_target(release)]
    reasons = [T.UNOPENABLE.get((kind, loader)) or T.UNOPENABLE.get((kind, "*")) for loader in loaders]
    if not reasons or not all(reasons):
        return None
    return "a %s, which %s cannot open: %s" % (_KIND_LABEL[kind], release, reasons[0])


def _target_releases(release: str) -> FrozenSet[str]:
    """The RELEASES keys a target stands for (a generation: all its releases)."""
    key = _target_key(release)
    if key in T.RELEASES:
        return frozenset([key])
    generation = resolve_target(release)
    return frozenset(name for name, rel in T.RELEASES.items() if rel.generation == generation)


def unbuildable(path: PathLike, fmt: str, release: str) -> Optional[str]:
    """What in the model config of the ``fmt`` file ``path`` ``release``'s own
    ``load_model`` cannot build (the first row of ``_tables.MODEL_FEATURES``
    found, naming the layer and key), and what works instead; None when no row
    applies (a generation: when none of its releases can build it). Reads the
    stored config only (h5 ``model_config``, ``.keras`` ``config.json``, the
    SavedModel's ``keras_metadata.pb`` and ``saved_model.pb``); imports nothing.

    >>> unbuildable("tests/data/models/tf221/adam.h5", "h5", "tf2.9")[:60]  # doctest: +SKIP
    "layer 'input_layer' (InputLayer) stores Keras 3's InputLayer"
    """
    releases = _target_releases(release)
    rows = [row for row in T.MODEL_FEATURES if fmt in row.formats and releases <= row.cannot]
    if not rows:
        return None
    fspath = os.fspath(path)
    for row in rows:
        if row.match == "op" and row.value and _savedmodel_has_op(fspath, row.value):
            return _whole_file(row, release)
    config = _model_config(fspath, fmt)
    whole = ("op", "file", "saved_by")
    found = None if config is None else _first_feature(config, [row for row in rows if row.match not in whole])
    if found is None:  # last, the container's own files and metadata (the most general rows)
        folder = os.path.dirname(fspath) if os.path.basename(fspath) == _METADATA_PB else fspath
        for row in rows:
            if row.match == "file" and row.value and os.path.isfile(os.path.join(folder, row.value)):
                return _whole_file(row, release)
            if row.match == "saved_by" and row.value and _saved_by_keras2(fspath, row.key, row.value):
                return _whole_file(row, release)
        return None
    row, layer, layer_cls, cls = found
    return "layer %r (%s)%s stores %s (key %r, written by %s), which %s's load_model cannot build: %s" % (
        layer,
        layer_cls,
        "" if cls == layer_cls else ", in its %s," % cls,
        row.what,
        row.key,
        row.written_by,
        release,
        row.instead,
    )


def _saved_by_keras2(path: str, key: str, first: str) -> bool:
    """Whether the ``.keras`` archive's ``metadata.json`` says a Keras 2 release from ``first`` on saved it."""
    from ._optional import parse_version

    try:
        meta = json.loads(_zip_member(path, _KERAS_METADATA).decode("utf-8-sig"))
    except (ModelFileError, OSError, KeyError, ValueError):
        return False
    version = meta.get(key) if isinstance(meta, Mapping) else None
    if not isinstance(version, str):
        return False
    found = parse_version(version)
    return parse_version(first) <= found[:2] and found[0] == 2


def _whole_file(row: T.ModelFeature, release: str) -> str:
    return "%s (written by %s), which %s cannot load: %s" % (row.what, row.written_by, release, row.instead)


def _model_config(path: str, fmt: str) -> Any:
    """The stored model config (without the training/compile config), or None."""
    try:
        if fmt == "h5":
            with _h5py().File(path, "r") as fh:
                raw = fh.attrs.get("model_config")
            return None if raw is None else _json(_attr_text(raw, path, "model_config"), path, "the 'model_config' attribute")
        if fmt == "keras":
            doc = _json(_zip_member(path, _KERAS_CONFIG), path, _KERAS_CONFIG)
            return {k: v for k, v in doc.items() if k != "compile_config"} if isinstance(doc, Mapping) else None
        if fmt == "savedmodel":
            with open(_pb_path(path), "rb") as fh:
                doc = _json(_root_metadata(fh.read(), path), path, "the root node's metadata in %s" % _METADATA_PB)
            return {k: v for k, v in doc.items() if k != "training_config"} if isinstance(doc, Mapping) else None
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, ModelFileError):
        return None  # what cannot be read is said where the file is read for its optimizer
    return None


def _savedmodel_has_op(path: str, op: str) -> bool:
    """Whether ``saved_model.pb`` has a graph node running ``op``: the NodeDef
    field ``op`` (2, length-delimited) holding that name, as bytes."""
    folder = os.path.dirname(path) if os.path.basename(path) == _METADATA_PB else path
    name = op.encode("ascii")
    if len(name) > 127:
        return False
    needle = bytes([(2 << 3) | LEN, len(name)]) + name
    try:
        with open(os.path.join(folder, "saved_model.pb"), "rb") as fh:
            return needle in fh.read()
    except OSError:
        return False


def _first_feature(doc: Any, rows: List[T.ModelFeature]) -> Optional[Tuple[T.ModelFeature, str, str, str]]:
    """``(row, layer name, layer class, class)`` of the first object (depth first, in stored
    order) a row matches; the layer is the innermost object around it whose config has a
    ``name`` and a ``dtype`` or ``layers`` (a layer or model, not a dtype policy)."""
    stack: List[Tuple[Any, Tuple[str, str]]] = [(doc, ("", ""))]
    while stack:
        obj, layer = stack.pop()
        if isinstance(obj, list):
            stack.extend((item, layer) for item in reversed(obj))
            continue
        if not isinstance(obj, Mapping):
            continue
        cls = obj.get("class_name")
        config = obj.get("config")
        if isinstance(cls, str):
            if isinstance(config, Mapping) and isinstance(config.get("name"), str) and ("dtype" in config or "layers" in config):
                layer = (config["name"], cls)
            for row in rows:
                if (not row.classes or cls in row.classes) and cls not in row.skip and _matches(row, obj, config):
                    return row, layer[0], layer[1] or cls, cls
        stack.extend((value, layer) for value in reversed(list(obj.values())))
    return None


def _matches(row: T.ModelFeature, obj: Mapping[str, Any], config: Any) -> bool:
    if row.match == "module":
        return obj.get("module") == row.value
    if row.match == "inbound":
        nodes = obj.get("inbound_nodes")
        return isinstance(nodes, list) and any(isinstance(node, Mapping) for node in nodes)
    if not isinstance(config, Mapping) or row.key not in config:
        return False
    value = config[row.key]
    if row.match == "key":
        return True
    if row.match == "list":
        return isinstance(value, list)
    if row.match == "class":
        return isinstance(value, Mapping) and value.get("class_name") == row.value
    if row.match == "no_module":
        return isinstance(value, Mapping) and "class_name" in value and "module" not in value
    return False


# --------------------------------------------------------------------------- fixing


def resolve_target(target: str) -> str:
    """The Keras generation (``legacy``/``keras2``/``keras3``) of a target (``_tables.RELEASES``).

    >>> resolve_target("tf2.9"), resolve_target("tf2.15"), resolve_target("tf_keras"), resolve_target("tf2.16")
    ('legacy', 'keras2', 'keras2', 'keras3')
    """
    try:
        return _write.resolve_target(target).generation
    except InvalidConfigError as exc:
        raise ModelFileError(str(exc), value=target, has_value=True) from None


class FixResult(NamedTuple):
    """What :func:`fix_model` did (or, with ``check=True``, would do)."""

    #: whether the stored optimizer entry changes
    changed: bool
    #: the stored entry before and after (as JSON-native dicts)
    before: Dict[str, Any]
    after: Dict[str, Any]
    #: "h5", "keras", "savedmodel" or "tfjs"
    format: str
    #: the Keras generation written ("legacy", "keras2", "keras3"; "keras2" for
    #: TF 2.9/2.10's optimizers.experimental, written where legacy would lose a setting)
    family: str
    #: whether ``dst`` was written
    written: bool
    #: what happened to the stored optimizer state (``state=``): "kept" (unchanged), "converted"
    #: (laid out for ``family``), "dropped", or "none" (the file stores none)
    state: str = "kept"


def native_entry(
    canonical: Mapping[str, Any],
    family: str,
    fmt: str,
    *,
    loader: Optional[str] = None,
    strict: bool = False,
    target: Optional[str] = None,
    custom_objects: CustomObjects = None,
    unknown_keys: str = "error",
) -> Dict[str, Any]:
    """The optimizer entry a loader of ``family`` reads from a ``fmt`` model file.

    ``to_native`` (for the release ``target`` when given, so that classes and
    schedule keys it lacks are refused or lossy) plus the container's own
    conventions (``_tables.MODEL_FILE_TOP_LEVEL``; ``loader`` is ``"tf_keras"``
    for tf_keras, else the generation). ``custom_objects``/``unknown_keys`` as
    in :func:`to_native`.

    >>> native_entry({'class_name': 'SGD', 'config': {}}, 'keras2', 'keras')['module']
    'keras.optimizers'
    """
    return native_entry_for(
        canonical,
        target or family,
        fmt,
        loader=loader,
        strict=strict,
        custom_objects=custom_objects,
        unknown_keys=unknown_keys,
    )[0]


def native_entry_for(
    config: Mapping[str, Any],
    target: str,
    fmt: str,
    *,
    loader: Optional[str] = None,
    strict: bool = False,
    custom_objects: CustomObjects = None,
    unknown_keys: str = "error",
) -> Tuple[Dict[str, Any], str]:
    """:func:`native_entry` for release (or generation) ``target``, and the
    generation written (``keras2`` where TF 2.9/2.10 get their
    ``optimizers.experimental`` class; see ``_tables.Release.also``)."""
    custom = custom_names(custom_objects)
    canonical = normalize(config, custom_objects=custom, unknown_keys=unknown_keys)
    native, family = _write.write_target(canonical, target, strict=strict, custom=custom)
    native = _loader_class_names(native, fmt, (loader or family, family), custom)
    cls = native["class_name"]
    for key in ((fmt, loader or family, cls), (fmt, family, cls), (fmt, family, "*")):
        extra = T.MODEL_FILE_TOP_LEVEL.get(key)
        if extra is not None:
            return _with_top_level(native, extra), family
    return native, family


def _loader_class_names(native: Dict[str, Any], fmt: str, loaders: Tuple[str, ...], custom: Collection[str]) -> Dict[str, Any]:
    """``native`` with each class spelled as ``loaders``' model-file loader finds it
    (``_tables.MODEL_FILE_CLASS_NAMES``), also a wrapper's ``inner_optimizer``;
    the caller's own classes are left as they are."""
    cls = native.get("class_name")
    out = native
    if isinstance(cls, str) and cls not in custom:
        for loader in loaders:
            name = T.MODEL_FILE_CLASS_NAMES.get((fmt, loader, cls))
            if name is not None:
                out = dict(native, class_name=name)
                break
    cfg = out.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("inner_optimizer"), dict):
        inner = _loader_class_names(cfg["inner_optimizer"], fmt, loaders, custom)
        if inner is not cfg["inner_optimizer"]:
            out = dict(out, config=dict(cfg, inner_optimizer=inner))
    return out


def loader_of(target: str) -> str:
    """The loader name for MODEL_FILE_TOP_LEVEL: ``"tf_keras"`` or the generation."""
    key = _target_key(target)
    return T.RELEASE_LOADERS.get(key) or resolve_target(target)


def _target_key(target: str) -> str:
    return target.strip().lower().replace("-", "_") if isinstance(target, str) else target


def _with_top_level(native: Dict[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if "module" in extra:
        out["module"] = extra["module"]
    out["class_name"] = native["class_name"]
    out["config"] = native["config"]
    if "registered_name" in extra:
        out["registered_name"] = extra["registered_name"]
    return out


def fix_model(
    src: PathLike,
    dst: PathLike,
    target: str,
    *,
    force: bool = False,
    check: bool = False,
    strict: bool = False,
    custom_objects: CustomObjects = None,
    unknown_keys: str = "error",
    state: str = "convert",
) -> FixResult:
    """Copy a model file, rewriting only its stored optimizer for release ``target``.

    ``target`` is a release (``"tf2.4"`` ... ``"tf2.21"``, ``"tf_keras"``,
    ``"keras3"``) or a generation (``"legacy"``, ``"keras2"``, ``"keras3"``).
    The stored optimizer is read (:func:`read_optimizer`) and written back as
    that generation's native dict (:func:`to_native`, with the same
    :class:`LossyConversionWarning`/:class:`DecayConversionWarning`), so the
    target's own ``load_model`` restores it. Everything else in the file is
    copied unchanged. ``src`` is never modified; ``dst`` is written to a
    temporary file (directory, for a SavedModel) in its own folder and then
    renamed into place; an existing ``dst`` is refused unless ``force=True``.
    With ``check=True`` nothing is written and the result says whether
    anything would change. A format the target's ``load_model`` cannot open
    (``.keras`` for TF <= 2.11, a SavedModel for Keras 3, TF.js for any) gives
    :class:`FileFormatWarning` saying what it opens instead, or
    :class:`ModelFileError` with ``strict=True``; so does a stored model config
    the target's loader cannot build (:class:`ModelConfigWarning`, naming the
    first layer and key: :func:`unbuildable`, ``_tables.MODEL_FEATURES``). ``unknown_keys="keep"``: as in :func:`read_optimizer`
    (kept keys and classes are written through unchanged). Imports no TensorFlow.

    ``state`` is for the stored optimizer state (iteration count, slots), which
    every native loader assigns by position: ``"convert"`` (default) lays an
    ``.h5`` file's state out as the target generation's class creates it,
    under its names (legacy <-> Keras 2), so the target's own ``load_model`` +
    ``fit`` resumes; where that cannot be exact (another format, Keras 3, an
    untied slot) the state of an ``.h5`` is dropped, and that of a ``.keras``
    or SavedModel kept, with an :class:`OptimizerStateWarning` saying why
    (:func:`kerasopt_compat.load_model` restores it by variable either way).
    ``"drop"`` removes an ``.h5`` file's state; ``"keep"`` copies it unchanged.
    ``FixResult.state`` says which happened.

    >>> fix_model("saved_by_tf215.h5", "for_tf29.h5", "tf2.9").changed   # doctest: +SKIP
    True
    """
    resolve_target(target)  # an unknown target: ModelFileError before reading anything
    if state not in _STATE_ACTIONS:
        raise ModelFileError("state must be one of %s, not %r" % (_STATE_ACTIONS, state))
    src_path, dst_path = os.fspath(src), os.fspath(dst)
    stored = read_model_file(src_path)
    if state == "drop" and stored.format != "h5":
        raise ModelFileError(
            "%s: state='drop' removes the optimizer state of .h5 files only (this is a %s)" % (src_path, stored.format)
        )
    canonical = _canonical(stored, custom_objects, unknown_keys)
    try:
        with warnings.catch_warnings():  # already said by _canonical
            warnings.simplefilter("ignore", UnknownKeyWarning)
            after, family = native_entry_for(
                canonical,
                target,
                stored.format,
                loader=T.RELEASE_LOADERS.get(_target_key(target)),
                strict=strict,
                custom_objects=custom_objects,
                unknown_keys=unknown_keys,
            )
    except KerasOptCompatError as exc:
        exc.note_file(src_path)
        raise
    reason, category = unopenable(src_path, stored.format, target), FileFormatWarning
    if reason is None:
        reason, category = unbuildable(src_path, stored.format, target), ModelConfigWarning
    if reason is not None:
        message = "%s: %s" % (src_path, reason)
        if strict:
            raise ModelFileError(message)
        warnings.warn(message, category, stacklevel=2)
    before = json.loads(json.dumps(stored.optimizer))
    changed = before != after
    action, weights = _state_action(src_path, stored, family, state, custom_objects, unknown_keys)
    if check:
        return FixResult(changed, before, after, stored.format, family, False, action)
    _refuse_input_as_output(src_path, dst_path, "fix_model")
    if os.path.lexists(dst_path) and not force:
        raise ModelFileError("%s: already exists; pass force=True (--force) to replace it" % dst_path)
    if os.path.lexists(dst_path) and os.path.isdir(dst_path) != (stored.format == "savedmodel"):
        raise ModelFileError(
            "%s: exists and is a %s; the output is a %s"
            % (
                dst_path,
                "directory" if os.path.isdir(dst_path) else "file",
                "SavedModel directory" if stored.format == "savedmodel" else "file",
            )
        )
    if action in ("converted", "dropped") and stored.format == "h5":
        _write_h5(src_path, dst_path, after, compile_null_defaults(stored, family), optimizer_weights=weights)
    elif action == "converted" and stored.format == "keras":
        _write_keras(
            src_path, dst_path, after, compile_null_defaults(stored, family), optimizer_values=weights.values, layout=family
        )
    else:
        _WRITERS[stored.format](src_path, dst_path, after, compile_null_defaults(stored, family))
    return FixResult(changed, before, after, stored.format, family, True, action)


def _refuse_input_as_output(src: str, dst: str, who: str) -> None:
    """``ModelFileError`` when ``dst`` is ``src`` or overlaps it (one inside the other; a SavedModel's folder),
    with symlinks resolved and hard links seen (``_atomic.same_file``): the input is never replaced."""
    from ._atomic import overlap, same_file

    src_whole = os.path.dirname(src) if os.path.basename(src) == _METADATA_PB else src
    if same_file(src, dst) or same_file(src_whole, dst):
        why = "it is the input %s" % src
    elif overlap(src_whole, dst):
        why = "it overlaps the input %s (one lies inside the other)" % src_whole
    else:
        return
    raise ModelFileError(
        "%s: the output must be a new path; %s never modifies its input: %s, once links are resolved" % (dst, who, why)
    )


#: fix_model's ``state`` values.
_STATE_ACTIONS = ("convert", "drop", "keep")


def _state_action(
    src: str, stored: StoredModel, family: str, state: str, custom_objects: CustomObjects, unknown_keys: str
) -> Tuple[str, Any]:
    """``(FixResult.state, the .h5 optimizer weights to write)`` for ``state``; warns what is not exact."""
    from ._errors import DroppedStateWarning
    from ._stateread import read_state
    from ._statewrite import h5_weights, keras_weights

    if state == "keep" or stored.format == "tfjs":
        return "kept", None
    try:
        with warnings.catch_warnings():  # what the entry holds was said already (_canonical)
            warnings.simplefilter("ignore", ConversionWarning)
            warnings.simplefilter("ignore", UnknownKeyWarning)
            found = read_state(src, custom_objects=custom_objects, unknown_keys=unknown_keys)
    except UnsafeModelFileError:
        raise  # a link out of the file, a special file: refused, never copied on with a warning
    except KerasOptCompatError as exc:
        if state == "drop":
            return "dropped", None
        warnings.warn(
            "%s: the optimizer state was copied unchanged: kerasopt_compat cannot read it (%s); the target's native "
            "loader assigns it by position" % (src, exc),
            OptimizerStateWarning,
            stacklevel=3,
        )
        return "kept", None
    extra = found.extra if isinstance(found.extra, Mapping) else {}
    if not found.variables and not found.iterations and not extra.get("raw_iterations"):
        return "none", None
    if state == "drop":
        warnings.warn(
            "%s: the optimizer state was dropped (state='drop'): training restarts fresh" % src, DroppedStateWarning, stacklevel=3
        )
        return "dropped", None
    saver = found.saver.generation if found.saver else None
    if saver == family and (found.saver is None or found.saver.layout is None):
        return "kept", None  # a stand-alone Keras 2.x layout is laid out anew, also for a legacy target
    if stored.format == "h5":
        layout, reasons = h5_weights(found, family)
    elif stored.format == "keras":
        layout, reasons = keras_weights(found, family)
    else:
        layout, reasons = None, ["only .h5 and .keras files are laid out for another generation"]
    if layout is None:
        where = "dropped" if stored.format == "h5" else "copied unchanged"
        why = "; ".join(reasons)
        warnings.warn(
            "%s: the %s optimizer state was %s for a %s target: %s; kerasopt_compat.load_model restores it by variable "
            "from the original file" % (src, saver, where, family, why),
            DroppedStateWarning if stored.format == "h5" else OptimizerStateWarning,
            stacklevel=3,
        )
        return ("dropped" if stored.format == "h5" else "kept"), None
    for note in layout.notes:
        warnings.warn("%s: %s" % (src, note), DroppedStateWarning, stacklevel=3)
    from ._errors import NadamScheduleWarning
    from ._restore import rule_differences

    cls = (found.optimizer or {}).get("class_name")
    cfg = (found.optimizer or {}).get("config") or {}
    for rule in rule_differences(cls, cfg, str(saver), family):
        warnings.warn("%s: state converted %s -> %s: %s" % (src, saver, family, rule.what), rule.warning, stacklevel=3)
    if cls == "Nadam" and "keras2" in (saver, family) and not rule_differences(cls, cfg, str(saver), family):
        warnings.warn(
            "%s: state converted %s -> %s: Keras 2's Nadam does not store its momentum product (and multiplies it once "
            "per variable in a traced train step); m, v and iterations are exact, the product is recomputed from "
            "iterations=%d" % (src, saver, family, found.iterations or 0),
            NadamScheduleWarning,
            stacklevel=3,
        )
    return "converted", layout


def compile_null_defaults(stored: StoredModel, family: str) -> Dict[str, Any]:
    """The stored compile arguments that are null where a ``family`` loader needs a
    value, with that value (``_tables.COMPILE_NULL_DEFAULTS``)."""
    defaults = T.COMPILE_NULL_DEFAULTS.get((stored.format, family), {})
    return {key: value for key, value in defaults.items() if key in stored.compile_args and stored.compile_args[key] is None}


def _atomic_file(dst: str, fill: Callable[[str], None]) -> None:
    from ._atomic import write_file

    write_file(dst, fill)


def _dumps(doc: Any) -> str:
    return json.dumps(doc, allow_nan=False)


#: ``_write_h5(optimizer_weights=...)``: leave the stored optimizer weights as they are.
_KEEP_WEIGHTS: Any = object()


def _write_h5(
    src: str, dst: str, entry: Dict[str, Any], compile_defaults: Mapping[str, Any], optimizer_weights: Any = _KEEP_WEIGHTS
) -> None:
    """``optimizer_weights``: keep them, None (remove them) or a ``_statewrite.StateLayout``.

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
        if optimizer_weights is _KEEP_WEIGHTS:
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


#: What zipfile raises on a damaged member: a bad CRC, a truncated or corrupt stream, an unknown compression
#: method, an encrypted member.
_ZIP_READ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError, ValueError)


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
    import io

    h5py = _h5py()
    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as fh:
        group = fh["optimizer/vars"]
        for key in list(group):
            del group[key]
        for i, value in enumerate(values):
            group.create_dataset(str(i), data=value)
    return buf.getvalue()


def _write_savedmodel(src: str, dst: str, entry: Dict[str, Any], compile_defaults: Mapping[str, Any]) -> None:
    from ._atomic import atomic_path

    src_dir = os.path.dirname(src) if os.path.basename(src) == _METADATA_PB else src
    with atomic_path(dst, directory=True) as tmp:
        _copy_folder(src_dir, tmp)
        pb = os.path.join(tmp, _METADATA_PB)
        with open_regular(pb, root=tmp) as fh:
            data = fh.read()
        doc = json.loads(_root_metadata(data, src))
        doc["training_config"] = dict(doc["training_config"], optimizer_config=entry)
        os.unlink(pb)  # a new file, never written through a link
        with open(pb, "wb") as fh:
            fh.write(_replace_root_metadata(data, _dumps(doc).encode("utf-8"), src))


def _copy_folder(src: str, dst: str) -> None:
    """Copy a SavedModel folder without following a link out of it (``shutil.copytree`` follows every symlink).

    ``dst`` is an existing empty folder. Regular files are copied by content (their modes are those every
    output gets, ``_atomic``) and folders created; a symlink whose text is relative and stays inside the folder
    (lexically and once resolved) is copied as a symlink, so it points inside the copy; any other symlink
    (absolute, to ``..``, out of the folder) and any special file (a FIFO, a device) is an
    :class:`UnsafeModelFileError`. A dangling symlink inside the folder is copied as the same dangling symlink.
    """
    import stat

    real_root = os.path.realpath(src)
    for here, dirs, files in os.walk(src):  # never descends into a symlinked folder (followlinks=False)
        rel = os.path.relpath(here, src)
        there = dst if rel == os.curdir else os.path.join(dst, rel)
        for name in sorted(dirs) + sorted(files):
            source, target = os.path.join(here, name), os.path.join(there, name)
            mode = os.lstat(source).st_mode
            if stat.S_ISLNK(mode):
                text = os.readlink(source)
                lexical = os.path.normpath(os.path.join(rel, text))  # the link resolved in its folder, lexically
                real = os.path.realpath(source)
                inside = real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)
                if os.path.isabs(text) or lexical == os.pardir or lexical.startswith(os.pardir + os.sep) or not inside:
                    raise UnsafeModelFileError(
                        "%s: a symlink to %r, out of the SavedModel folder %s; fix_model copies no link that leaves the "
                        "folder (replace it by the file itself)" % (source, text, src)
                    )
                os.symlink(text, target)
            elif stat.S_ISDIR(mode):
                os.mkdir(target)
            elif stat.S_ISREG(mode):
                shutil.copyfile(source, target)
            else:
                raise UnsafeModelFileError(
                    "%s: %s in the SavedModel folder, not a regular file; fix_model copies regular files only"
                    % (source, kind_of(mode))
                )


def _write_tfjs(src: str, dst: str, entry: Dict[str, Any], compile_defaults: Mapping[str, Any]) -> None:
    def fill(tmp: str) -> None:
        with open(src, "rb") as fh:
            doc = json.loads(fh.read().decode("utf-8-sig"))
        doc["modelTopology"]["training_config"] = dict(doc["modelTopology"]["training_config"], optimizer_config=entry)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(_dumps(doc))

    _atomic_file(dst, fill)


#: Writers of a model file with its optimizer entry replaced: (src, dst, entry,
#: compile_defaults), where ``compile_defaults`` are compile-config values to
#: put where the file stores null (``_tables.COMPILE_NULL_DEFAULTS``).
_WRITERS: Dict[str, Callable[[str, str, Dict[str, Any], Mapping[str, Any]], None]] = {
    "h5": _write_h5,
    "keras": _write_keras,
    "savedmodel": _write_savedmodel,
    "tfjs": _write_tfjs,
}
