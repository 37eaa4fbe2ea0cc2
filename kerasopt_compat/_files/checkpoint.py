"""The TF training checkpoint container: its optimizer state, read without TensorFlow (issue 27).

A training checkpoint is a TF tensor bundle (``PREFIX.index`` +
``PREFIX.data-SSSSS-of-NNNNN``, read by :class:`~kerasopt_compat._files.bundle.Bundle`)
written by:

* ``tf.train.Checkpoint(model=..., optimizer=...)`` / ``CheckpointManager``
  (``ckpt-3``), ``model.save_weights("w")`` in the TF format, Keras 2's
  ``BackupAndRestore`` (``backup/chief/ckpt-N``): object-based, with a
  ``TrackableObjectGraph``. Slots are tied to their model variables through
  the graph: legacy (OptimizerV2) optimizers by the optimizer node's
  slot-variable edges; Keras 2 optimizers (no edges: the slots sit in the list
  ``_variables``) by their names ``{scope}/{slot}/{variable}``, as
  :func:`~kerasopt_compat._files.savedmodel.savedmodel_state`; Keras 3 optimizers (no
  edges either; ``_trainable_variables`` lists the model's variables) by their
  names ``{scope}/{variable path with _}_{slot}``. Never by position.
* Keras 3's ``BackupAndRestore`` (a folder with ``latest.weights.h5`` and ``training_metadata.json``): no
  bundle; the ``.weights.h5`` layout of a ``.keras`` archive, read by
  :func:`~kerasopt_compat._files.keras_zip.read_weights_file_state` (see :func:`_keras3_backup_state`).
* ``tf.compat.v1.train.Saver``: name-based, no object graph. Slots are
  ``{variable}/{Optimizer}`` and ``{variable}/{Optimizer}_1``..., in the TF1
  optimizer's slot creation order (:data:`TF1_SLOTS`); the iteration count is
  ``global_step``, else derived from Adam's ``beta1_power`` (= beta_1 ** (t + 1)
  with the default ``beta_1=0.9``; checked against ``beta2_power``).

A checkpoint stores no optimizer config: ``OptimizerState.optimizer`` is
``None``; the class is inferred from the optimizer's variable names (its name
scope, the class name unless the optimizer was given a ``name``) and reported
in ``extra["class_name"]`` (with a note). ``Saver.format`` is ``"checkpoint"``;
``Saver.keras_version`` is ``None`` (not stored). TF1 checkpoints report the
``legacy`` generation (OptimizerV2 keeps TF1's slot kinds) with
``Saver.layout == "tf1"`` (TF1's ``MomentumOptimizer`` accumulates gradients,
``accum = momentum * accum + grad``, where Keras' ``SGD`` accumulates updates).
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Set, Tuple, Union

from .._errors import ModelFileError
from .._state.slots import EXTRA_SLOTS, SLOTS, NoteTaker, OptimizerState, Saver, VariableState, class_named
from .base import Container, Rewrite, StateRead, _json, _Meta
from .bundle import _DECIMAL, OBJECT_GRAPH_KEY, Bundle, ObjectGraph, _object_path, _StateReader
from .keras_zip import read_weights_file_state, weights_file_variables
from .safefs import open_regular

__all__ = [
    "TF1_SLOTS",
    "CheckpointVariable",
    "checkpoint_prefix",
    "checkpoint_values",
    "checkpoint_variables",
    "checkpoint_weights",
    "is_training_checkpoint",
    "read_checkpoint_state",
]

#: The ``checkpoint`` state file of a checkpoint folder, and the most of it read.
CHECKPOINT_FILE = "checkpoint"
_MAX_STATE_BYTES = 1024 * 1024
_MODEL_FILE_MARKERS = ("keras_metadata.pb", "saved_model.pb")
_DATA_SUFFIX = re.compile(r"\.data-[0-9]{5}-of-[0-9]{5}$")
_LATEST = re.compile(rb'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"\s*$', re.MULTILINE)

#: TF1 optimizer name (scope) -> (canonical class, its slots' canonical names in creation order: the k-th slot
#: of a variable is stored as ``{variable}/{scope}`` (k = 0) or ``{variable}/{scope}_{k}``). RMSProp creates
#: ``mg`` only when centered: a variable with three RMSProp slots is centered.
TF1_SLOTS: Dict[str, Tuple[str, Tuple[Tuple[str, ...], ...]]] = {
    "Adam": ("Adam", (("m", "v"),)),
    "Momentum": ("SGD", (("momentum",),)),
    "RMSProp": ("RMSprop", (("rms", "momentum"), ("rms", "mg", "momentum"))),
    "Adagrad": ("Adagrad", (("accumulator",),)),
    "Ftrl": ("Ftrl", (("accumulator", "linear"),)),
    "Adadelta": ("Adadelta", (("accum_grad", "accum_var"),)),
}
#: Default ``beta1``/``beta2`` of ``tf.compat.v1.train.AdamOptimizer`` (the step count from ``beta1_power``).
_TF1_BETAS = (0.9, 0.999)
#: Keras 3 ``BackupAndRestore``'s folder: the model's weights and optimizer variables (a ``.weights.h5``) and
#: ``{"epoch": epochs completed, "batch": the batch of a mid-epoch backup}``.
BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"
#: Keras 3 optimizer node children that are not slots (Keras 3.0-3.3 name the iteration count ``iterations``).
_KERAS3_HEAD = ("_iterations", "iterations", "_learning_rate", "_u_product")
#: its count, by name (first found)
_KERAS3_ITERATIONS = ("_iterations", "iterations")
#: its lists of variables that are not slot lists
_KERAS3_LISTS = ("_variables", "_trainable_variables", "_trainable_variables_indices")


def _err(path: str, message: str) -> ModelFileError:
    return ModelFileError("%s: %s" % (path, message))


def _is_model_dir(path: str) -> bool:
    return any(os.path.lexists(os.path.join(path, m)) for m in _MODEL_FILE_MARKERS)


def is_keras3_backup(path: str) -> bool:
    """Whether the folder ``path`` holds a Keras 3 ``BackupAndRestore`` backup (its weights file and metadata)."""
    return all(os.path.lexists(os.path.join(path, name)) for name in (BACKUP_WEIGHTS, BACKUP_METADATA))


def is_keras2_backup(path: str) -> bool:
    """Whether the folder ``path`` holds a Keras 2 ``BackupAndRestore`` backup (``chief/checkpoint``)."""
    return os.path.lexists(os.path.join(path, "chief", CHECKPOINT_FILE))


def _keras3_backup_folder(path: str) -> bool:
    """A Keras 3 ``BackupAndRestore`` folder (and no ``checkpoint`` file, which names a bundle instead)."""
    return os.path.isdir(path) and not os.path.lexists(os.path.join(path, CHECKPOINT_FILE)) and is_keras3_backup(path)


def is_training_checkpoint(path: str) -> bool:
    """Whether ``path`` names a training checkpoint (a prefix with ``.index``, its ``.index`` or a data
    shard, a folder with a ``checkpoint`` file, a Keras 2 or Keras 3 ``BackupAndRestore`` folder) and no model file."""
    if os.path.isdir(path):
        if _is_model_dir(path):
            return False
        return os.path.lexists(os.path.join(path, CHECKPOINT_FILE)) or is_keras2_backup(path) or is_keras3_backup(path)
    if path.endswith(".index") or _DATA_SUFFIX.search(path):
        return os.path.lexists(path)
    return os.path.lexists(path + ".index")


def _latest(folder: str) -> str:
    """The prefix the folder's ``checkpoint`` file names as its latest; refused outside the folder."""
    state = os.path.join(folder, CHECKPOINT_FILE)
    try:
        with open_regular(state, "the checkpoint state file") as fh:
            data = fh.read(_MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise _err(state, "cannot read the checkpoint state file: %s" % (exc.strerror or exc)) from None
    if len(data) > _MAX_STATE_BYTES:
        raise _err(state, "the checkpoint state file is larger than %d bytes" % _MAX_STATE_BYTES)
    found = _LATEST.search(data)
    if found is None:
        raise _err(state, "no model_checkpoint_path line: not a checkpoint state file")
    raw = re.sub(rb"\\(.)", rb"\1", found.group(1))
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _err(state, "model_checkpoint_path is not UTF-8 text") from None
    if not name or "\x00" in name:
        raise _err(state, "an empty or malformed model_checkpoint_path")
    prefix = name if os.path.isabs(name) else os.path.join(folder, name)
    real_root = os.path.realpath(folder)
    real = os.path.realpath(prefix)
    if not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise _err(
            state,
            "model_checkpoint_path %r names a checkpoint outside its folder (%s); kerasopt_compat reads only "
            "checkpoints inside the folder it is given (pass the checkpoint prefix itself to read another)"
            % (name[:200], real_root),
        )
    return prefix


def checkpoint_prefix(path: str) -> str:
    """The bundle prefix ``path`` names: a prefix, its ``.index`` or a data shard, or a folder's latest."""
    if os.path.isdir(path):
        if os.path.lexists(os.path.join(path, CHECKPOINT_FILE)):
            return _latest(path)
        chief = os.path.join(path, "chief")  # Keras 2's BackupAndRestore folder
        if os.path.lexists(os.path.join(chief, CHECKPOINT_FILE)):
            return _latest(chief)
        raise _err(path, "a folder without a %r file: not a checkpoint folder" % CHECKPOINT_FILE)
    if path.endswith(".index"):
        return path[: -len(".index")]
    shard = _DATA_SUFFIX.search(path)
    if shard:
        return path[: shard.start()]
    return path


def _open_bundle(path: str, verify_crc: Any) -> Bundle:
    """The tensor bundle of the checkpoint ``path`` (any form :func:`checkpoint_prefix` takes), every file of it
    inside the prefix's folder."""
    prefix = checkpoint_prefix(path)
    return Bundle(prefix, verify_crc=verify_crc, root=os.path.dirname(os.path.abspath(prefix)))


def read_checkpoint_state(
    path: str,
    *,
    verify_crc: Any = "auto",
    trainable_paths: Optional[List[str]] = None,
    lazy: bool = False,
    class_name: Optional[str] = None,
) -> OptimizerState:
    """The optimizer state of the training checkpoint ``path`` (see the module doc), without TensorFlow.

    ``path``: a checkpoint prefix (``ckpt-3``, ``w``, ``model.ckpt-3``), its
    ``.index``, or a folder holding a ``checkpoint`` file (its latest
    checkpoint; a Keras 2 ``BackupAndRestore`` folder: ``chief/``'s latest).
    ``VariableState.name`` is the variable's own name (``dense/kernel``; Keras 3:
    its path with ``_``, ``sequential_dense_kernel``; TF1: the variable name),
    ``extra["object_paths"]`` maps it to the variable's object path in the
    checkpoint (object-based ones). ``extra["epoch"]`` is the number of epochs a
    Keras 2 ``BackupAndRestore`` checkpoint completed. A Keras 3 ``BackupAndRestore`` folder
    (``latest.weights.h5`` + ``training_metadata.json``): see :func:`_keras3_backup_state`
    (``trainable_paths``, ``class_name``: see :func:`~kerasopt_compat._files.keras_zip.read_weights_file_state`).
    ``lazy=True`` (TF bundles): every non-scalar slot is a
    :class:`~kerasopt_compat._state.slots.StoredArray` read from its data file only when asked (one tensor at
    a time; the index, object graph and scalars are read at once), as ``read_state(lazy=True)`` of an ``.h5``.
    Raises :class:`~kerasopt_compat.ModelFileError` for anything malformed.
    """
    fspath = os.fspath(path)
    if _keras3_backup_folder(fspath):
        return _keras3_backup_state(fspath, trainable_paths, class_name)
    bundle = _open_bundle(fspath, verify_crc)
    bundle.lazy = lazy
    if OBJECT_GRAPH_KEY not in bundle.entries:
        return _Tf1Reader(bundle, fspath).read()
    return _object_state(bundle, fspath)


def _keras3_backup_state(
    folder: str, trainable_paths: Optional[List[str]] = None, class_name: Optional[str] = None
) -> OptimizerState:
    """A Keras 3 ``BackupAndRestore`` folder: the state in ``latest.weights.h5``
    (:func:`~kerasopt_compat._files.keras_zip.read_weights_file_state`: no optimizer config stored, slots tied
    by the file's own layer paths where they determine it, else untied), ``extra["epoch"]`` (epochs completed)
    and ``extra["batch"]`` (a mid-epoch backup's batch) from ``training_metadata.json``."""
    meta_path = os.path.join(folder, BACKUP_METADATA)
    try:
        with open_regular(meta_path, "the backup's training metadata", folder) as fh:
            data = fh.read(_MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise _err(meta_path, "cannot read the backup's training metadata: %s" % (exc.strerror or exc)) from None
    if len(data) > _MAX_STATE_BYTES:
        raise _err(meta_path, "the training metadata is larger than %d bytes" % _MAX_STATE_BYTES)
    meta = _json(data, meta_path, BACKUP_METADATA)
    counts = {}
    for key in ("epoch", "batch"):
        value = meta.get(key) if isinstance(meta, Mapping) else None
        if key == "batch" and value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _err(meta_path, "%r is %r, not a count" % (key, value))
        counts[key] = value
    state = read_weights_file_state(
        os.path.join(folder, BACKUP_WEIGHTS), root=folder, trainable_paths=trainable_paths, class_name=class_name
    )
    extra = dict(state.extra, **counts)
    return state._replace(path=folder, extra=extra)


# --------------------------------------------------------------------------- object-based checkpoints


def _looks_like_optimizer(graph: ObjectGraph, node_id: int) -> bool:
    node = graph.nodes[node_id]
    names = {local for local, _ in node.children}
    return bool(node.slot_variables) or "iter" in names or {"_iterations", "_variables"} <= names


def _optimizer_node(graph: ObjectGraph, where: str) -> Optional[int]:
    """The node named ``optimizer`` nearest the root (``optimizer``, or ``model/optimizer`` in a backup); else
    (a custom loop's ``tf.train.Checkpoint(net=model, opt=optimizer)``) the one node shaped like an optimizer."""
    paths = graph.paths()
    found = [(p.count("/"), p, n) for n, p in paths.items() if p.split("/")[-1] == "optimizer"]
    if found:
        return min(found)[2]
    shaped = [n for n in paths if n and _looks_like_optimizer(graph, n)]
    if len(shaped) > 1:
        raise _err(
            where, "several optimizers in one checkpoint (%s); kerasopt_compat reads one" % ", ".join(paths[n] for n in shaped)
        )
    return shaped[0] if shaped else None


def _generation(graph: ObjectGraph, opt: int, where: str) -> str:
    node = graph.nodes[opt]
    names = {local for local, _ in node.children}
    if "_trainable_variables" in names:
        return "keras3"
    if "_iterations" in names or "_variables" in names:
        return "keras2"
    if "iter" in names or node.slot_variables:
        return "legacy"
    raise _err(where, "the checkpoint's optimizer node is none of the known optimizers; children: %s" % sorted(names)[:20])


def _keras2_kinds(graph: ObjectGraph, opt: int) -> List[str]:
    """The slot kinds of a Keras 2 optimizer whose variables have no scope (``m/dense/kernel``)."""
    node = graph.nodes[opt]
    skip = {node.child(name) for name in ("_iterations", "_learning_rate", "_u_product")}
    out = []
    for item in graph.list_items(node.child("_variables")):
        attr = graph.nodes[item].variable()
        if item not in skip and attr is not None and "/" in attr.full_name:
            out.append(attr.full_name.split("/")[0])
    return sorted(set(out))


def _class_by_slots(kinds: List[str]) -> Tuple[Optional[str], List[str]]:
    """A Keras 2 class whose slot kinds include ``kinds``, when every such class maps them to the same canonical
    slots (Adam, AdamW and Nadam for ``m``, ``v``), and the list of those classes."""
    fits = []
    for cls, table in SLOTS.items():
        own = {s.keras2: s.canonical for s in table if s.keras2}
        if kinds and all(k in own or k == "average" for k in kinds):
            fits.append((cls, tuple(own.get(k, k) for k in kinds)))
    mappings = {m for _, m in fits}
    return (fits[0][0] if len(mappings) == 1 else None), [c for c, _ in fits]


def _scope(graph: ObjectGraph, opt: int, generation: str) -> Optional[str]:
    """The optimizer's name scope, from its variables' names."""
    node = graph.nodes[opt]
    names: List[str] = []
    if generation == "legacy":
        names = [graph.variable(s.slot).full_name for s in node.slot_variables]
        child = node.child("iter")
        if child is not None:
            names.insert(0, graph.variable(child).full_name)
    else:
        items = graph.list_items(node.child("_variables"))
        names = [graph.nodes[i].variable().full_name for i in items if graph.nodes[i].variable() is not None]  # type: ignore[union-attr]
        names = [n for n in names if "/" in n]
    scopes = {n.split("/")[0] for n in names if "/" in n}
    return scopes.pop() if len(scopes) == 1 else None


def _infer_class(graph: ObjectGraph, opt: int, generation: str, scope: Optional[str]) -> Tuple[Optional[str], bool, str]:
    """The optimizer class (a checkpoint stores no config): from the name scope, else (Keras 2 variables without
    a scope) from the slot kinds when every class they fit stores them alike; whether it is the only class
    that fits; a note saying how."""
    cls = class_named(scope) if scope else None
    if cls is not None:
        return cls, True, "a checkpoint stores no optimizer config: class %s inferred from its name scope %r" % (cls, scope)
    if generation == "keras2":  # tf_keras 2.21's BackupAndRestore writes "m/dense/kernel", no scope
        kinds = _keras2_kinds(graph, opt)
        cls, fits = _class_by_slots(kinds)
        if cls is not None:
            how = "fit %s, which store them alike" % " / ".join(fits) if len(fits) > 1 else "are those of %s" % cls
            note = "a checkpoint stores no optimizer config, its optimizer variables no name scope: their slots %s %s"
            return cls, len(fits) == 1, note % (kinds, how)
    return (
        None,
        False,
        (
            "a checkpoint stores no optimizer config and the optimizer's name scope %r is no class name: "
            "slots are kept under the saver's own names, or left untied" % scope
        ),
    )


def _saved_epoch(bundle: Bundle, graph: ObjectGraph) -> Optional[int]:
    node = graph.follow("ckpt_saved_epoch")
    if node is None:
        return None
    value = bundle.tensor(graph.variable(node).checkpoint_key)
    if getattr(value, "shape", None) != () or value.dtype.kind not in "iu":
        raise _err(bundle.index_path, "ckpt_saved_epoch is not an integer scalar")
    return int(value) + 1 if int(value) >= 0 else 0


def _object_state(bundle: Bundle, path: str) -> OptimizerState:
    graph = bundle.object_graph()
    extra: Dict[str, Any] = {}
    epoch = _saved_epoch(bundle, graph)
    if epoch is not None:
        extra["epoch"] = epoch
    opt = _optimizer_node(graph, bundle.index_path)
    if opt is None:
        saver = Saver("keras2", None, "checkpoint")
        no_opt = "the checkpoint holds no optimizer (the model's weights only, or saved before training)"
        return OptimizerState(path, None, None, saver, (), extra, (no_opt,))
    generation = _generation(graph, opt, bundle.index_path)
    scope = _scope(graph, opt, generation)
    cls, certain, note = _infer_class(graph, opt, generation, scope)
    notes = [note]
    if cls is not None and certain:
        extra["class_name"] = cls
    if generation == "keras3":
        k3 = _Keras3Reader(bundle, graph, opt, cls, scope)
        variables = k3.slots()
        extra.update(k3.extra())
        extra["object_paths"] = k3.paths
        notes.extend(k3.notes)
        saver = Saver("keras3", None, "checkpoint")
        return OptimizerState(path, None, k3.iterations(), saver, variables, extra, tuple(notes), k3.untied)
    canonical = {"class_name": cls, "config": {}} if cls else None
    reader = _StateReader(bundle, graph, opt, canonical, path)
    variables = reader.legacy_slots() if generation == "legacy" else reader.keras2_slots()
    extra.update(reader.extra())
    extra["object_paths"] = {v.name: reader.paths[v.name] for v in variables if v.name in reader.paths}
    saver = Saver(generation, None, "checkpoint")
    notes.extend(reader.notes)
    return OptimizerState(path, None, reader.iterations(), saver, variables, extra, tuple(notes), reader.untied)


class _Keras3Reader(NoteTaker):
    """Keras 3 on TensorFlow: ``optimizer/_trainable_variables`` (the model's variables, in order) and
    ``optimizer/_variables`` (iterations, learning rate, then the slots named ``{scope}/{path}_{slot}``)."""

    def __init__(self, bundle: Bundle, graph: ObjectGraph, opt: int, cls: Optional[str], scope: Optional[str]) -> None:
        self.bundle = bundle
        self.graph = graph
        self.node = graph.nodes[opt]
        self.cls = cls
        self.scope = scope
        self.notes: List[str] = []
        self.untied = False
        self.paths: Dict[str, str] = {}

    def _value(self, node_id: int, what: str) -> Any:
        key = self.graph.variable(node_id).checkpoint_key
        value = self.bundle.value(key)
        if getattr(getattr(value, "dtype", None), "kind", None) not in ("b", "i", "u", "f"):
            raise _err(self.bundle.index_path, "%s (%s) does not hold numbers" % (what, key))
        return value

    def iterations(self) -> Optional[int]:
        child = next((c for c in map(self.node.child, _KERAS3_ITERATIONS) if c is not None), None)
        if child is None:
            self.notes.append("the optimizer stores no iteration count")
            return None
        value = self._value(child, "the optimizer's iteration count")
        if value.shape != () or value.dtype.kind not in "iu":
            raise _err(self.bundle.index_path, "the optimizer's iteration count is not an integer scalar")
        return int(value)

    def extra(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for what, child_name in (("learning_rate", "_learning_rate"), ("momentum_cache", "_u_product")):
            child = self.node.child(child_name)
            if child is not None and self.graph.nodes[child].variable() is not None:
                value = self._value(child, "the optimizer's %s" % what)
                if value.shape == ():
                    out[what] = float(value)
        return out

    def _slot_lists(self) -> List[int]:
        """The optimizer node's children that are neither its variable lists nor :data:`_KERAS3_HEAD`: its slot lists."""
        return [child for name, child in self.node.children if name not in _KERAS3_LISTS and name not in _KERAS3_HEAD]

    def _slot_edges(self, count: int) -> Dict[int, List[int]]:
        """Slot node -> the indices of ``_trainable_variables`` it is the slot of, through the optimizer's own
        slot lists: Keras 3 keeps each kind in a list attribute (``_momentums``, ``_velocities``, SGD's
        ``momentums``, ``_model_variables_moving_average``...) whose k-th item is the slot of the k-th trainable
        variable (``_get_variable_index``); a list longer than ``_trainable_variables`` is none of those."""
        graph = self.graph
        edges: Dict[int, List[int]] = {}
        for child in self._slot_lists():
            items = [(int(local), c) for local, c in graph.nodes[child].children if _DECIMAL.fullmatch(local)]
            if not items or max(k for k, _ in items) >= count:
                continue
            if any(graph.nodes[c].variable() is None for _, c in items):
                continue
            for k, c in items:
                edges.setdefault(c, []).append(k)
        return edges

    def _kind_lists(self, trainable: List[int], own: Dict[str, str], skip: Set[Optional[int]]) -> Dict[int, List[int]]:
        """The slot lists Keras 3.0-3.3 (checked: 3.3.3) do not put in the object graph (only ``_variables``):
        ``build`` walks ``_trainable_variables`` and makes each kind's slot per variable in that order, so the
        k-th slot of a kind in ``_variables`` is the k-th trainable variable's, as the list Keras indexes
        (``_get_variable_index``) says. Used only where every slot's name ends in one kind, every kind found
        has exactly one slot per trainable variable and each has its variable's shape, and only where the
        optimizer's slot lists are there and empty (as Keras 3.3 saves them; a graph without them ties nothing
        this way); else nothing is tied. Such ties say ``"position"``."""
        graph = self.graph
        lists = self._slot_lists()
        if not lists or any(graph.nodes[child].children for child in lists):
            return {}
        per_kind: Dict[str, List[int]] = {}
        for item in graph.list_items(self.node.child("_variables")):
            if item in skip:
                continue
            full = graph.variable(item).full_name
            kinds = [kind for kind in own if full.endswith("_" + kind)]
            if not kinds:
                return {}
            per_kind.setdefault(max(kinds, key=len), []).append(item)
        if not per_kind or any(len(items) != len(trainable) for items in per_kind.values()):
            return {}
        entries = self.bundle.entries
        edges: Dict[int, List[int]] = {}
        for items in per_kind.values():
            for k, item in enumerate(items):
                slot = entries.get(graph.variable(item).checkpoint_key)
                var = entries.get(graph.variable(trainable[k]).checkpoint_key)
                if slot is None or var is None or tuple(slot.shape) != tuple(var.shape):
                    return {}
                edges[item] = [k]
        return edges

    def slots(self) -> Tuple[VariableState, ...]:
        """Each slot tied to its variable by the optimizer's slot lists (:meth:`_slot_edges`), its kind by its
        name ``{scope}/{variable path with _}_{kind}`` (the longest kind it ends in); a slot in no list (or in
        lists that disagree) by its name alone, where one variable and one kind match it. A subclassed model's
        variables on TF keep names that repeat (``subclassed_twin/kernel`` twice): they tie by the lists only."""
        graph = self.graph
        trainable = graph.list_items(self.node.child("_trainable_variables"))
        names = [graph.variable(node).full_name.replace("/", "_") for node in trainable]
        repeated = {key for key in names if names.count(key) > 1}
        own: Dict[str, str] = {}
        for row in SLOTS.get(self.cls or "", ()) + EXTRA_SLOTS:
            if row.keras3:
                own[row.keras3] = row.canonical
        skip = {self.node.child(name) for name in _KERAS3_HEAD}
        edges = self._slot_edges(len(trainable))
        by_order = not edges
        if by_order:
            edges = self._kind_lists(trainable, own, skip)
        per_var: Dict[int, Dict[str, Any]] = {}
        by_name = set()  # variables with a slot tied by its name alone
        for item in graph.list_items(self.node.child("_variables")):
            if item in skip:
                continue
            full = graph.variable(item).full_name
            name = full[len(self.scope) + 1 :] if self.scope and full.startswith(self.scope + "/") else full
            listed = sorted(set(edges.get(item, ())))
            if len(listed) == 1:
                index = listed[0]
                # its kind: the name is {the variable's path}_{kind}; on TF a subclassed model's variable keeps
                # its TF name (subclassed_twin/kernel) while the slot spells its path (subclassed_twin_dense_kernel_m.)
                exact = [kind for kind in own if name == "%s_%s" % (names[index], kind)]
                kinds = exact or [kind for kind in own if name.endswith("_" + kind)]
                if not kinds:
                    self._untie(
                        "optimizer variable %r: the slot of %r by the optimizer's slot lists, but its name ends in "
                        "no slot kind of %s; left out" % (full, graph.variable(trainable[index]).full_name, self.cls)
                    )
                    continue
                kind = max(kinds, key=len)  # the longest kind it ends in
            else:
                found = [(i, kind) for i, key in enumerate(names) for kind in own if name == "%s_%s" % (key, kind)]
                if len(found) != 1 or names[found[0][0]] in repeated:
                    self._untie(
                        "optimizer variable %r: in no single slot list of the optimizer, and no single slot kind and "
                        "variable match its name; left out" % full
                    )
                    continue
                index, kind = found[0]
                by_name.add(index)
            slots = per_var.setdefault(index, {})
            if own[kind] in slots:
                raise _err(self.bundle.index_path, "two %r slots for variable %r" % (own[kind], names[index]))
            slots[own[kind]] = self._value(item, "slot %r" % full)
        out = []
        for index, node in enumerate(trainable):
            if index not in per_var:
                continue
            key = names[index]
            attr = graph.variable(node)
            entry = self.bundle.entries.get(attr.checkpoint_key)
            if entry is None:
                raise _err(self.bundle.index_path, "the object graph names %r, which the index lacks" % attr.checkpoint_key)
            shape = tuple(entry.shape)
            for slot, value in per_var[index].items():
                if tuple(value.shape) != shape:
                    raise _err(
                        self.bundle.index_path,
                        "slot %r of %s has shape %s, the variable %s" % (slot, key, list(value.shape), list(shape)),
                    )
            if key not in repeated:
                self.paths[key] = _object_path(attr)
            tie = "name" if index in by_name else "position" if by_order else "object-graph"
            out.append(VariableState(key, index, shape, per_var[index], tie, model_path=_object_path(attr)))
        return tuple(out)


# --------------------------------------------------------------------------- TF1 name-based checkpoints

_TF1_SLOT_KEY = re.compile(r"^(?P<var>.+)/(?P<scope>%s)(?:_(?P<k>[1-9][0-9]?))?$" % "|".join(TF1_SLOTS))


class _Tf1Reader(NoteTaker):
    def __init__(self, bundle: Bundle, path: str) -> None:
        self.bundle = bundle
        self.path = path
        self.notes: List[str] = []
        self.untied = False

    def _scalar(self, key: str) -> Any:
        value = self.bundle.tensor(key)
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        if getattr(value, "shape", None) != () or kind not in ("i", "u", "f"):
            raise _err(self.bundle.index_path, "%r is not a numeric scalar" % key)
        return value

    def read(self) -> OptimizerState:
        entries = self.bundle.entries
        # {variable: {k: key}} per optimizer scope
        found: Dict[str, Dict[str, Dict[int, str]]] = {}
        for key in entries:
            m = _TF1_SLOT_KEY.match(key)
            if m is None or m.group("var") not in entries:
                continue
            k = int(m.group("k") or 0)
            found.setdefault(m.group("scope"), {}).setdefault(m.group("var"), {})[k] = key
        if len(found) > 1:
            raise _err(
                self.bundle.index_path,
                "slots of several TF1 optimizers (%s) in one checkpoint; kerasopt_compat reads one" % ", ".join(sorted(found)),
            )
        extra: Dict[str, Any] = {}
        if not found:
            saver = Saver("legacy", None, "checkpoint", "tf1")
            notes = ("a name-based (TF1) checkpoint without optimizer slots",)
            return OptimizerState(self.path, None, self._global_step(), saver, (), extra, notes)
        scope, per_var = next(iter(found.items()))
        cls, layouts = TF1_SLOTS[scope]
        extra["class_name"] = cls
        self.notes.append("a TF1 %sOptimizer checkpoint (no optimizer config stored): class %s" % (scope, cls))
        if scope == "Momentum":
            self.notes.append(
                "TF1's MomentumOptimizer accumulates gradients (accum = momentum * accum + grad); Keras' SGD "
                "accumulates updates (accum = momentum * accum - learning_rate * grad)"
            )
        variables = []
        for index, var in enumerate(sorted(per_var)):
            ks = per_var[var]
            layout = next((lay for lay in layouts if sorted(ks) == list(range(len(lay)))), None)
            if layout is None:
                self._untie("variable %r: TF1 %s slots %s fit no slot layout; left out" % (var, scope, sorted(ks.values())))
                continue
            shape = tuple(entries[var].shape)
            slots = {}
            for k, canonical in enumerate(layout):
                value = self.bundle.value(ks[k])
                if tuple(getattr(value, "shape", ())) != shape:
                    raise _err(
                        self.bundle.index_path, "slot %r has shape %s, its variable %s" % (ks[k], list(value.shape), list(shape))
                    )
                slots[canonical] = value
            variables.append(VariableState(var, index, shape, slots, "name"))
        for name in ("beta1_power", "beta2_power"):
            if name in entries:
                extra[name] = float(self._scalar(name))
        iterations = self._global_step()
        if iterations is None and scope == "Adam":
            iterations = self._from_beta_powers(extra)
        saver = Saver("legacy", None, "checkpoint", "tf1")
        return OptimizerState(self.path, None, iterations, saver, tuple(variables), extra, tuple(self.notes), self.untied)

    def _global_step(self) -> Optional[int]:
        if "global_step" not in self.bundle.entries:
            return None
        value = self._scalar("global_step")
        if value.dtype.kind not in "iu":
            raise _err(self.bundle.index_path, "global_step is not an integer")
        return int(value)

    def _from_beta_powers(self, extra: Mapping[str, Any]) -> Optional[int]:
        b1 = extra.get("beta1_power")
        b2 = extra.get("beta2_power")
        if b1 is None or not 0.0 < b1 <= 1.0:
            self.notes.append("no global_step and no usable beta1_power: the iteration count is unknown")
            return None
        # AdamOptimizer starts the accumulators at beta (not 1) and multiplies them after each step:
        # beta1_power = beta1 ** (t + 1) after t steps
        t = math.log(b1) / math.log(_TF1_BETAS[0]) - 1.0
        steps = int(round(t))
        agrees = (
            steps >= 0
            and abs(t - steps) < 1e-3 * max(1, steps)
            and (b2 is None or math.isclose(b2, _TF1_BETAS[1] ** (steps + 1), rel_tol=1e-4, abs_tol=1e-7))
        )
        if not agrees:
            self.notes.append(
                "no global_step, and beta1_power=%r, beta2_power=%r are not powers of the default betas %s: "
                "the iteration count is unknown" % (b1, b2, _TF1_BETAS)
            )
            return None
        self.notes.append("no global_step: %d iterations derived from beta1_power = 0.9 ** (t + 1) (the default beta1)" % steps)
        return steps


# --------------------------------------------------------------------------- the model's weights

#: A variable's place in the model, the same in every generation's object graph: the position of each
#: layer among its container's layers that have weights (Keras 2's ``layer_with_weights-K`` edges; Keras
#: 3's ``_operations``/``_layers`` lists, counting the layers that hold variables), then the attribute
#: names (leading ``_`` dropped: Keras 3's Dense keeps ``_kernel``, Keras 2's ``kernel``).
Address = Tuple[Union[int, str], ...]


class CheckpointVariable(NamedTuple):
    """One model variable of a training checkpoint (see :func:`checkpoint_variables`)."""

    key: str  # its bundle key
    path: str  # object path from the checkpoint's root (``model/layer_with_weights-0/kernel``), TF1: its name
    address: Optional[Address]  # its place in the model (object-based checkpoints), None for TF1
    full_name: str  # the variable's own name as stored (``dense/kernel``, Keras 3 ``sequential/dense/kernel``)
    shape: Tuple[int, ...]


#: Children of a model node that are not its layers or variables (they reach the same objects again).
_NOT_WEIGHTS = re.compile(
    r"^(optimizer|root|train_function|train_tf_function|predict_function|test_function|_compiled_trainable_state|"
    r"_tracked|layer-[0-9]+|keras_api|_inbound_nodes|_outbound_nodes|_losses|_losses_override|_self_tracked_trackables)$"
)
_WITH_WEIGHTS = re.compile(r"^layer_with_weights-([0-9]+)$")
_MAX_DEPTH = 64


def _model_node(graph: ObjectGraph, where: str) -> int:
    """The model's node: ``model`` (``tf.train.Checkpoint(model=)``, a backup), the root itself
    (``save_weights``), else the one child of the root that is not the optimizer and holds variables."""
    found = graph.follow("model")
    if found is not None:
        return found
    if _layer_list(graph, 0) is not None:
        return 0
    root = graph.nodes[0]
    opt = _optimizer_node(graph, where)
    cands = [c for name, c in root.children if c != opt and name != "save_counter" and _holds_variables(graph, c)]
    if len(cands) != 1:
        raise _err(where, "cannot tell which object of the checkpoint is the model (%d candidates)" % len(cands))
    return cands[0]


def _holds_variables(graph: ObjectGraph, node_id: int) -> bool:
    seen = set()
    todo = [node_id]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if graph.nodes[n].variable() is not None:
            return True
        todo.extend(c for name, c in graph.nodes[n].children if not _NOT_WEIGHTS.match(name))
    return False


def _layer_list(graph: ObjectGraph, node_id: int) -> Optional[List[Tuple[int, int]]]:
    """``[(position among the layers with weights, node)]`` of a container node, None for a plain layer."""
    node = graph.nodes[node_id]
    ww = [(int(m.group(1)), c) for name, c in node.children for m in [_WITH_WEIGHTS.match(name)] if m]
    if ww:
        return sorted(ww)
    functional = node.child("_functional")  # Keras 3 Sequential
    if functional is not None:
        return _layer_list(graph, functional)
    for name in ("_operations", "_layers"):
        child = node.child(name)
        if child is not None:
            layers = [c for c in graph.list_items(child) if _holds_variables(graph, c)]
            return list(enumerate(layers))
    return None


def _addresses(graph: ObjectGraph, model: int) -> Dict[int, Tuple[Address, str]]:
    """Variable node -> its :data:`Address` and its object path through the model (the first found, layer
    lists first: Keras 3's ``model/_functional/_operations/1/_kernel``, not ``optimizer/_trainable_variables/0``)."""
    out: Dict[int, Tuple[Address, str]] = {}
    seen = set()
    names = _edge_names(graph)

    def walk(node_id: int, address: Address, where: str) -> None:
        if node_id in seen or len(address) > _MAX_DEPTH:
            return
        seen.add(node_id)
        layers = _layer_list(graph, node_id)
        if layers is not None:
            for k, child in layers:
                walk(child, address + (k,), where + "/" + names.get((node_id, child), str(k)))
            return
        node = graph.nodes[node_id]
        for name, child in node.children:
            if _NOT_WEIGHTS.match(name) or child in seen:
                continue
            key: Union[int, str] = name.lstrip("_") or name
            if graph.nodes[child].variable() is not None:
                seen.add(child)
                out.setdefault(child, (address + (key,), where + "/" + name))
            else:
                walk(child, address + (key,), where + "/" + name)

    walk(model, (), graph.paths().get(model, ""))
    return {n: (a, w.lstrip("/")) for n, (a, w) in out.items()}


def _edge_names(graph: ObjectGraph) -> Dict[Tuple[int, int], str]:
    """(parent, child) -> the path from the parent down to a layer of its layer list (``layer_with_weights-1``,
    ``_functional/_operations/2``)."""
    out: Dict[Tuple[int, int], str] = {}
    for parent, node in enumerate(graph.nodes):
        for name, child in node.children:
            out.setdefault((parent, child), name)
            if name in ("_functional", "_operations", "_layers"):
                for sub, grandchild in graph.nodes[child].children:
                    out.setdefault((parent, grandchild), name + "/" + sub)
                    if name == "_functional":
                        for sub2, g2 in graph.nodes[grandchild].children:
                            out.setdefault((parent, g2), "%s/%s/%s" % (name, sub, sub2))
    return out


def _tf1_model_keys(bundle: Bundle) -> List[str]:
    """The variables of a name-based checkpoint that are not optimizer state."""
    slot_of = set()
    for key in bundle.entries:
        m = _TF1_SLOT_KEY.match(key)
        if m is not None and m.group("var") in bundle.entries:
            slot_of.add(key)
    skip = {"global_step", "beta1_power", "beta2_power"}
    out = []
    for key, entry in bundle.entries.items():
        if key in slot_of or key in skip or entry.dtype in (7, 9, 3):  # strings, int64 and int32 counters
            continue
        out.append(key)
    return sorted(out)


def checkpoint_variables(path: str, *, verify_crc: Any = "auto") -> Tuple[str, List[CheckpointVariable]]:
    """The model variables of the training checkpoint ``path`` (any form :func:`checkpoint_prefix` takes),
    without TensorFlow and without reading their values: ``("object", ...)`` for an object-based
    checkpoint (every variable under the model's node, with its object path and its
    :data:`Address`), ``("tf1", ...)`` for a name-based one (every variable that is no optimizer slot,
    ``global_step`` or Adam's ``*_power``), ``("weights", ...)`` for a Keras 3 ``BackupAndRestore`` folder
    (every model variable of its ``latest.weights.h5``, ``key`` and ``path`` its place in the file,
    ``layers/dense/vars/0``, as :attr:`VariableState.model_path` names it; no address)."""
    fspath = os.fspath(path)
    if _keras3_backup_folder(fspath):
        shapes = weights_file_variables(os.path.join(fspath, BACKUP_WEIGHTS), root=fspath)
        return "weights", [CheckpointVariable(k, k, None, "", tuple(shape)) for k, shape in shapes.items()]
    bundle = _open_bundle(fspath, verify_crc)
    return _variables_of(bundle)


def _variables_of(bundle: Bundle) -> Tuple[str, List[CheckpointVariable]]:
    if OBJECT_GRAPH_KEY not in bundle.entries:
        return "tf1", [CheckpointVariable(k, k, None, k, tuple(bundle.entries[k].shape)) for k in _tf1_model_keys(bundle)]
    graph = bundle.object_graph()
    model = _model_node(graph, bundle.index_path)
    out = []
    for node_id, (address, where) in _addresses(graph, model).items():
        attr = graph.variable(node_id)
        entry = bundle.entries.get(attr.checkpoint_key)
        if entry is None:
            raise _err(bundle.index_path, "the object graph names %r, which the index lacks" % attr.checkpoint_key)
        out.append(CheckpointVariable(attr.checkpoint_key, where, address, attr.full_name, tuple(entry.shape)))
    return "object", out


def checkpoint_weights(path: str, *, verify_crc: Any = "auto") -> Dict[str, Any]:
    """The model's weights in the training checkpoint ``path``: ``{object path or TF1 name: numpy array}``
    (the path of each variable from the checkpoint's root, ``model/layer_with_weights-0/kernel``; see
    :func:`checkpoint_variables`; a Keras 3 ``BackupAndRestore`` folder: the places in its weights file),
    read without TensorFlow."""
    fspath = os.fspath(path)
    if _keras3_backup_folder(fspath):
        _kind, variables = checkpoint_variables(fspath)
        values = checkpoint_values(fspath, [v.key for v in variables])
        return {v.path: values[v.key] for v in variables}
    bundle = _open_bundle(fspath, verify_crc)
    _kind, variables = _variables_of(bundle)
    return {v.path: bundle.tensor(v.key) for v in variables}


def checkpoint_values(path: str, keys: List[str], *, verify_crc: Any = "auto") -> Dict[str, Any]:
    """``{key: numpy array}`` for the ``keys`` of :func:`checkpoint_variables` (bundle keys, or a Keras 3
    ``BackupAndRestore`` folder's places in its weights file), read without TensorFlow."""
    fspath = os.fspath(path)
    if _keras3_backup_folder(fspath):
        return weights_file_variables(os.path.join(fspath, BACKUP_WEIGHTS), root=fspath, keys=list(keys))
    bundle = _open_bundle(fspath, verify_crc)
    return {key: bundle.tensor(key) for key in keys}


class TrainingCheckpoint(Container):
    """A TF training checkpoint: a bundle prefix, its ``.index`` or a data shard, or a folder with a
    ``checkpoint`` file (see the module doc). It holds the optimizer's variables, never its config."""

    format = "checkpoint"
    label = "TF training checkpoint"
    no_optimizer = "a training checkpoint stores the optimizer's variables but not its config; read_state reads its state"

    def claims(self, path: str, head: Optional[bytes]) -> bool:
        if head is not None and not (path.endswith(".index") or _DATA_SUFFIX.search(path)):
            return False  # a model file, even with a checkpoint of the same name beside it
        return is_training_checkpoint(path)

    def read_meta(self, path: str) -> _Meta:
        return _Meta({}, None, "optimizer")

    def read_state(self, read: StateRead) -> OptimizerState:
        return read_checkpoint_state(read.path, lazy=read.lazy)

    def write(self, job: Rewrite) -> None:
        raise ModelFileError("%s: a %s stores no optimizer entry to rewrite" % (job.src, self.label))


CONTAINER = TrainingCheckpoint()
