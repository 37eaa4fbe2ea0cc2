"""state_of / restore_state with the real wheels: resume training in the same or another generation.

A small model trains 3 steps with each optimizer class; its state is read
live (:func:`state_of`) and restored into a fresh copy of the model (same
weights) with the same generation and, where the installed Keras has two
(TF 2.9/2.10 legacy + ``experimental``, TF 2.11-2.15/tf_keras keras2 +
``legacy``), with the other one. One more step on both must give the same
weights (relative 1e-4 of the step), or the documented warning with its bound;
NaN fails. The two models have two same-shaped kernels holding different
values (a swapped tie changes the step) and BatchNormalization + a frozen layer.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Dict, List, Tuple, Type

import pytest
from live_helpers import require_keras

require_keras()

import numpy as np  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat import _errors as E  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402
from kerasopt_compat._state.slots import OptimizerState, VariableState  # noqa: E402

FL = flavour()
K = FL.keras

#: id -> (class, constructor kwargs)
CASES: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "sgd-momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "sgd-nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    "adam-amsgrad": ("Adam", {"learning_rate": 0.1, "amsgrad": True}),
    "rmsprop-momentum": ("RMSprop", {"learning_rate": 0.05, "momentum": 0.5}),
    "rmsprop-centered": ("RMSprop", {"learning_rate": 0.05, "momentum": 0.5, "centered": True}),
    "rmsprop-plain": ("RMSprop", {"learning_rate": 0.05}),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "adamax": ("Adamax", {"learning_rate": 0.1}),
    "ftrl": ("Ftrl", {"learning_rate": 0.1}),
    "nadam": ("Nadam", {"learning_rate": 0.1}),
}

#: The documented cross-generation differences (README, "Resume training"),
#: with the bound the next step stays within: max |step_restored - step_saver|
#: per element, as a multiple of the learning rate. Epsilon placement matters
#: only where a gradient is ~0 (a bias before BatchNormalization): there the
#: RMSprop step g/(sqrt(rms)+eps) vs g/sqrt(rms+eps) differs by up to its
#: size, lr/sqrt(1 - rho) (3.2 lr for rho 0.9).
DOCUMENTED: Dict[str, Tuple[Type[Warning], float]] = {
    "nadam": (E.NadamScheduleWarning, 1.0),
    "rmsprop-plain": (E.EpsilonPlacementWarning, 4.0),
    "adagrad": (E.EpsilonPlacementWarning, 1e-3),
}


def _generations(class_name: str) -> List[str]:
    """The generations the installed Keras has for a class: its default and ``optimizers.legacy``
    (not TF 2.9/2.10's ``optimizers.experimental`` preview, whose RMSprop rule differs from both)."""
    try:
        found = [t.family for t in FL.optimizer_candidates(class_name)]
    except E.UnsupportedClassError:
        return []
    return [g for g in found if g in (FL.default_family, "legacy")]


#: Envs with KOC_RESUME_FULL=1 (tox.ini: one per Keras generation) run every class; the
#: others (same generations, other releases) these, to keep CI within its time.
SAMPLE = ("adam-amsgrad", "sgd-momentum", "nadam", "rmsprop-plain")


def _pairs() -> List[Tuple[str, str, str]]:
    out = []
    full = os.environ.get("KOC_RESUME_FULL") == "1"
    for case, (cls, _) in CASES.items():
        if not full and case not in SAMPLE:
            continue
        gens = _generations(cls)
        for src in gens:
            for dst in gens:
                out.append((case, src, dst))
    return out


def _optimizer(class_name: str, generation: str, kwargs: Dict[str, Any]) -> Any:
    target = next(t for t in FL.optimizer_candidates(class_name) if t.family == generation)
    return target.cls(**kwargs)


def two_kernels() -> Any:
    """Dense(2) -> Dense(2): two (2, 2) kernels."""
    return K.Sequential([K.Input((2,)), K.layers.Dense(2, name="d1"), K.layers.Dense(2, name="d2")])


def bn_frozen() -> Any:
    """Dense -> BatchNormalization -> frozen Dense -> Dense."""
    frozen = K.layers.Dense(3, name="frozen")
    frozen.trainable = False
    return K.Sequential(
        [
            K.Input((2,)),
            K.layers.Dense(3, name="d1"),
            K.layers.BatchNormalization(name="bn"),
            frozen,
            K.layers.Dense(2, name="d2"),
        ]
    )


MODELS = {"two-kernels": two_kernels, "bn-frozen": bn_frozen}

_RS = np.random.RandomState(0)
X = [_RS.randn(8, 2).astype("float32") for _ in range(4)]
Y = [_RS.randn(8, 2).astype("float32") for _ in range(4)]


def _trained(model_id: str, case: str, generation: str) -> Tuple[Any, List[Any]]:
    """A model trained 3 steps; returns it and its weights before the 4th step."""
    cls, kwargs = CASES[case]
    model = MODELS[model_id]()
    model.compile(optimizer=_optimizer(cls, generation, kwargs), loss="mse")
    for i in range(3):
        model.train_on_batch(X[i], Y[i])
    return model, [w.copy() for w in model.get_weights()]


def _copy(model_id: str, weights: List[Any], compiled: bool = True) -> Any:
    model = MODELS[model_id]()
    model.set_weights(weights)
    if compiled:
        model.compile(optimizer="sgd", loss="mse")
    return model


def _step(model: Any, before: List[Any]) -> List[Any]:
    model.train_on_batch(X[3], Y[3])
    after = model.get_weights()
    for w in after:
        assert np.all(np.isfinite(w)), "NaN/inf after the step"
    return [a - b for a, b in zip(after, before)]


def _same(step: List[Any], expected: List[Any], rtol: float = 1e-4) -> bool:
    scale = max(float(np.max(np.abs(e))) for e in expected)
    return all(np.allclose(s, e, rtol=rtol, atol=rtol * scale + 1e-7) for s, e in zip(step, expected))


def _restore(model: Any, state: Any, **kwargs: Any) -> Tuple[Any, List[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = koc.restore_state(model, state, **kwargs)
    return report, [w for w in caught if issubclass(w.category, E.OptimizerStateWarning)]


@pytest.mark.parametrize("model_id", sorted(MODELS))
@pytest.mark.parametrize("case,src,dst", _pairs())
def test_resume_next_step(model_id: str, case: str, src: str, dst: str) -> None:
    saver, before = _trained(model_id, case, src)
    state = koc.state_of(saver.optimizer, saver)
    assert state.iterations == 3
    assert state.saver.generation == src
    assert state.variables, state.notes
    expected = _step(saver, before)

    model = _copy(model_id, before)
    report, caught = _restore(model, state, generation=dst)
    assert report.generation == dst
    assert report.iterations == 3
    assert int(np.asarray(model.optimizer.iterations)) == 3
    step = _step(model, before)
    documented = DOCUMENTED.get(case) if (src == "legacy") != (dst == "legacy") else None
    if case == "nadam" and "keras2" in (src, dst):
        documented = DOCUMENTED[case]  # Keras 2 Nadam's product (NadamScheduleWarning, README)
    if documented is None:
        assert not caught, [str(w.message) for w in caught]
        assert report.exact, report
        assert _same(step, expected), (step, expected)
        return
    category, bound = documented
    assert any(issubclass(w.category, category) for w in caught), [str(w.message) for w in caught]
    assert not report.exact
    lr = CASES[case][1]["learning_rate"]
    worst = max(float(np.max(np.abs(s - e))) for s, e in zip(step, expected))
    assert worst <= bound * lr, (worst, bound * lr)


def test_fresh_optimizer_is_not_the_saver_step() -> None:
    """The comparison is sensitive: a fresh Adam (iterations 0, zero slots) takes another step."""
    gen = FL.default_family
    saver, before = _trained("two-kernels", "adam-amsgrad", gen)
    expected = _step(saver, before)
    model = _copy("two-kernels", before)
    model.compile(optimizer=_optimizer("Adam", gen, CASES["adam-amsgrad"][1]), loss="mse")
    assert not _same(_step(model, before), expected)


def _swap_kernels(state: OptimizerState) -> OptimizerState:
    variables = list(state.variables)
    kernels = [i for i, v in enumerate(variables) if v.name and "kernel" in v.name]
    a, b = kernels[:2]
    variables[a], variables[b] = variables[a]._replace(name=variables[b].name), variables[b]._replace(name=variables[a].name)
    return state._replace(variables=tuple(variables))


def test_swapped_tie_is_caught() -> None:
    """Slots tied to the wrong one of two same-shaped kernels change the next step."""
    gen = FL.default_family
    saver, before = _trained("two-kernels", "adam-amsgrad", gen)
    state = koc.state_of(saver.optimizer, saver)
    expected = _step(saver, before)
    model = _copy("two-kernels", before)
    report, _ = _restore(model, _swap_kernels(state))
    assert report.iterations == 3
    assert not _same(_step(model, before), expected)


def test_position_tie_and_uncompiled_model() -> None:
    """A ``position`` tie (a format without names) restores by index; an uncompiled model gets compiled."""
    gen = FL.default_family
    saver, before = _trained("two-kernels", "adam-amsgrad", gen)
    state = koc.state_of(saver.optimizer, saver)
    expected = _step(saver, before)
    unnamed = state._replace(variables=tuple(v._replace(name=None, tie="position") for v in state.variables))
    model = _copy("two-kernels", before, compiled=False)
    report, caught = _restore(model, unnamed)
    assert report.exact and not caught
    model.compile(optimizer=model.optimizer, loss="mse")
    assert _same(_step(model, before), expected)


def test_shape_mismatch_and_missing_variables_warn() -> None:
    gen = FL.default_family
    saver, before = _trained("two-kernels", "adam-amsgrad", gen)
    state = koc.state_of(saver.optimizer, saver)
    first = state.variables[0]
    bad = state._replace(variables=(first._replace(shape=(5, 5)),) + state.variables[1:])
    model = _copy("two-kernels", before)
    report, caught = _restore(model, bad)
    kinds = {w.category for w in caught}
    assert E.AmbiguousTieWarning in kinds and E.MissingStateWarning in kinds, kinds
    assert any(first.name in getattr(w.message, "variables", ()) for w in caught if w.category is E.AmbiguousTieWarning)
    assert not report.exact
    tail = "/".join(first.name.split(":")[0].split("/")[-2:])  # Keras 3 paths of the copy start with another model name
    assert {s.status for s in report.slots if s.variable.split(":")[0].endswith(tail)} == {"dropped", "fresh"}
    _step(model, before)
    with pytest.raises(E.OptimizerStateError) as info:
        koc.restore_state(_copy("two-kernels", before), bad, strict=True)
    assert info.value.category is E.AmbiguousTieWarning


def test_no_config_is_refused_unless_optimizer_given() -> None:
    gen = FL.default_family
    saver, before = _trained("two-kernels", "sgd-momentum", gen)
    state = koc.state_of(saver.optimizer, saver)._replace(optimizer=None)
    expected = _step(saver, before)
    model = _copy("two-kernels", before)
    report, caught = _restore(model, state)
    assert report.refused and any(w.category is E.NoOptimizerConfigWarning for w in caught)
    with pytest.raises(E.OptimizerStateError):
        koc.restore_state(_copy("two-kernels", before), state, strict=True)
    model = _copy("two-kernels", before)
    report, caught = _restore(model, state, optimizer=_optimizer("SGD", gen, CASES["sgd-momentum"][1]))
    assert report.exact and not caught
    assert _same(_step(model, before), expected)


def test_empty_state_warns() -> None:
    gen = FL.default_family
    saver, before = _trained("two-kernels", "adam-amsgrad", gen)
    state = koc.state_of(saver.optimizer, saver)._replace(variables=())
    report, caught = _restore(_copy("two-kernels", before), state)
    assert any(w.category is E.NoStateWarning for w in caught)
    assert report.by_status("fresh") and not report.exact


def test_cross_generation_strict_raises() -> None:
    gens = _generations("Nadam")
    other = [g for g in gens if (g == "legacy") != (gens[0] == "legacy")]
    if not other:
        pytest.skip("the installed Keras has one optimizer generation")
    saver, before = _trained("two-kernels", "nadam", gens[0])
    state = koc.state_of(saver.optimizer, saver)
    with pytest.raises(E.OptimizerStateError) as info:
        koc.restore_state(_copy("two-kernels", before), state, generation=other[0], strict=True)
    assert info.value.category is E.NadamScheduleWarning


def test_custom_optimizer_class_is_refused() -> None:
    gen = FL.default_family
    base = next(t for t in FL.optimizer_candidates("SGD") if t.family == gen).cls

    class MyOptimizer(base):  # a user's own class
        pass

    saver, before = _trained("two-kernels", "sgd-momentum", gen)
    state = koc.state_of(saver.optimizer, saver)
    model = _copy("two-kernels", before)
    report, caught = _restore(model, state, optimizer=MyOptimizer(learning_rate=0.1, momentum=0.9))
    assert report.refused and any(w.category is E.NoSlotTableWarning for w in caught)
    _step(model, before)


def test_state_of_keeps_names_and_slots() -> None:
    gen = FL.default_family
    saver, _ = _trained("bn-frozen", "rmsprop-centered", gen)
    state = koc.state_of(saver.optimizer, saver)
    names = [v.name for v in state.variables]
    assert len(names) == len(saver.trainable_variables) == 6
    assert not any("frozen" in n for n in names)
    assert all(set(v.slots) == {"rms", "momentum", "mg"} for v in state.variables)


def _state_with(state: OptimizerState, **slots: Any) -> OptimizerState:
    return state._replace(
        variables=tuple(VariableState(v.name, v.index, v.shape, dict(v.slots, **slots), v.tie) for v in state.variables)
    )


def test_dropped_slot_warns() -> None:
    gen = FL.default_family
    saver, before = _trained("two-kernels", "sgd-momentum", gen)
    state = koc.state_of(saver.optimizer, saver)
    report, caught = _restore(_copy("two-kernels", before), _state_with(state, nonsense=np.ones(1)))
    assert any(issubclass(w.category, E.DroppedStateWarning) for w in caught)
    assert report.by_status("dropped")
