"""Optimizer *state* (iteration count and slot variables), without TensorFlow.

The data model shared by the readers (``_files.state``: ``.h5``, ``.keras``;
``_files.bundle``: the SavedModel checkpoint bundle) and the live writer
(``_keras.restore``). One canonical slot vocabulary, the legacy (OptimizerV2) slot
names, for every generation; :data:`SLOTS` is the table that maps it to each
generation's own names. Slots are always held *per model variable*: never by
position alone, except where a format stores no names and the layout is fully
determined (``VariableState.tie == "position"``).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

__all__ = [
    "OptimizerState",
    "VariableState",
    "StoredArray",
    "Saver",
    "SLOTS",
    "EXTRA_SLOTS",
    "ORDER",
    "HEAD",
    "TAIL",
    "GENERATIONS",
    "STANDALONE",
]

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


def _blocks(*blocks: str) -> Tuple[Tuple[str, ...], ...]:
    return tuple(tuple(b.split()) for b in blocks)


_GROUPED_ADAM = _blocks("m", "v", "vhat")
_INTERLEAVED_ADAM = _blocks("m v", "vhat")

#: The order in which each generation creates a class's slots, as blocks of canonical
#: slot names: the slots of one block are interleaved per variable (``m0 v0 m1 v1 ...``),
#: the blocks follow each other (``m0 m1 ... v0 v1 ...`` for one-slot blocks). A slot
#: that does not exist (``SlotName.when``) is left out of its block. This is the order
#: of the optimizer's variables in every format that stores them by position (``.keras``
#: ``optimizer/vars``, ``set_weights``), after the head (:data:`HEAD`). Read from the
#: classes' ``_create_slots``/``build`` in TF 2.9 (legacy), TF 2.15 (keras2) and
#: Keras 3.15 (keras3); pinned by tests/test_state_table.py and checked against the
#: named ``.h5`` files of the resume corpus.
ORDER: Dict[str, Dict[str, Tuple[Tuple[str, ...], ...]]] = {
    "SGD": {"legacy": _blocks("momentum"), "keras2": _blocks("momentum"), "keras3": _blocks("momentum")},
    "Adam": {"legacy": _GROUPED_ADAM, "keras2": _INTERLEAVED_ADAM, "keras3": _INTERLEAVED_ADAM},
    "AdamW": {"keras2": _INTERLEAVED_ADAM, "keras3": _INTERLEAVED_ADAM},
    "Adamax": {"legacy": _blocks("m", "v"), "keras2": _blocks("m v"), "keras3": _blocks("m v")},
    "Nadam": {"legacy": _blocks("m", "v"), "keras2": _blocks("m v"), "keras3": _blocks("m v")},
    "RMSprop": {g: _blocks("rms", "momentum", "mg") for g in GENERATIONS},
    "Adagrad": {g: _blocks("accumulator") for g in GENERATIONS},
    "Adadelta": {
        "legacy": _blocks("accum_grad", "accum_var"),
        "keras2": _blocks("accum_grad accum_var"),
        "keras3": _blocks("accum_grad accum_var"),
    },
    "Ftrl": {g: _blocks("accumulator linear") for g in GENERATIONS},
}

#: What comes before the slots, per generation, in creation order. Each entry is
#: ``(what, condition)``: ``"iterations"`` (legacy ``iter``, Keras 2/3 ``iteration``),
#: ``"momentum_cache"`` (legacy Nadam only), ``"learning_rate"`` (Keras 3, only for a
#: float learning rate, not a schedule), or a per-variable block of
#: :data:`EXTRA_SLOTS` (``"average"``, ``"gradient_accumulator"``).
HEAD: Dict[str, Tuple[Tuple[str, Optional[str]], ...]] = {
    "legacy": (("iterations", None), ("momentum_cache", "Nadam")),
    "keras2": (("iterations", None), ("average", "use_ema")),
    "keras3": (
        ("iterations", None),
        ("learning_rate", "float learning_rate"),
        ("average", "use_ema"),
        ("gradient_accumulator", "gradient_accumulation_steps"),
    ),
}


#: Class-wide values a generation stores *after* the slots: ``(canonical extra name, the
#: stored variable's own name)``. Keras 3's Nadam tracks its momentum product
#: (``_u_product``, auto-named ``variable``); Keras 2's Nadam keeps it untracked (not
#: stored); legacy Nadam stores ``momentum_cache`` in the head (:data:`HEAD`).
TAIL: Dict[str, Dict[str, Tuple[Tuple[str, str], ...]]] = {
    "keras3": {"Nadam": (("momentum_cache", "variable"),)},
}

#: The layout option under which :data:`TAIL`'s values come right after the head instead (before
#: the slots): Keras 3.3.3 creates Nadam's ``_u_product`` there, 3.15 after the slots (both
#: checked with the real wheels). A bare weights file stores no Keras version: readers that fit
#: the layout to the stored shapes try both; can go when Keras 3.3 is no longer supported.
TAIL_FIRST = "tail_before_slots"


#: Slots that belong to a generation's base class, not to one optimizer class; canonical
#: names chosen here (legacy OptimizerV2 has neither). ``when`` is the option that creates them.
#: Keras 2 and Keras 3 create them in the base ``build()``, before the class's own slots.
EXTRA_SLOTS: Tuple[SlotName, ...] = (
    _s("average", None, "average", "average", when="use_ema"),
    _s("gradient_accumulator", None, None, "gradient_accumulator", when="gradient_accumulation_steps"),
)


class StandaloneRow(NamedTuple):
    """How stand-alone Keras (``keras.optimizers``, 2.0-2.3) lays out one class's ``weights``.

    ``get_updates`` builds the list as ``head`` followed by one list per entry of
    ``lists``, each with one value per ``params`` entry (the model's trainable
    weights at compile time, in ``model.trainable_weights`` order). ``head``:
    ``"iterations"`` (an int64 scalar), ``"momentum_cache"`` (Nadam's
    ``m_schedule``, the product of its momentum schedule). ``lists``: canonical
    slot names; Adam's ``"vhat"`` list holds ``K.zeros(1)`` placeholders when
    ``amsgrad`` is off. ``first``/``last``: the releases (major, minor, patch)
    with this layout, inclusive.
    """

    first: Tuple[int, int, int]
    last: Tuple[int, int, int]
    head: Tuple[str, ...]
    lists: Tuple[str, ...]


def _sa(first: str, last: str, head: str, lists: str) -> StandaloneRow:
    def version(text: str) -> Tuple[int, int, int]:
        major, minor, patch = (int(p) for p in text.split("."))
        return major, minor, patch

    return StandaloneRow(version(first), version(last), tuple(head.split()), tuple(lists.split()))


#: Stand-alone Keras 2.0-2.3 ``.h5`` optimizer weights (``optimizer_weights``, the
#: optimizer's ``get_weights()``), per canonical class: the names do not say which model
#: variable a slot belongs to (``training/Adam/Variable_3:0``, ``training/Adam/m_2_1:0``),
#: so each slot is tied by its position in its list to the model variable at that position
#: of the trainable weights the file's ``model_weights`` stores (layer order, weight names).
#: Read from ``keras/optimizers.py`` of 2.0.9, 2.1.6, 2.2.5 and 2.3.1 (amsgrad from 2.1.3,
#: ``iterations`` of RMSprop/Adagrad/Adadelta and Nadam's ``m_schedule`` stored from 2.3.0);
#: checked against files those wheels wrote (tests/data/old_keras, tools/export_old_keras.py).
#: Their update rules are those of the legacy (OptimizerV2) classes, so the state reads as
#: a ``legacy`` saver's (:data:`GENERATIONS`).
STANDALONE: Dict[str, Tuple[StandaloneRow, ...]] = {
    "SGD": (_sa("2.0.0", "2.3.99", "iterations", "momentum"),),
    "RMSprop": (_sa("2.0.0", "2.2.99", "", "rms"), _sa("2.3.0", "2.3.99", "iterations", "rms")),
    "Adagrad": (_sa("2.0.0", "2.2.99", "", "accumulator"), _sa("2.3.0", "2.3.99", "iterations", "accumulator")),
    "Adadelta": (
        _sa("2.0.0", "2.2.99", "", "accum_grad accum_var"),
        _sa("2.3.0", "2.3.99", "iterations", "accum_grad accum_var"),
    ),
    "Adam": (_sa("2.0.0", "2.1.2", "iterations", "m v"), _sa("2.1.3", "2.3.99", "iterations", "m v vhat")),
    "Adamax": (_sa("2.0.0", "2.3.99", "iterations", "m v"),),
    "Nadam": (_sa("2.0.0", "2.2.99", "iterations", "m v"), _sa("2.3.0", "2.3.99", "iterations momentum_cache", "m v")),
}


class Saver(NamedTuple):
    """Who wrote the state: optimizer generation, Keras version (if the file says), container format."""

    generation: str  # "legacy" | "keras2" | "keras3"
    keras_version: Optional[str]
    format: str  # "h5" | "keras" | "savedmodel"
    #: the stored layout where it is not its generation's own: ``"standalone"`` (stand-alone Keras
    #: 2.0-2.3 ``get_weights()`` order, :data:`STANDALONE`; its update rules are ``generation``'s)
    layout: Optional[str] = None


class VariableState(NamedTuple):
    """The slots of one model variable.

    ``name`` is the variable's name as the optimizer's stored slot names spell
    it: legacy and Keras 2 ``.h5`` ``dense/kernel`` (the variable's name
    without the ``:0`` suffix, which the file puts after the slot), Keras 3
    ``.h5`` ``sequential_dense_kernel`` (its path with ``/`` replaced by
    ``_``); ``None`` where the format stores no names (``tie == "position"``).
    ``index`` is its position in the saver's trainable-variable order (for
    named formats, the order in which the file first names it). ``slots`` maps
    canonical slot names (:data:`SLOTS`, :data:`EXTRA_SLOTS`) to numpy arrays
    (or :class:`StoredArray`, read on demand, from ``read_state(lazy=True)``).
    ``tie`` says how the slots were tied to the variable: ``"name"``,
    ``"object-graph"`` or ``"position"``. ``model_path``, for ``.keras``
    archives, is where the model variable itself sits in ``model.weights.h5``
    (``layers/dense/vars/0``). SavedModel (``_files.bundle.savedmodel_state``): ``name``
    is the object graph's ``full_name`` (``dense/kernel``), ``index`` the
    variable's position in the model's ``trainable_variables`` (-1 if no
    longer trainable), and ``OptimizerState.extra["object_paths"]`` maps each
    name to its object path (``layer_with_weights-0/kernel``). ``layer``, for
    ``.h5`` files, is where the file stores the model variable itself: the
    top-level layer's name and the variable's position among that layer's
    weights (``model_weights/<layer>``'s ``weight_names``: trainable, then
    non-trainable), the pair by which Keras' own ``.h5`` loader assigns it.
    """

    name: Optional[str]
    index: int  # type: ignore[assignment]  # a field named like tuple.index, on purpose
    shape: Tuple[int, ...]
    slots: Mapping[str, Any]
    tie: str
    model_path: Optional[str] = None
    layer: Optional[Tuple[str, int]] = None


class StoredArray:
    """A slot value still in the file: its shape and dtype, read only when asked (:meth:`read`).

    ``read_state(path, lazy=True)`` gives these instead of numpy arrays for every
    non-scalar slot, so that a state can be tied (names and shapes) without
    reading it, and restored one variable at a time: never the whole state in
    memory at once. ``position`` is the value's place in the optimizer weights
    the file stores (``.h5`` ``optimizer_weights``' ``weight_names``), the
    position by which the native loaders assign it (``set_weights``), or None.
    ``numpy.asarray(stored)`` reads it too.
    """

    __slots__ = ("shape", "dtype", "position", "_read")

    def __init__(self, shape: Tuple[int, ...], dtype: Any, position: Optional[int], read: Callable[[], Any]) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtype
        self.position = position
        self._read = read

    def read(self) -> Any:
        """The value, read from the file now (a numpy array)."""
        return self._read()

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        value = self._read()
        return value if dtype is None else value.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return "StoredArray(shape=%s, dtype=%s, position=%s)" % (self.shape, self.dtype, self.position)


def class_named(name: str) -> Optional[str]:
    """The optimizer class whose default name (a checkpoint's name scope, a weights file's ``optimizer/vars``
    name) is ``name``: ``Adam``, Keras 3's snake case ``adam``, ``rmsprop``, ``rm_sprop``, and the names Keras
    makes unique with a number (``adam_1``, ``Adam_1``: the session's second Adam); None for another name."""
    by_lower = {cls.lower(): cls for cls in SLOTS}
    return by_lower.get(re.sub(r"_[0-9]+$", "", name).lower().replace("_", ""))


def slot_exists(slot: SlotName, generation: str, options: Mapping[str, Any]) -> bool:
    """Whether ``generation``'s class creates ``slot`` with these (stored or canonical) options."""
    if getattr(slot, generation) is None:
        return False
    if slot.when is None or generation in slot.always_in:
        return True
    value = options.get(slot.when)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    return bool(value)


class NoteTaker:
    """Base of the state readers: their ``notes`` and ``untied`` (:class:`OptimizerState`)."""

    notes: List[str]
    untied: bool

    def _untie(self, note: str) -> None:
        """Note stored slot values left untied (``OptimizerState.untied``)."""
        self.notes.append(note)
        self.untied = True


class OptimizerState(NamedTuple):
    """Everything a file holds of an optimizer's training state."""

    path: str
    optimizer: Optional[Dict[str, Any]]  # canonical dict, None when the file names no optimizer
    iterations: Optional[int]
    saver: Saver
    variables: Tuple[VariableState, ...]  # in the saver's trainable-variable order
    #: class-wide values: "momentum_cache" (Nadam's momentum product: legacy ``momentum_cache``,
    #: Keras 3 ``_u_product``), "learning_rate" (Keras 3's variable), "loss_scale" and
    #: "loss_scale_counter" (LossScaleOptimizer: Keras 2 ``good_steps``, Keras 3 ``step_counter``), "raw_iterations" (the stored
    #: counter where it differs from ``iterations``: Keras 3 gradient accumulation counts
    #: micro-steps; ``iterations`` is then ``raw_iterations // gradient_accumulation_steps``)
    extra: Mapping[str, Any]
    notes: Tuple[str, ...] = ()  # what the reader could not tie or had to skip
    #: True when the file stores slot values the reader could not tie to a model variable
    #: (no optimizer config, no slot table, ambiguous names or layout; ``notes`` says which)
    untied: bool = False
