"""Restore a live model from a TF training checkpoint of any generation (issue 27): weights by variable, then the optimizer.

:func:`restore_checkpoint` reads the checkpoint without TensorFlow
(:func:`~kerasopt_compat._files.checkpoint.checkpoint_variables`,
:func:`~kerasopt_compat._files.checkpoint.read_checkpoint_state`) and ties each
stored variable to a live one:

* object-based checkpoints (``tf.train.Checkpoint``, ``save_weights``, Keras 2's
  ``BackupAndRestore``): by the object graph's structure, the way TensorFlow's
  restore follows the edges from the model's node: the position of each layer
  among its container's layers that have weights (Keras 2's
  ``layer_with_weights-K`` edges, Keras 3's ``_operations`` lists), then the
  layer's attribute (``kernel``; Keras 3 keeps ``_kernel``). The live side is
  walked the same way (``model.layers``, the layer's attributes), so a Keras 2
  checkpoint ties to a Keras 3 model and back, never by position in
  ``model.weights``;
* TF1 ``Saver`` checkpoints: by name, ``dense/kernel`` <-> the variable's
  ``{layer}/{attribute}`` (or its Keras 2 name / Keras 3 path), after
  ``name_map`` ({checkpoint name or scope prefix: model name or scope}, as
  ``tf.compat.v1.train.init_from_checkpoint``'s assignment map);
* Keras 3 ``BackupAndRestore`` folders (``latest.weights.h5``): by each
  variable's place in the file, as Keras 3's ``load_weights`` assigns it
  (``layers/dense_1/vars/0``: a container's layers named after their class,
  numbered per class in list order; a layer's own variables in order), the live
  side walked the same way (:meth:`_LiveVars._file_walk`).

The optimizer state's variables are tied through the same ties (each
variable's ``model_path``, else the state's ``extra["object_paths"]``, names
its node or place), then
:func:`~kerasopt_compat.restore_state` assigns the slots and the iteration count.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from .. import _errors as E
from .._files.checkpoint import Address, CheckpointVariable, checkpoint_values, checkpoint_variables, read_checkpoint_state
from .._files.keras_zip import _snake
from .._keras.live import _reports_installed, known_name
from .._keras.restore import RestoreReport, SlotRestore, _Issues, restore_state
from .._state.rules import TF1_MOMENTUM, tf1_momentum
from .._state.slots import OptimizerState, VariableState

__all__ = ["restore_checkpoint"]

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_MAX_DEPTH = 64


# --------------------------------------------------------------------------- the live model's side


def _is_container(layer: Any) -> bool:
    """A Sequential or Functional model (its checkpoint edges are its layer list); a subclassed model's are its
    attributes, as any layer's (Keras 2: ``_is_graph_network``; Keras 3: ``_functional``/``_operations``)."""
    if not isinstance(getattr(layer, "layers", None), list) or not callable(getattr(layer, "compile", None)):
        return False
    graph = getattr(layer, "_is_graph_network", None)
    if isinstance(graph, bool):
        return graph
    return hasattr(layer, "_functional") or isinstance(getattr(layer, "_operations", None), list)


def _is_layer(value: Any) -> bool:
    return hasattr(value, "trainable_weights") and hasattr(value, "weights") and not isinstance(value, (list, tuple, dict))


def _own_variables(layer: Any) -> Optional[List[Any]]:
    """A layer's own variables in the order Keras' ``save_own_variables`` stores them: Keras 3's
    ``_trainable_variables + _non_trainable_variables``, Keras 2's ``_trainable_weights + _non_trainable_weights``;
    None when the layer has neither."""
    pairs = (("_trainable_variables", "_non_trainable_variables"), ("_trainable_weights", "_non_trainable_weights"))
    for trainable, frozen in pairs:
        first, second = getattr(layer, trainable, None), getattr(layer, frozen, None)
        if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
            return list(first) + list(second)
    return None


def _class_of(optimizer: Any) -> Optional[str]:
    """The canonical class name of ``optimizer`` (a dict or a live optimizer), for a Keras 3 backup that names
    none (Keras 3.0-3.3); None when it has none kerasopt_compat knows."""
    name = optimizer.get("class_name") if isinstance(optimizer, Mapping) else known_name(optimizer)
    return name if isinstance(name, str) else None


