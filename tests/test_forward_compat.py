"""A Keras newer than kerasopt_compat (issue 12), against the installed real wheels.

"An older kerasopt_compat" is simulated by removing one optimizer-wide option
and one optimizer class from (copies of) the tables for the duration of a test;
the optimizers are the installed Keras' own objects. Skipped without TF/Keras;
every tox env named after a TF/Keras release runs them.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import warnings
from typing import Any, Dict, Iterator, List, Optional

import pytest
from live_helpers import NONDEFAULT, assert_close, built_class, require_keras

require_keras()

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat import fixes  # noqa: E402
from kerasopt_compat.__main__ import main  # noqa: E402
from kerasopt_compat._cli.check import newer_than_tables  # noqa: E402
from kerasopt_compat._config import normalize as N  # noqa: E402
from kerasopt_compat._config import tables as T  # noqa: E402
from kerasopt_compat._keras import flavour as F  # noqa: E402
from kerasopt_compat._keras import live as L  # noqa: E402

FL = koc.flavour()
K = FL.keras
VERSION = FL.describe().split(" (")[0]
#: how warnings name the installed Keras (installed_versions(): no backend), e.g. 'Keras 3.15.1'
KERAS_VERSION = VERSION.split(", ")[-1].split(" on ")[0]

#: The class removed from the tables: in every flavour, nothing special about it.
REMOVED_CLASS = "Adamax"
#: The option removed: the newest of these that the installed SGD names in its
#: constructor (Keras 3: gradient_accumulation_steps; Keras 2.11+/tf_keras:
#: global_clipnorm; legacy OptimizerV2 takes options through **kwargs: none).
_OPTION_CHOICES = {"gradient_accumulation_steps": 3, "global_clipnorm": 1.5}
REMOVED_OPTION: Optional[str] = next((key for key in _OPTION_CHOICES if key in fixes.named_parameters(K.optimizers.SGD)), None)
needs_option = pytest.mark.skipif(REMOVED_OPTION is None, reason="the installed SGD names no removable option")


@contextlib.contextmanager
def older_tables(option: Optional[str] = REMOVED_OPTION, cls: str = REMOVED_CLASS) -> Iterator[None]:
    """The tables without ``option`` and ``cls`` (copies; restored on exit)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(T, "OPTIMIZERS", {k: v for k, v in T.OPTIMIZERS.items() if k != cls})
        mp.setattr(T, "OPTIONS", tuple(k for k in T.OPTIONS if k.name != option))
        mp.setattr(N, "_OPTIMIZER_KEYS", {k: v for k, v in N._OPTIMIZER_KEYS.items() if k != cls})
        mp.setattr(N, "_OPTIMIZER_BY_LOWER", {k: v for k, v in N._OPTIMIZER_BY_LOWER.items() if v != cls})
        mp.setattr(N, "_OPTION_KEYS", {k: v for k, v in N._OPTION_KEYS.items() if k != option})
        mp.setattr(N, "_LOSS_SCALE_KEYS", {k: v for k, v in N._LOSS_SCALE_KEYS.items() if k != option})
        mp.setattr(N, "_RAW_KEYS", N._raw_key_table())  # derived from the patched tables
        mp.setattr(F, "_CLASS_CACHE", {})
        mp.setattr(L, "_LIVE_READINGS", {})  # serialize() remembers the configs it read with the tables
        yield


@pytest.fixture
def older() -> Iterator[None]:
    with older_tables():
        yield


def _unknown(caught: List[Any]) -> List[Any]:
    return [w.message for w in caught if isinstance(w.message, koc.UnknownKeyWarning)]


def _lossy(caught: List[Any]) -> List[Any]:
    return [w.message for w in caught if isinstance(w.message, koc.LossyConversionWarning)]


