"""Write an optimizer state in another generation's ``.h5`` layout, without TensorFlow.

Used by :func:`kerasopt_compat.fix_model` (``state="convert"``): a model file's
optimizer entry rewritten for another generation must not keep slot variables in
the saver's layout, because every native loader assigns them by position (a
Keras 2 ``.h5`` read by TF 2.9 gets Adam's ``m`` and ``v`` swapped between
same-shaped variables). :func:`h5_weights` lays the state read by
:func:`~kerasopt_compat.read_state` out as the target generation's own class
creates its variables (:data:`~kerasopt_compat._state.slots.HEAD`,
:data:`~kerasopt_compat._state.slots.ORDER`), under its own names, so the target's
native ``load_model`` + ``fit`` resumes. What cannot be laid out exactly is
reported as reasons (the caller drops the state and warns).

Supported: ``.h5`` files whose slots are tied by name, legacy <-> Keras 2 (TF
2.4-2.15, tf_keras), every class of the slot table but LossScaleOptimizer.
Keras 3 restores no optimizer state from an ``.h5`` at all (it builds the
optimizer for no variables), so a Keras 3 target gets none.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .rules import nadam_product
from .slots import EXTRA_SLOTS, HEAD, ORDER, SLOTS, TAIL, OptimizerState, SlotName, VariableState, slot_exists

__all__ = ["h5_weights", "keras_weights", "StateLayout"]


class StateLayout:
    """The optimizer weights of one ``.h5`` file: ``names`` (the ``weight_names``
    attribute) and ``values`` in the order the target's loader assigns them;
    ``notes``: what was left out (EMA averages for a legacy target)."""

    def __init__(self, names: List[str], values: List[Any], notes: List[str]) -> None:
        self.names, self.values, self.notes = names, values, notes


def h5_weights(state: OptimizerState, target: str) -> Tuple[Optional[StateLayout], List[str]]:
    """The state as ``target``'s (``"legacy"`` or ``"keras2"``) ``.h5`` optimizer
    weights, or ``(None, reasons)`` when it cannot be laid out exactly.

    >>> h5_weights(OptimizerState("m.h5", None, None, None, (), {}), "keras2")[1]
    ['the file names no optimizer']
    """
    if state.optimizer is not None and target not in ("legacy", "keras2"):
        return None, ["Keras 3 restores no optimizer state from an .h5 file (it builds the optimizer for no variables)"]
    return _lay_out(state, target, "h5", ("name",))


def keras_weights(state: OptimizerState, target: str) -> Tuple[Optional[StateLayout], List[str]]:
    """The state of a ``.keras`` archive as ``target``'s (``"keras2"`` or ``"keras3"``)
    ``optimizer/vars/0..N`` values (``StateLayout.names`` are then only labels), or
    ``(None, reasons)``. Keras 2 and Keras 3 store the same slots in the same
    order; Keras 3 adds its ``learning_rate`` variable (for a float learning rate)
    after the iteration count, gradient accumulators, and Nadam's momentum
    product at the end; Keras 2 stores neither.

    >>> keras_weights(OptimizerState("m.keras", None, None, None, (), {}), "keras3")[1]
    ['the file names no optimizer']
    """
    if state.optimizer is not None and target not in ("keras2", "keras3"):
        return None, ["a legacy optimizer's state is never stored in a .keras archive"]
    return _lay_out(state, target, "keras", ("position", "name"))


def _lay_out(state: OptimizerState, target: str, fmt: str, ties: Tuple[str, ...]) -> Tuple[Optional[StateLayout], List[str]]:
    import numpy as np  # heavy: only when values are laid out

    reasons: List[str] = []
    opt = state.optimizer
    if opt is None:
        return None, ["the file names no optimizer"]
    cls = opt.get("class_name")
    options: Mapping[str, Any] = opt.get("config") or {}
    if state.saver is None or state.saver.format != fmt:
        reasons.append("only %s files are converted here (this is a %s)" % (fmt, state.saver.format if state.saver else "file"))
    if not isinstance(cls, str) or cls not in SLOTS or target not in ORDER.get(cls, {}):
        reasons.append("no %s slot layout for optimizer class %r" % (target, cls))
    if state.iterations is None:
        reasons.append("the file stores no iteration count")
    if state.notes or state.untied:
        reasons.append("the stored slots are not all tied: %s" % "; ".join(state.notes))
    variables = sorted(state.variables, key=lambda v: v.index)
    if not variables:
        reasons.append("the file stores no slot variables to lay out (the model's variables are not known from them)")
    elif [v.index for v in variables] != list(range(len(variables))) or any(
        v.tie not in ties or (v.tie == "name" and not v.name) for v in variables
    ):
        reasons.append("the slots are not tied to one variable each, in order")
    if reasons:
        return None, reasons
    assert isinstance(cls, str) and state.iterations is not None
    rows = [row for row in SLOTS[cls] if slot_exists(row, target, options)]
    extras = [row for row in EXTRA_SLOTS if slot_exists(row, target, options)]
    notes: List[str] = []
    for var in variables:
        missing = [
            row.canonical
            for row in rows + extras
            if row.canonical not in var.slots and not _zero_ok(row, options) and row.canonical != "gradient_accumulator"
        ]
        if missing:
            return None, ["variable %r has no stored %s, which the %s class needs" % (var.name, ", ".join(missing), target)]
    kept = {row.canonical for row in rows + extras}
    # a slot the target lacks is lost, unless the source never read it (Keras 2 SGD's m without momentum)
    unused = {row.canonical for row in SLOTS[cls] if _zero_ok(row, options)}
    left_out = sorted({slot for var in variables for slot in var.slots} - kept - unused)
    if left_out:
        notes.append("%s left out: the %s %s has no such slot" % (", ".join(left_out), target, cls))
    scope = str(options.get("name") or cls)
    names: List[str] = []
    values: List[Any] = []
    saver = state.saver.generation if state.saver else None
    for what, condition in HEAD[target]:
        if what == "iterations":
            names.append("%s/iter:0" % scope if target == "legacy" else "iteration:0")
            raw = state.extra.get("raw_iterations") if saver == target else None
            values.append(np.asarray(raw if raw is not None else state.iterations, dtype="int64"))
        elif what == "momentum_cache" and condition == cls:
            names.append("%s/momentum_cache:0" % scope)
            values.append(np.asarray(_momentum_cache(state, saver, target, options), "float32"))
        elif what == "learning_rate":
            lr = options.get("learning_rate")
            if isinstance(lr, (int, float)) and not isinstance(lr, bool):
                names.append("learning_rate")
                values.append(np.asarray(state.extra.get("learning_rate", lr), "float32"))
        elif what in kept:  # a per-variable extra block (EMA averages, accumulators) before the slots
            _block(names, values, variables, (what,), target, scope, {r.canonical: r for r in extras})
    by_name = {row.canonical: row for row in rows}
    for block in ORDER[cls][target]:
        present = tuple(s for s in block if s in by_name)
        if present:
            _block(names, values, variables, present, target, scope, by_name)
    for extra, own in TAIL.get(target, {}).get(cls, ()):  # Keras 3 Nadam's momentum product
        names.append(own)
        value = _momentum_cache(state, saver, target, options) if extra == "momentum_cache" else state.extra.get(extra, 0.0)
        values.append(np.asarray(value, "float32"))
    return StateLayout(names, values, notes), []


def _momentum_cache(state: OptimizerState, saver: Optional[str], target: str, options: Mapping[str, Any]) -> float:
    """Nadam's momentum product for ``target``: the stored one when the saver's schedule is the target's,
    else the target's own product after ``iterations`` steps (a :class:`StateScheduleWarning` case)."""
    stored = state.extra.get("momentum_cache")
    same = saver == target or (saver in ("keras2", "keras3") and target in ("keras2", "keras3"))
    if stored is not None and same:
        return float(stored)
    return nadam_product(target, options, state.iterations or 0)


def _zero_ok(row: SlotName, options: Mapping[str, Any]) -> bool:
    """A slot the source never had that starts at zero in the target with the same effect
    (Keras 2 SGD's momentum slots without momentum: never read)."""
    return row.canonical == "momentum" and not options.get("momentum")


def _block(
    names: List[str],
    values: List[Any],
    variables: Sequence[VariableState],
    slots: Tuple[str, ...],
    target: str,
    scope: str,
    rows: Dict[str, SlotName],
) -> None:
    import numpy as np  # heavy: only when values are laid out

    for var in variables:
        for slot in slots:
            own = getattr(rows[slot], target)
            if target == "legacy":
                names.append("%s/%s/%s:0" % (scope, var.name, own))
            else:
                names.append("%s/%s/%s:0" % (scope, own, var.name))
            value = var.slots.get(slot)
            values.append(np.asarray(value, dtype="float32") if value is not None else np.zeros(var.shape, dtype="float32"))
