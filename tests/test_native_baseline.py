"""The native baseline: the same exports loaded with this env's own ``optimizers.deserialize``.

A measurement, side by side with tests/test_live.py's load matrix (which
checks kerasopt_compat's outcome for every cell). For each dict exported by a
real TF/Keras wheel, Keras' own ``deserialize`` (kerasopt_compat not
installed) is called on a copy and classified:

- ``ok``: it built the class the dict names, holding exactly its settings;
- ``string``: it returned a string instead of an optimizer;
- ``other class``: an optimizer of another class;
- ``dropped``: a setting silently back at its default (legacy ``decay`` in Keras 3, ...);
- ``changed``: a setting with another value;
- ``error``: it raised.

Whether it mutated the caller's dict is counted too. The assertions are on
kerasopt_compat: on the same dicts it never mutates and never returns a
string (the full check of its outcome is in tests/test_live.py).
"""

from __future__ import annotations

import copy
import json
import warnings

import pytest
from live_helpers import require_keras, write_report

require_keras()

from conftest import iter_exports  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._config import tables as T  # noqa: E402
from kerasopt_compat._keras.live import known_name  # noqa: E402

FL = koc.flavour()
K = FL.keras
EXPORTS = list(iter_exports())
ROWS = []
_DEFAULTS = {cls: {k.name: k.default for k in keys} for cls, keys in T.OPTIMIZERS.items()}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    write_report("koc_native_baseline.json", {"rows": ROWS})


def _snapshot(obj):
    try:
        return json.dumps(obj, sort_keys=True)
    except (TypeError, ValueError):
        return None  # it now holds objects that are not JSON


def _classify(built, canonical):
    if isinstance(built, str):
        return "string"
    name = known_name(built)
    if name != canonical["class_name"]:
        return "other class"
    got = koc.serialize(built)
    if got == canonical:
        return "ok"
    inner_got, inner_want = got, canonical
    if name == T.LOSS_SCALE_CLASS:
        inner_got, inner_want = got["config"]["inner_optimizer"], canonical["config"]["inner_optimizer"]
    defaults = _DEFAULTS.get(inner_want["class_name"], {})
    options = {k.name: k.default for k in T.OPTIONS}
    for key, want in inner_want["config"].items():
        have = inner_got["config"].get(key, options.get(key))
        if have != want and have == defaults.get(key, options.get(key)):
            return "dropped"
    return "changed"


@pytest.mark.parametrize("env,entry", EXPORTS, ids=["%s:%s" % (env, e["id"]) for env, e in EXPORTS])
def test_native_deserialize_baseline(env, entry):
    from kerasopt_compat._keras.install import is_installed

    assert not is_installed()
    exported = entry["serialized"]
    canonical = koc.normalize(exported)
    given = copy.deepcopy(exported)
    before = _snapshot(given)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            built = K.optimizers.deserialize(given)
        except Exception:  # noqa: BLE001 - any native failure is an outcome here
            outcome = "error"
        else:
            try:
                outcome = _classify(built, canonical)
            except koc.SerializationError:
                outcome = "other class"
        native_mutated = _snapshot(given) != before
        ours_given = copy.deepcopy(exported)
        try:
            ours = koc.deserialize(ours_given)
        except (koc.UnsupportedClassError, koc.LossyConversionError):
            ours = None
    assert ours_given == exported  # kerasopt_compat never mutates
    assert not isinstance(ours, str)
    ROWS.append([env, entry["id"], outcome, native_mutated])