@contextlib.contextmanager
def recorded() -> Iterator[List[Any]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def test_fixture_restores_the_tables():
    before = (dict(T.OPTIMIZERS), T.OPTIONS, dict(N._OPTION_KEYS), dict(N._OPTIMIZER_BY_LOWER))
    with older_tables():
        assert REMOVED_CLASS not in T.OPTIMIZERS
        assert REMOVED_OPTION is None or REMOVED_OPTION not in N._OPTION_KEYS
    assert (dict(T.OPTIMIZERS), T.OPTIONS, dict(N._OPTION_KEYS), dict(N._OPTIMIZER_BY_LOWER)) == before


# --------------------------------------------------------------------------- 1. unknown option, live


@needs_option
def test_unknown_option_at_its_default_is_left_out(older):
    with recorded() as caught:
        out = koc.serialize(K.optimizers.SGD())
    assert not _unknown(caught)
    assert out == {
        "class_name": "SGD",
        "config": {"name": "SGD", "learning_rate": 0.01, "decay": 0.0, "momentum": 0.0, "nesterov": False},
    }
    again = koc.deserialize(out)
    assert getattr(again, REMOVED_OPTION) is None


@needs_option
def test_unknown_option_not_at_default_is_kept_last_and_round_trips():
    value = _OPTION_CHOICES[REMOVED_OPTION]
    opt = K.optimizers.SGD(learning_rate=0.1, momentum=0.9, **{REMOVED_OPTION: value})
    canonical = koc.serialize(opt)  # real tables: an option in its place
    with older_tables():
        with recorded() as caught:
            out = koc.serialize(opt)
        (warning,) = _unknown(caught)
        assert (warning.class_name, warning.key) == ("SGD", REMOVED_OPTION)
        assert REMOVED_OPTION in str(warning) and KERAS_VERSION in str(warning)
        assert list(out["config"])[-1] == REMOVED_OPTION  # after the known keys
        assert out["config"][REMOVED_OPTION] == value
        assert json.loads(json.dumps(out, allow_nan=False)) == out
        with pytest.raises(koc.UnknownKeyError, match=REMOVED_OPTION):
            koc.normalize(out)  # the pure path still rejects it by default
        with pytest.warns(koc.UnknownKeyWarning):
            assert koc.normalize(out, unknown_keys="keep") == out
        original = copy.deepcopy(out)
        with recorded() as caught:
            again = koc.deserialize(out, strict=True)  # the installed SGD takes it: not lossy
        assert out == original
        assert not _lossy(caught)
        assert type(again) is type(opt)
        assert getattr(again, REMOVED_OPTION) == value
        with recorded():
            assert koc.serialize(again) == out
    assert_close(koc.serialize(again), canonical)  # same hyperparameters as with full tables


def test_a_key_the_installed_class_lacks_is_lossy_or_strict_error():
    cfg = {"class_name": "SGD", "config": {"learning_rate": 0.1, "future_option": 3}}
    with recorded() as caught:
        opt = koc.deserialize(cfg)
    assert [w.key for w in _unknown(caught)] == ["future_option"]
    assert [w.key for w in _lossy(caught)] == ["future_option"]
    assert koc.serialize(opt)["config"]["learning_rate"] == pytest.approx(0.1)
    with recorded(), pytest.raises(koc.LossyConversionError, match="future_option"):
        koc.deserialize(cfg, strict=True)


def test_kept_values_must_be_json_scalars_or_lists():
    with pytest.raises(koc.ConfigTypeError, match="future_option"):
        koc.deserialize({"class_name": "SGD", "config": {"future_option": {"class_name": "os.system"}}})


# --------------------------------------------------------------------------- 3. unknown public class, live


def _removed_cases():
    yield "optimizers", K.optimizers
    legacy = fixes.optimizer_namespace(K, "optimizers.legacy")
    if legacy is not None and FL.family_of(getattr(legacy, REMOVED_CLASS, object)) == "legacy":
        if getattr(legacy, REMOVED_CLASS) is not getattr(K.optimizers, REMOVED_CLASS):
            yield "optimizers.legacy", legacy


@pytest.mark.parametrize("ns_name,ns", list(_removed_cases()), ids=[n for n, _ in _removed_cases()])
@pytest.mark.parametrize("variant", ["defaults", "nondefault", "schedule"])
def test_unknown_public_class_passes_through(ns_name, ns, variant):
    kwargs: Dict[str, Any] = {"defaults": {}, "nondefault": dict(NONDEFAULT[REMOVED_CLASS], clipnorm=1.0)}.get(variant, {})
    if variant == "schedule":
        kwargs = {"learning_rate": K.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)}
    if ns_name.endswith("legacy") and variant == "nondefault":
        kwargs["decay"] = 0.01  # legacy learning-rate decay: only optimizers.legacy keeps it
    opt = getattr(ns, REMOVED_CLASS)(**kwargs)
    canonical = koc.serialize(opt)
    with older_tables():
        with recorded() as caught:
            out = koc.serialize(opt)
        assert [(w.class_name, w.key) for w in _unknown(caught)] == [(REMOVED_CLASS, None)]
        assert out["class_name"] == REMOVED_CLASS and set(out) == {"class_name", "config"}
        cfg = out["config"]
        assert list(cfg)[0] == "name" and cfg["name"] == REMOVED_CLASS
        assert json.loads(json.dumps(out, allow_nan=False)) == out
        assert not any(k in cfg for k in T.DROPPED_KEYS)
        for key, value in cfg.items():  # the same values as the table-driven dict
            if key in canonical["config"]:
                assert_close(value, canonical["config"][key], key)
        if variant == "nondefault":
            assert list(cfg)[1] == "clipnorm"  # options after name, by the usual rule
        with pytest.warns(koc.UnknownKeyWarning):
            assert koc.normalize(out, unknown_keys="keep") == out
        with pytest.raises(koc.UnknownClassError):
            koc.normalize(out)
        original = copy.deepcopy(out)
        with recorded() as caught:
            again = koc.deserialize(out, strict=True)
        assert out == original
        # found by exact name, in the namespace of the same family (TF 2.9/2.10
        # optimizers.legacy re-exports build the default namespace's class)
        assert type(again).__name__ == REMOVED_CLASS and FL.family_of(type(again)) == FL.family_of(type(opt))
        with recorded():
            assert koc.serialize(again) == out
    assert_close(koc.serialize(again), canonical)


