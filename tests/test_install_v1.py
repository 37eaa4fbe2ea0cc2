"""install()/uninstall() on the real public names, and tf.compat.v1.train migration.

Skipped without TF/Keras; the TF/Keras tox envs make them run.
"""

from __future__ import annotations

import threading
import warnings

import pytest
from live_helpers import model_formats, require_keras

require_keras()

import numpy as np  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._config import tables as T  # noqa: E402
from kerasopt_compat._keras import install as _install  # noqa: E402

FL = koc.flavour()
K = FL.keras
HAS_TF = FL.tensorflow_version is not None
SGD_DOC = {
    "class_name": "SGD",
    "config": {"name": "SGD", "learning_rate": 0.01, "decay": 0.0, "momentum": 0.0, "nesterov": False},
}
TF211_ADAM = {
    "class_name": "Custom>Adam",
    "config": {"name": "Adam", "weight_decay": None, "jit_compile": False, "is_legacy_optimizer": False, "learning_rate": 0.1},
}


def _public_modules():
    mods = {"keras.optimizers": K.optimizers}
    if HAS_TF:
        import tensorflow as tf

        mods["tf.keras.optimizers"] = tf.keras.optimizers
        mods["tf.compat.v1.keras.optimizers"] = tf.compat.v1.keras.optimizers
    if FL.kind == "tf_keras":
        import tf_keras

        mods["tf_keras.optimizers"] = tf_keras.optimizers
    return mods


def _snapshot():
    return {
        (path, name): getattr(mod, name)
        for path, mod in _public_modules().items()
        for name in ("serialize", "deserialize", "get")
    }


@pytest.fixture(autouse=True)
def _always_uninstalled():
    koc.uninstall()
    yield
    koc.uninstall()


def test_install_changes_every_public_path_and_uninstall_restores_identity():
    before = _snapshot()
    koc.install()
    koc.install()  # idempotent
    for path, mod in _public_modules().items():
        assert mod.serialize(K.optimizers.SGD()) == SGD_DOC, path
        opt = mod.deserialize(dict(TF211_ADAM))
        assert koc.serialize(opt)["config"]["learning_rate"] == pytest.approx(0.1)
        assert mod.get(dict(TF211_ADAM)).__class__.__name__ == "Adam"
        assert mod.get("adam").__class__.__name__ == "Adam"  # strings still go to Keras
    after_install = _snapshot()
    assert all(
        after_install[k] is not before[k] for k in before if before[k].__module__.startswith(("keras", "tf_keras", "tensorflow"))
    )
    koc.uninstall()
    assert all(_snapshot()[k] is before[k] for k in before)
    koc.uninstall()  # idempotent
    assert all(_snapshot()[k] is before[k] for k in before)


@pytest.mark.skipif(not HAS_TF, reason="tf.compat.v1 needs TensorFlow")
def test_compat_v1_alias_gives_the_documented_dict():
    import tensorflow as tf

    with koc.installed():
        assert tf.compat.v1.keras.optimizers.serialize(tf.keras.optimizers.SGD()) == SGD_DOC
        assert tf.keras.optimizers.serialize(tf.keras.optimizers.SGD()) == SGD_DOC
        assert tf.compat.v1.keras.optimizers.serialize(tf.compat.v1.keras.optimizers.SGD()) == SGD_DOC
    assert tf.compat.v1.keras.optimizers.serialize is tf.keras.optimizers.serialize


def test_context_manager_nests():
    before = _snapshot()
    with koc.installed():
        with koc.installed():
            assert _install.is_installed()
        assert _install.is_installed()  # the inner exit keeps the outer install
    assert not _install.is_installed()
    assert all(_snapshot()[k] is before[k] for k in before)


def test_install_is_thread_safe():
    before = _snapshot()
    errors = []

    def work():
        try:
            for _ in range(20):
                koc.install()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    patched = len(_install._PATCHED)
    koc.install()
    assert len(_install._PATCHED) == patched
    koc.uninstall()
    assert all(_snapshot()[k] is before[k] for k in before)


def test_custom_registered_classes_fall_back_to_keras():
    class MyAdam(K.optimizers.Adam):
        pass

    with koc.installed():
        out = K.optimizers.serialize(MyAdam())
    assert "MyAdam" in str(out["class_name"])


