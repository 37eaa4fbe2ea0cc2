"""The TF 2.x SavedModel container (Keras 2, tf_keras ``model.save``), pure.

The optimizer entry is in ``keras_metadata.pb``: a ``SavedMetadata`` protobuf
whose root node (``node_path == "root"``) carries the model's metadata JSON ->
``training_config`` -> ``optimizer_config``, read and rewritten with the small
wire-format reader (:mod:`.protowire`, no protobuf package). The state is in
``variables/`` (a TF tensor bundle), tied through its object graph
(:mod:`.bundle`). A copy never follows a link out of the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .._config.normalize import CustomObjects
from .._errors import (
    ModelFileError,
    NoOptimizerError,
    UnsafeModelFileError,
)
from .._optional import parse_version
from .._state.slots import (
    OptimizerState,
    Saver,
)
from .atomic import atomic_path
from .base import (
    _MAX_JSON_BYTES,
    Container,
    PathLike,
    Rewrite,
    StateRead,
    StoredModel,
    _canonical,
    _dumps,
    _json,
    _Meta,
)
from .bundle import Bundle, ObjectGraph, _object_path, _optimizer_node, _StateReader
from .protowire import LEN, VARINT, Field, fields, len_field
from .safefs import kind_of, open_regular

_METADATA_PB = "keras_metadata.pb"


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


def _write_savedmodel(src: str, dst: str, entry: Dict[str, Any], compile_defaults: Mapping[str, Any]) -> None:

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
    output gets, ``_files.atomic``) and folders created; a symlink whose text is relative and stays inside the folder
    (lexically and once resolved) is copied as a symlink, so it points inside the copy; any other symlink
    (absolute, to ``..``, out of the folder) and any special file (a FIFO, a device) is an
    :class:`UnsafeModelFileError`. A dangling symlink inside the folder is copied as the same dangling symlink.
    """

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


def _folder(path: str) -> str:
    """The SavedModel folder of ``path`` (the folder, or its ``keras_metadata.pb``)."""
    return os.path.dirname(path) if os.path.basename(path) == _METADATA_PB else path


def _variables_prefix(path: str) -> str:
    directory = _folder(path)
    prefix = os.path.join(directory, "variables", "variables")
    if not os.path.lexists(prefix + ".index"):  # not a regular file: refused when it is read
        raise ModelFileError("%s: no variables/variables.index: a SavedModel without its checkpoint" % directory)
    return prefix


def _model_variables(graph: ObjectGraph) -> List[int]:
    """Node ids of the model's variables (``model.weights`` order): the root's ``variables`` list."""
    items = graph.list_items(graph.follow("variables"))
    if items:
        return list(dict.fromkeys(items))
    # no list: every variable outside the optimizer and keras_api (metrics), in path order
    paths = graph.paths()
    skip = ("optimizer", "keras_api")
    out = [n for n, p in paths.items() if graph.nodes[n].variable() is not None and p.split("/")[0] not in skip]
    return sorted(out, key=lambda n: paths[n])


def savedmodel_weights(path: PathLike, *, verify_crc: Union[bool, str] = "auto") -> Dict[str, Any]:
    """The model's own variables of a SavedModel, ``{object path: numpy array}``, in ``model.weights`` order.

    The object path is the variable's path in the checkpoint object graph
    (``layer_with_weights-0/kernel``), which ties it to its layer whatever
    the variable is called; no TensorFlow needed.
    """
    fspath = os.fspath(path)
    bundle = Bundle(_variables_prefix(fspath), verify_crc=verify_crc, root=_folder(fspath))
    graph = bundle.object_graph()
    out = {}
    for node in _model_variables(graph):
        attr = graph.variable(node)
        out[_object_path(attr)] = bundle.tensor(attr.checkpoint_key)
    return out