def test_unknown_public_class_inside_loss_scale_optimizer(older):
    inner = getattr(K.optimizers, REMOVED_CLASS)(learning_rate=0.1)
    opt = FL.loss_scale_class(FL.family_of(type(inner)))(inner)
    with recorded() as caught:
        out = koc.serialize(opt)
        again = koc.deserialize(out)
    assert [(w.class_name, w.key) for w in _unknown(caught)][:1] == [(REMOVED_CLASS, None)]
    assert out["class_name"] == "LossScaleOptimizer"
    assert out["config"]["inner_optimizer"]["class_name"] == REMOVED_CLASS
    assert type(again.inner_optimizer) is type(inner)
    with recorded():
        assert koc.serialize(again) == out


@pytest.mark.parametrize(
    "bad",
    [
        {"class_name": "Optimizer", "config": {}},  # the base class
        {"class_name": "schedules", "config": {}},  # a namespace, not a class
        {"class_name": "OptimizerMap", "config": {}},  # Keras 3.15: public, not an optimizer
        {"class_name": REMOVED_CLASS.lower(), "config": {}},  # only the exact name
        {"class_name": "keras.optimizers." + REMOVED_CLASS, "config": {}},
        {"class_name": "os.system", "config": {}},
        {"class_name": "Unknown", "module": "os", "registered_name": "system", "config": {}},
    ],
)
def test_unknown_classes_are_found_only_by_exact_public_name(older, bad):
    before = set(sys.modules)
    original = copy.deepcopy(bad)
    with recorded(), pytest.raises(koc.UnknownClassError):
        koc.deserialize(bad)
    assert set(sys.modules) == before
    assert bad == original


def test_module_and_registered_name_are_never_used_for_a_passthrough_class(older):
    bad = {"module": "os", "class_name": REMOVED_CLASS, "registered_name": "builtins.eval", "config": {}}
    before = set(sys.modules)
    with recorded():
        opt = koc.deserialize(bad)
    assert built_class(opt) is getattr(K.optimizers, REMOVED_CLASS)
    assert set(sys.modules) == before


def test_user_subclasses_are_still_not_serialized(older):
    class MyAdamax(getattr(K.optimizers, REMOVED_CLASS)):
        pass

    with pytest.raises(koc.SerializationError, match="MyAdamax"):
        koc.serialize(MyAdamax())


# --------------------------------------------------------------------------- install()