@pytest.mark.parametrize("fmt", model_formats(FL))
def test_model_compile_fit_save_load_with_install_active(tmp_path, fmt):
    x = np.random.RandomState(0).rand(16, 3).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    with koc.installed():
        model = K.Sequential([K.layers.Input(shape=(3,)), K.layers.Dense(2), K.layers.Dense(1)])
        model.compile(optimizer=K.optimizers.Adam(0.01), loss=K.losses.MeanSquaredError())
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        path = str(tmp_path / ("model" + ("" if fmt == "savedmodel" else fmt)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(path)
            loaded = K.models.load_model(path)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
        if not (FL.kind == "keras3" and fmt == ".h5"):
            # Keras 3 cannot resume training from a legacy .h5 even without
            # kerasopt_compat ("Unknown variable ... optimizer can only be called
            # for the variables it was originally built with"), so only predict.
            loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)
        assert koc.serialize(model.optimizer)["class_name"] == "Adam"


# --------------------------------------------------------------------------- tf.compat.v1.train

v1 = pytest.importorskip("tensorflow").compat.v1.train if HAS_TF else None
needs_tf = pytest.mark.skipif(not HAS_TF, reason="tf.compat.v1.train needs TensorFlow")


@needs_tf
def test_v1_adam_keeps_v1_defaults():
    assert koc.serialize(v1.AdamOptimizer(0.1)) == {
        "class_name": "Adam",
        "config": {
            "name": "Adam",
            "learning_rate": 0.1,
            "decay": 0.0,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-08,
            "amsgrad": False,
        },
    }


def _v1_cases():
    if not HAS_TF:
        return []
    return [
        ("GradientDescentOptimizer", lambda: v1.GradientDescentOptimizer(0.1), {"learning_rate": 0.1}),
        ("MomentumOptimizer", lambda: v1.MomentumOptimizer(0.1, 0.9), {"momentum": 0.9, "nesterov": False}),
        ("MomentumOptimizer/nesterov", lambda: v1.MomentumOptimizer(0.1, 0.9, use_nesterov=True), {"nesterov": True}),
        ("AdamOptimizer", lambda: v1.AdamOptimizer(0.1, beta1=0.8), {"beta_1": 0.8, "epsilon": 1e-08}),
        ("AdagradOptimizer", lambda: v1.AdagradOptimizer(0.1, initial_accumulator_value=0.2), {"initial_accumulator_value": 0.2}),
        ("AdadeltaOptimizer", lambda: v1.AdadeltaOptimizer(1.0, rho=0.9), {"rho": 0.9, "epsilon": 1e-08}),
        ("RMSPropOptimizer", lambda: v1.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5), {"rho": 0.8, "momentum": 0.5}),
        ("FtrlOptimizer", lambda: v1.FtrlOptimizer(0.1, l1_regularization_strength=0.01), {"l1_regularization_strength": 0.01}),
    ]


#: Where v1 and Keras really compute different things (documented in README).
#: v1 RMSProp starts its mean-square accumulator at 1.0, Keras at 0.0.
DIFFERENT_ALGORITHM = {"RMSPropOptimizer"}


def _run(opt, steps=5):
    import tensorflow as tf

    var = tf.Variable([1.0, -2.0, 3.0])
    rng = np.random.RandomState(42)
    for _ in range(steps):
        grad = tf.constant(rng.randn(3).astype("float32"))
        opt.apply_gradients([(grad, var)])
    return var.numpy()


@needs_tf
@pytest.mark.parametrize("label,make,expected", _v1_cases(), ids=[c[0] for c in _v1_cases()])
def test_v1_mapping_and_numerical_twin(label, make, expected):
    opt = make()
    out = koc.serialize(opt)
    mapping = T.V1_TRAIN[label.split("/")[0]]
    assert out["class_name"] == mapping.keras_class
    for key, value in expected.items():
        assert out["config"][key] == pytest.approx(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)  # legacy Adagrad: epsilon 0 -> 1e-7
        twin = koc.to_keras(make())
    ours, theirs = _run(make()), _run(twin)
    rel = float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(ours), 1e-12)))
    print("%s: max relative difference after 5 steps = %.3g" % (label, rel))
    if label in DIFFERENT_ALGORITHM:
        assert rel > 1e-3, "v1 RMSProp and Keras RMSprop now agree: update README"
    else:
        assert rel < 1e-5


@needs_tf
@pytest.mark.parametrize(
    "name,make",
    [
        ("ProximalAdagradOptimizer", lambda: v1.ProximalAdagradOptimizer(0.1)),
        ("ProximalGradientDescentOptimizer", lambda: v1.ProximalGradientDescentOptimizer(0.1)),
        (
            "AdagradDAOptimizer",
            lambda: v1.AdagradDAOptimizer(0.1, global_step=__import__("tensorflow").Variable(0, dtype="int64")),
        ),
        ("SyncReplicasOptimizer", lambda: v1.SyncReplicasOptimizer(v1.GradientDescentOptimizer(0.1), 2)),
    ],
)
def test_v1_without_keras_equivalent(name, make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = make()
    with pytest.raises(koc.SerializationError) as info:
        koc.serialize(opt)
    assert name in str(info.value) and T.V1_UNMAPPED[name].split(";")[0] in str(info.value)


@needs_tf
def test_v1_learning_rate_kinds():
    import tensorflow as tf

    assert koc.serialize(v1.GradientDescentOptimizer(tf.constant(0.5)))["config"]["learning_rate"] == 0.5
    assert koc.serialize(v1.GradientDescentOptimizer(lambda: 0.25))["config"]["learning_rate"] == 0.25
    with pytest.raises(koc.SerializationError, match="variable"):
        koc.serialize(v1.GradientDescentOptimizer(tf.Variable(0.1)))
    counter = iter(range(100))
    with pytest.raises(koc.SerializationError, match="different values"):
        koc.serialize(v1.GradientDescentOptimizer(lambda: float(next(counter))))


@needs_tf
def test_install_routes_v1_optimizers_too():
    import tensorflow as tf

    with koc.installed():
        out = tf.keras.optimizers.serialize(v1.AdamOptimizer(0.1))
    assert out["class_name"] == "Adam" and out["config"]["epsilon"] == 1e-08


def test_to_keras_rejects_non_v1():
    with pytest.raises(koc.ConfigTypeError):
        koc.to_keras(K.optimizers.SGD())


@pytest.mark.parametrize("value,expected", [("1", "True"), ("", "False")])
def test_autoinstall_env_var(value, expected):
    import os
    import subprocess
    import sys

    code = (
        "import kerasopt_compat.autoinstall as a, kerasopt_compat as k\n"
        "fn = k.flavour().keras.optimizers.serialize\n"
        "print(a.INSTALLED, getattr(fn, '__kerasopt_compat__', False))"
    )
    env = dict(os.environ, KERASOPT_COMPAT_INSTALL=value)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split()[-2:] == [expected, expected]
