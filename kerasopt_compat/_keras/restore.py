"""The live side of optimizer *state*: read it from a live optimizer, restore it into one.

:func:`state_of` reads the iteration count and every slot of a live optimizer
of any installed generation (legacy OptimizerV2, the Keras 2 optimizers of TF
2.11-2.15/tf_keras, Keras 3, each also inside a LossScaleOptimizer) into an
:class:`~kerasopt_compat._state.slots.OptimizerState`, slots tied to their model
variables under the canonical names of :data:`~kerasopt_compat._state.slots.SLOTS`.

:func:`restore_state` does the reverse for a model: it builds the installed
optimizer (the saver's generation where the installed Keras has it), makes
it create its slots for ``model.trainable_variables``, assigns the iteration
count and every slot *by variable* (never by position alone, unless the
state says its layout was fully determined), attaches the optimizer to the
model so that it can take a training step, and returns a
:class:`RestoreReport`. Whatever is not restored exactly gives a subclass of
:class:`~kerasopt_compat.OptimizerStateWarning` naming the variables, or
:class:`~kerasopt_compat.OptimizerStateError` with ``strict=True``.

Version knowledge is data: :data:`SLOT_ATTRIBUTES` (where the Keras 2/3
classes keep each slot list); the pure rules (update rules that differ between
generations, Nadam's momentum product) are in :mod:`kerasopt_compat._state.rules`.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Type

from .. import _errors as E
from .._files.state import read_state
from .._state.rules import (  # noqa: F401 - RULE_DIFFERENCES and NATIVE_UPDATE_BUGS are re-exported (__all__)
    MOMENTUM_CACHE,
    NATIVE_UPDATE_BUGS,
    RULE_DIFFERENCES,
    RuleDifference,
    nadam_product,
    rule_differences,
    same_rules,
)
from .._state.slots import GENERATIONS, SLOTS, OptimizerState, Saver, SlotName, StoredArray, VariableState
from ..fixes import compiled_optimizer_follows
from .flavour import detected_description, flavour
from .live import _deserialize, _reports_installed, known_name, optimizer_matches, serialize

__all__ = [
    "state_of",
    "restore_state",
    "RestoreReport",
    "SlotRestore",
    "SLOT_ATTRIBUTES",
    "EXTRA_SLOTS",
    "RULE_DIFFERENCES",
]

#: Per-variable state that is not an update-rule slot, by canonical name ->
#: the Keras 2/3 attribute holding the per-variable list (EMA averages of
#: ``use_ema``; Keras 3's ``gradient_accumulation_steps`` accumulators).
#: Both are named as the Keras classes name the variables.
EXTRA_SLOTS: Dict[str, str] = {
    "average": "_model_variables_moving_average",
    "gradient_accumulator": "_accumulated_gradients",
}

#: Where the Keras 2 (TF 2.9+ ``optimizers.experimental``, TF 2.11-2.15,
#: tf_keras) and Keras 3 classes keep each slot list, indexed like the
#: variable list the optimizer was built with (``_index_dict`` /
#: ``_get_variable_index``). Canonical class -> canonical slot -> attribute.
#: Verified against keras 2.9, 2.15, tf_keras 2.21 and Keras 3.x sources: the
#: attribute names are the same in both generations.
SLOT_ATTRIBUTES: Dict[str, Dict[str, str]] = {
    "SGD": {"momentum": "momentums"},
    "Adam": {"m": "_momentums", "v": "_velocities", "vhat": "_velocity_hats"},
    "AdamW": {"m": "_momentums", "v": "_velocities", "vhat": "_velocity_hats"},
    "Adamax": {"m": "_m", "v": "_u"},
    "Nadam": {"m": "_momentums", "v": "_velocities"},
    "RMSprop": {"rms": "_velocities", "momentum": "_momentums", "mg": "_average_gradients"},
    "Adagrad": {"accumulator": "_accumulators"},
    "Adadelta": {"accum_grad": "_accumulated_grads", "accum_var": "_accumulated_delta_vars"},
    "Ftrl": {"accumulator": "_accumulators", "linear": "_linears"},
}

_LOSS_SCALE_NAMES = ("LossScaleOptimizer", "LossScaleOptimizerV3", "LossScaleOptimizerV1")


class SlotRestore(NamedTuple):
    """What happened to one slot of one model variable (or to a class-wide value).

    ``variable`` is the live variable's name (``path`` in Keras 3), or the
    stored name when no live variable took it, or ``""`` for a class-wide
    value (Nadam's ``momentum_cache``, ``iterations``, ``loss_scale``).
    ``status``: ``"restored"`` (exact), ``"approximate"`` (restored, but the
    next step differs, see the warning), ``"dropped"`` (stored, not restored),
    ``"fresh"`` (the installed optimizer has the slot, the state does not),
    ``"unused"`` (a slot the config never reads, e.g. Keras 2 SGD's ``m``
    without momentum: dropping or zero-filling it is exact).
    """

    variable: str
    slot: str
    status: str
    detail: str = ""


class RestoreReport(NamedTuple):
    """The result of :func:`restore_state`.

    ``optimizer`` is the optimizer now attached to the model; ``generation``
    its generation; ``saver`` who wrote the state; ``iterations`` the restored
    iteration count (None when refused); ``slots`` one :class:`SlotRestore`
    per (variable, slot); ``warnings`` the messages of every warning issued;
    ``refused`` why the whole state was refused (the optimizer is fresh), else None;
    ``kept`` how many slot variables (``reuse_native=True``) already held their
    stored value by the right tie and were left as the native loader assigned
    them, not read again. :func:`~kerasopt_compat.restore_checkpoint` also fills
    ``weights`` (one :class:`SlotRestore` per model weight, slot ``"value"``) and
    ``epoch`` (the epochs a ``BackupAndRestore`` checkpoint completed).
    """

    optimizer: Any
    generation: str
    saver: Optional[Saver]
    iterations: Optional[int]
    slots: Tuple[SlotRestore, ...]
    warnings: Tuple[str, ...]
    refused: Optional[str] = None
    kept: int = 0
    weights: Tuple[SlotRestore, ...] = ()
    epoch: Optional[int] = None

    @property
    def exact(self) -> bool:
        """True when the iteration count and every slot were restored exactly (no warning)."""
        return (
            self.refused is None
            and not self.warnings
            and self.iterations is not None
            and all(s.status in ("restored", "unused") for s in self.slots)
            and all(w.status == "restored" for w in self.weights)
        )

    def by_status(self, status: str) -> List[SlotRestore]:
        """The entries with ``status`` (``"restored"``, ``"approximate"``, ``"dropped"``, ``"fresh"``, ``"unused"``)."""
        return [s for s in self.slots if s.status == status]


# ----------------------------------------------------------------- live access


def _flavour() -> Any:

    return flavour()


def _unwrap(optimizer: Any) -> Tuple[Any, Optional[Any]]:
    """``(inner optimizer, LossScaleOptimizer or None)``."""
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None and type(optimizer).__name__ in _LOSS_SCALE_NAMES:
        return inner, optimizer
    return optimizer, None


def _generation(optimizer: Any) -> str:
    return _flavour().family_of(type(optimizer))


def _class_name(inner: Any) -> Optional[str]:
    """Canonical class name with a slot table, or None (a class kerasopt_compat has no table for)."""

    name = known_name(inner)
    return name if name in SLOTS else None


def _config(optimizer: Any) -> Dict[str, Any]:
    """The canonical dict of a live optimizer (``{}`` for a class kerasopt_compat cannot serialize)."""

    try:
        return serialize(optimizer)
    except E.KerasOptCompatError:
        return {}


def _inner_config(config: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The ``config`` of the optimizer that holds the slots (inside a LossScaleOptimizer)."""
    if not config:
        return {}
    cfg = config.get("config") or {}
    inner = cfg.get("inner_optimizer")
    if isinstance(inner, Mapping):
        return inner.get("config") or {}
    return cfg


def _slot_rows(class_name: str, generation: str, cfg: Mapping[str, Any]) -> List[Tuple[SlotName, bool]]:
    """``(row, used)`` for every slot the generation's class creates with this config.

    ``used`` is False for a slot that exists but is never read (Keras 2 SGD's
    ``m`` without momentum).
    """
    out = []
    for row in SLOTS[class_name]:
        if getattr(row, generation) is None:
            continue
        on = row.when is None or bool(cfg.get(row.when))
        if on or generation in row.always_in:
            out.append((row, on))
    return out


def _live_name(var: Any) -> str:
    path = getattr(var, "path", None)
    if isinstance(path, str) and path:
        return path
    return str(var.name)


def _np(value: Any) -> Any:
    import numpy as np  # heavy: only when values are read

    numpy_fn = getattr(value, "numpy", None)
    if callable(numpy_fn):
        return np.array(numpy_fn())
    return np.array(value)


class _Live:
    """One live optimizer's state, read and written through its generation's own API."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.inner, self.wrapper = _unwrap(optimizer)
        self.generation = _generation(self.inner)
        self.class_name = _class_name(self.inner)
        self.config = _config(optimizer)
        self.cfg = _inner_config(self.config)

    # ---- building

    def build(self, var_list: Sequence[Any]) -> None:
        """Make the optimizer create its slots (and iteration count) for ``var_list``."""
        inner = self.inner
        if self.generation == "legacy":
            inner._create_all_weights(list(var_list))
            inner.iterations  # noqa: B018 - created on first access
        elif self.generation == "keras2":
            if not getattr(inner, "_built", False):
                inner.build(list(var_list))
        else:
            target = self.wrapper if self.wrapper is not None else inner
            if not getattr(target, "built", False):
                target.build(list(var_list))

    # ---- access

    def index(self, var: Any) -> Optional[int]:
        inner = self.inner
        try:
            if self.generation == "keras2":
                return int(inner._index_dict[inner._var_key(var)])
            if self.generation == "keras3":
                return int(inner._get_variable_index(var))
        except (KeyError, AttributeError):
            return None
        return None

    def slot(self, var: Any, canonical: str) -> Optional[Any]:
        """The live slot variable ``canonical`` of model variable ``var``, or None."""
        inner = self.inner
        if self.generation == "legacy":
            if canonical in EXTRA_SLOTS or self.class_name is None:
                return None
            row = next((r for r in SLOTS[self.class_name] if r.canonical == canonical), None)
            if row is None or row.legacy is None:
                return None
            try:
                return inner.get_slot(var, row.legacy)
            except (KeyError, ValueError, AttributeError):
                return None
        attr = EXTRA_SLOTS.get(canonical)
        if attr is None and self.class_name is not None:
            attr = SLOT_ATTRIBUTES.get(self.class_name, {}).get(canonical)
        if attr is None:
            return None
        values = getattr(inner, attr, None)
        i = self.index(var)
        if not values or i is None or i >= len(values):
            return None
        return values[i]

    def slot_names(self) -> List[Tuple[str, bool]]:
        """``(canonical name, used)`` of every per-variable slot this optimizer has, extras last."""
        out: List[Tuple[str, bool]] = []
        if self.class_name is not None:
            out = [(row.canonical, used) for row, used in _slot_rows(self.class_name, self.generation, self.cfg)]
        if self.generation != "legacy":
            if self.cfg.get("use_ema"):
                out.append(("average", True))
            if self.cfg.get("gradient_accumulation_steps"):
                out.append(("gradient_accumulator", True))
        return out

    def accumulation_steps(self) -> int:
        steps = getattr(self.inner, "gradient_accumulation_steps", None) if self.generation == "keras3" else None
        return int(steps) if steps else 0

    def iterations(self) -> Tuple[int, int]:
        """``(iterations, raw count)``: Keras 3 with gradient accumulation counts every call in ``_iterations``."""
        if self.accumulation_steps():
            raw = int(_np(self.inner._iterations))
            return raw // self.accumulation_steps(), raw
        value = int(_np(self.inner.iterations))
        return value, value

    def set_iterations(self, iterations: int, raw: Optional[int] = None) -> None:
        steps = self.accumulation_steps()
        if steps:
            self.inner._iterations.assign(raw if raw is not None else iterations * steps)
        else:
            self.inner.iterations.assign(iterations)
        if self.generation == "keras3" and self.wrapper is not None:
            own = getattr(self.wrapper, "_iterations", None)
            if own is not None and own is not getattr(self.inner, "_iterations", None):
                own.assign(iterations)

    def momentum_cache(self) -> Optional[Any]:
        """Nadam's momentum product variable (legacy ``_m_cache``, Keras 2/3 ``_u_product``)."""
        if self.class_name != "Nadam":
            return None
        return getattr(self.inner, "_m_cache" if self.generation == "legacy" else "_u_product", None)

    def loss_scale(self) -> Dict[str, float]:
        """The wrapper's current loss scale and its good-steps counter (empty without a wrapper)."""
        w = self.wrapper
        if w is None:
            return {}
        out: Dict[str, float] = {}
        for key, names in (
            ("loss_scale", ("dynamic_scale", "loss_scale")),
            ("loss_scale_counter", ("step_counter", "dynamic_counter")),
        ):
            for name in names:
                try:
                    value = getattr(w, name, None)
                except (AttributeError, ValueError):
                    value = None
                if value is not None:
                    out[key] = float(_np(value))
                    break
        return out

    def set_loss_scale(self, values: Mapping[str, Any]) -> bool:
        """Assign a stored loss scale; False when the wrapper keeps it nowhere assignable."""
        w = self.wrapper
        if w is None:
            return False
        scale = getattr(w, "dynamic_scale", None)  # Keras 3
        counter = getattr(w, "step_counter", None)
        state = getattr(w, "_loss_scale", None)  # legacy / Keras 2: a _DynamicLossScaleState
        if scale is None and state is not None:
            scale = getattr(state, "_current_loss_scale", None)
            counter = getattr(state, "_num_good_steps", None)
        if scale is None or not hasattr(scale, "assign"):
            return False
        scale.assign(values["loss_scale"])
        if counter is not None and "loss_scale_counter" in values:
            counter.assign(int(values["loss_scale_counter"]))
        return True


# ------------------------------------------------------------------- state_of


def state_of(optimizer: Any, model: Any) -> OptimizerState:
    """The training state of a live optimizer, slots tied to ``model``'s trainable variables.

    Works for every installed generation: legacy OptimizerV2 (``get_slot``),
    the Keras 2 optimizers of TF 2.9+ ``experimental``/2.11-2.15/tf_keras
    (their slot lists), Keras 3 (``_get_variable_index`` and its slot
    lists), each also inside a LossScaleOptimizer (its loss scale goes to
    ``extra["loss_scale"]``). ``VariableState.name`` is the live variable's
    ``name`` (Keras 3: ``path``), ``tie`` is ``"name"``; slots carry the
    canonical names of :data:`~kerasopt_compat._state.slots.SLOTS` (plus
    ``average`` for EMA and ``gradient_accumulator``, :data:`EXTRA_SLOTS`);
    a variable the optimizer has no slots for (never built, frozen) is left
    out. Nadam's momentum product goes to ``extra["momentum_cache"]`` (in the
    saver's own schedule). ``saver.format`` is ``"live"``.

    >>> model.fit(x, y, epochs=1)                                      # doctest: +SKIP
    >>> state = state_of(model.optimizer, model)                       # doctest: +SKIP
    >>> state.iterations, [v.name for v in state.variables][:1]        # doctest: +SKIP
    (3, ['dense/kernel:0'])
    >>> sorted(state.variables[0].slots)                               # doctest: +SKIP
    ['m', 'v']
    """
    live = _Live(optimizer)
    fl = _flavour()
    iterations, raw = live.iterations()
    variables: List[VariableState] = []
    notes: List[str] = []
    names = live.slot_names()
    for index, var in enumerate(model.trainable_variables):
        slots: Dict[str, Any] = {}
        for canonical, _used in names:
            slot = live.slot(var, canonical)
            if slot is not None:
                slots[canonical] = _np(slot)
        if slots:
            variables.append(VariableState(_live_name(var), index, tuple(int(d) for d in var.shape), slots, "name"))
        elif names:
            notes.append("%s: no slots (the optimizer was not built for it)" % _live_name(var))
    extra: Dict[str, Any] = {}
    cache = live.momentum_cache()
    if cache is not None:
        extra[MOMENTUM_CACHE] = float(_np(cache))
    if raw != iterations:
        extra["raw_iterations"] = raw
    extra.update(live.loss_scale())
    if live.class_name is None:
        notes.append("%s: no slot table for this class; slots not read" % type(live.inner).__name__)
    return OptimizerState(
        path="<live %s>" % type(optimizer).__name__,
        optimizer=live.config or None,
        iterations=iterations,
        saver=Saver(live.generation, fl.keras_version, "live"),
        variables=tuple(variables),
        extra=extra,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------- variable ties

_SUFFIX = re.compile(r":\d+$")


def _parts(name: str) -> List[str]:
    return [p for p in _SUFFIX.sub("", name).split("/") if p]


def _live_forms(var: Any) -> List[List[str]]:
    forms = []
    for attr in ("path", "name"):
        value = getattr(var, attr, None)
        if isinstance(value, str) and value:
            parts = _parts(value)
            if parts and parts not in forms:
                forms.append(parts)
    return forms


def _score(stored: str, forms: List[List[str]]) -> int:
    """How well a stored variable name matches a live variable (0: not at all).

    Slash names (``dense_1/kernel:0``, ``model/dense/kernel:0``, Keras 3's
    ``sequential/dense/kernel``) match on their trailing components: at least
    two (layer and variable), or all of a shorter one. A name without a slash
    (Keras 3 ``.h5``: ``sequential_dense_kernel``) matches the live names'
    underscore forms the same way. An exact match scores highest.
    """
    s = _parts(stored)
    best = 0
    for f in forms:
        if s == f:
            return 1000
        if len(s) > 1:
            common = 0
            while common < min(len(s), len(f)) and s[-1 - common] == f[-1 - common]:
                common += 1
            if common >= min(2, len(s), len(f)):
                best = max(best, common)
        elif s:
            flat = s[0]
            for k in range(len(f), min(2, len(f)) - 1, -1):
                u = "_".join(f[-k:]).replace(":", "_")
                if flat == u:
                    best = max(best, 999 if k == len(f) else 10 * k)
                elif flat.endswith("_" + u):
                    best = max(best, 10 * k)
    return best


class _Tie(NamedTuple):
    stored: VariableState
    live: Optional[Any]  # None: refused
    why: str


def _layer_weights(model: Any, trainable: Sequence[Any]) -> Dict[Tuple[str, int], int]:
    """(top-level layer name, position among its weights) -> index in ``trainable``: the pair by which
    Keras' ``.h5`` loader assigns weights (each layer's trainable, then non-trainable weights)."""
    index = {id(v): i for i, v in enumerate(trainable)}
    out: Dict[Tuple[str, int], int] = {}
    for layer in getattr(model, "layers", None) or ():
        weights = list(getattr(layer, "trainable_weights", ())) + list(getattr(layer, "non_trainable_weights", ()))
        for position, var in enumerate(weights):
            if id(var) in index:
                out[(layer.name, position)] = index[id(var)]
    return out


def _tie(
    variables: Sequence[VariableState], trainable: Sequence[Any], by_layer: Optional[Mapping[Tuple[str, int], int]] = None
) -> List[_Tie]:
    """Tie each stored variable to a live trainable variable: by the layer and position where the
    file stores the model variable (``.h5``: as Keras' loader assigns the weights, whatever the
    layers' inner names became, RNN cells, ``Bidirectional`` and nested models included), by name,
    by object-graph name, or by position where the state says so; shapes must agree; a stored name
    that two live variables match equally well, or two stored variables that claim the same live
    one, is refused."""
    forms = [_live_forms(v) for v in trainable]
    picks: List[Tuple[VariableState, Optional[int], str]] = []
    for vs in variables:
        where = (str(vs.layer[0]), int(vs.layer[1])) if vs.layer is not None else None  # a list when read back from JSON
        if where is not None and by_layer and where in by_layer:
            picks.append((vs, by_layer[where], ""))
            continue
        if vs.tie == "position" or not vs.name:
            if 0 <= vs.index < len(trainable):
                picks.append((vs, vs.index, ""))
            else:
                picks.append((vs, None, "position %d is past the model's %d trainable variables" % (vs.index, len(trainable))))
            continue
        scores = [_score(vs.name, f) for f in forms]
        top = max(scores, default=0)
        hits = [i for i, s in enumerate(scores) if s == top and s > 0]
        if not hits:
            picks.append((vs, None, "no trainable variable of the model has this name"))
        elif len(hits) > 1:
            names = ", ".join(_live_name(trainable[i]) for i in hits)
            picks.append((vs, None, "ambiguous: matches %s" % names))
        else:
            picks.append((vs, hits[0], ""))
    claimed: Dict[int, int] = {}
    for _vs, i, _ in picks:
        if i is not None:
            claimed[i] = claimed.get(i, 0) + 1
    out = []
    for vs, i, why in picks:
        if i is None:
            out.append(_Tie(vs, None, why))
            continue
        live = trainable[i]
        shape = tuple(int(d) for d in live.shape)
        if claimed[i] > 1:
            out.append(_Tie(vs, None, "ambiguous: another stored variable also matches %s" % _live_name(live)))
        elif tuple(vs.shape) != shape:
            out.append(_Tie(vs, None, "shape %s, but %s has shape %s" % (tuple(vs.shape), _live_name(live), shape)))
        else:
            out.append(_Tie(vs, live, ""))
    return out


# ------------------------------------------------------------- restore_state


class _Issues:
    """The warnings of one restore, raised together with ``strict``: ``who`` names the call in the error,
    ``stacklevel`` points the warnings at its caller (``restore_state``; ``restore_checkpoint`` too)."""

    def __init__(self, who: str = "restore_state", stacklevel: int = 3) -> None:
        self.items: List[Tuple[Type[E._StateWarning], str, Tuple[str, ...]]] = []
        self.who = who
        self.stacklevel = stacklevel

    def add(self, category: Type[E._StateWarning], message: str, variables: Sequence[str] = ()) -> None:
        self.items.append((category, message, tuple(variables)))

    def raise_if(self, strict: bool) -> None:
        if not strict or not self.items:
            return
        category, message, variables = self.items[0]
        more = (
            ""
            if len(self.items) == 1
            else " (and %d more: %s)"
            % (
                len(self.items) - 1,
                "; ".join(m for _, m, _ in self.items[1:]),
            )
        )
        exc = E.OptimizerStateError("%s(strict=True): %s: %s%s" % (self.who, category.__name__, message, more))
        exc.category = category
        exc.variables = variables
        exc.note_installed(detected_description())
        raise exc

    def emit(self) -> Tuple[str, ...]:
        for category, message, variables in self.items:
            w = category(message)
            w.variables = variables
            warnings.warn(w, stacklevel=self.stacklevel)
        return tuple(m for _, m, _ in self.items)


def _is_optimizer(obj: Any) -> bool:
    return callable(getattr(obj, "apply_gradients", None)) and not isinstance(obj, (Mapping, str))


def _read_source(source: Any) -> OptimizerState:
    if isinstance(source, OptimizerState):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_state(os.fspath(source))
    raise E.ConfigTypeError("restore_state() takes an OptimizerState or a model file path", value=source, has_value=True)


def _build_optimizer(
    model: Any, state: OptimizerState, optimizer: Any, generation: Optional[str], strict: bool, issues: _Issues
) -> Tuple[Any, Optional[str]]:
    """The optimizer to restore into, and why the state is refused (or None)."""

    if _is_optimizer(optimizer):
        return optimizer, None
    config = optimizer if isinstance(optimizer, Mapping) else state.optimizer
    if config is None:
        why = (
            "the state %s names no optimizer (Keras 3.15 leaves the optimizer config out of a .keras saved after an .h5 "
            "of the same model); pass optimizer= (an optimizer or its config)" % state.path
        )
        issues.add(E.NoOptimizerConfigWarning, why)
        issues.raise_if(strict)
        current = getattr(model, "optimizer", None)
        if current is None:
            raise E.NoOptimizerError("restore_state: " + why + ", and the model has no optimizer to start fresh with")
        return current, why
    return _deserialize(config, None, strict=strict, family=_family(state, generation)), None


def _family(state: OptimizerState, generation: Optional[str]) -> Optional[str]:
    """The generation :func:`restore_state` builds the optimizer in (None: the installed default)."""
    if generation is None and state.saver is not None and state.saver.generation in ("legacy", _flavour().default_family):
        # the saver's generation, but never TF 2.9/2.10's optimizers.experimental preview (its RMSprop keeps
        # momentum without the learning rate): there the default class continues a Keras 2 state
        return state.saver.generation
    return generation


def _attach(model: Any, optimizer: Any) -> None:
    """Make ``optimizer`` the model's, keeping its compiled loss and metrics."""
    compiled = getattr(model, "compiled", None)
    if compiled is None:
        compiled = getattr(model, "_is_compiled", False)
    if compiled and getattr(model, "optimizer", None) is not None:
        if model.optimizer is not optimizer:
            model.optimizer = optimizer
        compiled_optimizer_follows(model, optimizer)  # what a .keras archive saves
        for attr in ("train_function", "train_tf_function"):
            if getattr(model, attr, None) is not None:
                setattr(model, attr, None)
        reset = getattr(model, "_reset_compile_cache", None)
        if callable(reset):
            reset()
    else:
        model.compile(optimizer=optimizer)


def restore_state(
    model: Any,
    source: Any,
    *,
    strict: bool = False,
    optimizer: Any = None,
    generation: Optional[str] = None,
    reuse_native: bool = False,
) -> RestoreReport:
    """Restore an optimizer's training state into ``model``, slot by model variable.

    ``source`` is an :class:`~kerasopt_compat._state.slots.OptimizerState` (from
    :func:`state_of`, or a file reader), or a model file path where this
    kerasopt_compat has the file readers (``kerasopt_compat._files.state``).

    The optimizer is built from the state's config (or ``optimizer=``: an
    optimizer object, used as it is, or a config dict) in the saver's
    generation where the installed Keras has it (a legacy state in TF
    2.11-2.15/tf_keras gives ``optimizers.legacy.X``: the only way Nadam and
    RMSprop without momentum continue exactly), or in ``generation=``
    (``"legacy"``, ``"keras2"``, ``"keras3"``) when given. It creates its slots
    for ``model.trainable_variables``; ``iterations`` and every slot are then
    assigned by variable: stored names are matched to the live variables'
    names in every form the formats use (``dense_1/kernel:0``,
    ``model/dense/kernel:0``, Keras 3's ``dense/kernel`` path and ``.h5``
    ``sequential_dense_kernel``), a ``"position"`` tie by index with a shape
    check; an ambiguous match is refused, never guessed. The optimizer then
    becomes the model's: a compiled model keeps its loss and metrics (only
    the optimizer is swapped), an uncompiled one is compiled with the
    optimizer alone (call ``compile(loss=...)`` with ``model.optimizer`` for
    ``fit``); either way the model can take a training step.

    Every inexact part gives a subclass of
    :class:`~kerasopt_compat.OptimizerStateWarning` naming the variables
    (:class:`NadamScheduleWarning`, :class:`EpsilonPlacementWarning`,
    :class:`EMADroppedWarning`, :class:`GradientAccumulationWarning`,
    :class:`LossScaleNotStoredWarning`, :class:`MissingStateWarning`,
    :class:`DroppedStateWarning`, :class:`NoStateWarning`, and the refusals
    :class:`NoOptimizerConfigWarning`, :class:`NoSlotTableWarning`,
    :class:`AmbiguousTieWarning`); ``strict=True`` raises
    :class:`~kerasopt_compat.OptimizerStateError` instead, before the model
    is touched. A refused state leaves a fresh optimizer.

    ``reuse_native=True`` (what :func:`~kerasopt_compat.load_model` passes
    when the native loader returned the stored optimizer): where the model's
    optimizer is of the class and generation the restore would build and
    already holds the stored iteration count, the tie the native loader made
    by position is compared with the tie by variable, by names, shapes and
    positions only (no value is read): a slot whose stored value the native
    loader already put in the right place is kept as it is
    (:attr:`RestoreReport.kept`), only the others are read and assigned, into
    that same optimizer. Anything else (a slot that would start fresh, a
    different class or generation, another iteration count) restores into a
    new optimizer as without it; the outcome is the same either way.

    >>> state = state_of(trained.optimizer, trained)                  # doctest: +SKIP
    >>> report = restore_state(fresh_copy, state)                     # doctest: +SKIP
    >>> report.exact, report.iterations                               # doctest: +SKIP
    (True, 3)
    >>> fresh_copy.train_on_batch(x, y)  # the step ``trained`` would take  # doctest: +SKIP
    """

    return _reports_installed(_restore)(model, source, strict, optimizer, generation, reuse_native)


def _restore(
    model: Any, source: Any, strict: bool, optimizer: Any, generation: Optional[str], reuse_native: bool = False
) -> RestoreReport:
    if generation is not None and generation not in GENERATIONS:
        raise E.InvalidConfigError(
            "generation must be one of %s" % (GENERATIONS,), key="generation", value=generation, has_value=True
        )
    state = _read_source(source)
    if reuse_native and optimizer is None:
        report = _over_native(model, state, strict, generation)
        if report is not None:
            return report
    issues = _Issues()
    opt, refused = _build_optimizer(model, state, optimizer, generation, strict, issues)
    trainable = list(model.trainable_variables)
    live = _Live(opt)
    entries: List[SlotRestore] = []
    if refused is None and live.class_name is None:
        refused = (
            "%s has no slot table in kerasopt_compat (your own optimizer?): its state is not restored" % type(live.inner).__name__
        )
        issues.add(E.NoSlotTableWarning, refused)
    live.build(trainable)
    plan: List[Tuple[Any, Any]] = []  # (live slot variable, value)
    iterations: Optional[int] = None
    raw: Optional[int] = None
    saver_gen = state.saver.generation if state.saver else live.generation
    if refused is None:
        iterations = int(state.iterations) if state.iterations is not None else None
        raw = state.extra.get("raw_iterations") if isinstance(state.extra, Mapping) else None
        entries, plan = _plan_slots(state, live, trainable, saver_gen, issues, _layer_weights(model, trainable))
        if iterations is None:
            issues.add(E.NoStateWarning, "the state %s holds no iteration count: it restarts at 0" % state.path)
        _plan_class_wide(state, live, saver_gen, iterations or 0, issues, entries, plan)
        _plan_rules(state, live, saver_gen, trainable, issues, entries)
    return _apply(model, state, live, plan, iterations, raw, strict, issues, entries, refused)


def _apply(
    model: Any,
    state: OptimizerState,
    live: _Live,
    plan: Sequence[Tuple[Any, Any]],
    iterations: Optional[int],
    raw: Optional[int],
    strict: bool,
    issues: _Issues,
    entries: List[SlotRestore],
    refused: Optional[str],
    kept: int = 0,
) -> RestoreReport:
    """Assign the plan (stored values read one variable at a time), attach the optimizer, report."""
    issues.raise_if(strict)
    for variable, value in plan:
        variable.assign(value() if isinstance(value, _Read) else value)
    if iterations is not None:
        live.set_iterations(iterations, raw)
    if live.class_name == "Nadam" and live.generation == "keras2" and iterations is not None:
        # Keras 2 Nadam updates its product when this Python counter differs from iterations + 2.
        live.inner._u_product_counter = iterations + 1
    _attach(model, live.optimizer)
    return RestoreReport(
        optimizer=live.optimizer,
        generation=live.generation,
        saver=state.saver,
        iterations=iterations if refused is None else None,
        slots=tuple(entries),
        warnings=issues.emit(),
        refused=refused,
        kept=kept,
    )


class _Read:
    """A plan value still in the file (:class:`StoredArray`), read and cast when it is assigned."""

    __slots__ = ("stored", "dtype")

    def __init__(self, stored: StoredArray, dtype: str) -> None:
        self.stored, self.dtype = stored, dtype

    def __call__(self) -> Any:
        import numpy as np  # heavy: only when values are read

        return np.asarray(self.stored.read()).astype(self.dtype, copy=False)


def _native_order(live: _Live) -> List[Any]:
    """The optimizer's variables in the order ``set_weights`` and the native loaders assign stored
    values by position (legacy ``weights``; Keras 2 ``variables``, a method in TF 2.9/2.10's
    ``optimizers.experimental``; Keras 3 ``variables``); empty while it is not built."""
    inner = live.inner
    values = getattr(inner, "weights" if live.generation == "legacy" else "variables", None)
    if callable(values):
        values = values()
    return list(values or ())


def _over_native(model: Any, state: OptimizerState, strict: bool, generation: Optional[str]) -> Optional[RestoreReport]:
    """``reuse_native``: restore into the model's own optimizer, assigning only the slots whose stored
    value the native loader did not already put in place; None where that is not the same outcome
    as a restore into a new optimizer (the caller then does that)."""
    native = getattr(model, "optimizer", None)
    if native is None or not state.optimizer or not state.iterations:
        return None
    live = _Live(native)
    wanted_class = (state.optimizer or {}).get("class_name")
    family = _family(state, generation) or _flavour().default_family
    if live.wrapper is not None or live.class_name is None or live.class_name != wanted_class or live.generation != family:
        return None
    if not optimizer_matches(_flavour(), native, state.optimizer):
        return None  # other hyperparameters than the stored ones: a new optimizer, as without reuse_native
    order = _native_order(live)
    raw = state.extra.get("raw_iterations") if isinstance(state.extra, Mapping) else None
    if not order or live.iterations()[1] != (raw if raw is not None else state.iterations):
        return None  # not built, or the native loader did not assign the stored state
    trainable = list(model.trainable_variables)
    if any(live.slot(var, slot) is None for var in trainable for slot, _used in live.slot_names()):
        return None  # built for other variables than the model's trainable ones
    issues = _Issues()
    iterations = int(state.iterations)
    saver_gen = state.saver.generation if state.saver else live.generation
    entries, plan = _plan_slots(state, live, trainable, saver_gen, issues, _layer_weights(model, trainable))
    _plan_class_wide(state, live, saver_gen, iterations, issues, entries, plan)
    _plan_rules(state, live, saver_gen, trainable, issues, entries)
    if any(e.status not in ("restored", "unused") for e in entries):
        return None  # a slot that starts fresh or is not exact: the native loader may have filled it
    position = {id(v): p for p, v in enumerate(order)}
    todo = [
        (var, value)
        for var, value in plan
        if not (isinstance(value, _Read) and value.stored.position is not None and position.get(id(var)) == value.stored.position)
    ]
    return _apply(model, state, live, todo, iterations, raw, strict, issues, entries, None, len(plan) - len(todo))


def _plan_slots(
    state: OptimizerState,
    live: _Live,
    trainable: Sequence[Any],
    saver_gen: str,
    issues: _Issues,
    by_layer: Optional[Mapping[Tuple[str, int], int]] = None,
) -> Tuple[List[SlotRestore], List[Tuple[Any, Any]]]:
    import numpy as np  # heavy: only when values are assigned

    entries: List[SlotRestore] = []
    plan: List[Tuple[Any, Any]] = []
    wanted = live.slot_names()
    saver_cfg = _inner_config(state.optimizer)
    saver_used = {}
    if live.class_name is not None and saver_gen in GENERATIONS:
        saver_used = {row.canonical: used for row, used in _slot_rows(live.class_name, saver_gen, saver_cfg)}
    if not state.variables:
        issues.add(
            E.NoStateWarning,
            "the state %s holds no slot variables%s: every slot starts fresh"
            % (state.path, "" if state.iterations is None else " (only the iteration count)"),
        )
    ties = _tie(state.variables, trainable, by_layer)
    refused = [t for t in ties if t.live is None]
    if refused:
        issues.add(
            E.AmbiguousTieWarning,
            "stored variables not tied to a model variable, their slots are not restored: "
            + "; ".join("%s (%s)" % (t.stored.name or "#%d" % t.stored.index, t.why) for t in refused),
            [t.stored.name or "#%d" % t.stored.index for t in refused],
        )
        for t in refused:
            for slot in t.stored.slots:
                entries.append(SlotRestore(t.stored.name or "#%d" % t.stored.index, slot, "dropped", t.why))
    by_live = {id(t.live): t.stored for t in ties if t.live is not None}
    missing: List[str] = []
    dropped: Dict[str, List[str]] = {}
    for var in trainable:
        name = _live_name(var)
        stored = by_live.get(id(var))
        have = dict(stored.slots) if stored is not None else {}
        if stored is None and wanted:
            missing.append(name)
        for canonical, used in wanted:
            slot_var = live.slot(var, canonical)
            if slot_var is None:
                continue
            if canonical not in have:
                if not used or (stored is not None and canonical in saver_used and not saver_used[canonical]):
                    entries.append(SlotRestore(name, canonical, "unused", "never read with this config"))
                elif stored is not None and canonical == "gradient_accumulator":
                    entries.append(SlotRestore(name, canonical, "unused", "zero: the saver had no gradient accumulation"))
                else:
                    entries.append(SlotRestore(name, canonical, "fresh", "not in the state"))
                    if stored is not None:
                        missing.append("%s (%s)" % (name, canonical))
                continue
            value = have.pop(canonical)
            if not isinstance(value, StoredArray):  # a StoredArray (read_state(lazy=True)) is read when assigned
                value = np.asarray(value)
            shape = tuple(int(d) for d in slot_var.shape)
            if tuple(value.shape) != shape:
                entries.append(SlotRestore(name, canonical, "dropped", "stored shape %s, slot shape %s" % (value.shape, shape)))
                dropped.setdefault(canonical, []).append(name)
                continue
            dtype = _dtype_name(slot_var)
            plan.append((slot_var, _Read(value, dtype) if isinstance(value, StoredArray) else value.astype(dtype)))
            entries.append(SlotRestore(name, canonical, "restored"))
        for canonical, value in have.items():
            if (
                canonical in saver_used
                and not saver_used[canonical]
                or (canonical == "gradient_accumulator" and not np.any(value))
            ):
                entries.append(SlotRestore(name, canonical, "unused", "the installed optimizer has no such slot; never read"))
                continue
            entries.append(
                SlotRestore(name, canonical, "dropped", "the installed %s has no such slot" % type(live.inner).__name__)
            )
            dropped.setdefault(canonical, []).append(name)
    if missing:
        issues.add(E.MissingStateWarning, "no stored state for %s: those slots start fresh" % ", ".join(missing), missing)
    for canonical, names in dropped.items():
        if canonical == "average":
            category: Type[E._StateWarning] = E.EMADroppedWarning
            why = "EMA averages dropped (the installed %s has no use_ema)" % type(live.inner).__name__
        elif canonical == "gradient_accumulator":
            category = E.GradientAccumulationWarning
            why = "the state was saved mid gradient-accumulation cycle; the accumulated gradients were dropped"
        else:
            category = E.DroppedStateWarning
            why = "stored slot %r dropped" % canonical
        issues.add(category, "%s for %s" % (why, ", ".join(names)), names)
    return entries, plan


def _dtype_name(variable: Any) -> str:
    dtype = getattr(variable, "dtype", "float32")
    name = getattr(dtype, "name", dtype)
    return str(name)


def _plan_class_wide(
    state: OptimizerState,
    live: _Live,
    saver_gen: str,
    iterations: int,
    issues: _Issues,
    entries: List[SlotRestore],
    plan: List[Tuple[Any, Any]],
) -> None:
    """Nadam's momentum product, the loss scale."""
    import numpy as np  # heavy: only when values are assigned

    extra = state.extra if isinstance(state.extra, Mapping) else {}
    cache = live.momentum_cache()
    if cache is not None:
        stored = extra.get(MOMENTUM_CACHE)
        if stored is not None and saver_gen == live.generation and live.generation != "keras2":
            value, status, detail = stored, "restored", ""
        elif same_rules(saver_gen, live.generation) and "keras2" in (saver_gen, live.generation):
            value = nadam_product(live.generation, live.cfg, iterations)
            status, detail = "approximate", "recomputed from iterations=%d (%s schedule)" % (iterations, live.generation)
            issues.add(
                E.NadamScheduleWarning,
                "Keras 2's Nadam does not store its momentum product, and updates it when a Python counter "
                "(_u_product_counter) differs from iterations + 2: a traced train step captures the counter once, so in "
                "fit()/train_on_batch() the product is multiplied again for each variable and the saver's next step "
                "cannot be reproduced; m, v and iterations are exact, the product is recomputed from iterations=%d" % iterations,
            )
        elif same_rules(saver_gen, live.generation):
            value = nadam_product(live.generation, live.cfg, iterations)
            status, detail = "restored", "recomputed from iterations=%d (%s schedule)" % (iterations, live.generation)
        else:
            value = nadam_product(live.generation, live.cfg, iterations)
            status, detail = "approximate", "recomputed for the %s schedule from iterations=%d" % (live.generation, iterations)
        plan.append((cache, np.asarray(value, dtype=_dtype_name(cache))))
        entries.append(SlotRestore("", MOMENTUM_CACHE, status, detail))
    if live.wrapper is not None:
        if "loss_scale" in extra:
            plan.append((_LossScale(live, extra), None))
            entries.append(SlotRestore("", "loss_scale", "restored"))
        else:
            entries.append(SlotRestore("", "loss_scale", "fresh", "not stored"))
            issues.add(
                E.LossScaleNotStoredWarning,
                "the state %s holds no loss scale: the %s starts from its initial loss scale"
                % (state.path, type(live.wrapper).__name__),
            )


class _LossScale:
    """A plan entry that assigns the loss scale (``assign(None)``)."""

    def __init__(self, live: _Live, extra: Mapping[str, Any]) -> None:
        self.live = live
        self.extra = extra

    def assign(self, _value: Any) -> None:
        self.live.set_loss_scale(self.extra)


def _plan_rules(
    state: OptimizerState, live: _Live, saver_gen: str, trainable: Sequence[Any], issues: _Issues, entries: List[SlotRestore]
) -> None:
    """Update rules that differ between the saver's generation and the installed one (:data:`RULE_DIFFERENCES`),
    and update bugs of the installed class (:data:`NATIVE_UPDATE_BUGS`)."""
    release = _flavour().release()
    for (where, cls, gen, key), what in NATIVE_UPDATE_BUGS.items():
        if where == release and cls == live.class_name and gen == live.generation and live.cfg.get(key):
            issues.add(E.NativeUpdateBugWarning, "%s: %s" % (type(live.inner).__name__, what), [_live_name(v) for v in trainable])
    for rule in rule_differences(live.class_name, live.cfg, saver_gen, live.generation):
        names = [_live_name(v) for v in trainable]
        issues.add(
            rule.warning,
            "%s saved by a %s optimizer, continued by the installed %s (%s): %s; the next steps differ from the saver's"
            % (rule.class_name, saver_gen, live.generation, type(live.inner).__name__, rule.what),
            names,
        )
        for i, entry in enumerate(entries):
            if entry.status == "restored" and entry.variable:
                entries[i] = entry._replace(status="approximate", detail=rule.what)