def test_install_serializes_and_deserializes_unknown_classes_and_keys(older):
    opt = getattr(K.optimizers, REMOVED_CLASS)(learning_rate=0.1)
    with recorded():
        expected = koc.serialize(opt)
    with koc.installed(), recorded() as caught:
        out = K.optimizers.serialize(opt)
        again = K.optimizers.deserialize(copy.deepcopy(out))
        got = K.optimizers.get(copy.deepcopy(out))
    assert out == expected  # the pass-through dict, not Keras' native one
    assert _unknown(caught)
    assert type(again) is type(opt) and type(got) is type(opt)
    if REMOVED_OPTION is not None:
        sgd = K.optimizers.SGD(**{REMOVED_OPTION: _OPTION_CHOICES[REMOVED_OPTION]})
        with koc.installed(), recorded():
            out = K.optimizers.serialize(sgd)
            rebuilt = K.optimizers.deserialize(out)
        assert list(out["config"])[-1] == REMOVED_OPTION
        assert getattr(rebuilt, REMOVED_OPTION) == _OPTION_CHOICES[REMOVED_OPTION]


# --------------------------------------------------------------------------- 4. signatures vs tables


def test_installed_constructors_and_configs_have_nothing_the_tables_lack():
    """Constructors and default get_config() of every optimizer class, schedule and
    LossScaleOptimizer of this release against the tables (allow-list with reasons:
    kerasopt_compat._cli.check.NOT_SETTINGS)."""
    found = newer_than_tables(FL)
    assert not found, "%s added what kerasopt_compat._config.tables lack; add rows:\n%s" % (VERSION, "\n".join(found))


def test_newer_than_tables_names_what_older_tables_lack(older, capsys):
    """The same comparison, with a table row removed: it must name the row (and so
    would CI on a release that adds one), and ``kerasopt-compat check`` lists it."""
    found = newer_than_tables(FL)
    assert "optimizer class %s" % REMOVED_CLASS in found
    if REMOVED_OPTION is not None:
        assert any(line.endswith("key %r" % REMOVED_OPTION) for line in found), found
    assert main(["check"]) == 0  # not a failure: kept or passed through
    out = capsys.readouterr().out
    assert "does not know" in out and "optimizer class %s" % REMOVED_CLASS in out


def test_installed_public_optimizer_classes_are_all_in_the_tables():
    wrappers = (T.LOSS_SCALE_CLASS, T.MULTI_CLASS)
    extra = sorted(name for name in F._public_classes(FL) if name not in T.OPTIMIZERS and name not in wrappers)
    assert not extra, "%s exposes optimizer classes kerasopt_compat._config.tables lack: %s" % (VERSION, ", ".join(extra))


def test_constructor_defaults_helper_reads_the_signature():
    defaults = fixes.constructor_defaults(K.optimizers.SGD)
    assert defaults["learning_rate"] == pytest.approx(0.01)
    assert "kwargs" not in defaults and "self" not in defaults
    assert fixes.constructor_defaults(K.optimizers.SGD) is defaults  # cached


@needs_option
def test_unknown_option_at_default_is_left_out_of_a_loss_scale_optimizer_too(older):
    """Keras 3.3-3.x LossScaleOptimizer lists the options but takes them through **kwargs."""
    inner = K.optimizers.SGD()
    opt = FL.loss_scale_class(FL.family_of(type(inner)))(inner)
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.UnknownKeyWarning)
        out = koc.serialize(opt)
    assert REMOVED_OPTION not in out["config"] and REMOVED_OPTION not in out["config"]["inner_optimizer"]["config"]


# --------------------------------------------------------------------------- 5. MultiOptimizer (Keras 3.15+)

HAS_MULTI = isinstance(getattr(K.optimizers, "MultiOptimizer", None), type)
needs_multi = pytest.mark.skipif(not HAS_MULTI, reason="the installed Keras has no MultiOptimizer (Keras 3.15+)")
MULTI = {
    "class_name": "MultiOptimizer",
    "config": {
        "default_optimizer": {
            "class_name": "SGD",
            "config": {
                "name": "SGD",
                "loss_scale_factor": 2.0,
                "learning_rate": 0.1,
                "decay": 0.0,
                "momentum": 0.0,
                "nesterov": False,
            },
        },
        "optimizer_map": {
            "dense/.*": {
                "class_name": "Adam",
                "config": {
                    "name": "Adam",
                    "clipnorm": 1.0,
                    "loss_scale_factor": 2.0,
                    "learning_rate": 0.001,
                    "decay": 0.0,
                    "beta_1": 0.9,
                    "beta_2": 0.999,
                    "epsilon": 1e-07,
                    "amsgrad": False,
                },
            }
        },
        "name": "mine",
        "loss_scale_factor": 2.0,
    },
}


