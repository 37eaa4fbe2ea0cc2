"""restore_checkpoint with the real wheels: a training checkpoint of any generation resumes with the saver's next step.

For every checkpoint of tests/data/checkpoints (tools/export_checkpoints.py: tf29, tf211, tf215, tf221,
tfkeras221; object-based ``tf.train.Checkpoint`` (sharded, sliced), ``save_weights``, Keras 2 and Keras 3
``BackupAndRestore``, TF1 ``Saver``)
the manifest's model is built with the installed Keras (fresh weights, other layer names than the saver's where
the Keras allows), ``restore_checkpoint`` restores its weights and optimizer state, and one ``train_on_batch`` on the
manifest's next batch must give the saver's next-step weights (relative 1e-4), with the saver's iteration count;
or, where the generations' update rules differ (``_state/rules.py``), the documented warning and finite weights.
NaN anywhere fails. Cross-generation pairs are the point: a legacy TF 2.9 checkpoint in Keras 2 and Keras 3, a
Keras 2 one in Keras 3, TF1 ``Saver`` ones in any. Envs with ``KOC_RESUME_FULL=1`` (tox.ini, one per generation)
run the whole corpus, the others a sample (:func:`_sampled`).
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
from typing import Any, Dict, List, Set, Tuple, Type

import pytest
from live_helpers import require_keras

require_keras()

import numpy as np  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat import _errors as E  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402
from kerasopt_compat._state.rules import NATIVE_UPDATE_BUGS, rule_differences, same_rules  # noqa: E402

pytestmark = pytest.mark.tf

FL = flavour()
K = FL.keras
DATA = pathlib.Path(__file__).parent / "data" / "checkpoints"

#: TF1 optimizer -> the Keras config that continues it (TF1's defaults where they differ from Keras': epsilon)
TF1_CONFIGS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "AdamOptimizer": ("Adam", {"epsilon": 1e-8}),
    "MomentumOptimizer": ("SGD", {}),
    "RMSPropOptimizer": ("RMSprop", {"rho": 0.9, "epsilon": 1e-10}),
    "AdagradOptimizer": ("Adagrad", {"epsilon": 1e-12, "initial_accumulator_value": 0.1}),
    "FtrlOptimizer": ("Ftrl", {}),
    "AdadeltaOptimizer": ("Adadelta", {"rho": 0.95, "epsilon": 1e-8}),
}
TF1_OPTION_NAMES = {"use_nesterov": "nesterov"}


def _np(var: Any) -> Any:
    return np.array(var.numpy())


def _cases() -> List[Tuple[str, Dict[str, Any]]]:
    out = []
    for manifest in sorted(DATA.glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            out.append((manifest.parent.name, case))
    return out


#: The whole corpus takes minutes per env: envs with ``KOC_RESUME_FULL=1`` (tox.ini: one per Keras generation)
#: run all of it; the others a sample: one writer per generation, Adam and SGD, every kind of checkpoint.
FULL = os.environ.get("KOC_RESUME_FULL") == "1"
SAMPLE_WRITERS = frozenset(["tf29", "tf215", "tf221"])
SAMPLE_SUFFIXES = ("_adam_ckpt", "_sgd_nesterov_ckpt", "_adam_nested", "_adam_backup", "_adam_save_weights")
SAMPLE_TF1 = frozenset(["tf1_adam", "tf1_momentum_nesterov"])


def _sampled(env: str, case: Dict[str, Any]) -> bool:
    name = case["case"]
    return env in SAMPLE_WRITERS and (name.endswith(SAMPLE_SUFFIXES) or name in SAMPLE_TF1)


CASES = [(env, c) for env, c in _cases() if FULL or _sampled(env, c)]
#: (env, case) -> (outcome, the weights restore_checkpoint assigned) for tests/test_trainckpt_native.py
OURS: Dict[Tuple[str, str], Tuple[str, Any]] = {}


def build(model_kind: str, rename: bool = False) -> Any:
    """The manifest's model with the installed Keras (``rename``: other layer names than the saver's)."""
    if model_kind == "twin":
        names = ("first", "second") if rename else (None, None)
        return K.Sequential([K.Input(shape=(4,)), K.layers.Dense(4, name=names[0]), K.layers.Dense(4, name=names[1])])
    if model_kind == "tf1_dense":
        names = ("enc", "dec") if rename else ("dense", "dense_1")
        return K.Sequential([K.Input(shape=(4,)), K.layers.Dense(4, name=names[0]), K.layers.Dense(4, name=names[1])])
    inputs = K.Input(shape=(4,))
    x = K.layers.Dense(4, name="a" if rename else None)(inputs)
    x = K.Sequential([K.Input(shape=(4,)), K.layers.Dense(4, name="b" if rename else None)], name="inner_x")(x)
    return K.Model(inputs, K.layers.Dense(2, name="c" if rename else None)(x))


def optimizer_config(case: Dict[str, Any]) -> Dict[str, Any]:
    if case["family"] == "tf1":
        cls, cfg = TF1_CONFIGS[case["class"]]
        cfg = dict(cfg)
        for key, value in case["options"].items():
            cfg[TF1_OPTION_NAMES.get(key, key)] = value
        return {"class_name": cls, "config": cfg}
    if "optimizer" not in case:
        pytest.skip("the saver's optimizer config was not serialized: %s" % case.get("serialize_error"))
    return case["optimizer"]


def _class_name(case: Dict[str, Any]) -> str:
    return TF1_CONFIGS[case["class"]][0] if case["family"] == "tf1" else case["class"]


def expected_warnings(case: Dict[str, Any], report: Any) -> Set[Type[Warning]]:
    """The documented rule differences between the saver's generation and the one restored into."""
    saver = "legacy" if case["family"] == "tf1" else case["family"]
    cfg = optimizer_config(case)["config"]
    out: Set[Type[Warning]] = {r.warning for r in rule_differences(_class_name(case), cfg, saver, report.generation)}
    if _class_name(case) == "Nadam" and same_rules(saver, report.generation) and "keras2" in (saver, report.generation):
        out.add(E.NadamScheduleWarning)  # Keras 2's Nadam: its product is not reproducible (restore_state's doc)
    if cfg.get("use_ema") and report.generation == "legacy":
        out.add(E.EMADroppedWarning)  # the installed legacy class has no EMA: the averages cannot be held
    for (release, cls, gen, key), _what in NATIVE_UPDATE_BUGS.items():  # TF 2.9's AdamW
        if release == FL.release() and cls == _class_name(case) and gen == report.generation and cfg.get(key):
            out.add(E.NativeUpdateBugWarning)
    return out


