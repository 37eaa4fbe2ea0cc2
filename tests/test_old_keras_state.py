"""Old ``.h5`` files: stand-alone Keras 2.0-2.3 and TF 1.15's ``tf.keras`` (issue 24 §1, §3).

The files in tests/data/old_keras were written by the real wheels (keras 2.0.9,
2.1.6, 2.2.5, 2.3.1 on TF 1.15, and TF 1.15's tf.keras) with
tools/export_old_keras.py: ``Dense(2, input_shape=(2,)) -> Dense(2)`` (two
same-shaped kernels, so a slot tied to the wrong variable is caught only by its
values), every optimizer class of those releases, 3 steps. The manifest holds the
saver's slots per variable (tied through the live optimizer's own ``get_updates``
lists), its iteration count, its predictions and next step on a fourth batch.

Pure part (every env): :func:`read_state` reads exactly those slots, tied to the
model variables the file's ``model_weights`` stores, and
:func:`kerasopt_compat.fixes.keras3_legacy_model_config` rewrites exactly what
Keras 3's loader gets wrong. Live part (``tf``): :func:`kerasopt_compat.load_model`
restores the state exactly (iterations and every slot, compared with the
manifest), the model predicts as the saver's did (Keras 3: after the config
repair), and one step is the saver's (relative 1e-4), except where a documented
rule difference applies: Keras 3's RMSprop/Adagrad put epsilon inside the square
root (:class:`EpsilonPlacementWarning`; the step still agrees within 1e-4 here)
and its Nadam runs another momentum schedule (:class:`NadamScheduleWarning`; the
product is recomputed for it, checked below). Files of stand-alone Keras 2.0-2.2
RMSprop/Adagrad/Adadelta store no iteration count (:class:`NoStateWarning`, only
for those; their update does not read it).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import warnings
from typing import Any, Dict, List, Tuple

import pytest

from kerasopt_compat import fixes
from kerasopt_compat._files.h5 import _standalone_release
from kerasopt_compat._files.state import read_state
from kerasopt_compat._state.slots import STANDALONE

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

OLD = pathlib.Path(__file__).parent / "data" / "old_keras"
RELEASES = ("keras2.0", "keras2.1", "keras2.2", "keras2.3", "tfkeras1.15")


def _corpus() -> List[Tuple[str, Dict[str, Any]]]:
    out = []
    for release in RELEASES:
        manifest = OLD / release / "manifest.json"
        if manifest.exists():
            out.extend((release, case) for case in json.loads(manifest.read_text())["cases"])
    return out


CORPUS = _corpus()
IDS = ["%s/%s" % (r, c["case"]) for r, c in CORPUS]


def test_fixtures_are_there() -> None:
    have = {release for release, _ in CORPUS}
    assert have == set(RELEASES)
    for release in RELEASES:
        classes = {c["class"] for r, c in CORPUS if r == release}
        assert classes == set(STANDALONE), release  # every class those releases have
    amsgrad = {r for r, c in CORPUS if c["case"] == "adam_amsgrad"}
    assert amsgrad == set(RELEASES) - {"keras2.0"}  # Keras 2.0's Adam has no amsgrad


# --------------------------------------------------------------------------- pure: reading


@pytest.mark.parametrize("item", CORPUS, ids=IDS)
def test_read_state_ties_every_slot(item: Tuple[str, Dict[str, Any]]) -> None:
    release, case = item
    state = read_state(OLD / release / case["file"])
    assert state.saver.generation == "legacy"  # stand-alone Keras 2.x: the legacy classes' update rules
    assert state.optimizer is not None and state.optimizer["class_name"] == case["class"]
    assert state.iterations == case["iterations"]
    assert not state.untied
    no_count = [n for n in state.notes if "does not store" in n and "iteration count" in n]
    assert len(no_count) == (case["iterations"] is None) and len(state.notes) == len(no_count), state.notes
    assert [v.name for v in state.variables] == [v["name"] for v in case["variables"]]
    for got, want in zip(state.variables, case["variables"]):
        layer = want["name"].split("/")[0]
        position = ["kernel", "bias"].index(want["name"].split("/")[1])
        assert got.layer == (layer, position)  # where the file stores the model variable
        assert tuple(got.shape) == tuple(want["shape"])
        assert sorted(got.slots) == sorted(want["slots"]), want["name"]
        for slot, value in want["slots"].items():
            np.testing.assert_array_equal(np.asarray(got.slots[slot]), np.asarray(value, dtype="float32"))
    for key, value in case["extra"].items():
        assert state.extra[key] == pytest.approx(value, rel=1e-7)
    if case["class"] == "Nadam" and release == "keras2.3":
        assert "momentum_cache" in state.extra  # m_schedule, stored from 2.3.0 on


def test_layout_rows_by_release() -> None:
    """Each stand-alone file fits exactly the STANDALONE row of its release (names and counts from the file)."""
    for release, case in CORPUS:
        if release.startswith("tfkeras"):
            continue
        with h5py.File(OLD / release / case["file"], "r") as fh:
            version = fh.attrs["keras_version"]
            version = version.decode() if isinstance(version, bytes) else version
        rows = [r for r in STANDALONE[case["class"]] if r.first <= _standalone_release(version) <= r.last]
        assert len(rows) == 1, (release, case["case"])
        assert len(case["weight_names"]) == len(rows[0].head) + 4 * len(rows[0].lists), (release, case["case"])
        assert ("iterations" in rows[0].head) == (case["iterations"] is not None)


def _copy(tmp_path: pathlib.Path, release: str, name: str) -> pathlib.Path:
    out = tmp_path / name
    shutil.copyfile(OLD / release / name, out)
    return out


def test_a_count_that_fits_no_row_is_left_untied(tmp_path: pathlib.Path) -> None:
    path = _copy(tmp_path, "keras2.3", "adam.h5")
    with h5py.File(path, "r+") as fh:
        names = list(fh["optimizer_weights"].attrs["weight_names"])
        fh["optimizer_weights"].attrs["weight_names"] = names[:-1]
    state = read_state(path)
    assert state.untied and state.variables == () and state.iterations is None
    assert any("12 weights, not the 13" in n for n in state.notes), state.notes


def test_the_tie_follows_the_stored_trainable_weights(tmp_path: pathlib.Path) -> None:
    """A frozen first layer: the optimizer was built for 2 variables, the stored model says so."""
    path = _copy(tmp_path, "keras2.3", "sgd_nesterov.h5")
    with h5py.File(path, "r+") as fh:
        doc = json.loads(fh.attrs["model_config"])
        doc["config"]["layers"][0]["config"]["trainable"] = False
        fh.attrs["model_config"] = json.dumps(doc).encode()
    state = read_state(path)  # 4 stored moments, 2 trainable variables: no row fits
    assert state.untied and state.variables == ()
    assert any("on 2 trainable variables" in n for n in state.notes), state.notes


def test_an_unknown_first_name_outside_keras_2_0_to_2_3_is_still_refused(tmp_path: pathlib.Path) -> None:
    from kerasopt_compat import ModelFileError

    path = _copy(tmp_path, "keras2.2", "rmsprop.h5")  # first name training/RMSprop/Variable:0
    with h5py.File(path, "r+") as fh:
        fh.attrs["keras_version"] = b"1.2.2"
    with pytest.raises(ModelFileError, match="training/RMSprop/Variable:0"):
        read_state(path)


# --------------------------------------------------------------------------- pure: Keras 3 config rewrites

#: What fixes.keras3_legacy_model_config rewrites in each release's model config.
REWRITES = {
    "keras2.0": ["sequential_layer_list", "first_layer_batch_input_shape"],
    "keras2.1": ["sequential_layer_list", "first_layer_batch_input_shape"],
    "keras2.2": ["first_layer_batch_input_shape"],
    "keras2.3": ["first_layer_batch_input_shape"],
    "tfkeras1.15": ["first_layer_batch_input_shape", "initializer_dtype"],
}


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("keras_version", [(3, 3, 3), (3, 15, 1)])
def test_keras3_config_rewrites(release: str, keras_version: Tuple[int, ...]) -> None:
    with h5py.File(OLD / release / "adam.h5", "r") as fh:
        doc = json.loads(fh.attrs["model_config"])
    assert fixes.keras3_legacy_model_config(doc, keras_version) == REWRITES[release]
    layers = doc["config"]["layers"]
    assert layers[0]["class_name"] == "InputLayer"
    assert layers[0]["config"]["batch_input_shape"] == [None, 2]
    assert "batch_input_shape" not in layers[1]["config"]
    assert [layer["config"]["name"] for layer in layers[1:]] == [
        v["name"].split("/")[0] for v in _case(release)["variables"][::2]
    ]
    assert fixes.keras3_legacy_model_config(doc, keras_version) == []  # idempotent


def test_keras3_config_rewrites_leave_tf2_configs_alone() -> None:
    resume = pathlib.Path(__file__).parent / "data" / "resume"
    for path in sorted(resume.glob("*/*.h5"))[:12]:
        with h5py.File(path, "r") as fh:
            doc = json.loads(fh.attrs["model_config"])
        assert fixes.keras3_legacy_model_config(doc, (3, 15, 1)) == [], path


def _case(release: str, name: str = "adam") -> Dict[str, Any]:
    return next(c for r, c in CORPUS if r == release and c["case"] == name)


# --------------------------------------------------------------------------- live: load_model resumes


def _expected_warnings(fl: Any, case: Dict[str, Any]) -> set:
    """The OptimizerStateWarning classes a resume must give, and no other (the documented differences)."""
    out = set()
    if case["iterations"] is None:
        out.add("NoStateWarning")
    if fl.default_family == "keras3":  # no legacy classes: Keras 3's rules (docs/differences.md)
        out |= {"RMSprop": {"EpsilonPlacementWarning"}, "Adagrad": {"EpsilonPlacementWarning"}}.get(case["class"], set())
        out |= {"NadamScheduleWarning"} if case["class"] == "Nadam" else set()
    return out


def _keras3_nadam_product(beta_1: float, iterations: int) -> float:
    """Keras 3 Nadam's momentum product after ``iterations`` steps: prod beta_1 * (1 - 0.5 * 0.96**t)."""
    product = 1.0
    for t in range(1, iterations + 1):
        product *= beta_1 * (1.0 - 0.5 * 0.96**t)
    return product