def _multi() -> Any:
    o = K.optimizers
    return o.MultiOptimizer(o.OptimizerMap(o.SGD(0.1), {"dense/.*": o.Adam(clipnorm=1.0)}), loss_scale_factor=2.0, name="mine")


@needs_multi
def test_multi_optimizer_round_trips_in_canonical_form():
    opt = _multi()
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.ConversionWarning)
        out = koc.serialize(opt)
        assert out == MULTI
        assert koc.normalize(out) == out
        assert koc.normalize(K.optimizers.serialize(opt)) == out  # Keras' own dict reads the same
        again = koc.deserialize(copy.deepcopy(out), strict=True)
    assert type(again) is type(opt)
    assert [type(o).__name__ for o in again.optimizers] == [type(o).__name__ for o in opt.optimizers]
    assert koc.serialize(again) == out
    rebuilt = K.optimizers.deserialize(koc.to_native(out, "keras3"))  # Keras reads what we write
    assert koc.serialize(rebuilt) == out


@needs_multi
def test_multi_optimizer_defaults_and_install():
    o = K.optimizers
    opt = o.MultiOptimizer(o.OptimizerMap(o.SGD()))
    out = koc.serialize(opt)
    assert list(out["config"]) == ["default_optimizer", "optimizer_map"]
    assert out["config"]["optimizer_map"] == {}
    with koc.installed():
        assert K.optimizers.serialize(opt) == out
        assert type(K.optimizers.deserialize(out)) is type(opt)


@needs_multi
def test_multi_optimizer_holding_a_class_the_tables_lack(older):
    o = K.optimizers
    opt = o.MultiOptimizer(o.OptimizerMap(o.SGD(), {"x": getattr(o, REMOVED_CLASS)(learning_rate=0.1)}))
    with recorded() as caught:
        out = koc.serialize(opt)
        again = koc.deserialize(out)
    assert [w.class_name for w in _unknown(caught)][:1] == [REMOVED_CLASS]
    assert out["config"]["optimizer_map"]["x"]["class_name"] == REMOVED_CLASS
    assert type(again.optimizers[0]).__name__ == REMOVED_CLASS or REMOVED_CLASS in [type(x).__name__ for x in again.optimizers]


@pytest.mark.skipif(HAS_MULTI, reason="the installed Keras has MultiOptimizer")
def test_multi_optimizer_is_unsupported_before_keras_3_15():
    with pytest.raises(koc.UnsupportedClassError, match="MultiOptimizer") as info:
        koc.deserialize(MULTI)
    assert "Keras 3.15" in str(info.value) or "never had it" in str(info.value)


# --------------------------------------------------------------------------- what the signature test found

ADAPTIVE = {"class_name": "Adam", "config": {"learning_rate": 0.1, "adaptive_epsilon": True}}


def test_adam_adaptive_epsilon_round_trips_where_adam_takes_it():
    """tf_keras 2.21's new Adam takes adaptive_epsilon and its get_config() omits it."""
    targets = [t for t in FL.optimizer_candidates("Adam") if "adaptive_epsilon" in fixes.named_parameters(t.cls)]
    if not targets:
        with pytest.warns(koc.LossyConversionWarning, match="adaptive_epsilon"):
            koc.deserialize(ADAPTIVE)
        with pytest.raises(koc.LossyConversionError, match="adaptive_epsilon"):
            koc.deserialize(ADAPTIVE, strict=True)
        return
    opt = targets[0].cls(learning_rate=0.1, adaptive_epsilon=True)
    out = koc.serialize(opt)
    assert list(out["config"])[-1] == "adaptive_epsilon" and out["config"]["adaptive_epsilon"] is True
    assert "adaptive_epsilon" not in koc.serialize(targets[0].cls())["config"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.ConversionWarning)
        again = koc.deserialize(out, strict=True)
    assert again.adaptive_epsilon is True
