"""``to_native``/``convert --to`` for a release (``_config.tables.RELEASES``), pure (no TensorFlow).

TF 2.9/2.10 read their ``optimizers.experimental`` classes from a dict
(``Custom>AdamW``): ``to_native`` writes that namespace where the legacy class
would lose a setting (AdamW, EMA), the legacy dict otherwise. Refusals name
the release asked for, never a generation. That TF 2.9/2.10's own loaders
read these dicts is tests/test_native_loader.py and tests/test_load_model.py.
"""

from __future__ import annotations

import json
import warnings

import pytest

import kerasopt_compat as koc
from kerasopt_compat.__main__ import main
from kerasopt_compat._config import tables as T

ADAMW_EMA = {
    "class_name": "AdamW",
    "config": {
        "learning_rate": 0.02,
        "weight_decay": 0.05,
        "use_ema": True,
        "ema_momentum": 0.9,
        "ema_overwrite_frequency": 3,
        "global_clipnorm": 1.0,
    },
}
SGD_EMA = {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.5, "use_ema": True}}
NADAM_SCHEDULE = {
    "class_name": "Nadam",
    "config": {
        "learning_rate": {
            "class_name": "ExponentialDecay",
            "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9},
        }
    },
}
LSO_ADAMW = {
    "class_name": "LossScaleOptimizer",
    "config": {"inner_optimizer": {"class_name": "AdamW", "config": {"weight_decay": 0.01}}},
}
#: dicts only TF 2.9/2.10's optimizers.experimental holds (legacy refuses or loses a setting)
EXPERIMENTAL_ONLY = {"adamw_ema": ADAMW_EMA, "sgd_ema": SGD_EMA, "nadam_schedule": NADAM_SCHEDULE, "lso_adamw": LSO_ADAMW}