def _short(var: Any) -> str:
    name = str(getattr(var, "name", "") or "")
    return name.split("/")[-1].split(":")[0]


class _LiveVars:
    """The model's variables: each one's :data:`Address` and its TF1-style names."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.weights = list(model.weights)
        self.ids = {id(v): i for i, v in enumerate(self.weights)}
        self.by_address: Dict[Address, List[int]] = {}
        self.names: Dict[int, List[str]] = {i: [] for i in range(len(self.weights))}
        #: place in a Keras 3 weights file (``layers/dense/vars/0``) -> indices in ``model.weights``
        self.by_file_path: Dict[str, List[int]] = {}
        self._walk(model, (), (), 0)
        self._file_walk(model, "", 0, set())
        for i, var in enumerate(self.weights):
            for attr in ("path", "name"):
                value = getattr(var, attr, None)
                if isinstance(value, str) and value:
                    self._name(i, value.split(":")[0])

    def _name(self, i: int, name: str) -> None:
        if name and name not in self.names[i]:
            self.names[i].append(name)

    def _add(self, address: Address, i: int) -> None:
        hits = self.by_address.setdefault(address, [])
        if i not in hits:
            hits.append(i)

    def _walk(self, layer: Any, address: Address, scopes: Tuple[str, ...], depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        name = str(getattr(layer, "name", "") or "")
        here = scopes + ((name,) if name and depth else ())
        if _is_container(layer):
            with_weights = [sub for sub in layer.layers if list(sub.weights)]
            for k, sub in enumerate(with_weights):
                self._walk(sub, address + (k,), here, depth + 1)
            return
        for attr, value in list(vars(layer).items()):
            if isinstance(value, (list, tuple, dict, str)) or value is None:
                continue
            key = attr.lstrip("_") or attr
            i = self.ids.get(id(value))
            if i is not None:
                self._add(address + (key,), i)
                short = _short(value)
                if name:
                    self._name(i, "%s/%s" % (name, short))
                if here:
                    self._name(i, "/".join(here + (short,)))
            elif _is_layer(value) and value is not layer and list(value.weights):
                self._walk(value, address + (key,), here, depth + 1)

    def _file_walk(self, layer: Any, where: str, depth: int, visited: Set[int]) -> None:
        """The places Keras 3's ``save_weights`` gives the variables (``saving_lib``): a Sequential's or
        Functional's ``layers`` one group each, named after the layer's class in snake case and numbered per
        class in list order (a layer met before is skipped, unnumbered), a layer's own variables (trainable,
        then non-trainable, in creation order) ``vars/0..N-1``. Sub-layers held in other attributes are not
        walked: their variables get no place, so nothing ties to them."""
        if depth > _MAX_DEPTH or id(layer) in visited:
            return
        visited.add(id(layer))
        if _is_container(layer):
            used: Dict[str, int] = {}
            for sub in layer.layers:
                if id(sub) in visited:
                    continue
                name = _snake(type(sub).__name__)
                if name in used:
                    used[name] += 1
                    name = "%s_%d" % (name, used[name])
                else:
                    used[name] = 0
                self._file_walk(sub, "%s/layers/%s" % (where, name) if where else "layers/" + name, depth + 1, visited)
            return
        own = _own_variables(layer)
        for k, var in enumerate(own or ()):
            i = self.ids.get(id(var))
            if i is not None:
                place = "%s/vars/%d" % (where, k) if where else "vars/%d" % k
                self.by_file_path.setdefault(place, []).append(i)

    def trainable_paths(self) -> Optional[List[str]]:
        """The places in a Keras 3 weights file of ``model.trainable_variables``, in order; None unless each has one."""
        place = {i: p for p, hits in self.by_file_path.items() for i in hits if len(hits) == 1}
        out = []
        for var in self.model.trainable_variables:
            i = self.ids.get(id(var))
            if i is None or i not in place:
                return None
            out.append(place[i])
        return out

    def label(self, i: int) -> str:
        var = self.weights[i]
        for attr in ("path", "name"):
            value = getattr(var, attr, None)
            if isinstance(value, str) and value:
                return value
        return "#%d" % i

    def by_name(self, name: str) -> List[int]:
        return [i for i, names in self.names.items() if name in names]


# --------------------------------------------------------------------------- ties


def _mapped(name: str, name_map: Optional[Mapping[str, str]]) -> Optional[str]:
    """``name`` through ``name_map`` (an exact entry, else the longest scope prefix), None when no entry applies."""
    if not name_map:
        return None
    if name in name_map:
        return str(name_map[name])
    best = None
    for key in name_map:
        scope = key if key.endswith("/") else key + "/"
        if name.startswith(scope) and (best is None or len(scope) > len(best[0])):
            best = (scope, key)
    if best is None:
        return None
    target = str(name_map[best[1]])
    target = target if not target or target.endswith("/") else target + "/"
    return target + name[len(best[0]) :]


def _tie_weights(
    kind: str, stored: Sequence[CheckpointVariable], live: _LiveVars, name_map: Optional[Mapping[str, str]], issues: _Issues
) -> Dict[str, int]:
    """Bundle key -> index in ``model.weights``; every refusal and every weight left out is an issue."""
    picks: Dict[str, int] = {}
    refused: List[str] = []
    for cv in stored:
        target = _mapped(cv.path, name_map)
        if target is None and kind == "object" and cv.full_name:
            target = _mapped(cv.full_name, name_map)
        if target is not None:
            hits = live.by_name(target)
            how = "name_map gives %r" % target
        elif kind == "tf1":
            hits = live.by_name(cv.path)
            how = "by name"
        elif kind == "weights":
            hits = list(live.by_file_path.get(cv.path, []))
            how = "by its place in the weights file"
        else:
            hits = list(live.by_address.get(cv.address or (), []))
            how = "by the object graph"
        if not hits:
            refused.append("%s (%s: no model variable)" % (cv.path, how))
            continue
        if len(hits) > 1:
            refused.append("%s (%s: ambiguous between %s)" % (cv.path, how, ", ".join(live.label(i) for i in hits)))
            continue
        shape = tuple(int(d) for d in live.weights[hits[0]].shape)
        if shape != tuple(cv.shape):
            refused.append("%s (shape %s, but %s has shape %s)" % (cv.path, list(cv.shape), live.label(hits[0]), list(shape)))
            continue
        picks[cv.key] = hits[0]
    claimed: Dict[int, List[str]] = {}
    for key, i in picks.items():
        claimed.setdefault(i, []).append(key)
    for i, keys in claimed.items():
        if len(keys) > 1:
            by_key = {cv.key: cv.path for cv in stored}
            refused.append("%s (all tie to %s)" % (" and ".join(by_key[k] for k in keys), live.label(i)))
            for key in keys:
                del picks[key]
    if refused:
        issues.add(
            E.AmbiguousTieWarning,
            "stored weights not tied to a model variable, left out: " + "; ".join(refused),
            [r.split(" (")[0] for r in refused],
        )
    tied = set(picks.values())
    untouched = [live.label(i) for i in range(len(live.weights)) if i not in tied]
    if untouched:
        issues.add(
            E.UnrestoredWeightsWarning,
            "model variables the checkpoint does not restore (they keep their current values): %s" % ", ".join(untouched),
            untouched,
        )
    return picks


def _learning_rate(optimizer: Any) -> Optional[float]:
    """The constant learning rate of ``optimizer`` (a live optimizer or a config dict), None under a schedule."""
    if isinstance(optimizer, Mapping):
        cfg = optimizer.get("config", optimizer)
        value = cfg.get("learning_rate", cfg.get("lr")) if isinstance(cfg, Mapping) else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    rate: Any = getattr(optimizer, "learning_rate", None)
    try:
        import numpy as np  # heavy: only to read a live learning rate

        out = np.asarray(rate.numpy() if hasattr(rate, "numpy") else rate)
        return float(out) if out.shape == () and out.dtype.kind == "f" else None
    except (TypeError, ValueError, AttributeError):
        return None


def _tie_state(
    state: OptimizerState,
    kind: str,
    stored: Sequence[CheckpointVariable],
    picks: Mapping[str, int],
    live: _LiveVars,
    issues: _Issues,
) -> OptimizerState:
    """The state with each variable tied by position to ``model.trainable_variables`` through the weights' ties."""
    trainable = {id(v): i for i, v in enumerate(live.model.trainable_variables)}
    extra = state.extra if isinstance(state.extra, Mapping) else {}
    paths = extra.get("object_paths") or {}
    by_key = {cv.key: cv for cv in stored}
    out: List[VariableState] = []
    untied: List[str] = []
    for vs in state.variables:
        if kind == "tf1":
            key = vs.name or ""
        elif kind == "weights":  # a Keras 3 backup: the slots' variables by their place in the weights file
            key = vs.model_path or ""
        else:  # the variable's object path (Keras 3's reader gives it per variable: names may repeat)
            stem = vs.model_path or paths.get(vs.name or "")
            key = stem + _SUFFIX if stem else ""
        i = picks.get(key) if key in by_key else None
        j = trainable.get(id(live.weights[i])) if i is not None else None
        if j is None:
            untied.append(vs.name or "#%d" % vs.index)
            continue
        out.append(vs._replace(name=live.label(i), index=j, tie="position", layer=None))  # type: ignore[arg-type]
    if untied:
        issues.add(
            E.DroppedStateWarning,
            "optimizer slots of stored variables tied to no trainable model variable, left out: %s" % ", ".join(untied),
            untied,
        )
    return state._replace(variables=tuple(out))


