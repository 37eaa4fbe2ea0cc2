"""Pure read-edge tests: no TensorFlow, Keras or numpy needed."""

from __future__ import annotations

import copy
import json
import sys

import pytest
from conftest import iter_exports, load_exports, load_spec, spec_case_id

import kerasopt_compat as koc
from kerasopt_compat import (
    ConfigTypeError,
    InvalidConfigError,
    KerasOptCompatError,
    UnknownClassError,
    UnknownKeyError,
    normalize,
)
from kerasopt_compat._config import tables as _tables

DOCUMENTED_SGD = {
    "class_name": "SGD",
    "config": {"name": "SGD", "learning_rate": 0.01, "decay": 0.0, "momentum": 0.0, "nesterov": False},
}

SPEC_CASES = load_spec()
EXPORTS = list(iter_exports())


def _ids(cases):
    return ["%s/%s" % (c["class"].rsplit(".", 1)[-1], spec_case_id(c)) for c in cases]


@pytest.mark.parametrize("case", SPEC_CASES, ids=_ids(SPEC_CASES))
def test_documented_shapes_are_fixed_points(case):
    expected = case["serialize"]
    out = normalize(expected)
    assert out == expected
    assert list(out["config"]) == list(expected["config"])  # TF 2.9 key order
    assert json.dumps(out) == json.dumps(expected)


def test_issue_example():
    # that this imports no TensorFlow/Keras/numpy is checked in a fresh
    # interpreter by test_cli_and_packaging.py::test_import_loads_no_heavy_modules
    out = normalize({"class_name": "Custom>SGD", "config": {"name": "SGD", "learning_rate": 0.009999999776482582}})
    assert out == DOCUMENTED_SGD


@pytest.mark.parametrize("env,entry", EXPORTS, ids=["%s:%s" % (env, e["id"]) for env, e in EXPORTS])
def test_every_real_export_normalizes(env, entry):
    original = copy.deepcopy(entry["serialized"])
    out = normalize(entry["serialized"])
    assert entry["serialized"] == original  # never mutates
    assert normalize(out) == out  # idempotent
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert set(out) == {"class_name", "config"}
    assert ">" not in out["class_name"] and "." not in out["class_name"]
    assert not {"is_legacy_optimizer", "jit_compile", "module", "registered_name"} & set(out["config"])


def _by_id():
    """{(namespace-free id): {env: canonical}} for every export."""
    table = {}
    for env, entry in EXPORTS:
        ns = entry["namespace"]
        kind = "lso" if "LossScale" in ns else "opt"
        if ns.endswith("legacy.SGD)") or ns == "optimizers.legacy":
            kind += "-legacy"
        key = (kind, entry["class"], entry["variant"])
        table.setdefault(key, {}).setdefault(env, []).append(normalize(entry["serialized"]))
    return table


BY_ID = _by_id()
#: Constructors whose *defaults* differ between versions, so the same call
#: really builds different optimizers: Lion's learning_rate is 0.0001 in
#: Keras 2.13-2.15/tf_keras and 0.001 in Keras 3; with use_ema=True, Keras 2
#: RMSprop's ema_overwrite_frequency defaults to 100, Keras 3's to None.
DIFFERENT_DEFAULTS = {("opt", "Lion", v) for v in ("defaults", "after_step", "clipnorm", "extras")}
DIFFERENT_DEFAULTS.add(("opt", "RMSprop", "extras"))
SAME_ACROSS = sorted(k for k in BY_ID if k[2] != "defaults_use_legacy_format" and k not in DIFFERENT_DEFAULTS)


@pytest.mark.parametrize("key", SAME_ACROSS, ids=["/".join(k) for k in SAME_ACROSS])
def test_same_constructor_same_canonical_dict_in_every_version(key):
    """One optimizer built the same way in TF 2.4 ... Keras 3.15 gives one canonical dict."""
    results = BY_ID[key]
    seen = {json.dumps(d) for per_env in results.values() for d in per_env}
    assert len(seen) == 1, {env: ds for env, ds in results.items()}


@pytest.mark.parametrize("case", SPEC_CASES, ids=_ids(SPEC_CASES))
def test_newer_exports_of_documented_cases_become_the_tf29_dict(case):
    cls = case["class"].rsplit(".", 1)[-1]
    variant = spec_case_id(case)
    checked = []
    for env, data in load_exports().items():
        for entry in data["exports"]:
            if entry.get("class") == cls and entry["variant"] in (variant, "after_step" if variant == "defaults" else None):
                if "serialized" in entry and "LossScale" not in entry["namespace"]:
                    assert normalize(entry["serialized"]) == case["serialize"], (env, entry["id"])
                    checked.append(env)
    for env in ("tf211", "tf213", "tf215", "tfk221", "tf221", "k3jax"):
        assert env in checked, "no %s export for %s/%s" % (env, cls, variant)


