"""TF 2.x (Keras 2 / tf_keras) SavedModel directories loaded into Keras 3.

Keras 3's ``load_model`` refuses SavedModel directories; everything needed is
in them, though:

* ``keras_metadata.pb`` holds the Keras 2 model config, the same JSON an
  ``.h5`` file keeps in its ``model_config`` attribute, which Keras 3's own
  legacy loader (``keras.src.legacy.saving.saving_utils.model_from_config``,
  as ``legacy_h5_format.load_model_from_hdf5`` uses it) rebuilds; and the
  training config (loss, metrics, optimizer);
* ``variables/`` is a TF checkpoint bundle holding the weights and the
  optimizer slots, read without TensorFlow by :mod:`kerasopt_compat._files.bundle`.

:func:`load_savedmodel` rebuilds the model from its config (classes from the
installed Keras or ``custom_objects`` only: a config naming a module that is
not already imported is refused, nothing named in the file is imported),
assigns every weight *by variable* through the checkpoint's object graph
(:func:`plan_weights`), compiles it with the stored loss/metrics and the
stored optimizer made right for the installed Keras, and restores the
optimizer state as :func:`kerasopt_compat.load_model` does for other formats
(``state=``). What cannot be rebuilt (a subclassed model saved without a
config, a ``tf.saved_model.save`` directory without ``keras_metadata.pb``,
no ``variables/``) is refused with :class:`SavedModelError`, which names
``keras.layers.TFSMLayer`` as the inference-only route.

Only the reading of the directory is pure; building the model needs the
installed Keras 3 (any backend: TensorFlow is not needed).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .._errors import ModelFileError, NoOptimizerError
from .._files import protowire as pw
from .._files.base import _MAX_JSON_BYTES, _canonical, _json
from .._files.bundle import Bundle, ObjectGraph, _object_path
from .._files.model import read_model_file
from .._files.safefs import open_regular
from .._files.savedmodel import _METADATA_PB, _read_savedmodel, _variables_prefix
from .._keras.live import _custom_names, deserialize
from ..fixes import (
    KERAS3_INITIALIZER_RENAMES,
    keras3_initializer_name,
    keras3_model_from_keras2_config,
    keras3_nested_layer_config,
)
from .compile import _compile_args
from .resume import _with_state

__all__ = [
    "SavedModelError",
    "is_savedmodel_dir",
    "read_savedmodel_parts",
    "plan_weights",
    "assign_weights",
    "load_savedmodel",
    "LayerNode",
    "StoredVariable",
    "SavedModelParts",
    "LiveVariable",
    "Tie",
]

_SAVED_MODEL_PB = "saved_model.pb"
_TFSM_HINT = (
    "keras.layers.TFSMLayer(path, call_endpoint='serving_default') remains the inference-only route (it needs TensorFlow)"
)


class SavedModelError(ModelFileError):
    """A SavedModel directory that kerasopt_compat cannot rebuild as a Keras 3 model
    (no ``keras_metadata.pb``, no model config, no ``variables/``, weights that do
    not tie to the rebuilt model's variables, a config Keras 3 cannot build)."""


# --------------------------------------------------------------------------- reading (pure)


def _folder(path: str) -> str:
    return os.path.dirname(path) if os.path.basename(path) in (_METADATA_PB, _SAVED_MODEL_PB) else path


def is_savedmodel_dir(path: str) -> bool:
    """Whether ``path`` is a SavedModel directory (or its ``keras_metadata.pb``/``saved_model.pb``)."""
    folder = _folder(path)
    return os.path.isdir(folder) and (
        os.path.isfile(os.path.join(folder, _SAVED_MODEL_PB)) or os.path.isfile(os.path.join(folder, _METADATA_PB))
    )


class LayerNode(NamedTuple):
    """A Keras layer of the saved model, as ``keras_metadata.pb`` lists it."""

    #: SavedModel node path without ``root.`` (``layer_with_weights-0``), "" for the model itself
    path: str
    #: the layer's name (``dense_1``)
    name: str
    #: its Keras class name as stored
    class_name: str
    #: its SavedModel identifier (``_tf_keras_layer``, ``_tf_keras_network``, ...)
    identifier: str


class StoredVariable(NamedTuple):
    """One model variable of the checkpoint."""

    #: object path (``layer_with_weights-0/kernel``)
    path: str
    #: checkpoint node id
    node: int
    #: the variable's name as the saver called it (``dense/kernel:0``), "" when not stored
    full_name: str
    #: the bundle key of its value
    key: str
    shape: Tuple[int, ...]


class SavedModelParts(NamedTuple):
    """What :func:`read_savedmodel_parts` reads from a SavedModel directory, without TensorFlow."""

    folder: str
    #: the root's metadata document (model_config, training_config, keras_version, ...)
    doc: Mapping[str, Any]
    #: the Keras 2 model config (``{"class_name": ..., "config": ...}``)
    model_config: Mapping[str, Any]
    #: every layer node of ``keras_metadata.pb`` (not metrics), by checkpoint node id
    layers: Dict[int, LayerNode]
    graph: ObjectGraph
    bundle: Bundle
    #: the model's own variables, in ``model.weights`` order when ``order_known``
    variables: Tuple[StoredVariable, ...]
    order_known: bool


def _refuse(folder: str, why: str) -> SavedModelError:
    return SavedModelError("%s: cannot rebuild this SavedModel as a Keras 3 model: %s; %s" % (folder, why, _TFSM_HINT))


def read_savedmodel_parts(path: str) -> SavedModelParts:
    """Read the model config, the layer nodes and the model variables of a SavedModel (pure)."""
    folder = _folder(os.fspath(path))
    if not os.path.isfile(os.path.join(folder, _METADATA_PB)):
        if os.path.isfile(os.path.join(folder, _SAVED_MODEL_PB)):
            raise _refuse(
                folder,
                "it has no %s, so it holds no Keras model config (a tf.function-only SavedModel written by "
                "tf.saved_model.save, or by Keras with save_format='tf' and no Keras metadata)" % _METADATA_PB,
            )
        raise _refuse(folder, "it is not a SavedModel directory (no %s, no %s)" % (_METADATA_PB, _SAVED_MODEL_PB))
    if not os.path.isdir(os.path.join(folder, "variables")):
        raise _refuse(folder, "it has no variables/ directory, so it holds no weights")
    doc = _read_savedmodel(folder).doc
    if not isinstance(doc, Mapping):
        raise _refuse(folder, "the root metadata of %s is not a JSON object" % _METADATA_PB)
    model_config = doc.get("model_config")
    if not isinstance(model_config, Mapping) or not isinstance(model_config.get("config"), Mapping):
        class_name = model_config.get("class_name") if isinstance(model_config, Mapping) else doc.get("class_name")
        raise _refuse(
            folder,
            "%s stores no model config for class %r (a subclassed model without get_config(), which only its own "
            "Python code can rebuild: build it and call load_weights, or restore_state for the optimizer)"
            % (_METADATA_PB, class_name),
        )
    if not isinstance(model_config.get("class_name"), str):
        raise _refuse(folder, "the stored model config has no class_name")
    _check_modules(folder, model_config)
    bundle = Bundle(_variables_prefix(folder), root=folder)  # a damaged bundle: its ModelFileError names the file and the part
    graph = bundle.object_graph()
    layers = _layer_nodes(folder, graph)
    listed = graph.list_items(graph.follow("variables"))
    order_known = bool(listed)
    if order_known:
        nodes = list(dict.fromkeys(listed))
    else:  # no list: every variable outside the optimizer and the metrics, in path order
        paths = graph.paths()
        skip = ("optimizer", "keras_api", "signatures")
        nodes = sorted(
            (n for n, p in paths.items() if graph.nodes[n].variable() is not None and p.split("/")[0] not in skip),
            key=lambda n: paths[n],
        )
    variables = []
    owned = _owner_paths(graph)
    for node in nodes:
        attr = graph.variable(node)
        entry = bundle.entries.get(attr.checkpoint_key)
        if entry is None:
            raise ModelFileError(
                "%s: the object graph names the variable %r, which the bundle does not hold" % (folder, attr.checkpoint_key)
            )
        path = owned.get(node) or _object_path(attr)
        variables.append(StoredVariable(path, node, attr.full_name, attr.checkpoint_key, tuple(entry.shape)))
    return SavedModelParts(folder, doc, model_config, layers, graph, bundle, tuple(variables), order_known)


#: Children of a Keras 2 object's checkpoint node that list or wrap state rather than own it (the
#: layer's ``variables`` list, ``keras_api``, traced functions, the optimizer). A SavedModel saved with
#: traces (``save_traces=True``, the default) names a variable that a layer reaches only through a
#: sub-object (an RNN layer's ``cell``, ``Bidirectional``'s ``forward_layer``) by the root's list:
#: ``variables/0``, not ``layer_with_weights-0/cell/kernel``; its owner is found by the path that
#: avoids these (issue 24).
_NOT_OWNERS = frozenset(
    ["variables", "trainable_variables", "non_trainable_variables", "regularization_losses", "keras_api",
     "optimizer", "signatures", "__call__", "call_and_return_all_conditional_losses",
     "call_and_return_conditional_losses", "_default_save_signature"]
)  # fmt: skip


def _owner_paths(graph: ObjectGraph) -> Dict[int, str]:
    """Each node's object path through the objects that own state (breadth first, first path wins), the
    lists and helpers of :data:`_NOT_OWNERS` left out: ``layer_with_weights-0/cell/kernel``."""
    paths = {0: ""}
    queue = [0]
    for node_id in queue:  # grows while iterating; each node enters once, so cycles end
        prefix = paths[node_id]
        for local, child in graph.nodes[node_id].children:
            if local in _NOT_OWNERS or child in paths:
                continue
            paths[child] = local if not prefix else prefix + "/" + local
            queue.append(child)
    return paths


def _check_modules(folder: str, config: Any) -> None:
    """Refuse a config that names a module not already imported (Keras 3 would import it)."""
    for obj in _dicts(config):
        module = obj.get("module")
        if module is None:
            continue
        if not isinstance(module, str) or module not in sys.modules:
            raise SavedModelError(
                "%s: the model config names the module %r (for class %r), which is not imported; kerasopt_compat "
                "never imports a module named in a model file: import it yourself if you trust it, or pass the class "
                "in custom_objects" % (folder, module, obj.get("class_name")),
                key="module",
                value=module,
                has_value=True,
            )


def _dicts(obj: Any) -> Iterator[Mapping[str, Any]]:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            yield item
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


#: keras/protobuf/saved_metadata.proto: SavedMetadata.nodes = 1; SavedObject node_id = 2, node_path = 3,
#: identifier = 4, metadata = 5.
_LAYER_IDENTIFIERS = ("_tf_keras_layer", "_tf_keras_rnn_layer", "_tf_keras_input_layer", "_tf_keras_network",
                      "_tf_keras_model", "_tf_keras_sequential")  # fmt: skip


def _layer_nodes(folder: str, graph: ObjectGraph) -> Dict[int, LayerNode]:
    """The layers of ``keras_metadata.pb``, by the checkpoint node their path reaches."""
    where = "%s: %s" % (folder, _METADATA_PB)
    try:
        with open_regular(os.path.join(folder, _METADATA_PB), root=folder) as fh:
            data = fh.read(_MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise ModelFileError("%s: cannot read: %s" % (where, exc.strerror or exc)) from None
    if len(data) > _MAX_JSON_BYTES:
        raise ModelFileError("%s: larger than %d bytes" % (where, _MAX_JSON_BYTES))
    out: Dict[int, LayerNode] = {}
    top = pw.by_number(data, where, "SavedMetadata", {1: pw.LEN})
    for raw in top[1]:
        f = pw.by_number(bytes(raw), where, "SavedObject", {2: pw.VARINT, 3: pw.LEN, 4: pw.LEN, 5: pw.LEN})
        node_path = _text(f[3][-1], where) if f[3] else ""
        identifier = _text(f[4][-1], where) if f[4] else ""
        if identifier not in _LAYER_IDENTIFIERS or not (node_path == "root" or node_path.startswith("root.")):
            continue
        meta = _json(bytes(f[5][-1]), folder, "the metadata of %s in %s" % (node_path, _METADATA_PB)) if f[5] else {}
        if not isinstance(meta, Mapping):
            raise ModelFileError("%s: the metadata of %s is not a JSON object" % (where, node_path))
        parts = node_path.split(".")[1:]
        node = graph.follow(*parts)
        if node is None:
            continue  # a layer without checkpointed state (no variables under it)
        name, class_name = meta.get("name"), meta.get("class_name")
        if not isinstance(name, str) or not isinstance(class_name, str):
            raise ModelFileError("%s: the layer at %s has no name or class_name" % (where, node_path))
        out.setdefault(node, LayerNode("/".join(parts), name, class_name, identifier))
    return out


def _text(value: Any, where: str) -> str:
    try:
        return bytes(value).decode("utf-8")
    except (UnicodeDecodeError, TypeError):
        raise ModelFileError("%s: a name that is not UTF-8 text" % where) from None


def _decoded(obj: Any) -> Any:
    """A copy of a stored config with Keras 2's JSON markers (``__tuple__``) decoded, as
    ``keras.src.legacy.saving.json_utils.decode`` does, and nothing else (no TypeSpecs)."""
    if isinstance(obj, Mapping):
        if obj.get("class_name") == "__tuple__" and isinstance(obj.get("items"), list):
            return tuple(_decoded(v) for v in obj["items"])
        if obj.get("class_name") == "__ellipsis__":
            return Ellipsis
        return {k: _decoded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decoded(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- tying weights (pure)


class LiveVariable(NamedTuple):
    """A variable of the rebuilt model's layer: its short name and shape."""

    name: str
    shape: Tuple[int, ...]


class Tie(NamedTuple):
    """Where one stored variable goes: ``owner`` (names from the model down to the
    layer), the index in that layer's ``weights`` (``slot``) and how it was tied."""

    stored: StoredVariable
    owner: Tuple[str, ...]
    slot: int
    #: "name" (the variable's name within its layer) or "position" (the layer's
    #: weights in stored order, every count and shape agreeing)
    how: str


def _short(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[:-2] if name.endswith(":0") else name


def plan_weights(
    folder: str,
    owners: Mapping[Tuple[str, ...], Sequence[StoredVariable]],
    live: Mapping[Tuple[str, ...], Sequence[LiveVariable]],
    order_known: bool,
) -> List[Tie]:
    """Tie the stored variables of each layer to that layer's live weights.

    Within a layer, by name (the last component of the object path,
    ``kernel``, ``moving_mean``; ``cell/kernel`` of a Keras 2 LSTM is the
    Keras 3 LSTM's ``kernel``) when the names are unique on both sides and the
    same; otherwise by position in the layer's weights, only when the stored
    order is the saver's ``model.weights`` order (``order_known``) and every
    count and shape agrees (the layer's own weight order, as Keras' ``.h5``
    loader assigns them). Anything else, a layer with weights that the
    checkpoint does not hold or stored variables without a layer, raises
    :class:`SavedModelError` naming the layer and both sides.
    """
    ties: List[Tie] = []
    for owner in sorted(set(owners) | set(live)):
        stored = list(owners.get(owner, ()))
        mine = list(live.get(owner, ()))
        label = "/".join(owner) or "(the model itself)"
        if not stored and not mine:
            continue
        if owner not in live:
            raise SavedModelError(
                "%s: the checkpoint holds variables %s of layer %s, which the rebuilt model does not have"
                % (folder, [s.path for s in stored], label)
            )
        if not stored:
            raise SavedModelError(
                "%s: the checkpoint holds no value for layer %s's weights %s"
                % (folder, label, ["%s %s" % (v.name, list(v.shape)) for v in mine])
            )
        stored_names = [_short(s.path) for s in stored]
        live_names = [v.name for v in mine]
        by_name = (
            len(set(stored_names)) == len(stored_names)
            and len(set(live_names)) == len(live_names)
            and set(stored_names) == set(live_names)
        )
        if by_name:
            pairs = [(s, live_names.index(n), "name") for s, n in zip(stored, stored_names)]
        elif order_known and len(stored) == len(mine) and all(s.shape == v.shape for s, v in zip(stored, mine)):
            pairs = [(s, i, "position") for i, s in enumerate(stored)]
        else:
            raise SavedModelError(
                "%s: layer %s: the checkpoint's variables %s do not tie to the rebuilt layer's weights %s by name%s"
                % (
                    folder,
                    label,
                    ["%s %s" % (s.path, list(s.shape)) for s in stored],
                    ["%s %s" % (v.name, list(v.shape)) for v in mine],
                    "" if order_known else " (and the checkpoint does not store their order)",
                )
            )
        for s, i, how in pairs:
            if tuple(mine[i].shape) != tuple(s.shape):
                raise SavedModelError(
                    "%s: layer %s: the stored %s has shape %s, the rebuilt %r %s"
                    % (folder, label, s.path, list(s.shape), mine[i].name, list(mine[i].shape))
                )
            ties.append(Tie(s, owner, i, how))
    return ties


# --------------------------------------------------------------------------- building (Keras 3)


#: Keras 2 layer config keys that Keras 3's layers do not take (``Unrecognized keyword arguments``),
#: per class: the value that means what Keras 3 does anyway. A key holding that value is dropped
#: from the copy Keras 3 builds; any other value is refused (the layer would compute something else).
KERAS2_ONLY_LAYER_KEYS: Dict[str, Dict[str, Any]] = {
    "LSTM": {"time_major": False},
    "GRU": {"time_major": False},
    "SimpleRNN": {"time_major": False},
    "RNN": {"time_major": False},
}


def _keras3_config(folder: str, config: Any) -> Any:
    """A copy of ``config`` without the Keras 2 keys of :data:`KERAS2_ONLY_LAYER_KEYS` that hold their no-op value."""
    if isinstance(config, list):
        return [_keras3_config(folder, v) for v in config]
    if not isinstance(config, Mapping):
        return config
    out = {k: _keras3_config(folder, v) for k, v in config.items()}
    class_name = out.get("class_name")
    if isinstance(out.get("config"), dict):
        keras3_nested_layer_config(class_name, out["config"], _public_layer)
        if isinstance(class_name, str) and class_name in KERAS3_INITIALIZER_RENAMES:
            out["class_name"] = keras3_initializer_name(class_name)
    dropped = KERAS2_ONLY_LAYER_KEYS.get(class_name) if isinstance(class_name, str) else None
    inner = out.get("config")
    if dropped and isinstance(inner, dict):
        for key, value in dropped.items():
            if key in inner:
                if inner[key] != value:
                    raise _refuse(
                        folder,
                        "its %s layer %r has %s=%r, which Keras 3's %s does not take"
                        % (out["class_name"], inner.get("name"), key, inner[key], out["class_name"]),
                    )
                del inner[key]
    return out


def _public_layer(name: str) -> bool:
    """Whether the installed Keras has a public layer class ``name`` (``keras.layers.LSTM``)."""
    import keras  # Keras 3 only, found on first use

    return isinstance(getattr(keras.layers, name, None), type)


def _build_model(parts: SavedModelParts, custom_objects: Optional[Mapping[str, Any]], safe_mode: bool) -> Any:
    config = _keras3_config(parts.folder, _decoded(parts.model_config))
    try:
        model = keras3_model_from_keras2_config(config, dict(custom_objects or {}), safe_mode)
    except Exception as exc:  # noqa: BLE001 - the installed Keras' own reason, in the package's error
        raise _refuse(
            parts.folder,
            "the installed Keras cannot build its model config (class %r): %s: %s (a custom layer goes in "
            "custom_objects)" % (parts.model_config.get("class_name"), type(exc).__name__, _first_line(exc)),
        ) from exc
    if not getattr(model, "built", True):
        shape = parts.doc.get("build_input_shape")
        if shape is not None:
            try:
                model.build(_decoded(shape))
            except Exception as exc:  # noqa: BLE001
                raise _refuse(
                    parts.folder,
                    "the rebuilt model does not build for its stored input shape %r: %s" % (shape, exc),
                ) from exc
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def _owners(parts: SavedModelParts, model: Any) -> Tuple[Dict[Tuple[str, ...], List[StoredVariable]], Dict[Tuple[str, ...], Any]]:
    """Each stored variable's owning layer (names from the model down) and the live layers by those names.

    The object path of a variable goes through layer nodes; a layer node whose
    live layer is a model (has ``get_layer``) leads on to its own layers, by name."""
    owners: Dict[Tuple[str, ...], List[StoredVariable]] = {}
    layers: Dict[Tuple[str, ...], Any] = {(): model}
    for var in parts.variables:
        names: Tuple[str, ...] = ()
        live = model
        node = 0
        for local in var.path.split("/")[:-1]:
            nxt = parts.graph.nodes[node].child(local)
            if nxt is None:
                break
            node = nxt
            layer = parts.layers.get(node)
            if layer is None or layer.path == "" or not callable(getattr(live, "get_layer", None)):
                continue
            try:
                child = live.get_layer(layer.name)
            except (ValueError, KeyError):
                raise SavedModelError(
                    "%s: the checkpoint's layer %r (%s, at %s) is not in the rebuilt model %s"
                    % (parts.folder, layer.name, layer.class_name, layer.path, "/".join(names) or "(root)")
                ) from None
            names = names + (layer.name,)
            layers[names] = child
            live = child
        owners.setdefault(names, []).append(var)
    return owners, layers


def _shape(var: Any) -> Tuple[int, ...]:
    return tuple(int(d) for d in var.shape)


def assign_weights(parts: SavedModelParts, model: Any) -> List[Tie]:
    """Assign every weight of the rebuilt ``model`` from the checkpoint, by variable (:func:`plan_weights`)."""
    import numpy as np  # heavy: only when values are assigned

    owners, layers = _owners(parts, model)
    live = {names: list(layers[names].weights) for names in owners if names and names in layers}
    plan = plan_weights(
        parts.folder,
        owners,
        {k: [_live_var(v) for v in vs] for k, vs in live.items()},
        parts.order_known,
    )
    assigned = set()
    for tie in plan:
        var = live[tie.owner][tie.slot]
        value = parts.bundle.tensor(tie.stored.key)
        var.assign(np.asarray(value).astype(_dtype_name(var)))
        assigned.add(id(var))
    missing = [v for v in model.weights if id(v) not in assigned]
    if missing:
        raise SavedModelError(
            "%s: the checkpoint holds no value for the rebuilt model's weights %s"
            % (parts.folder, [getattr(v, "path", v.name) for v in missing])
        )
    return plan


def _live_var(var: Any) -> LiveVariable:
    name = getattr(var, "name", "")
    return LiveVariable(_short(name), _shape(var))


def _dtype_name(var: Any) -> str:
    dtype = getattr(var, "dtype", "float32")
    return getattr(dtype, "name", None) or str(dtype)


def load_savedmodel(
    fl: Any,
    path: str,
    custom_objects: Optional[Mapping[str, Any]],
    compile: bool,  # noqa: A002 - the name Keras uses
    state: str,
    strict: bool,
    kwargs: Mapping[str, Any],
) -> Any:
    """A TF 2.x SavedModel as a Keras 3 model: rebuilt from its config, weights tied by
    variable, compiled with its stored loss/metrics/optimizer and, as ``state`` says, the
    optimizer state restored (see :func:`kerasopt_compat.load_model`)."""

    unknown = sorted(set(kwargs) - {"safe_mode"})
    if unknown:
        raise SavedModelError(
            "%s: load_model() argument(s) %s do not apply to a SavedModel loaded into Keras 3" % (path, unknown)
        )
    parts = read_savedmodel_parts(path)
    model = _build_model(parts, custom_objects, bool(kwargs.get("safe_mode", True)))
    assign_weights(parts, model)
    if not compile:
        return model
    stored = read_model_file(parts.folder)
    if stored.optimizer is None:
        return model  # saved without an optimizer: not compiled, as Keras leaves such an .h5
    try:
        wanted = _canonical(stored, _custom_names(custom_objects))
    except NoOptimizerError:
        return model
    try:
        args = _compile_args(fl, stored.compile_args, custom_objects)
    except Exception as exc:  # noqa: BLE001 - a loss/metric the installed Keras cannot resolve
        raise SavedModelError(
            "%s: cannot compile the rebuilt model with its stored loss/metrics %r: %s: %s (a custom loss or metric "
            "goes in custom_objects; compile=False loads the model uncompiled)"
            % (parts.folder, dict(stored.compile_args), type(exc).__name__, exc)
        ) from exc
    optimizer = deserialize(wanted, custom_objects, strict=strict)
    try:
        model.compile(optimizer=optimizer, **args)
    except Exception as exc:  # noqa: BLE001
        raise SavedModelError(
            "%s: cannot compile the rebuilt model with its stored loss/metrics %r: %s: %s"
            % (parts.folder, dict(stored.compile_args), type(exc).__name__, exc)
        ) from exc
    # rebuilt=True: the conversion warnings were given once, by deserialize above
    return _with_state(model, parts.folder, stored, wanted, state, strict, custom_objects, rebuilt=True)
