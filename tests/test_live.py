"""serialize()/deserialize() against the installed, real TensorFlow/Keras.

Skipped without TF/Keras; every tox env named after a TF/Keras release sets
KOC_REQUIRE_LIVE=1, so there these tests must run.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import sys
import warnings

import pytest
from live_helpers import NONDEFAULT, assert_close, drop_keys, namespaces, require_keras, step

require_keras()

from conftest import iter_exports, load_spec, spec_case_id  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._config import tables as T  # noqa: E402

FL = koc.flavour()
K = FL.keras
SCHEDULES = K.optimizers.schedules
SGD_DOC = {
    "class_name": "SGD",
    "config": {"name": "SGD", "learning_rate": 0.01, "decay": 0.0, "momentum": 0.0, "nesterov": False},
}


def test_flavour_is_detected_and_cached():
    assert koc.flavour() is FL
    print("flavour:", FL.describe())
    assert FL.default_family in T.FAMILIES


def test_issue_example_sgd_is_the_documented_dict():
    assert koc.serialize(K.optimizers.SGD()) == SGD_DOC


SPEC = load_spec()


@pytest.mark.parametrize("case", SPEC, ids=["%s/%s" % (c["class"].rsplit(".", 1)[-1], spec_case_id(c)) for c in SPEC])
@pytest.mark.parametrize("ns_name,ns", namespaces(FL), ids=[n for n, _ in namespaces(FL)])
def test_documented_cases_on_every_namespace(case, ns_name, ns):
    cls_name = case["class"].rsplit(".", 1)[-1]
    cls = getattr(ns, cls_name, None)
    if cls is None:
        pytest.skip("%s has no %s" % (ns_name, cls_name))
    kwargs = dict(case["constructor_kwargs"])
    if isinstance(kwargs.get("learning_rate"), str):
        kwargs["learning_rate"] = SCHEDULES.ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9)
    opt = cls(**kwargs)
    out = koc.serialize(opt)
    assert out == case["serialize"]
    assert list(out["config"]) == list(case["serialize"]["config"])
    json.dumps(out, allow_nan=False)


def _cases():
    for ns_name, ns in namespaces(FL):
        for cls_name in T.OPTIMIZERS:
            cls = getattr(ns, cls_name, None)
            if not isinstance(cls, type):
                continue
            yield ns_name, cls_name, "defaults", {}
            yield ns_name, cls_name, "nondefault", NONDEFAULT[cls_name]
            yield ns_name, cls_name, "clipnorm", {"clipnorm": 1.0}
            yield ns_name, cls_name, "schedule", {"learning_rate": "ExponentialDecay"}


CASES = list(_cases())


def _build(ns_name, cls_name, kwargs):
    ns = dict(namespaces(FL))[ns_name]
    kwargs = dict(kwargs)
    if kwargs.get("learning_rate") == "ExponentialDecay":
        kwargs["learning_rate"] = SCHEDULES.ExponentialDecay(0.1, 10, 0.9)
    try:
        return getattr(ns, cls_name)(**kwargs)
    except ValueError as exc:
        if "does not support" in str(exc):  # legacy Nadam refuses schedules natively
            pytest.skip(str(exc))
        raise


@pytest.mark.parametrize("ns_name,cls_name,variant,kwargs", CASES, ids=["%s.%s/%s" % c[:3] for c in CASES])
def test_every_class_and_variant(ns_name, cls_name, variant, kwargs):
    opt = _build(ns_name, cls_name, kwargs)
    out = koc.serialize(opt)
    assert out["class_name"] == cls_name
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert koc.normalize(out) == out
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.ConversionWarning)
        again = koc.deserialize(copy.deepcopy(out))
    assert not isinstance(again, str)
    assert_close(koc.serialize(again), out)
    # after a real training step hyperparameters are variables: still JSON-native and unchanged
    try:
        step(FL, opt)
    except Exception as exc:  # noqa: BLE001
        if cls_name == "Muon" or "Tracer" in type(exc).__name__:
            pytest.skip("this Keras cannot step %s eagerly here: %r" % (cls_name, exc))
        raise
    after = koc.serialize(opt)
    json.dumps(after, allow_nan=False)
    assert_close(after, out)


def _lso(inner):
    return FL.loss_scale_class(FL.family_of(type(inner)))(inner)


@pytest.mark.parametrize("ns_name", [n for n, _ in namespaces(FL)])
def test_loss_scale_optimizer(ns_name):
    inner = dict(namespaces(FL))[ns_name].SGD()
    opt = _lso(inner)
    out = koc.serialize(opt)
    assert out == {
        "class_name": "LossScaleOptimizer",
        "config": {"inner_optimizer": SGD_DOC, "dynamic": True, "initial_scale": 32768.0, "dynamic_growth_steps": 2000},
    }
    json.dumps(out, allow_nan=False)
    again = koc.deserialize(out)
    assert koc.serialize(again) == out
    assert type(again).__name__ in ("LossScaleOptimizer", "LossScaleOptimizerV3")


# --------------------------------------------------------------------------- cross-version

EXPORTS = list(iter_exports())
#: outcome of every cross-version load, written for tools/compat_matrix.py
RESULTS = []


@pytest.fixture(scope="module", autouse=True)
def _write_report():
    yield
    out_dir = os.environ.get("KOC_REPORT_DIR")
    if not out_dir:
        return
    report = {
        "python": platform.python_version(),
        "flavour": FL.describe(),
        "kind": FL.kind,
        "tensorflow": FL.tensorflow_version,
        "keras": FL.keras_version,
        "default_family": FL.default_family,
        "classes": {name: [t.family for t in FL.optimizer_candidates(name)] for name in T.OPTIMIZERS if _has_class(name)},
        "sgd": koc.serialize(K.optimizers.SGD()),
        "cross": RESULTS,
    }
    with open(os.path.join(out_dir, "koc_report.json"), "w") as fh:
        json.dump(report, fh, indent=1)


def _has_class(name):
    try:
        FL.optimizer_candidates(name)
    except koc.UnsupportedClassError:
        return False
    return True


def _expected_failure(canonical):
    """The error a faithful reader must raise here, or None."""
    cls = canonical["class_name"]
    inner = canonical["config"]["inner_optimizer"] if cls == T.LOSS_SCALE_CLASS else canonical
    try:
        candidates = FL.optimizer_candidates(inner["class_name"])
    except koc.UnsupportedClassError:
        return koc.UnsupportedClassError
    lr = inner["config"]["learning_rate"]
    if isinstance(lr, dict):
        if not hasattr(SCHEDULES, lr["class_name"]):
            return koc.UnsupportedClassError
        if all(lr and inner["class_name"] in T.FAMILIES[t.family].no_schedule for t in candidates):
            return koc.UnsupportedClassError  # TF 2.4's Nadam refuses schedules
    return None


@pytest.mark.parametrize("env,entry", EXPORTS, ids=["%s:%s" % (env, e["id"]) for env, e in EXPORTS])
def test_dicts_exported_by_real_versions_load_here(env, entry):
    exported = entry["serialized"]
    original = copy.deepcopy(exported)
    canonical = koc.normalize(exported)
    modules = set(sys.modules)
    expected_error = _expected_failure(canonical)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if expected_error is not None:
            with pytest.raises(expected_error) as info:
                koc.deserialize(exported)
            RESULTS.append([env, entry["id"], "unsupported"])
            assert canonical["class_name"] in str(info.value) or "schedule" in str(info.value.args[0]).lower()
            assert exported == original
            return
        opt = koc.deserialize(exported)
    assert exported == original  # never mutates the caller's dict
    assert not isinstance(opt, str)
    assert set(sys.modules) - modules <= {m for m in sys.modules if m.startswith(("keras", "tf_keras", "tensorflow", "jax"))}
    ours = [w.message for w in caught if isinstance(w.message, koc.ConversionWarning)]
    got = koc.serialize(opt)
    lossy = [w.key for w in ours if isinstance(w, koc.LossyConversionWarning)]
    decay = [w for w in ours if isinstance(w, koc.DecayConversionWarning)]
    inner_got, inner_want = got, canonical
    if canonical["class_name"] == T.LOSS_SCALE_CLASS:
        inner_got, inner_want = got["config"]["inner_optimizer"], canonical["config"]["inner_optimizer"]
        lso_lossy = [k for k in lossy if k in canonical["config"]]
        assert_close(drop_keys(got, lso_lossy + ["inner_optimizer"]), drop_keys(canonical, lso_lossy + ["inner_optimizer"]))
    if decay:
        want = inner_want["config"]
        assert inner_got["config"]["decay"] == 0.0
        assert inner_got["config"]["learning_rate"] == {
            "class_name": "InverseTimeDecay",
            "config": {
                "initial_learning_rate": want["learning_rate"],
                "decay_steps": 1,
                "decay_rate": want["decay"],
                "staircase": False,
                "name": None,
            },
        }
        lossy += ["learning_rate", "decay"]
    assert_close(drop_keys(inner_got, lossy), drop_keys(inner_want, lossy))
    outcome = "lossy" if any(isinstance(w, koc.LossyConversionWarning) for w in ours) else "decay" if decay else "exact"
    RESULTS.append([env, entry["id"], outcome])


# --------------------------------------------------------------------------- behaviour


def test_legacy_decay_becomes_inverse_time_decay_or_stays():
    cfg = {"class_name": "SGD", "config": {"name": "SGD", "learning_rate": 0.1, "decay": 0.01}}
    if FL.default_family == "legacy":
        with warnings.catch_warnings():
            warnings.simplefilter("error", koc.ConversionWarning)
            opt = koc.deserialize(cfg)
        assert koc.serialize(opt)["config"]["decay"] == pytest.approx(0.01)
        return
    with pytest.warns(koc.DecayConversionWarning, match="InverseTimeDecay"):
        opt = koc.deserialize(cfg)
    schedule = opt.learning_rate if not hasattr(opt, "_learning_rate") else opt._learning_rate
    assert type(schedule).__name__ == "InverseTimeDecay"
    for s in (0, 1, 10, 1000):
        assert float(schedule(s)) == pytest.approx(0.1 / (1 + 0.01 * s), rel=1e-6)


def test_weight_decay_lossy_or_kept():
    cfg = {"class_name": "Adam", "config": {"weight_decay": 0.01}}
    if FL.default_family == "legacy":
        with pytest.warns(koc.LossyConversionWarning, match="weight_decay"):
            koc.deserialize(cfg)
        with pytest.raises(koc.LossyConversionError, match="weight_decay"):
            koc.deserialize(cfg, strict=True)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", koc.ConversionWarning)
            opt = koc.deserialize(cfg, strict=True)
        assert koc.serialize(opt)["config"]["weight_decay"] == pytest.approx(0.01)


def test_missing_class_names_version():
    missing = [name for name in T.OPTIMIZERS if name not in {n for n in T.OPTIMIZERS if hasattr(K.optimizers, n)}]
    for name in missing:
        try:
            FL.optimizer_class(name)
        except koc.UnsupportedClassError as exc:
            assert name in str(exc) and FL.describe().split(" (")[0] in str(exc)
            with pytest.raises(koc.UnsupportedClassError):
                koc.deserialize({"class_name": name, "config": {}})


class MySGD(K.optimizers.SGD):
    pass


def test_custom_classes_need_custom_objects():
    with pytest.raises(koc.SerializationError, match="MySGD") as info:
        koc.serialize(MySGD())
    assert "custom_objects={'MySGD': MySGD}" in str(info.value)
    out = koc.serialize(MySGD(), custom_objects={"MySGD": MySGD})
    assert out["class_name"] == "MySGD"
    with pytest.raises(koc.UnknownClassError):
        koc.deserialize(out)
    again = koc.deserialize(out, custom_objects={"MySGD": MySGD})
    assert type(again) is MySGD


@pytest.mark.parametrize(
    "bad",
    [
        {"module": "os", "class_name": "system", "config": {}},
        {"class_name": "os.system", "config": {"name": "SGD"}},
        {"class_name": "SGD", "config": {}, "registered_name": "builtins.eval", "module": "builtins"},
        {"class_name": "Custom>subprocess.Popen", "config": {}},
        {"class_name": "SGD", "config": {"learning_rate": 1e300}},
        {"class_name": "SGD", "config": {"learning_rate": float("nan")}},
        {"class_name": "SGD", "config": {"momentum": 10**100}},
        {"class_name": "SGD", "config": {"learning_rate": {"module": "os", "class_name": "system", "config": {}}}},
    ],
)
def test_untrusted_configs(bad):
    before = set(sys.modules)
    original = copy.deepcopy(bad)
    try:
        result = koc.deserialize(bad)
    except koc.KerasOptCompatError as exc:
        assert isinstance(exc, (ValueError, TypeError))
    else:  # module/registered_name were read as data only
        assert type(result).__name__ == "SGD"
    assert set(sys.modules) == before
    assert bad == original


def test_untrusted_deep_nesting():
    deep: dict = {}
    for _ in range(100_000):
        deep = {"class_name": "SGD", "config": {"learning_rate": deep}}
    with pytest.raises(koc.KerasOptCompatError):
        koc.deserialize(deep)


def test_wrong_types_for_the_live_api():
    with pytest.raises(koc.ConfigTypeError):
        koc.serialize({"class_name": "SGD", "config": {}})
    with pytest.raises(koc.ConfigTypeError):
        koc.deserialize('{"class_name": "SGD"}')
    with pytest.raises(koc.SerializationError):
        koc.serialize(object())


# --------------------------------------------------------------------------- property: write edge vs the real wheel

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

AVAILABLE = [name for name in T.OPTIMIZERS if _has_class(name)]
unit32 = st.floats(min_value=0.0, max_value=0.5, width=32)


def _value(key):
    if key.kind == "bool":
        return st.booleans()
    if key.kind in ("int", "opt_int"):
        return st.integers(min_value=1, max_value=10)
    if key.kind == "str_list":
        return st.lists(st.text("abc", min_size=1, max_size=4), max_size=2)
    if key.name == "learning_rate_power":
        return st.floats(min_value=-0.5, max_value=0.0, width=32)
    return unit32


@st.composite
def _canonical(draw):
    cls = draw(st.sampled_from(AVAILABLE))
    cfg = {"name": draw(st.one_of(st.just(cls), st.text("xyz_", min_size=1, max_size=6)))}
    for key in T.OPTIMIZERS[cls]:
        if key.name == "decay" or not draw(st.booleans()):
            continue
        cfg[key.name] = draw(st.floats(min_value=0.0625, max_value=1.0, width=32) if key.kind == "lr" else _value(key))
    family = FL.optimizer_class(cls).family
    for key in T.OPTIONS:
        if key.name in T.FAMILIES[family].options and key.name not in cfg and draw(st.booleans()):
            cfg[key.name] = draw(st.floats(min_value=0.125, max_value=10.0, width=32) if "clip" in key.name else _value(key))
    return koc.normalize({"class_name": cls, "config": cfg})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_canonical())
def test_random_canonical_configs_round_trip_through_the_installed_keras(canonical):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            opt = koc.deserialize(canonical)
        except koc.InvalidConfigError as exc:  # the installed Keras validated and refused a value
            assert "rejected" in str(exc)
            event("refused by Keras")
            return
    assert not isinstance(opt, str)
    if any(isinstance(w.message, koc.ConversionWarning) for w in caught):
        event("converted or lossy")
        return  # reported as lossy/converted; checked key by key in the cross-version test
    event("exact round trip")
    assert_close(koc.serialize(opt), canonical)


@pytest.mark.parametrize("thing", [object(), 3, [1.0]])
def test_serialize_of_a_non_optimizer_says_so(thing):
    with pytest.raises(koc.SerializationError) as info:
        koc.serialize(thing)
    msg = str(info.value)
    assert "not an optimizer" in msg and "custom_objects" not in msg


def test_live_errors_name_the_installed_versions_once():
    with pytest.raises(koc.LossyConversionError) as info:  # a key no Keras has: kept, then lost
        koc.deserialize({"class_name": "SGD", "config": {"bogus": 1}}, strict=True)
    msg = str(info.value)
    assert msg.endswith("[installed: %s]" % FL.describe()) and msg.count("installed:") == 1
    for name in [name for name in T.OPTIMIZERS if not _has(name)][:1]:
        with pytest.raises(koc.UnsupportedClassError) as info:
            koc.deserialize({"class_name": name, "config": {}})
        assert str(info.value).count(FL.describe()) == 1


def _has(name):
    try:
        FL.optimizer_class(name)
    except koc.UnsupportedClassError:
        return False
    return True


def test_describe_uses_the_generation_names_of_to_native():
    assert FL.describe().endswith("(%s)" % FL.default_family)
    assert FL.default_family in T.FAMILIES


def test_describe_names_the_versions_and_the_keras3_backend():
    """One form per env kind; the Keras 3 backend from KERAS_BACKEND and its wheel's metadata."""
    from importlib import metadata

    from kerasopt_compat._keras.flavour import KERAS3_BACKENDS

    tf, kv, text = FL.tensorflow_version, FL.keras_version, FL.describe()
    if FL.kind == "tf.keras (in-tree)":
        assert text == "TensorFlow %s, in-tree tf.keras (legacy)" % tf
    elif FL.kind in ("keras package", "tf_keras"):
        label = "tf_keras" if FL.kind == "tf_keras" else "Keras"
        assert text == "TensorFlow %s, %s %s (%s)" % (tf, label, kv, FL.default_family)
        assert FL.backend is None and " on " not in text
    else:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        label, _module, dists = KERAS3_BACKENDS[backend]
        if backend == "tensorflow":  # tensorflow or tensorflow-cpu
            assert (FL.backend, FL.backend_version) == (backend, tf)
            assert text == "TensorFlow %s, Keras %s on TensorFlow (keras3)" % (tf, kv)
        else:
            version = metadata.version(dists[0])
            assert (FL.backend, FL.backend_version) == (backend, version)
            prefix = "TensorFlow %s, " % tf if tf else ""
            assert text == "%sKeras %s on %s %s (keras3)" % (prefix, kv, label, version)


def test_backend_detection_imports_nothing():
    from kerasopt_compat._keras.flavour import keras3_backend

    before = set(sys.modules)
    found = keras3_backend(K)
    assert set(sys.modules) == before
    if FL.kind == "keras3":
        assert found == (FL.backend, FL.backend_version)


def test_serialize_follows_the_optimizer_when_its_config_changes():
    # serialize() remembers configs it has read (by their exact values): a change must show
    opt = K.optimizers.Adam(learning_rate=0.25)
    first = koc.serialize(opt)
    assert koc.serialize(opt) == first
    first["config"]["learning_rate"] = 123.0  # the caller's dict is its own
    assert koc.serialize(opt)["config"]["learning_rate"] == 0.25
    opt.learning_rate = 0.5
    assert koc.serialize(opt)["config"]["learning_rate"] == 0.5
    other = K.optimizers.Adam(learning_rate=0.5, amsgrad=True, beta_1=0.8)
    out = koc.serialize(other)["config"]
    assert (out["learning_rate"], out["amsgrad"], out["beta_1"]) == (0.5, True, 0.8)
    assert koc.serialize(K.optimizers.Adam(learning_rate=0.5))["config"]["amsgrad"] is False
