"""load_model and fix-model against the installed TF/Keras, on every committed model file.

For each (saved-by, loaded-by) pair this records the native ``load_model``
outcome (ok / silently wrong / fails: optimizer / fails: layers), what
``kerasopt_compat.load_model`` gives, and the native outcome after
``fix_model(..., <this env's release>)``; the JSON report goes to
``$KOC_REPORT_DIR/model_matrix.json`` (tox sets it per env).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict

import pytest
from live_helpers import require_keras

require_keras()

from model_helpers import file_id, model_files, path_of  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._flavour import flavour  # noqa: E402
from kerasopt_compat._load import optimizer_matches  # noqa: E402
from kerasopt_compat._modelfile import _WRITERS, native_entry  # noqa: E402

pytest.importorskip("h5py")

REPORT: Dict[str, Dict[str, Any]] = {}
OK, WRONG, FAILS_OPT, FAILS_LAYERS = "ok", "silently wrong", "fails: optimizer", "fails: layers"
#: compile=True fails, compile=False loads, and the same error remains with the
#: optimizer rewritten for this env: the stored loss/metrics are in the way
FAILS_COMPILE = "fails: loss/metrics"


def release() -> str:
    """This env's release name for fix_model."""
    fl = flavour()
    if fl.kind == "tf_keras":
        return "tf_keras"
    if fl.kind == "keras3":
        return "keras3"
    major, minor = fl.tensorflow_version.split(".")[:2]
    return "tf%s.%s" % (major, minor)


def loaded_by() -> str:
    return os.environ.get("TOX_ENV_NAME") or flavour().describe()


@pytest.fixture(scope="module", autouse=True)
def write_report():
    yield
    folder = os.environ.get("KOC_REPORT_DIR")
    if folder and REPORT:
        os.makedirs(folder, exist_ok=True)
        doc = {"loaded_by": loaded_by(), "flavour": flavour().describe(), "release": release(), "pairs": REPORT}
        with open(os.path.join(folder, "model_matrix.json"), "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)


def native_load(path, compile=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flavour().keras.models.load_model(str(path), compile=compile)


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, (text[0] if text else "")[:160])


def native_outcome(path, wanted):
    """(outcome, detail) of the installed load_model on ``path``."""
    try:
        model = native_load(path)
    except Exception as exc:  # noqa: BLE001
        try:
            native_load(path, compile=False)
        except Exception:  # noqa: BLE001
            return FAILS_LAYERS, short(exc)
        return FAILS_OPT, short(exc)
    if getattr(model, "optimizer", None) is None:
        return WRONG, "no optimizer"
    if optimizer_matches(flavour(), model.optimizer, wanted):
        return OK, ""
    try:
        got = koc.serialize(model.optimizer)
    except koc.KerasOptCompatError as exc:
        return WRONG, short(exc)
    return WRONG, json.dumps(got)[:200]


@pytest.mark.tf
@pytest.mark.parametrize("item", model_files(), ids=file_id)
def test_load_model_restores_the_stored_optimizer(item, tmp_path):
    env, entry = item
    path = path_of(env, entry)
    row: Dict[str, Any] = {"saved_by": env, "file": entry["file"], "format": entry["format"], "variant": entry["variant"]}
    REPORT["%s/%s" % (env, entry["file"])] = row
    if entry["expected"] is None:
        return no_optimizer(path, row)
    wanted = koc.read_optimizer(path)
    row["native"], row["native_detail"] = native_outcome(path, wanted)

    # kerasopt_compat.load_model
    ours_error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = koc.load_model(path)
        except Exception as exc:  # noqa: BLE001
            row["ours"], row["ours_detail"] = "fails", short(exc)
            model, ours_error = None, exc
    row["ours_warnings"] = sorted({type(w.message).__name__ for w in caught if issubclass(w.category, koc.ConversionWarning)})
    if model is not None:
        row["ours"] = OK if optimizer_matches(flavour(), model.optimizer, wanted) else WRONG

    # native load_model after fix_model(..., this release)
    fixed = tmp_path / path.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        koc.fix_model(path, fixed, release())
    row["native_after_fix"], row["after_fix_detail"] = native_outcome(fixed, wanted)
    if row["native_after_fix"] == FAILS_OPT:
        # Does this loader fail on this file even with a plain default SGD stored?
        # Then the loss/metrics are in the way, not (only) the optimizer.
        probe_error = probe_plain_sgd(path, entry["format"], tmp_path / ("probe-" + path.name))
        if probe_error == row["after_fix_detail"]:
            row["native_after_fix"] = FAILS_COMPILE
            if row["native_detail"] == probe_error:
                row["native"] = FAILS_COMPILE

    if row["native"] == FAILS_LAYERS:
        assert row["ours"] == "fails", row
        assert "the stored optimizer was not the cause" in str(ours_error) + "".join(getattr(ours_error, "__notes__", []))
    else:
        assert row["ours"] == OK, row
        # after fix-model the native loader restores the optimizer, unless it
        # cannot compile this file even with a plain default SGD stored
        assert row["native_after_fix"] in (OK, FAILS_COMPILE), row


def probe_plain_sgd(path, fmt, probe):
    """The native compile=True error on a copy storing a default SGD in this env's own shape, or None."""
    fl = flavour()
    loader = "tf_keras" if fl.kind == "tf_keras" else fl.default_family
    entry = native_entry({"class_name": "SGD", "config": {}}, fl.default_family, fmt, loader=loader)
    _WRITERS[fmt](str(path), str(probe), entry)
    try:
        native_load(probe)
    except Exception as exc:  # noqa: BLE001
        return short(exc)
    return None


def no_optimizer(path, row):
    try:
        native = native_load(path)
    except Exception as exc:  # noqa: BLE001
        row["native"] = row["ours"] = FAILS_LAYERS
        with pytest.raises(type(exc)):
            koc.load_model(path)
        return
    row["native"] = row["ours"] = "ok (no optimizer)"
    ours = koc.load_model(path)
    assert type(getattr(ours, "optimizer", None)) is type(getattr(native, "optimizer", None))


@pytest.mark.tf
def test_load_model_compile_false_is_the_native_load():
    model = koc.load_model(path_of(*next(i for i in model_files() if i[0] == pick_loadable())), compile=False)
    assert model is not None


def pick_loadable() -> str:
    """A saving env whose .h5 this env's loader reads (same generation family)."""
    fl = flavour()
    if fl.kind == "keras3":
        return "tf221" if fl.tensorflow_version else "keras3-jax"
    return "tf29"
