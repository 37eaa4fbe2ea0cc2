"""How restore_state ties stored variables to live ones, by name (pure: plain objects with the
``name``/``path`` attributes of real variables, no TensorFlow)."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

from kerasopt_compat._keras.restore import _tie
from kerasopt_compat._state.slots import VariableState


class Var(NamedTuple):
    name: str
    shape: Tuple[int, ...]
    path: Optional[str] = None


def _stored(name: Optional[str], index: int = 0, shape: Tuple[int, ...] = (2, 2), tie: str = "name") -> VariableState:
    return VariableState(name, index, shape, {"m": None}, tie)


def _names(ties: Any) -> list:
    return [t.live.name if t.live is not None else None for t in ties]


KERAS2 = [Var("d1/kernel:0", (2, 2)), Var("d1/bias:0", (2,)), Var("d2/kernel:0", (2, 2))]
KERAS3 = [Var("kernel", (2, 2), "sequential_1/d1/kernel"), Var("kernel", (2, 2), "sequential_1/d2/kernel")]


def test_exact_and_nested_names() -> None:
    ties = _tie([_stored("d2/kernel:0"), _stored("model/d1/kernel:0"), _stored("d1/bias:0", shape=(2,))], KERAS2)
    assert _names(ties) == ["d2/kernel:0", "d1/kernel:0", "d1/bias:0"]


def test_keras3_paths_and_h5_underscore_form() -> None:
    ties = _tie([_stored("sequential/d2/kernel"), _stored("sequential_d1_kernel"), _stored("d1_kernel")], KERAS3)
    assert [t.live.path if t.live is not None else None for t in ties] == [
        "sequential_1/d2/kernel",
        None,  # sequential_d1_kernel and d1_kernel both claim d1/kernel: refused
        None,
    ]
    ties = _tie([_stored("sequential_d2_kernel")], KERAS3)
    assert ties[0].live.path == "sequential_1/d2/kernel"


def test_layer_name_alone_never_ties() -> None:
    ties = _tie([_stored("dense/kernel:0")], [Var("dense_1/kernel:0", (2, 2)), Var("dense_2/kernel:0", (2, 2))])
    assert ties[0].live is None and "no trainable variable" in ties[0].why


def test_ambiguous_and_shape_mismatch_are_refused() -> None:
    live = [Var("a/d/kernel:0", (2, 2)), Var("b/d/kernel:0", (2, 2))]
    ties = _tie([_stored("d/kernel:0")], live)
    assert ties[0].live is None and "ambiguous" in ties[0].why
    ties = _tie([_stored("d1/kernel:0", shape=(3, 3))], KERAS2)
    assert ties[0].live is None and "shape" in ties[0].why


def test_position_tie_checks_shape_and_range() -> None:
    ties = _tie(
        [_stored(None, 2, tie="position"), _stored(None, 1, (2, 2), "position"), _stored(None, 7, tie="position")], KERAS2
    )
    assert ties[0].live.name == "d2/kernel:0"
    assert ties[1].live is None and "shape" in ties[1].why
    assert ties[2].live is None and "past" in ties[2].why
