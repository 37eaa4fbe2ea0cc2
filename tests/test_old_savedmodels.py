"""SavedModels of an old TensorFlow: ``kerasopt_compat.load_model`` is never worse than the native loader (issue 24).

``tests/data/old_savedmodels/tf27`` (``tools/export_old_savedmodels.py``, the real
TF 2.7 wheel): a ``Sequential`` that starts with ``DenseFeatures`` and is fed a
dict. Keras 2 loads it unbuilt (its weights are created at the first call);
``load_model`` must load it wherever the native loader does, predict as the
saver did and take the saver's next step, Adam's stored state restored exactly
(no :class:`OptimizerStateWarning`: the state is in the file). Keras 3 has no
``DenseFeatures``: refused with the package's error, naming it.
"""

from __future__ import annotations

import json
import pathlib
import warnings
from typing import Any, Dict, List, Optional

import pytest
from live_helpers import require_keras

require_keras()

import numpy as np  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402

FL = flavour()
DATA = pathlib.Path(__file__).resolve().parent / "data" / "old_savedmodels"


def _cases() -> List[Dict[str, Any]]:
    out = []
    for manifest in sorted(DATA.glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            out.append(dict(case, env=manifest.parent.name))
    return out


CASES = _cases()
IDS = ["%s/%s" % (c["env"], c["kind"]) for c in CASES]
KERAS2 = FL.default_family != "keras3"


def _np(value: Any) -> Any:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype="float64")


def _feed(case: Dict[str, Any]) -> Dict[str, Any]:
    import tensorflow as tf

    return {k: tf.constant(np.asarray(v) if k == "c" else np.asarray(v, dtype="float32")) for k, v in case["x"].items()}


_NATIVE: Dict[str, Optional[BaseException]] = {}


def _native_error(case: Dict[str, Any]) -> Optional[BaseException]:
    """What the installed native loader raises on the file (None: it loads it). TF 2.4 cannot read a TF 2.7
    SavedModel's Keras metadata (``keras_metadata.pb`` came with TF 2.5): there nothing is to be better than."""
    key = "%s/%s" % (case["env"], case["file"])
    if key not in _NATIVE:
        try:
            FL.keras.models.load_model(str(DATA / case["env"] / case["file"]))
        except Exception as exc:  # noqa: BLE001 - whatever the installed loader raises
            _NATIVE[key] = exc
        else:
            _NATIVE[key] = None
    return _NATIVE[key]


def _skip_unless_native_loads(case: Dict[str, Any]) -> None:
    error = _native_error(case)
    if error is not None:
        pytest.skip("the installed loader cannot open it either (%s: %s)" % (type(error).__name__, str(error)[:120]))


def _name(var: Any) -> str:
    name = var.name
    return name[:-2] if name.endswith(":0") else name


def test_the_corpus_is_there() -> None:
    assert [c["kind"] for c in CASES] == ["dense_features"]


@pytest.mark.tf
@pytest.mark.skipif(not KERAS2, reason="Keras 3 has no DenseFeatures (test_keras3_refuses_dense_features)")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_native_loader_returns_it_unbuilt(case: Dict[str, Any]) -> None:
    """The regression's premise: the installed loader loads it, without weights until the first call."""
    _skip_unless_native_loads(case)
    model = FL.keras.models.load_model(str(DATA / case["env"] / case["file"]))
    with pytest.raises(ValueError, match="not yet been created"):
        model.weights  # noqa: B018
    np.testing.assert_allclose(_np(model.predict(_feed(case), verbose=0)), case["predictions"], rtol=1e-6, atol=1e-7)


@pytest.mark.tf
@pytest.mark.skipif(not KERAS2, reason="Keras 3 has no DenseFeatures (test_keras3_refuses_dense_features)")
@pytest.mark.parametrize("state", ["restore", "require"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_load_model_predicts_and_resumes_exactly(case: Dict[str, Any], state: str) -> None:
    error = _native_error(case)
    if error is not None:  # never worse than the native loader; not better either, where it cannot read the file
        with pytest.raises(type(error)):
            koc.load_model(DATA / case["env"] / case["file"], state=state)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = koc.load_model(DATA / case["env"] / case["file"], state=state)
    assert not [str(w.message) for w in caught if issubclass(w.category, koc.OptimizerStateWarning)]
    assert int(_np(model.optimizer.iterations)) == case["iterations"]
    feed = _feed(case)
    np.testing.assert_allclose(_np(model.predict(feed, verbose=0)), case["predictions"], rtol=1e-6, atol=1e-7)
    model.train_on_batch(feed, np.asarray(case["y"], dtype="float32"))
    after = {_name(v): _np(v) for v in model.trainable_variables}
    want = {k: np.asarray(v, dtype="float64") for k, v in case["next_weights"].items()}
    assert sorted(after) == sorted(want)
    for name, value in want.items():
        np.testing.assert_allclose(after[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.tf
@pytest.mark.skipif(not KERAS2, reason="Keras 2 only")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fresh_state_is_not_the_savers_step(case: Dict[str, Any]) -> None:
    """The check above can fail: a fresh Adam does not take the saver's step."""
    _skip_unless_native_loads(case)
    model = koc.load_model(DATA / case["env"] / case["file"], state="fresh")
    assert int(_np(model.optimizer.iterations)) == 0
    feed = _feed(case)
    model.train_on_batch(feed, np.asarray(case["y"], dtype="float32"))
    after = {_name(v): _np(v) for v in model.trainable_variables}
    moved = [k for k, v in case["next_weights"].items() if not np.allclose(after[k], v, rtol=1e-5, atol=1e-6)]
    assert moved


@pytest.mark.tf
@pytest.mark.skipif(KERAS2, reason="Keras 3 only")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keras3_refuses_dense_features(case: Dict[str, Any]) -> None:
    with pytest.raises(koc.ModelFileError, match="DenseFeatures"):
        koc.load_model(DATA / case["env"] / case["file"])