def test_use_legacy_format_exports_match():
    for env, entry in EXPORTS:
        if entry["variant"] == "defaults_use_legacy_format":
            plain = entry["id"].replace("defaults_use_legacy_format", "defaults")
            twin = [e for e2, e in EXPORTS if e2 == env and e["id"] == plain][0]
            assert normalize(entry["serialized"]) == normalize(twin["serialized"])


def test_loss_scale_generations():
    legacy = {
        "class_name": "LossScaleOptimizer",
        "config": {
            "inner_optimizer": DOCUMENTED_SGD,
            "dynamic": True,
            "initial_scale": 32768.0,
            "dynamic_growth_steps": 2000,
        },
    }
    v3 = {
        "class_name": "LossScaleOptimizerV3",
        "config": {
            "inner_optimizer": {"class_name": "Custom>SGD", "config": {"name": "SGD", "learning_rate": 0.009999999776482582}},
            "dynamic": True,
            "initial_scale": 32768.0,
            "dynamic_growth_steps": 2000,
        },
        "registered_name": "LossScaleOptimizer",
    }
    k3 = {
        "module": "keras.optimizers",
        "class_name": "LossScaleOptimizer",
        "config": {
            "name": "loss_scale_optimizer_3",
            "inner_optimizer": {"module": "keras.optimizers", "class_name": "SGD", "config": {"name": "sgd_7"}},
            "initial_scale": 32768.0,
            "dynamic_growth_steps": 2000,
        },
        "registered_name": None,
    }
    assert normalize(legacy) == legacy
    assert normalize(v3) == legacy
    assert normalize(k3) == legacy


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("SGD", "SGD"),
        ("sgd_3", "SGD"),
        ("Custom>SGD", "SGD"),
        ("sgd", "SGD"),
        (None, "SGD"),
        ("my_optimizer", "my_optimizer"),
        ("SGD_for_encoder", "SGD_for_encoder"),
    ],
)
def test_auto_names_become_the_class_name(raw, expected):
    assert normalize({"class_name": "SGD", "config": {"name": raw}})["config"]["name"] == expected


def test_keras3_snake_case_names():
    assert normalize({"class_name": "RMSprop", "config": {"name": "rm_sprop_4"}})["config"]["name"] == "RMSprop"
    assert normalize({"class_name": "AdamW", "config": {"name": "adam_w"}})["config"]["name"] == "AdamW"


def test_options_after_name_only_when_not_default():
    out = normalize(
        {
            "class_name": "Adam",
            "config": {"name": "adam", "weight_decay": 0.01, "use_ema": True, "clipvalue": 0.5, "clipnorm": None},
        }
    )
    assert list(out["config"])[:4] == ["name", "clipvalue", "weight_decay", "use_ema"]
    assert (
        normalize({"class_name": "Adam", "config": {"weight_decay": 0.0}})["config"]
        == normalize({"class_name": "Adam", "config": {}})["config"]
    )


def test_adamw_weight_decay_is_a_class_key():
    out = normalize({"class_name": "AdamW", "config": {}})
    assert out["config"] == {
        "name": "AdamW",
        "learning_rate": 0.001,
        "decay": 0.0,
        "weight_decay": 0.004,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-07,
        "amsgrad": False,
    }


@pytest.mark.parametrize(
    "value,expected",
    [(0.009999999776482582, 0.01), (0.10000000149011612, 0.1), (0.1, 0.1), (1, 1.0), (0.8999999761581421, 0.9), (1e-07, 1e-07)],
)
def test_float32_values_are_shortened(value, expected):
    out = normalize({"class_name": "SGD", "config": {"learning_rate": value}})["config"]["learning_rate"]
    assert out == expected and type(out) is float


def test_lr_alias_and_legacy_decay_kept():
    out = normalize({"class_name": "Adam", "config": {"lr": 0.1, "decay": 0.01}})
    assert out["config"]["learning_rate"] == 0.1 and out["config"]["decay"] == 0.01


def test_schedule_names_and_warmup():
    sched = {
        "module": "keras.optimizers.schedules",
        "class_name": "CosineDecay",
        "config": {
            "initial_learning_rate": 0.1,
            "decay_steps": 10,
            "alpha": 0.0,
            "name": "CosineDecay",
            "warmup_target": None,
            "warmup_steps": 0,
        },
        "registered_name": None,
    }
    out = normalize({"class_name": "SGD", "config": {"learning_rate": sched}})
    assert out["config"]["learning_rate"] == {
        "class_name": "CosineDecay",
        "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.0, "name": None},
    }
    sched["config"]["warmup_target"] = 0.2
    sched["config"]["warmup_steps"] = 5
    out = normalize({"class_name": "SGD", "config": {"learning_rate": sched}})
    assert list(out["config"]["learning_rate"]["config"]) == [
        "initial_learning_rate",
        "decay_steps",
        "alpha",
        "name",
        "warmup_target",
        "warmup_steps",
    ]


