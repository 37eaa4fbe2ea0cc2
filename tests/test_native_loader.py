"""``to_native`` output is accepted by this env's *native* ``optimizers.deserialize``.

For every dict the real wheels exported (``tests/data/exports``), the dict
``to_native(config, <this env's generation>)`` returns is handed to the
installed Keras' own ``deserialize`` (kerasopt_compat not installed), which
must build an optimizer holding exactly the settings of that dict; and that
dict must hold the canonical settings, except where ``to_native`` said why
not (``LossyConversionWarning``, ``DecayConversionWarning``) or refused with
``UnsupportedClassError``. Besides the exports, the dicts of
tests/test_release_targets.py that only TF 2.9/2.10's ``optimizers.experimental``
holds (AdamW, EMA, Nadam with a schedule): on those releases they must be
read with every setting (``equal``), as that namespace's class.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections import Counter

import pytest
from live_helpers import require_keras, write_report

require_keras()

from conftest import iter_exports  # noqa: E402
from test_release_targets import EXPERIMENTAL_ONLY  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._config import tables as T  # noqa: E402

FL = koc.flavour()
K = FL.keras
EXPORTS = list(iter_exports()) + [("experimental_only", {"id": name, "serialized": d}) for name, d in EXPERIMENTAL_ONLY.items()]
OUTCOMES: Counter = Counter()
#: outcome: the release's own deserialize cannot read the class, its own export neither
NATIVE_CANNOT = "native loader cannot read the class, its own export neither"


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    write_report("koc_native_loader.json", {"generation": FL.default_family, "outcomes": dict(OUTCOMES)})


def this_release():
    """This env's name among ``_config.tables.RELEASES``."""
    if FL.kind == "tf_keras":
        return "tf_keras"
    if FL.default_family == "keras3":
        return "keras3.%d" % tuple(int(p) for p in FL.keras_version.split(".")[:2])[1]
    return "tf%s" % ".".join(FL.tensorflow_version.split(".")[:2])


def test_this_release_is_a_target():
    assert koc.to_native({"class_name": "SGD", "config": {}}, this_release())["class_name"] == "SGD"


@pytest.mark.parametrize("env,entry", EXPORTS, ids=["%s:%s" % (env, e["id"]) for env, e in EXPORTS])
def test_to_native_is_accepted_by_the_native_loader(env, entry):
    from kerasopt_compat._keras.install import is_installed

    assert not is_installed()  # Keras' own deserialize, not ours
    canonical = koc.normalize(entry["serialized"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            native = koc.to_native(canonical, this_release())
        except koc.UnsupportedClassError:
            OUTCOMES["refused"] += 1
            return
    converted = [w for w in caught if issubclass(w.category, koc.ConversionWarning)]
    try:
        built = K.optimizers.deserialize(copy.deepcopy(native))
    except (ValueError, TypeError) as exc:  # "Unknown optimizer: 'AdamW'" (TF 2.11/2.12); a wrapper given a string
        built = exc
    if isinstance(built, (str, ValueError, TypeError)):
        # Some releases' deserialize cannot build some classes from any dict, their
        # own export included: it raises (TF 2.11/2.12 AdamW, Adafactor) or returns the
        # class name (TF 2.13-2.15 AdamW/Lion/Adafactor, tf_keras Lion/Adafactor,
        # Keras 3 Lamb/Muon). Prove that for this class, then count it.
        inner = canonical["config"]["inner_optimizer"] if canonical["class_name"] == T.LOSS_SCALE_CLASS else canonical
        own = K.optimizers.serialize(getattr(K.optimizers, inner["class_name"])())
        try:
            again = K.optimizers.deserialize(json.loads(json.dumps(own)))
        except (ValueError, TypeError):
            again = None
        assert again is None or isinstance(again, str), built
        OUTCOMES[NATIVE_CANNOT] += 1
        return
    assert not isinstance(built, str), built
    got = koc.serialize(built)
    assert got == koc.normalize(native), "the native loader changed a setting of the dict it was given"
    release = T.RELEASES[this_release()]
    if env == "experimental_only" and release.also:
        # TF 2.9-2.12: built as the optimizers.experimental class (TF 2.12 keeps it in keras.optimizers.adamw),
        # every setting kept
        assert not converted, [str(w.message) for w in converted]
        opt = built.inner_optimizer if canonical["class_name"] == T.LOSS_SCALE_CLASS else built
        assert FL.family_of(type(opt)) == "keras2", type(opt)
        if release.generation == "legacy":  # TF 2.9/2.10: only optimizers.experimental has these
            assert "experimental" in type(opt).__module__, type(opt)
    if converted:
        OUTCOMES["converted"] += 1
    else:
        assert got == canonical
        OUTCOMES["equal"] += 1
