"""Write an optimizer state in another generation's ``.h5`` layout, without TensorFlow.

Used by :func:`kerasopt_compat.fix_model` (``state="convert"``): a model file's
optimizer entry rewritten for another generation must not keep slot variables in
the saver's layout, because every native loader assigns them by position (a
Keras 2 ``.h5`` read by TF 2.9 gets Adam's ``m`` and ``v`` swapped between
same-shaped variables). :func:`h5_weights` lays the state read by
:func:`~kerasopt_compat.read_state` out as the target generation's own class
creates its variables (:data:`~kerasopt_compat._state.HEAD`,
:data:`~kerasopt_compat._state.ORDER`), under its own names, so the target's
native ``load_model`` + ``fit`` resumes. What cannot be laid out exactly is
reported as reasons (the caller drops the state and warns).

Supported: ``.h5`` files whose slots are tied by name, legacy <-> Keras 2 (TF
2.4-2.15, tf_keras), every class of the slot table but LossScaleOptimizer.
Keras 3 restores no optimizer state from an ``.h5`` at all (it builds the
optimizer for no variables), so a Keras 3 target gets none.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._state import EXTRA_SLOTS, HEAD, ORDER, SLOTS, OptimizerState, SlotName, VariableState

__all__ = ["h5_weights", "StateLayout"]


class StateLayout:
    """The optimizer weights of one ``.h5`` file: ``names`` (the ``weight_names``
    attribute) and ``values`` in the order the target's loader assigns them;
    ``notes``: what was left out (EMA averages for a legacy target)."""

    def __init__(self, names: List[str], values: List[Any], notes: List[str]) -> None:
        self.names, self.values, self.notes = names, values, notes


def _exists(slot: SlotName, generation: str, options: Mapping[str, Any]) -> bool:
    if getattr(slot, generation) is None:
        return False
    if slot.when is None or generation in slot.always_in:
        return True
    value = options.get(slot.when)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    return bool(value)


def _nadam_momentum_cache(options: Mapping[str, Any], iterations: int) -> float:
    """Legacy Nadam's ``m_cache``: the product of mu_t = beta_1*(1 - 0.5*0.96**(0.004*t)) for t = 1..iterations."""
    beta_1 = float(options.get("beta_1", 0.9))
    decay = 0.004
    product = 1.0
    for t in range(1, iterations + 1):
        product *= beta_1 * (1.0 - 0.5 * math.pow(0.96, decay * t))
    return product


def h5_weights(state: OptimizerState, target: str) -> Tuple[Optional[StateLayout], List[str]]:
    """The state as ``target``'s (``"legacy"`` or ``"keras2"``) ``.h5`` optimizer
    weights, or ``(None, reasons)`` when it cannot be laid out exactly.

    >>> h5_weights(OptimizerState(None, None, None, (), {}), "keras2")[1]
    ['the file names no optimizer']
    """
    import numpy as np

    reasons: List[str] = []
    opt = state.optimizer
    if opt is None:
        return None, ["the file names no optimizer"]
    cls = opt.get("class_name")
    options: Mapping[str, Any] = opt.get("config") or {}
    if target not in ("legacy", "keras2"):
        return None, ["Keras 3 restores no optimizer state from an .h5 file (it builds the optimizer for no variables)"]
    if state.saver is None or state.saver.format != "h5":
        reasons.append("only .h5 files are converted (this is a %s)" % (state.saver.format if state.saver else "file"))
    if not isinstance(cls, str) or cls not in SLOTS or target not in ORDER.get(cls, {}):
        reasons.append("no %s slot layout for optimizer class %r" % (target, cls))
    if state.iterations is None:
        reasons.append("the file stores no iteration count")
    if state.notes:
        reasons.append("the stored slots are not all tied: %s" % "; ".join(state.notes))
    variables = sorted(state.variables, key=lambda v: v.index)
    if not variables:
        reasons.append("the file stores no slot variables to lay out (the model's variables are not known from them)")
    elif [v.index for v in variables] != list(range(len(variables))) or any(v.tie != "name" or not v.name for v in variables):
        reasons.append("the slots are not tied by name to one variable each, in order")
    if reasons:
        return None, reasons
    assert isinstance(cls, str) and state.iterations is not None
    rows = [row for row in SLOTS[cls] if _exists(row, target, options)]
    extras = [row for row in EXTRA_SLOTS if _exists(row, target, options)]
    notes: List[str] = []
    for var in variables:
        missing = [row.canonical for row in rows + extras if row.canonical not in var.slots and not _zero_ok(row, options)]
        if missing:
            return None, ["variable %r has no stored %s, which the %s class needs" % (var.name, ", ".join(missing), target)]
    kept = {row.canonical for row in rows + extras}
    left_out = sorted({slot for var in variables for slot in var.slots} - kept)
    if left_out:
        notes.append("%s left out: the %s %s has no such slot" % (", ".join(left_out), target, cls))
    scope = str(options.get("name") or cls)
    names: List[str] = []
    values: List[Any] = []
    for what, condition in HEAD[target]:
        if what == "iterations":
            names.append("%s/iter:0" % scope if target == "legacy" else "iteration:0")
            values.append(np.asarray(state.iterations, dtype="int64"))
        elif what == "momentum_cache" and condition == cls:
            names.append("%s/momentum_cache:0" % scope)
            cache = state.extra.get("momentum_cache") if state.saver and state.saver.generation == "legacy" else None
            values.append(np.asarray(cache if cache is not None else _nadam_momentum_cache(options, state.iterations), "float32"))
        elif what in kept:  # a per-variable extra block (EMA averages) before the slots
            _block(names, values, variables, (what,), target, scope, {r.canonical: r for r in extras})
    by_name = {row.canonical: row for row in rows}
    for block in ORDER[cls][target]:
        present = tuple(s for s in block if s in by_name)
        if present:
            _block(names, values, variables, present, target, scope, by_name)
    return StateLayout(names, values, notes), []


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
    import numpy as np

    for var in variables:
        for slot in slots:
            own = getattr(rows[slot], target)
            if target == "legacy":
                names.append("%s/%s/%s:0" % (scope, var.name, own))
            else:
                names.append("%s/%s/%s:0" % (scope, own, var.name))
            value = var.slots.get(slot)
            values.append(np.asarray(value, dtype="float32") if value is not None else np.zeros(var.shape, dtype="float32"))