def _float64(variable: Any) -> Any:
    """A live variable's value as float64 (TF 2.4's ``Variable.__array__`` takes no dtype)."""
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable).astype("float64")


@pytest.mark.tf
@pytest.mark.parametrize("item", CORPUS, ids=IDS)
def test_load_model_restores_and_resumes(item: Tuple[str, Dict[str, Any]]) -> None:
    from live_helpers import require_keras

    require_keras()
    import kerasopt_compat as koc
    from kerasopt_compat._keras.flavour import flavour
    from kerasopt_compat._keras.restore import state_of

    fl = flavour()
    release, case = item
    x = np.asarray(case["next_batch"]["x"], dtype="float32")
    y = np.asarray(case["next_batch"]["y"], dtype="float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = koc.load_model(OLD / release / case["file"])
    said = {w.category.__name__ for w in caught if issubclass(w.category, koc.OptimizerStateWarning)}
    assert said == _expected_warnings(fl, case), [str(w.message)[:300] for w in caught]
    # the model is the saver's (Keras 3: built with input shape (None, 2), not (None, None, 2))
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), np.asarray(case["predictions"]), rtol=1e-5, atol=1e-6)
    # the state is restored exactly: iterations and every slot of every variable
    live = state_of(model.optimizer, model)
    assert live.iterations == (case["iterations"] or 0)
    assert len(live.variables) == len(case["variables"])
    for got, want in zip(live.variables, case["variables"]):
        for slot, value in want["slots"].items():
            np.testing.assert_array_equal(np.asarray(got.slots[slot]), np.asarray(value, dtype="float32"), err_msg=slot)
    if case["class"] == "Nadam":
        cache = live.extra["momentum_cache"]
        if fl.default_family == "keras3":  # documented: recomputed for Keras 3's schedule
            assert cache == pytest.approx(_keras3_nadam_product(0.9, case["iterations"]), rel=1e-5)
        elif "momentum_cache" in case["extra"]:
            assert cache == pytest.approx(case["extra"]["momentum_cache"], rel=1e-6)
    before = [_float64(v) for v in model.trainable_variables]
    model.train_on_batch(x, y)
    after = [_float64(v) for v in model.trainable_variables]
    want = [np.asarray(w["value"], dtype="float64") for w in case["next_weights"]]
    worst = max(float(np.max(np.abs(a - w)) / np.max(np.abs(w - b))) for a, w, b in zip(after, want, before))
    if "NadamScheduleWarning" in said:
        assert 1e-3 < worst < 0.5  # the other schedule: a different step, of the same size
    else:
        assert worst < 1e-4


@pytest.mark.parametrize("release", ["keras2.2", "keras2.3"])
def test_fix_model_lays_a_standalone_state_out_for_legacy(release: str, tmp_path: pathlib.Path) -> None:
    """The saver's rules are legacy's but its layout is not: fix-model --state convert writes the legacy layout
    (TF 2.9's loader assigns it by position), never "kept"."""
    import kerasopt_compat as koc

    case = _case(release, "nadam")
    out = tmp_path / "nadam.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        result = koc.fix_model(OLD / release / case["file"], out, "tf2.9", state="convert")
    assert result.state == "converted"
    with h5py.File(out, "r") as fh:
        names = [n.decode() if isinstance(n, bytes) else n for n in fh["optimizer_weights"].attrs["weight_names"]]
    assert names[:2] == ["Nadam/iter:0", "Nadam/momentum_cache:0"]
    converted = read_state(out)
    assert converted.saver.layout is None and converted.iterations == case["iterations"]
    for got, want in zip(converted.variables, case["variables"]):
        assert got.name == want["name"]
        for slot, value in want["slots"].items():
            np.testing.assert_array_equal(np.asarray(got.slots[slot]), np.asarray(value, dtype="float32"))