def quiet_to_native(config, target, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        native = koc.to_native(config, target, **kwargs)
    return native, [w for w in caught if issubclass(w.category, koc.ConversionWarning)]


def inner(native):
    return native["config"]["inner_optimizer"] if native["class_name"].startswith(T.LOSS_SCALE_CLASS) else native


@pytest.mark.parametrize("release", ["tf2.9", "tf2.10"])
@pytest.mark.parametrize("name", sorted(EXPERIMENTAL_ONLY))
def test_experimental_dict_where_legacy_would_lose_a_setting(release, name):
    config = EXPERIMENTAL_ONLY[name]
    native, caught = quiet_to_native(config, release, strict=True)
    assert caught == []
    opt = inner(native)
    # what TF 2.9/2.10's own serialize() writes for optimizers.experimental: the registered name
    assert opt["class_name"] == "Custom>" + inner(koc.normalize(config))["class_name"]
    assert "decay" not in opt["config"] and "jit_compile" not in opt["config"]
    # TF 2.9's constructors raise TypeError on is_legacy_optimizer; TF 2.10's get_config writes it
    assert ("is_legacy_optimizer" in opt["config"]) == (release == "tf2.10")
    assert koc.normalize(native) == koc.normalize(config)
    if native is not opt:
        assert native["class_name"] == "LossScaleOptimizerV3"


def test_experimental_dict_holds_every_setting():
    native = koc.to_native(ADAMW_EMA, "tf2.9")
    assert native == {
        "class_name": "Custom>AdamW",
        "config": {
            "name": "AdamW",
            "clipnorm": None,
            "clipvalue": None,
            "global_clipnorm": 1.0,
            "use_ema": True,
            "ema_momentum": 0.9,
            "ema_overwrite_frequency": 3,
            "learning_rate": 0.02,
            "weight_decay": 0.05,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-07,
            "amsgrad": False,
        },
    }


@pytest.mark.parametrize("release", ["tf2.9", "tf2.10"])
@pytest.mark.parametrize(
    "config",
    [
        {"class_name": "Adam", "config": {"learning_rate": 0.1, "global_clipnorm": 1.0}},  # legacy has global_clipnorm
        {"class_name": "SGD", "config": {"learning_rate": 0.1, "decay": 0.01}},  # legacy holds lr decay
        {"class_name": "Nadam", "config": {"decay": 0.01, "use_ema": False}},  # legacy momentum decay
    ],
)
def test_legacy_dict_where_it_holds_every_setting(release, config):
    native, caught = quiet_to_native(config, release, strict=True)
    assert caught == [] and native == koc.to_native(config, "legacy")


@pytest.mark.parametrize("release", ["tf2.9", "tf2.10"])
def test_a_setting_no_namespace_holds_is_lossy_and_names_the_release(release):
    # neither legacy SGD nor TF 2.9/2.10's experimental SGD has an optimizer-wide weight_decay
    config = {"class_name": "SGD", "config": {"weight_decay": 0.01}}
    native, caught = quiet_to_native(config, release)
    assert native == koc.to_native({"class_name": "SGD", "config": {}}, "legacy")
    assert len(caught) == 1 and "(%s)" % release in str(caught[0].message)
    with pytest.raises(koc.LossyConversionError, match=r"weight_decay.*\(%s\)" % release.replace(".", r"\.")):
        koc.to_native(config, release, strict=True)


def test_only_tf29_to_tf212_have_an_experimental_namespace():
    assert {name for name, release in T.RELEASES.items() if release.also} == {"tf2.9", "tf2.10", "tf2.11", "tf2.12"}
    with pytest.raises(koc.UnsupportedClassError):
        koc.to_native(ADAMW_EMA, "tf2.8")
    # a generation target is that generation only
    with pytest.raises(koc.UnsupportedClassError, match="Keras generation 'legacy'"):
        koc.to_native(ADAMW_EMA, "legacy")


# --------------------------------------------------------------------------- refusals name the release

LION = {"class_name": "Lion", "config": {}}
REFUSALS = [
    ("tf2.9", LION, "Lion", "first shipped in TF 2.13"),
    ("tf2.10", {"class_name": "LossScaleOptimizer", "config": {"inner_optimizer": LION}}, "Lion", "first shipped in TF 2.13"),
    ("tf2.9", {"class_name": "Adafactor", "config": {}}, "Adafactor", "first shipped in TF 2.13"),
    ("tf2.9", {"class_name": "Lamb", "config": {}}, "Lamb", "first shipped in Keras 3.5"),
    (
        "tf2.9",
        {
            "class_name": "MultiOptimizer",
            "config": {"default_optimizer": {"class_name": "SGD", "config": {}}, "optimizer_map": {}},
        },
        "MultiOptimizer",
        "first shipped in Keras 3.15",
    ),
    ("tf2.8", ADAMW_EMA, "AdamW", "first shipped in TF 2.13"),
    ("tf2.4", ADAMW_EMA, "AdamW", "first shipped in TF 2.13"),
    ("tf2.11", LION, "Lion", "first shipped in TF 2.13"),
    ("TF2.12", LION, "Lion", "first shipped in TF 2.13"),
    ("keras3.3", {"class_name": "Lamb", "config": {}}, "Lamb", "first shipped in Keras 3.5"),
]


def refusal_ids():
    return ["%s-%s" % (target, cls) for target, _, cls, _ in REFUSALS]


def assert_names_the_release(text, target, cls, note):
    release = target.lower()
    assert "%s cannot load %s" % (release, cls) in text, text
    assert note in text, text
    for word in ("generation", "'legacy'", "'keras2'", "'keras3'"):
        assert word not in text, text


@pytest.mark.parametrize("target,config,cls,note", REFUSALS, ids=refusal_ids())
def test_to_native_refusal_names_the_release(target, config, cls, note):
    with pytest.raises(koc.UnsupportedClassError) as info:
        koc.to_native(config, target)
    assert info.value.class_name == cls
    assert_names_the_release(str(info.value), target, cls, note)


@pytest.mark.parametrize("target,config,cls,note", REFUSALS, ids=refusal_ids())
def test_convert_cli_refusal_names_the_release(target, config, cls, note, tmp_path, capsys):
    src = tmp_path / "opt.json"
    src.write_text(json.dumps(config))
    assert main(["convert", "--to", target, str(src)]) == 1
    assert_names_the_release(capsys.readouterr().err, target, cls, note)


@pytest.mark.parametrize("target", ["tf2.11", "tf2.12"])
@pytest.mark.parametrize("cls", ["AdamW", "Adafactor"])
def test_tf211_reads_its_experimental_classes_by_their_registered_name(target, cls):
    """TF 2.11/2.12's ``optimizers.deserialize`` finds AdamW and Adafactor only as ``Custom>AdamW``/
    ``Custom>Adafactor`` (what their own ``serialize`` writes; tests/test_native_loader.py checks it in
    those envs); the other classes keep their plain names."""
    native = koc.to_native({"class_name": cls, "config": {"learning_rate": 0.1, "use_ema": True}}, target)
    assert native["class_name"] == "Custom>" + cls
    assert native["config"]["use_ema"] is True and native["config"]["is_legacy_optimizer"] is False
    assert koc.normalize(native)["class_name"] == cls
    assert koc.to_native({"class_name": "Adam", "config": {}}, target)["class_name"] == "Adam"