def test_custom_objects_pass_through():
    cfg = {"class_name": "MyOpt", "config": {"name": "x", "learning_rate": 0.009999999776482582, "extra": [1, {"a": None}]}}
    with pytest.raises(UnknownClassError):
        normalize(cfg)
    out = normalize(cfg, custom_objects={"MyOpt": object})
    assert out == {"class_name": "MyOpt", "config": {"name": "x", "learning_rate": 0.01, "extra": [1, {"a": None}]}}
    assert normalize(cfg, custom_objects=["MyOpt"]) == out


def test_loads_and_dumps():
    text = '{"class_name": "Custom>SGD", "config": {"name": "sgd_2", "learning_rate": 0.009999999776482582}}'
    assert koc.loads(text) == DOCUMENTED_SGD
    assert koc.loads(text.encode()) == DOCUMENTED_SGD
    assert json.loads(koc.dumps(json.loads(text))) == DOCUMENTED_SGD
    assert koc.dumps(koc.loads(text)) == json.dumps(DOCUMENTED_SGD)


# --------------------------------------------------------------------------- bad input


def _msg(excinfo):
    return str(excinfo.value)


@pytest.mark.parametrize(
    "bad,exc,fragments",
    [
        ({"class_name": "Frobnicate", "config": {}}, UnknownClassError, ["Frobnicate"]),
        ({"class_name": "os.system", "config": {}}, UnknownClassError, ["os.system"]),
        ({"class_name": "SGD", "config": {"momentun": 0.9}}, UnknownKeyError, ["SGD", "momentun", "0.9"]),
        ({"class_name": "SGD", "config": {"momentum": "0.9"}}, ConfigTypeError, ["SGD", "momentum", "'0.9'"]),
        ({"class_name": "SGD", "config": {"nesterov": 1}}, ConfigTypeError, ["SGD", "nesterov", "1"]),
        ({"class_name": "SGD", "config": {"momentum": True}}, ConfigTypeError, ["SGD", "momentum", "True"]),
        ({"class_name": "SGD", "config": {"learning_rate": float("nan")}}, InvalidConfigError, ["SGD", "learning_rate", "nan"]),
        ({"class_name": "SGD", "config": {"learning_rate": float("inf")}}, InvalidConfigError, ["learning_rate", "inf"]),
        ({"class_name": "SGD", "config": {"learning_rate": 10**400}}, InvalidConfigError, ["learning_rate"]),
        ({"class_name": "SGD", "config": {"momentum": 1e39}}, InvalidConfigError, ["momentum", "1e+39"]),
        ({"class_name": "SGD", "config": {"lr": 0.1, "learning_rate": 0.1}}, InvalidConfigError, ["SGD", "lr"]),
        ({"class_name": "SGD"}, InvalidConfigError, ["SGD", "config"]),
        ({"config": {}}, InvalidConfigError, ["class_name"]),
        ({"class_name": 3, "config": {}}, ConfigTypeError, ["class_name", "3"]),
        ({"class_name": "SGD", "config": []}, ConfigTypeError, ["SGD", "config"]),
        ({"class_name": "SGD", "config": {}, "extra": 1}, UnknownKeyError, ["SGD", "extra"]),
        ({"class_name": "SGD", "config": {1: 2}}, ConfigTypeError, ["SGD"]),
        ({"class_name": "SGD", "config": {"name": 5}}, ConfigTypeError, ["SGD", "name", "5"]),
        (
            {"class_name": "SGD", "config": {"learning_rate": {"class_name": "Nope", "config": {}}}},
            UnknownClassError,
            ["Nope"],
        ),
        (
            {"class_name": "SGD", "config": {"learning_rate": {"class_name": "ExponentialDecay", "config": {}}}},
            InvalidConfigError,
            ["ExponentialDecay", "initial_learning_rate"],
        ),
        (
            {"class_name": "LossScaleOptimizer", "config": {"dynamic": True}},
            InvalidConfigError,
            ["LossScaleOptimizer", "inner_optimizer"],
        ),
        (
            {
                "class_name": "LossScaleOptimizer",
                "config": {
                    "inner_optimizer": {"class_name": "LossScaleOptimizer", "config": {"inner_optimizer": DOCUMENTED_SGD}}
                },
            },
            InvalidConfigError,
            ["LossScaleOptimizer"],
        ),
        ("SGD", ConfigTypeError, ["'SGD'"]),
        (None, ConfigTypeError, ["None"]),
    ],
)
def test_bad_input_raises_package_errors(bad, exc, fragments):
    with pytest.raises(exc) as info:
        normalize(bad)
    assert isinstance(info.value, KerasOptCompatError)
    assert isinstance(info.value, (ValueError, TypeError))
    for fragment in fragments:
        assert fragment in _msg(info)
    assert "installed:" not in _msg(info)  # the pure path does not depend on TF/Keras


