"""``unknown_keys``: the pure read/write edges and a dict written by a Keras newer than the tables.

No TensorFlow needed: these run in every env.
"""

from __future__ import annotations

import copy
import json
import warnings

import pytest

import kerasopt_compat as koc

SGD_KEYS = ["name", "learning_rate", "decay", "momentum", "nesterov"]
NEWER = {
    "module": "keras.optimizers",
    "class_name": "SGD",
    "config": {
        "name": "sgd_2",
        "future_b": [1, 2.5, "x", None, True],
        "learning_rate": 0.009999999776482582,
        "future_a": 0.10000000149011612,
        "clipnorm": 1.0,
    },
    "registered_name": None,
}


def _keep(config, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = koc.normalize(config, unknown_keys="keep", **kwargs)
    return out, [w.message for w in caught if isinstance(w.message, koc.UnknownKeyWarning)]


def test_unknown_keys_are_rejected_by_default():
    with pytest.raises(koc.UnknownKeyError, match="future_b"):
        koc.normalize(NEWER)
    with pytest.raises(koc.UnknownKeyError):
        koc.normalize(NEWER, unknown_keys="error")


def test_kept_keys_go_after_the_known_keys_in_input_order():
    original = copy.deepcopy(NEWER)
    out, caught = _keep(NEWER)
    assert NEWER == original  # never mutated
    assert list(out["config"]) == ["name", "clipnorm"] + SGD_KEYS[1:] + ["future_b", "future_a"]
    assert out["config"]["future_b"] == [1, 2.5, "x", None, True]
    assert out["config"]["future_a"] == 0.1  # float32 shortened like every value
    assert [(w.class_name, w.key) for w in caught] == [("SGD", "future_b"), ("SGD", "future_a")]
    assert "future_b" in str(caught[0]) and "installed" in str(caught[0])
    assert caught[0].version == koc._errors.installed_versions()


def test_keep_is_idempotent_and_json_native():
    out, _ = _keep(NEWER)
    again, _ = _keep(out)
    assert again == out and list(again["config"]) == list(out["config"])
    assert json.loads(json.dumps(out, allow_nan=False)) == out


@pytest.mark.parametrize("bad", [{"a": 1}, [[1]], [{"a": 1}], object(), {1, 2}])
def test_kept_values_must_be_json_scalars_or_lists_of_them(bad):
    with pytest.raises(koc.ConfigTypeError, match="future"):
        _keep({"class_name": "SGD", "config": {"future": bad}})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e300, 10**100])
def test_kept_numbers_are_checked_like_known_ones(bad):
    with pytest.raises(koc.InvalidConfigError):
        _keep({"class_name": "SGD", "config": {"future": bad}})


def test_unknown_keys_mode_is_checked():
    with pytest.raises(koc.InvalidConfigError, match="unknown_keys"):
        koc.normalize({"class_name": "SGD", "config": {}}, unknown_keys="ignore")


def test_loads_dumps_and_to_native_take_unknown_keys():
    text = json.dumps(NEWER)
    with pytest.raises(koc.UnknownKeyError):
        koc.loads(text)
    with pytest.warns(koc.UnknownKeyWarning):
        out = koc.loads(text, unknown_keys="keep")
    assert out == _keep(NEWER)[0]
    with pytest.warns(koc.UnknownKeyWarning):
        assert json.loads(koc.dumps(NEWER, unknown_keys="keep")) == out
    with pytest.raises(koc.UnknownKeyError):
        koc.to_native(NEWER, "keras3")
    with pytest.warns(koc.UnknownKeyWarning):
        native = koc.to_native(NEWER, "keras3", unknown_keys="keep")
    assert native["config"]["future_b"] == [1, 2.5, "x", None, True]  # written through as is


def test_unknown_keys_in_schedules_and_loss_scale_optimizers():
    cfg = {
        "class_name": "LossScaleOptimizer",
        "config": {
            "inner_optimizer": {
                "class_name": "SGD",
                "config": {
                    "learning_rate": {
                        "class_name": "ExponentialDecay",
                        "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9, "future_s": 2},
                    }
                },
            },
            "future_l": "x",
        },
    }
    with pytest.raises(koc.UnknownKeyError, match="future_s"):
        koc.normalize(cfg)
    out, caught = _keep(cfg)
    assert sorted(w.key for w in caught) == ["future_l", "future_s"]
    assert list(out["config"])[-1] == "future_l"
    assert list(out["config"]["inner_optimizer"]["config"]["learning_rate"]["config"])[-1] == "future_s"
    assert _keep(out)[0] == out