def _tf1_momentum(state: OptimizerState, optimizer: Any, issues: _Issues) -> OptimizerState:
    if state.saver is None or state.saver.layout != "tf1" or state.extra.get("class_name") != "SGD":
        return state
    names = [vs.name or "" for vs in state.variables]
    lr = _learning_rate(optimizer)
    if lr is None:
        issues.add(
            E.Tf1MomentumWarning,
            "%s; the learning rate is not a constant (or not known), so the momentum accumulators start fresh" % TF1_MOMENTUM,
            names,
        )
        return state._replace(variables=tuple(vs._replace(slots={}) for vs in state.variables))
    issues.add(
        E.Tf1MomentumWarning,
        "%s (%r); exact when the TF1 optimizer had this learning rate (a checkpoint does not store it)" % (TF1_MOMENTUM, lr),
        names,
    )
    converted = []
    for vs in state.variables:
        slots = dict(vs.slots)
        if "momentum" in slots:
            slots["momentum"] = tf1_momentum(slots["momentum"], lr)
        converted.append(vs._replace(slots=slots))
    return state._replace(variables=tuple(converted))


# --------------------------------------------------------------------------- restore_checkpoint


@_reports_installed
def restore_checkpoint(
    path: Any,
    model: Any,
    *,
    optimizer: Any = None,
    strict: bool = False,
    name_map: Optional[Mapping[str, str]] = None,
) -> RestoreReport:
    """Restore ``model``'s weights and its optimizer's state from the TF training checkpoint ``path``.

    ``path``: a checkpoint prefix (``ckpt-3``, ``w``, ``model.ckpt-3``), its
    ``.index``, a folder with a ``checkpoint`` file (its latest), or a Keras 2
    or Keras 3 ``BackupAndRestore`` folder, written by any TF/Keras:
    ``tf.train.Checkpoint`` / ``CheckpointManager`` (sharded or sliced too),
    ``save_weights`` (TF format), ``BackupAndRestore``,
    ``tf.compat.v1.train.Saver``. It is read without TensorFlow, so this works
    on Keras 3 with any backend.

    Weights are tied by variable (see the module doc): object-based
    checkpoints by the object graph's structure, a Keras 3 backup by the
    variables' places in its weights file, TF1 ones by name through
    ``name_map`` (``{"old_scope/": "new_scope/"}`` or ``{"old/kernel":
    "new/kernel"}``, also applied to object paths and stored names of
    object-based checkpoints). A checkpoint stores no optimizer config:
    ``optimizer`` is a live optimizer (used as it is), its config dict, or None
    (the model's compiled optimizer, else the class inferred from the
    checkpoint with that class's defaults and an
    :class:`~kerasopt_compat.InferredOptimizerWarning`). The slots and the
    iteration count are then restored by :func:`~kerasopt_compat.restore_state`
    into the optimizer, which becomes the model's.

    Returns its :class:`~kerasopt_compat.RestoreReport` with ``weights`` (one
    entry per model weight) and ``epoch`` (a ``BackupAndRestore`` checkpoint's
    completed epochs). Every inexact part is an
    :class:`~kerasopt_compat.OptimizerStateWarning` subclass
    (:class:`~kerasopt_compat.UnrestoredWeightsWarning`,
    :class:`~kerasopt_compat.AmbiguousTieWarning` for a refused tie,
    :class:`~kerasopt_compat.Tf1MomentumWarning`, and those of
    :func:`~kerasopt_compat.restore_state`); ``strict=True`` raises
    :class:`~kerasopt_compat.OptimizerStateError` instead, before the model is
    touched. Stored weights or slots holding NaN or infinity raise
    :class:`~kerasopt_compat.ModelFileError`.
    """
    import numpy as np  # heavy: the weights' values

    fspath = os.fspath(path)
    kind, stored = checkpoint_variables(fspath)
    live = _LiveVars(model)
    opt: Any = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    state = read_checkpoint_state(
        fspath,
        trainable_paths=live.trainable_paths() if kind == "weights" else None,
        class_name=_class_of(opt) if kind == "weights" else None,
    )
    issues = _Issues("restore_checkpoint", stacklevel=4)
    picks = _tie_weights(kind, stored, live, name_map, issues)
    if state.untied:  # stored slots the reader could tie to no variable: say why, they are not restored
        why = [n for n in state.notes if "tied" in n or "left out" in n]
        issues.add(E.DroppedStateWarning, "stored optimizer slots left out: %s" % "; ".join(why or state.notes))
    state = _tie_state(state, kind, stored, picks, live, issues)
    extra = state.extra if isinstance(state.extra, Mapping) else {}
    if opt is None:
        cls = extra.get("class_name")
        if cls is None:
            raise E.NoOptimizerError(
                "restore_checkpoint: %s stores no optimizer config and its optimizer class cannot be inferred; pass optimizer="
                % fspath
            )
        opt = {"class_name": cls, "config": {}}
        issues.add(
            E.InferredOptimizerWarning,
            "%s stores no optimizer config and the model has no optimizer: %s built with its defaults (inferred from the "
            "checkpoint's variable names); pass optimizer= for the saver's hyperparameters" % (fspath, cls),
        )
    state = _tf1_momentum(state, opt, issues)
    bundle_values: Dict[str, Any] = {}
    for key, stored_weight in checkpoint_values(fspath, list(picks)).items():
        value = np.asarray(stored_weight)
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise E.ModelFileError("%s: stored weight %r holds NaN or infinity" % (fspath, key))
        bundle_values[key] = value
    for vs in state.variables:
        for slot, stored_value in vs.slots.items():
            array = np.asarray(stored_value)
            if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
                raise E.ModelFileError("%s: the %r slot of %s holds NaN or infinity" % (fspath, slot, vs.name))
    issues.raise_if(strict)
    report = restore_state(model, state, strict=strict, optimizer=opt)
    entries = []
    tied = {i: key for key, i in picks.items()}
    for i, var in enumerate(live.weights):
        tied_key = tied.get(i)
        if tied_key is None:
            entries.append(SlotRestore(live.label(i), "value", "fresh", "not in the checkpoint"))
            continue
        dtype = getattr(getattr(var, "dtype", None), "name", getattr(var, "dtype", "float32"))
        var.assign(bundle_values[tied_key].astype(str(dtype), copy=False))
        entries.append(SlotRestore(live.label(i), "value", "restored", tied_key))
    messages = issues.emit()
    epoch = extra.get("epoch")
    return report._replace(
        warnings=messages + report.warnings, weights=tuple(entries), epoch=int(epoch) if epoch is not None else None
    )