def test_untrusted_names_are_data_only():
    before = set(sys.modules)
    for bad in (
        {"module": "os", "class_name": "system", "config": {}},
        {"module": "builtins", "class_name": "SGD", "config": {}, "registered_name": "builtins.eval"},
        {"class_name": "Custom>os.system", "config": {}},
    ):
        try:
            out = normalize(bad)
        except KerasOptCompatError:
            continue
        assert out["class_name"] == "SGD"  # module/registered_name were ignored
    assert set(sys.modules) == before


def test_deep_nesting_raises_package_error():
    deep = {"a": None}
    for _ in range(100_000):
        deep = {"a": deep}
    with pytest.raises(InvalidConfigError):
        normalize({"class_name": "MyOpt", "config": deep}, custom_objects=["MyOpt"])
    with pytest.raises(ConfigTypeError):
        normalize({"class_name": "SGD", "config": {"learning_rate": [deep]}})
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(KerasOptCompatError):
        koc.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        "{",
        '{"class_name": "SGD", "config": {"learning_rate": NaN}}',
        "[1]",
        b"\xff",
        '{"class_name": "SGD", "config": {"learning_rate": 1e999}}',
    ],
)
def test_loads_bad_text(text):
    with pytest.raises(KerasOptCompatError):
        koc.loads(text)


def test_numpy_scalars_are_accepted_when_numpy_present():
    np = pytest.importorskip("numpy")
    cfg = {
        "class_name": "SGD",
        "config": {"learning_rate": np.float32(0.01), "nesterov": np.bool_(True), "momentum": np.float64(0.5)},
    }
    out = normalize(cfg)
    assert out["config"]["learning_rate"] == 0.01 and type(out["config"]["learning_rate"]) is float
    assert out["config"]["nesterov"] is True
    assert json.dumps(out)


# --------------------------------------------------------------------------- the live path's entry


def _table_exports():
    for env, entry in EXPORTS:
        try:
            canonical = normalize(entry["serialized"])
        except KerasOptCompatError:
            continue
        if canonical["class_name"] in _tables.OPTIMIZERS:
            yield env, entry, canonical["class_name"]


TABLE_EXPORTS = list(_table_exports())


@pytest.mark.parametrize("env,entry,cls", TABLE_EXPORTS, ids=["%s:%s" % (e, x["id"]) for e, x, _ in TABLE_EXPORTS])
def test_read_known_and_its_memo_give_what_read_gives(env, entry, cls):
    from kerasopt_compat._config.normalize import read, read_known, reading

    config = copy.deepcopy(entry["serialized"]["config"])
    how = reading(None, "keep")
    expected = read({"class_name": cls, "config": config}, how)
    memo: dict = {}
    first = read_known(cls, config, how, memo)
    second = read_known(cls, config, how, memo)
    for got in (first, second, read_known(cls, config, how)):
        assert got == expected
        assert list(got["config"]) == list(expected["config"])
    first["config"]["name"] = "changed"
    assert read_known(cls, config, how, memo) == expected  # the caller's copy is its own
    assert config == entry["serialized"]["config"]


def test_read_known_memo_tells_values_and_their_types_apart():
    from kerasopt_compat._config.normalize import read_known, reading

    how = reading(None, "keep")
    memo: dict = {}
    assert read_known("Adam", {"learning_rate": 0.1, "amsgrad": True}, how, memo)["config"]["amsgrad"] is True
    assert memo  # remembered
    with pytest.raises(ConfigTypeError):
        read_known("Adam", {"learning_rate": 0.1, "amsgrad": 1}, how, memo)  # equal to True, not a bool
    assert read_known("Adam", {"learning_rate": 0.2, "amsgrad": True}, how, memo)["config"]["learning_rate"] == 0.2
    assert read_known("Adam", {"learning_rate": 1, "amsgrad": True}, how, memo)["config"]["learning_rate"] == 1.0
    with pytest.raises(InvalidConfigError):
        read_known("Adam", {"learning_rate": float("nan")}, how, memo)


def test_read_known_memo_does_not_swallow_warnings():
    from kerasopt_compat._config.normalize import read_known, reading

    how = reading(None, "keep")
    memo: dict = {}
    config = {"learning_rate": 0.1, "some_future_key": 3}
    for _ in range(2):
        with pytest.warns(koc.UnknownKeyWarning):
            out = read_known("Adam", config, how, memo)
        assert out["config"]["some_future_key"] == 3
    assert not memo
