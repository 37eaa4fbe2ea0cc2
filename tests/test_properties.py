"""Hypothesis properties of the pure edges (no TensorFlow needed)."""

from __future__ import annotations

import copy
import json
import math
import struct
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasopt_compat import (
    InvalidConfigError,
    KerasOptCompatError,
    LossyConversionWarning,
    UnsupportedClassError,
    dumps,
    loads,
    normalize,
    to_native,
)
from kerasopt_compat._config import tables as T

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(min_value=-1e30, max_value=1e30, allow_nan=False, allow_infinity=False)
float32s = st.floats(width=32, allow_nan=False, allow_infinity=False)
numbers = st.one_of(finite, float32s, st.integers(min_value=-(2**31), max_value=2**31))
ints = st.integers(min_value=0, max_value=10**6)


def value_for(key: T.Key):
    kind = key.kind
    if kind in ("float", "opt_float"):
        base = st.one_of(finite, float32s, st.integers(-1000, 1000))
        return st.one_of(st.none(), base) if kind == "opt_float" else base
    if kind == "bool":
        return st.booleans()
    if kind in ("int", "opt_int"):
        return st.one_of(st.none(), ints) if kind == "opt_int" else ints
    if kind in ("number", "opt_number"):
        return st.one_of(st.none(), numbers) if kind == "opt_number" else numbers
    if kind == "number_list":
        return st.lists(numbers, max_size=4)
    if kind == "str_list":
        return st.lists(st.text(max_size=5), max_size=3)
    if kind == "opt_name":
        return st.one_of(st.none(), st.text(max_size=8))
    raise AssertionError(kind)


@st.composite
def schedules(draw):
    cls = draw(st.sampled_from(sorted(T.SCHEDULES)))
    spec = T.SCHEDULES[cls]
    cfg = {}
    for key in spec.keys + spec.extras:
        if key.default is T.REQUIRED or draw(st.booleans()):
            cfg[key.name] = draw(value_for(key))
    return {"class_name": cls, "config": cfg}


ALL_CLASSES = tuple(sorted(T.OPTIMIZERS))
ALL_OPTIONS = tuple(k.name for k in T.OPTIONS)


@st.composite
def optimizers(draw, classes=ALL_CLASSES, options=ALL_OPTIONS):
    cls = draw(st.sampled_from(classes))
    cfg = {}
    if draw(st.booleans()):
        cfg["name"] = draw(st.one_of(st.none(), st.text(max_size=10), st.just(cls.lower() + "_3")))
    for key in T.OPTIMIZERS[cls]:
        if draw(st.booleans()):
            if key.kind == "lr":
                cfg[key.name] = draw(st.one_of(finite, float32s, schedules()))
            else:
                cfg[key.name] = draw(value_for(key))
    class_keys = {k.name for k in T.OPTIMIZERS[cls]}
    for key in T.OPTIONS:
        if key.name in options and key.name not in class_keys and draw(st.booleans()):
            cfg[key.name] = draw(value_for(key))
    keys = list(cfg)
    order = draw(st.permutations(keys))
    out = {"class_name": draw(st.sampled_from([cls, "Custom>" + cls])), "config": {k: cfg[k] for k in order}}
    if draw(st.booleans()):
        out["module"] = "keras.optimizers"
        out["registered_name"] = None
    return out


@SETTINGS
@given(optimizers())
def test_normalize_is_idempotent_pure_and_json_native(config):
    before = copy.deepcopy(config)
    out = normalize(config)
    assert config == before
    assert normalize(out) == out
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert loads(text) == out
    assert dumps(config) == text