def test_unknown_classes_pass_through_only_when_kept():
    cfg = {
        "class_name": "FutureOpt",
        "config": {"name": "future_opt_3", "learning_rate": 0.5, "clipvalue": None, "alpha": 2, "is_legacy_optimizer": False},
    }
    with pytest.raises(koc.UnknownClassError):
        koc.normalize(cfg)
    out, caught = _keep(cfg)
    assert out == {"class_name": "FutureOpt", "config": {"name": "FutureOpt", "learning_rate": 0.5, "alpha": 2}}
    assert [(w.class_name, w.key) for w in caught] == [("FutureOpt", None)]
    assert _keep(out)[0] == out


@pytest.mark.parametrize("name", ["os.system", "keras.optimizers.Foo", "a b", "", "1abc"])
def test_only_plain_identifiers_pass_through(name):
    with pytest.raises(koc.UnknownClassError):
        _keep({"class_name": name, "config": {}})


def test_adam_adaptive_epsilon_is_a_table_extra():
    out = koc.normalize({"class_name": "Adam", "config": {"adaptive_epsilon": True}})
    assert list(out["config"])[-1] == "adaptive_epsilon"
    assert "adaptive_epsilon" not in koc.normalize({"class_name": "Adam", "config": {"adaptive_epsilon": False}})["config"]


# --------------------------------------------------------------------------- MultiOptimizer (pure)

MULTI_NATIVE = {
    "module": "keras.optimizers",
    "class_name": "MultiOptimizer",
    "config": {
        "optimizer_map": {
            "module": "keras.optimizers",
            "class_name": "OptimizerMap",
            "config": {
                "default_optimizer": {"class_name": "SGD", "config": {"name": "sgd", "learning_rate": 0.10000000149011612}},
                "optimizer_map": {"dense/.*": {"class_name": "Adam", "config": {"name": "adam_1"}}},
            },
            "registered_name": None,
        },
        "loss_scale_factor": None,
        "name": "multi_optimizer_2",
    },
    "registered_name": None,
}


def test_multi_optimizer_native_and_canonical_shapes():
    out = koc.normalize(MULTI_NATIVE)
    assert out == {
        "class_name": "MultiOptimizer",
        "config": {
            "default_optimizer": koc.normalize({"class_name": "SGD", "config": {"learning_rate": 0.1}}),
            "optimizer_map": {"dense/.*": koc.normalize({"class_name": "Adam", "config": {}})},
        },
    }
    assert koc.normalize(out) == out
    native = koc.to_native(out, "keras3")
    assert native["class_name"] == "MultiOptimizer" and native["config"]["optimizer_map"]["class_name"] == "OptimizerMap"
    assert koc.normalize(native) == out


@pytest.mark.parametrize("family", ["legacy", "keras2"])
def test_multi_optimizer_names_its_first_release_elsewhere(family):
    with pytest.raises(koc.UnsupportedClassError, match="MultiOptimizer"):
        koc.to_native(MULTI_NATIVE, family)


@pytest.mark.parametrize(
    "inner",
    [
        {"class_name": "MultiOptimizer", "config": {"default_optimizer": {"class_name": "SGD", "config": {}}}},
        {"class_name": "LossScaleOptimizer", "config": {"inner_optimizer": {"class_name": "SGD", "config": {}}}},
    ],
)
def test_multi_optimizer_holds_no_wrappers(inner):
    cfg = {"class_name": "MultiOptimizer", "config": {"default_optimizer": inner, "optimizer_map": {}}}
    with pytest.raises(koc.InvalidConfigError, match="cannot be wrapped"):
        koc.normalize(cfg)


@pytest.mark.parametrize(
    "bad,error",
    [
        ({"optimizer_map": {"class_name": "function", "config": "select"}}, koc.KerasOptCompatError),
        ({"optimizer_map": {"class_name": "function", "config": {}}}, koc.InvalidConfigError),
        ({"optimizer_map": {"class_name": "OptimizerMap", "config": {}}}, koc.InvalidConfigError),
        ({"default_optimizer": {"class_name": "SGD", "config": {}}, "optimizer_map": [["a", {}]]}, koc.ConfigTypeError),
        ({}, koc.InvalidConfigError),
    ],
)
def test_malformed_multi_optimizers(bad, error):
    with pytest.raises(error):
        koc.normalize({"class_name": "MultiOptimizer", "config": bad})
