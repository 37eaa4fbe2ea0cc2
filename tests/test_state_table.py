"""Pins the optimizer-state tables of kerasopt_compat._state.slots (pure; no TensorFlow).

Every row was read from the wheels' sources: legacy OptimizerV2 in TF 2.9
(``keras/optimizers/optimizer_v2/*.py``, ``add_slot``/``_create_slots``), Keras 2's
new optimizers in TF 2.15 (``keras/src/optimizers/*.py``,
``add_variable_from_reference``/``build``) and Keras 3.15
(``keras/src/optimizers/*.py``, ``add_optimizer_variables``/``build``), and is
checked against real files by tools/export_resume.py (an optimizer variable that
no row names stops the export) and tests/test_read_state.py (named .h5 order).
A change here is a change of what kerasopt_compat believes Keras stores.
"""

from __future__ import annotations

from kerasopt_compat._state.slots import EXTRA_SLOTS, GENERATIONS, HEAD, ORDER, SLOTS, TAIL

#: class -> ((canonical, legacy, keras2, keras3, when, always_in), ...)
PINNED = {
    "SGD": (("momentum", "momentum", "m", "momentum", "momentum", ("keras2",)),),
    "Adam": (
        ("m", "m", "m", "momentum", None, ()),
        ("v", "v", "v", "velocity", None, ()),
        ("vhat", "vhat", "vhat", "velocity_hat", "amsgrad", ()),
    ),
    "AdamW": (
        ("m", None, "m", "momentum", None, ()),
        ("v", None, "v", "velocity", None, ()),
        ("vhat", None, "vhat", "velocity_hat", "amsgrad", ()),
    ),
    "Adamax": (("m", "m", "m", "momentum", None, ()), ("v", "v", "u", "norm", None, ())),
    "Nadam": (("m", "m", "m", "momentum", None, ()), ("v", "v", "v", "velocity", None, ())),
    "RMSprop": (
        ("rms", "rms", "velocity", "velocity", None, ()),
        ("momentum", "momentum", "momentum", "momentum", "momentum", ()),
        ("mg", "mg", "average_gradient", "average_gradient", "centered", ()),
    ),
    "Adagrad": (("accumulator", "accumulator", "accumulator", "accumulator", None, ()),),
    "Adadelta": (
        ("accum_grad", "accum_grad", "accumulated_grad", "accumulated_grad", None, ()),
        ("accum_var", "accum_var", "accumulated_delta_var", "accumulated_delta_var", None, ()),
    ),
    "Ftrl": (
        ("accumulator", "accumulator", "accumulator", "accumulator", None, ()),
        ("linear", "linear", "linear", "linear", None, ()),
    ),
}


def test_slots_table_is_pinned() -> None:
    assert {cls: tuple(tuple(row) for row in rows) for cls, rows in SLOTS.items()} == PINNED


def test_extra_slots_pinned() -> None:
    assert [tuple(s) for s in EXTRA_SLOTS] == [
        ("average", None, "average", "average", "use_ema", ()),
        ("gradient_accumulator", None, None, "gradient_accumulator", "gradient_accumulation_steps", ()),
    ]


def test_order_pinned() -> None:
    one = lambda *names: tuple((n,) for n in names)  # noqa: E731 - one slot per block: grouped by kind
    assert ORDER["SGD"] == {g: one("momentum") for g in GENERATIONS}
    assert ORDER["Adam"] == {
        "legacy": one("m", "v", "vhat"),
        "keras2": (("m", "v"), ("vhat",)),
        "keras3": (("m", "v"), ("vhat",)),
    }
    assert ORDER["AdamW"] == {"keras2": (("m", "v"), ("vhat",)), "keras3": (("m", "v"), ("vhat",))}
    for cls in ("Adamax", "Nadam"):
        assert ORDER[cls] == {"legacy": one("m", "v"), "keras2": (("m", "v"),), "keras3": (("m", "v"),)}
    assert ORDER["RMSprop"] == {g: one("rms", "momentum", "mg") for g in GENERATIONS}
    assert ORDER["Adagrad"] == {g: one("accumulator") for g in GENERATIONS}
    assert ORDER["Adadelta"] == {
        "legacy": one("accum_grad", "accum_var"),
        "keras2": (("accum_grad", "accum_var"),),
        "keras3": (("accum_grad", "accum_var"),),
    }
    assert ORDER["Ftrl"] == {g: (("accumulator", "linear"),) for g in GENERATIONS}
    assert set(ORDER) == set(SLOTS)


def test_order_names_only_table_slots() -> None:
    for cls, per_generation in ORDER.items():
        for generation, blocks in per_generation.items():
            listed = [s for block in blocks for s in block]
            own = [s.canonical for s in SLOTS[cls] if getattr(s, generation) is not None]
            assert sorted(listed) == sorted(own), (cls, generation)


def test_head_and_tail_pinned() -> None:
    assert HEAD == {
        "legacy": (("iterations", None), ("momentum_cache", "Nadam")),
        "keras2": (("iterations", None), ("average", "use_ema")),
        "keras3": (
            ("iterations", None),
            ("learning_rate", "float learning_rate"),
            ("average", "use_ema"),
            ("gradient_accumulator", "gradient_accumulation_steps"),
        ),
    }
    assert TAIL == {"keras3": {"Nadam": (("momentum_cache", "variable"),)}}