def _floats_in(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _floats_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _floats_in(v)
    elif isinstance(obj, float):
        yield obj


@SETTINGS
@given(optimizers())
def test_key_order_is_deterministic_and_floats_are_short(config):
    out = normalize(config)
    reversed_cfg = dict(config, config=dict(reversed(list(config["config"].items()))))
    assert json.dumps(normalize(reversed_cfg)) == json.dumps(out)
    for f in _floats_in(out):
        assert math.isfinite(f)
        try:
            f32 = struct.unpack("f", struct.pack("f", f))[0]
        except OverflowError:
            continue
        if f32 == f:  # float32-exact values are written as the shortest decimal
            assert len(repr(f)) <= len(repr(float("%.9g" % f)))


@SETTINGS
@given(optimizers(classes=tuple(sorted(T.DOCUMENTED_CLASSES)), options=("clipnorm", "clipvalue", "global_clipnorm")))
def test_legacy_round_trip_is_lossless(config):
    canonical = normalize(config)
    if isinstance(canonical["config"]["learning_rate"], dict) and canonical["class_name"] in T.FAMILIES["legacy"].no_schedule:
        with pytest.raises(UnsupportedClassError, match="schedule"):
            to_native(canonical, "legacy")
        return
    if any(canonical["config"].get(key) == 0 for key in T.FAMILIES["legacy"].zero_replaced):
        with pytest.warns(LossyConversionWarning, match="replaces"):
            to_native(canonical, "legacy")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", LossyConversionWarning)
        native = to_native(canonical, "legacy")
    assert normalize(native) == canonical


@SETTINGS
@given(optimizers())
def test_keras3_round_trip_without_lr_decay_is_lossless(config):
    config["config"].pop("decay", None)
    config["config"].pop("lr", None)
    canonical = normalize(config)
    if canonical["class_name"] in T.MOMENTUM_DECAY_CLASSES:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        native = to_native(canonical, "keras3")
    assert "decay" not in native["config"]
    assert normalize(native) == canonical


json_junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=30,
)
keys = st.sampled_from(["class_name", "config", "module", "registered_name", "name", "learning_rate", "lr", "inner_optimizer"])


@st.composite
def mangled(draw):
    """A real-looking config with one part replaced by junk."""
    cfg = draw(optimizers())
    where = draw(st.sampled_from(["top", "config", "value"]))
    junk = draw(json_junk)
    if where == "top":
        cfg[draw(keys)] = junk
    elif where == "config":
        cfg["config"] = junk
    else:
        cfg["config"][draw(st.one_of(keys, st.text(max_size=6)))] = junk
    return cfg


@SETTINGS
@given(st.one_of(json_junk, mangled()))
def test_junk_raises_only_package_errors(junk):
    before = copy.deepcopy(junk)
    try:
        out = normalize(junk)
    except KerasOptCompatError as exc:
        assert isinstance(exc, (ValueError, TypeError))
        assert "installed:" not in str(exc)
    else:
        assert normalize(out) == out
        json.dumps(out, allow_nan=False)
    assert repr(junk) == repr(before)


@SETTINGS
@given(st.text(max_size=200))
def test_loads_on_random_text_raises_only_package_errors(text):
    try:
        loads(text)
    except KerasOptCompatError:
        pass


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1000, max_value=200_000), st.sampled_from(["[", '{"a":']))
def test_deep_json_text(depth, opener):
    closer = "]" if opener == "[" else "}"
    try:
        loads(opener * depth + "1" + closer * depth)
    except KerasOptCompatError:
        pass


def test_deep_json_is_refused_before_the_c_scanner_even_with_a_raised_recursion_limit():
    """json's C scanner recurses per level: with a raised recursion limit a deep text could
    overflow the C stack (seen here as an abort under hypothesis); loads refuses it first."""
    import sys

    from kerasopt_compat._config.normalize import MAX_JSON_DEPTH

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    try:
        with pytest.raises(InvalidConfigError, match="nested too deeply"):
            loads("[" * 500_000 + "]" * 500_000)
        with pytest.raises(InvalidConfigError, match="nested too deeply"):
            loads('{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1))
    finally:
        sys.setrecursionlimit(old)
    # up to the limit it is parsed (and then refused as a config: not an optimizer)
    with pytest.raises(KerasOptCompatError) as info:
        loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert "nested too deeply" not in str(info.value)
