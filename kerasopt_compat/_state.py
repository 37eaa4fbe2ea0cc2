"""Optimizer *state* (iteration count and slot variables), without TensorFlow.

The data model shared by the readers (``_stateread``: ``.h5``, ``.keras``;
``_ckpt``: the SavedModel checkpoint bundle) and the live writer
(``_restore``). One canonical slot vocabulary, the legacy (OptimizerV2) slot
names, for every generation; :data:`SLOTS` is the table that maps it to each
generation's own names. Slots are always held *per model variable*: never by
position alone, except where a format stores no names and the layout is fully
determined (``VariableState.tie == "position"``).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

__all__ = ["OptimizerState", "VariableState", "Saver", "SLOTS", "GENERATIONS"]

GENERATIONS = ("legacy", "keras2", "keras3")


class SlotName(NamedTuple):
    """One slot kind of one class: its canonical (legacy) name and each generation's own.

    ``None`` for a generation means that generation's class has no such slot.
    ``when`` names the config option that must be truthy for the slot to exist
    (``"amsgrad"``, ``"momentum"``, ``"centered"``) or is ``None`` (always).
    ``always_in`` lists generations where the slot exists whatever ``when`` says
    (Keras 2's SGD always creates its ``m`` slots).
    """

    canonical: str
    legacy: Optional[str]
    keras2: Optional[str]
    keras3: Optional[str]
    when: Optional[str] = None
    always_in: Tuple[str, ...] = ()


def _s(
    canonical: str,
    legacy: Optional[str],
    keras2: Optional[str],
    keras3: Optional[str],
    when: Optional[str] = None,
    always_in: Tuple[str, ...] = (),
) -> SlotName:
    return SlotName(canonical, legacy, keras2, keras3, when, always_in)


#: Slot kinds per canonical class name, in the order the legacy class creates them.
#: Verified against the wheels' sources (see tests/test_state_table.py).
SLOTS: Dict[str, Tuple[SlotName, ...]] = {
    "SGD": (_s("momentum", "momentum", "m", "momentum", when="momentum", always_in=("keras2",)),),
    "Adam": (
        _s("m", "m", "m", "momentum"),
        _s("v", "v", "v", "velocity"),
        _s("vhat", "vhat", "vhat", "velocity_hat", when="amsgrad"),
    ),
    "AdamW": (
        _s("m", None, "m", "momentum"),
        _s("v", None, "v", "velocity"),
        _s("vhat", None, "vhat", "velocity_hat", when="amsgrad"),
    ),
    "Adamax": (_s("m", "m", "m", "momentum"), _s("v", "v", "u", "norm")),  # Keras 3.15 names
    "Nadam": (_s("m", "m", "m", "momentum"), _s("v", "v", "v", "velocity")),
    "RMSprop": (
        _s("rms", "rms", "velocity", "velocity"),
        _s("momentum", "momentum", "momentum", "momentum", when="momentum"),
        _s("mg", "mg", "average_gradient", "average_gradient", when="centered"),
    ),
    "Adagrad": (_s("accumulator", "accumulator", "accumulator", "accumulator"),),
    "Adadelta": (
        _s("accum_grad", "accum_grad", "accumulated_grad", "accumulated_grad"),
        _s("accum_var", "accum_var", "accumulated_delta_var", "accumulated_delta_var"),
    ),
    "Ftrl": (_s("accumulator", "accumulator", "accumulator", "accumulator"), _s("linear", "linear", "linear", "linear")),
}


class Saver(NamedTuple):
    """Who wrote the state: optimizer generation, Keras version (if the file says), container format."""

    generation: str  # "legacy" | "keras2" | "keras3"
    keras_version: Optional[str]
    format: str  # "h5" | "keras" | "savedmodel"


class VariableState(NamedTuple):
    """The slots of one model variable.

    ``name`` is the variable's name as the file stores it (``dense/kernel:0``,
    Keras 3's ``sequential_dense_kernel`` ...), or ``None`` where the format
    stores no names (``tie == "position"``; ``index`` is then its position in
    the saver's trainable-variable order). ``slots`` maps canonical slot names
    (:data:`SLOTS`) to numpy arrays. ``tie`` says how the slots were tied to
    the variable: ``"name"``, ``"object-graph"`` or ``"position"``.
    """

    name: Optional[str]
    index: int
    shape: Tuple[int, ...]
    slots: Mapping[str, Any]
    tie: str


class OptimizerState(NamedTuple):
    """Everything a file holds of an optimizer's training state."""

    path: str
    optimizer: Optional[Dict[str, Any]]  # canonical dict, None when the file names no optimizer
    iterations: Optional[int]
    saver: Saver
    variables: Tuple[VariableState, ...]  # in the saver's trainable-variable order
    extra: Mapping[str, Any]  # class-wide values: "momentum_cache" (Nadam's product), "learning_rate", ...
    notes: Tuple[str, ...] = ()  # what the reader could not tie or had to skip