def _ids(item: Tuple[str, Dict[str, Any]]) -> str:
    return "%s-%s" % (item[0], item[1]["case"])


def _seed(value: int) -> None:
    """Keras' set_random_seed (TF 2.7+, Keras 3), else numpy's and TensorFlow's (TF 2.4-2.6)."""
    set_random_seed = getattr(K.utils, "set_random_seed", None)
    if set_random_seed is not None:
        set_random_seed(value)
        return
    import tensorflow as tf

    np.random.seed(value)
    tf.random.set_seed(value)


@pytest.mark.parametrize("env,case", CASES, ids=[_ids(c) for c in CASES])
def test_restore_checkpoint_resumes_with_the_savers_next_step(env, case):
    K.backend.clear_session()
    _seed(7)
    model = build(case["model"], rename=case["model"] != "tf1_dense")
    model.compile(optimizer="sgd", loss="mse")
    model.predict(np.zeros((1, 4), "float32"), verbose=0)
    before = [_np(v) for v in model.trainable_variables]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", koc.ConversionWarning)
            koc.deserialize(optimizer_config(case))
    except koc.UnsupportedClassError:  # a class this release lacks (AdamW before TF 2.9): refused, nothing assigned
        with pytest.raises(koc.UnsupportedClassError):
            koc.restore_checkpoint(DATA / env / case["prefix"], model, optimizer=optimizer_config(case))
        assert all(np.array_equal(_np(v), b) for v, b in zip(model.trainable_variables, before))
        OURS[(env, case["case"])] = ("refused", None)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = koc.restore_checkpoint(DATA / env / case["prefix"], model, optimizer=optimizer_config(case))
    got = {type(w.message) for w in caught if issubclass(w.category, koc.OptimizerStateWarning)}
    assert report.refused is None, report.refused
    assert report.iterations == case["iterations"], (report.iterations, case["iterations"])
    assert all(w.status == "restored" for w in report.weights), report.weights
    assert len(report.weights) == len(model.weights)
    for v, b in zip(model.trainable_variables, before):
        assert not np.allclose(_np(v), b), "a weight was not assigned"
    if case["kind"] == "backup":
        assert report.epoch == case["epoch"]
    x = np.asarray(case["next_batch"]["x"], "float32")
    y = np.asarray(case["next_batch"]["y"], "float32")
    restored = [_np(v) for v in model.trainable_variables]
    model.train_on_batch(x, y)
    after = [_np(v) for v in model.trainable_variables]
    assert all(np.all(np.isfinite(a)) for a in after), "NaN or infinity after the step"
    documented = expected_warnings(case, report)
    tf1_momentum = case["family"] == "tf1" and case["class"] == "MomentumOptimizer"
    if tf1_momentum:
        documented.add(E.Tf1MomentumWarning)  # converted exactly (the learning rate is the TF1 one): still equal
    assert got == documented, "warnings %s, documented %s: %s" % (got, documented, report.warnings)
    # TF1 Momentum is converted exactly; dropped EMA averages do not enter the step: both still equal the saver's
    exact_step = {E.Tf1MomentumWarning, E.EMADroppedWarning}
    if documented - exact_step:
        assert not report.exact
        OURS[(env, case["case"])] = ("documented", restored)
        return
    assert report.exact or documented & exact_step, report.warnings
    for i, (a, ref) in enumerate(zip(after, case["next_weights"])):
        np.testing.assert_allclose(a, np.asarray(ref["value"]), rtol=1e-4, atol=1e-6, err_msg="variable %d" % i)
    OURS[(env, case["case"])] = ("exact", restored)