def savedmodel_state(
    path: PathLike, *, custom_objects: CustomObjects = None, unknown_keys: str = "error", verify_crc: Union[bool, str] = "auto"
) -> OptimizerState:
    """The optimizer state stored in a SavedModel directory (Keras 2 / tf_keras ``model.save``), without TensorFlow.

    The optimizer config comes from ``keras_metadata.pb`` (canonical dict, as
    :func:`~kerasopt_compat.read_optimizer`); the values from the checkpoint
    bundle, tied to model variables through its object graph:

    * legacy (OptimizerV2) optimizers: each slot hangs off its model variable
      through a ``slot_variables`` edge of the optimizer node (``tie ==
      "object-graph"``);
    * Keras 2 optimizers keep their slots in the list ``_variables``; each
      slot variable is named ``{optimizer}/{slot}/{variable name}``, which
      ties it when exactly one model variable matches (``tie == "name"``);
      otherwise (duplicate variable names) the k-th slot of each kind is
      tied to the k-th of the model's trainable variables only when every
      count and shape agrees (``tie == "position"``), else left out with a note.

    ``VariableState.name`` is the object graph's ``full_name`` (``dense/kernel``,
    without ``:0``, as :func:`~kerasopt_compat.read_state` names ``.h5`` variables);
    ``VariableState.index`` its position in the root's
    ``trainable_variables`` list (-1 when it is not trainable any more; Keras
    2.13+ writes no such list: then its rank, in graph order, among the
    variables that have slots, and no slot is tied by position);
    ``extra["object_paths"]`` maps each name to the variable's object path
    (``layer_with_weights-0/kernel``, the keys of :func:`savedmodel_weights`).
    Slots are under the canonical names of :data:`~kerasopt_compat._state.slots.SLOTS`.
    """
    fspath = os.fspath(path)
    if not CONTAINER.claims(fspath, None):
        raise ModelFileError("%s: not a SavedModel directory (no %s)" % (fspath, _METADATA_PB))
    return _state(fspath, CONTAINER.read_stored(fspath), custom_objects, unknown_keys, verify_crc)


def _state(
    fspath: str, stored: StoredModel, custom_objects: CustomObjects, unknown_keys: str, verify_crc: Union[bool, str]
) -> OptimizerState:
    try:
        canonical: Optional[Dict[str, Any]] = _canonical(stored, custom_objects, unknown_keys)
    except NoOptimizerError:
        canonical = None
    doc = _read_savedmodel(fspath).doc
    keras_version = doc.get("keras_version") if isinstance(doc, Mapping) else None
    keras_version = keras_version if isinstance(keras_version, str) else None
    bundle = Bundle(_variables_prefix(fspath), verify_crc=verify_crc, root=_folder(fspath))
    graph = bundle.object_graph()
    opt = _optimizer_node(graph)
    if opt is None:
        old = keras_version is None or parse_version(keras_version) < (2, 11)
        saver = Saver("legacy" if old else "keras2", keras_version, "savedmodel")
        notes = ("the checkpoint holds no optimizer (saved with include_optimizer=False or before training)",)
        return OptimizerState(fspath, canonical, None, saver, (), {}, notes)
    reader = _StateReader(bundle, graph, opt, canonical, fspath)
    generation = reader.generation()
    saver = Saver(generation, keras_version, "savedmodel")
    if generation == "legacy":
        variables = reader.legacy_slots()
    else:
        variables = reader.keras2_slots()
    extra: Dict[str, Any] = dict(reader.extra())
    extra["object_paths"] = {v.name: reader.paths[v.name] for v in variables if v.name in reader.paths}
    return OptimizerState(fspath, canonical, reader.iterations(), saver, variables, extra, tuple(reader.notes), reader.untied)


class SavedModel(Container):
    """A TF 2.x SavedModel directory written by Keras' ``model.save`` (or its ``keras_metadata.pb``)."""

    format = "savedmodel"
    label = "SavedModel"
    folder = True
    kinds = {"savedmodel-no-variables": "SavedModel without variables/"}

    def claims(self, path: str, head: Optional[bytes]) -> bool:
        if os.path.basename(path) == _METADATA_PB:
            return True
        # not a regular file: refused when it is read
        return head is None and os.path.isdir(path) and os.path.lexists(os.path.join(path, _METADATA_PB))

    def refuse_folder(self, path: str) -> ModelFileError:
        """Why a folder no container claims is not a model: a SavedModel without Keras' metadata, or none."""
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return ModelFileError(
                "%s: a SavedModel without %s: it was not written by Keras' model.save() "
                "(tf.saved_model.save and Keras 3's model.export() store no optimizer config)" % (path, _METADATA_PB)
            )
        return ModelFileError("%s: a directory that is not a SavedModel (no %s)" % (path, _METADATA_PB))

    def read_meta(self, path: str) -> _Meta:
        return _read_savedmodel(path)

    def model_config(self, path: str) -> Any:
        with open(_pb_path(path), "rb") as fh:
            doc = _json(_root_metadata(fh.read(), path), path, "the root node's metadata in %s" % _METADATA_PB)
        return {k: v for k, v in doc.items() if k != "training_config"} if isinstance(doc, Mapping) else None

    def kind(self, path: str) -> str:
        if not os.path.isdir(os.path.join(_folder(path), "variables")):
            return "savedmodel-no-variables"
        return self.format

    def read_state(self, read: StateRead) -> OptimizerState:
        return _state(read.path, read.stored, read.custom_objects, read.unknown_keys, "auto")

    def write(self, job: Rewrite) -> None:
        _write_savedmodel(job.src, job.dst, job.entry, job.compile_defaults)


CONTAINER = SavedModel()