def _tf1(name: str) -> Dict[str, Any]:
    return next(c for env, c in CASES if env == "tf215" and c["case"] == name)


def test_tf1_scopes_renamed_through_name_map():
    case = _tf1("tf1_adam")
    K.backend.clear_session()
    model = build("tf1_dense", rename=True)  # layers "enc" and "dec"
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        report = koc.restore_checkpoint(
            DATA / "tf215" / case["prefix"],
            model,
            optimizer=optimizer_config(case),
            name_map={"dense/": "enc/", "dense_1": "dec"},
        )
    assert report.exact and report.iterations == 3
    model.compile(optimizer=model.optimizer, loss="mse")
    model.train_on_batch(np.asarray(case["next_batch"]["x"], "float32"), np.asarray(case["next_batch"]["y"], "float32"))
    for a, ref in zip(model.trainable_variables, case["next_weights"]):
        np.testing.assert_allclose(_np(a), np.asarray(ref["value"]), rtol=1e-4, atol=1e-6)


def test_tf1_without_name_map_names_what_it_left_out_and_strict_refuses():
    case = _tf1("tf1_adam")
    prefix = DATA / "tf215" / case["prefix"]
    K.backend.clear_session()
    model = build("tf1_dense", rename=True)
    before = [_np(v) for v in model.weights]
    with pytest.raises(koc.OptimizerStateError, match="AmbiguousTieWarning"):
        koc.restore_checkpoint(prefix, model, optimizer=optimizer_config(case), strict=True)
    assert all(np.array_equal(_np(v), b) for v, b in zip(model.weights, before)), "strict touched the model"
    with pytest.warns(koc.UnrestoredWeightsWarning, match="enc"):
        report = koc.restore_checkpoint(prefix, model, optimizer=optimizer_config(case))
    assert not report.exact and {w.status for w in report.weights} == {"fresh"}


def test_an_ambiguous_name_map_is_refused():
    case = _tf1("tf1_adam")
    K.backend.clear_session()
    model = build("tf1_dense")
    with pytest.warns(koc.AmbiguousTieWarning, match="dense/kernel and dense_1/kernel"):
        report = koc.restore_checkpoint(
            DATA / "tf215" / case["prefix"], model, optimizer=optimizer_config(case), name_map={"dense_1/kernel": "dense/kernel"}
        )
    restored = sorted(w.variable.split(":")[0] for w in report.weights if w.status == "restored")
    assert [n.split("/")[-2] + "/" + n.split("/")[-1] for n in restored] == ["dense/bias", "dense_1/bias"], restored
    assert not report.exact


def test_without_optimizer_the_class_is_inferred_with_a_warning():
    env, case = next((e, c) for e, c in CASES if c["case"].endswith("adam_ckpt"))
    K.backend.clear_session()
    model = build("twin")
    with pytest.warns(koc.InferredOptimizerWarning, match="Adam"):
        report = koc.restore_checkpoint(DATA / env / case["prefix"], model)
    assert report.iterations == case["iterations"]
    assert type(report.optimizer).__name__ == "Adam"
    with pytest.raises(koc.OptimizerStateError, match="InferredOptimizerWarning"):
        koc.restore_checkpoint(DATA / env / case["prefix"], build("twin"), strict=True)


def test_a_nan_weight_is_a_failure(tmp_path):
    tf = pytest.importorskip("tensorflow")
    if FL.kind == "keras3" and K.backend.backend() != "tensorflow":
        pytest.skip("writes a checkpoint with tf.train.Checkpoint: needs Keras on TensorFlow")
    K.backend.clear_session()
    model = build("twin")
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.ones((4, 4), "float32"), np.zeros((4, 4), "float32"))
    kernel = model.trainable_variables[2]
    kernel.assign(np.full(tuple(kernel.shape), np.nan, "float32"))
    prefix = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(str(tmp_path / "ckpt"))
    fresh = build("twin")
    before = [_np(v) for v in fresh.weights]
    with pytest.raises(koc.ModelFileError, match="NaN"):
        koc.restore_checkpoint(prefix, fresh, optimizer={"class_name": "Adam", "config": {}})
    assert all(np.array_equal(_np(v), b) for v, b in zip(fresh.weights, before))


class SubclassedTwin(K.Model):  # a subclassed model: its checkpoint edges are its attributes
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first = K.layers.Dense(4)
        self.second = K.layers.Dense(4)

    def call(self, x: Any) -> Any:
        return self.second(self.first(x))


def test_a_subclassed_model_ties_by_its_attributes(tmp_path):
    """Saved with its attributes ``first``/``second`` in the other order of creation than the layers' names."""
    tf = pytest.importorskip("tensorflow")
    if FL.kind == "keras3" and K.backend.backend() != "tensorflow":
        pytest.skip("writes a checkpoint with tf.train.Checkpoint: needs Keras on TensorFlow")
    K.backend.clear_session()
    x, y = np.ones((4, 4), "float32") / 3, np.zeros((4, 4), "float32")
    saver = SubclassedTwin()
    saver.compile(optimizer=K.optimizers.Adam(0.01), loss="mse")
    for _ in range(2):
        saver.train_on_batch(x, y)
    prefix = tf.train.Checkpoint(model=saver, optimizer=saver.optimizer).save(str(tmp_path / "ckpt"))
    fresh = SubclassedTwin()
    fresh.compile(optimizer="sgd", loss="mse")
    fresh.predict(x, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        report = koc.restore_checkpoint(prefix, fresh, optimizer=koc.serialize(saver.optimizer))
    assert report.exact and report.iterations == 2
    saver.train_on_batch(x, y)
    fresh.train_on_batch(x, y)
    for a, b in zip(fresh.trainable_variables, saver.trainable_variables):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-7)
