"""Resume training across versions: ``load_model`` + one step = the saver's next step.

The resume corpus (tests/data/resume, written by tools/export_resume.py with the
real wheels of TF 2.9, TF 2.15 and TF 2.21) holds models trained 3 steps with every
optimizer class, saved as ``.h5``, ``.keras`` and SavedModel, with the batch of the
4th step and the weights the saver had after it. In each env every file the
installed Keras can open is loaded with :func:`kerasopt_compat.load_model` and takes
that step. The guarantee (issue 18): the step is the saver's (relative 1e-4 of the
step), or an :class:`OptimizerStateWarning` said why not: a documented update-rule
difference (:class:`StateScheduleWarning`), or a file that holds no optimizer state
(read from the container itself: :func:`_stores_state`). A state that is stored and
not restored exactly fails, warning or not (issue 24); so do a different step without
a warning and NaN. The native loader's outcome on the same file is recorded
beside it for ``compat_matrix.md`` ("Resume training across versions").

The whole corpus takes minutes per env: envs with ``KOC_RESUME_FULL=1`` (tox.ini:
one per Keras generation) run all of it; the others a sample (Adam and SGD on the
two-kernel model, every saver and format).
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import warnings
import zipfile
from collections import Counter
from typing import Any, Dict, List, Tuple

import pytest
from live_helpers import require_keras, write_report

require_keras()

import numpy as np  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._errors import StateScheduleWarning  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402

FL = flavour()
RESUME = pathlib.Path(__file__).resolve().parent / "data" / "resume"
FULL = os.environ.get("KOC_RESUME_FULL") == "1"
SAMPLE = {"keras2_adam_twin", "keras2_sgd_twin", "legacy_adam_twin", "legacy_sgd_twin", "keras3_adam_twin", "keras3_sgd_twin"}


def _corpus() -> List[Tuple[str, Dict[str, Any], Dict[str, Any]]]:
    out = []
    for manifest in sorted(RESUME.glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            if not FULL and case["case"] not in SAMPLE:
                continue
            for f in case["files"]:
                out.append((manifest.parent.name, case, f))
    return out


CORPUS = _corpus()
RESULTS: Dict[Tuple[str, str], Dict[str, Any]] = {}


def _weights(model: Any) -> List[Any]:
    return [np.array(v.numpy() if hasattr(v, "numpy") else v, dtype="float64") for v in model.trainable_variables]


def _step(model: Any, case: Dict[str, Any]) -> str:
    """One step on the saver's 4th batch: 'exact' when the weights are the saver's, else 'different'/'nan'."""
    before = _weights(model)
    x = np.asarray(case["next_batch"]["x"], dtype="float32")
    y = np.asarray(case["next_batch"]["y"], dtype="float32")
    model.train_on_batch(x, y)
    after = _weights(model)
    want = [np.asarray(w["value"], dtype="float64") for w in case["next_weights"]]
    if len(after) != len(want) or any(a.shape != w.shape for a, w in zip(after, want)):
        return "different"
    if not all(np.all(np.isfinite(a)) for a in after):
        return "nan"
    for i, (b, a, w) in enumerate(zip(before, after, want)):
        if case["model"] == "bn" and i == _BIAS_BEFORE_BN:
            continue
        step = np.max(np.abs(w - b)) if b.shape == w.shape else 0.0
        if np.max(np.abs(a - w)) > 1e-4 * step + 1e-6:
            return "different"
    return "exact"


def _stores_state(path: pathlib.Path, fmt: str) -> bool:
    """Whether the file holds an optimizer state, read straight from the container (not by the
    package's tie logic): ``.h5`` ``optimizer_weights``, ``.keras`` ``optimizer/vars`` (a legacy optimizer
    in a Keras 2 ``.keras`` stores none; a Keras 3.15 ``.keras`` saved after an ``.h5`` stores the
    variables but no optimizer config to say whose they are), SavedModel checkpoint keys under
    ``optimizer/`` or slot edges."""
    import h5py

    if fmt == "h5":
        with h5py.File(path, "r") as fh:
            group = fh.get("optimizer_weights")
            return group is not None and len(group.attrs.get("weight_names", ())) > 0
    if fmt == "keras":
        with zipfile.ZipFile(path) as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as fh:
            compiled = json.loads(zf.read("config.json")).get("compile_config") or {}
            stored = any(len(fh.get(g, ())) for g in ("optimizer/vars", "optimizer/inner_optimizer/vars"))
            return stored and compiled.get("optimizer") is not None
    from kerasopt_compat._files.bundle import Bundle

    keys = Bundle(str(path / "variables" / "variables")).keys()
    return any(k.startswith("optimizer/") or "/.OPTIMIZER_SLOT/" in k for k in keys)


#: In the ``bn`` model (Dense -> BatchNormalization -> ...) the first Dense's bias has a zero
#: gradient up to rounding (BatchNormalization subtracts the batch mean): Adam-type rules scale
#: that rounding noise, which differs between TF builds, into a step of any size. Not compared.
_BIAS_BEFORE_BN = 1


def _native(path: pathlib.Path, case: Dict[str, Any]) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = FL.keras.models.load_model(str(path))
            return _step(model, case)
    except Exception:  # noqa: BLE001 - any native failure is the native outcome
        return "fails"


def _native_after_fix(path: pathlib.Path, case: Dict[str, Any], tmp: pathlib.Path) -> Tuple[str, bool, str]:
    """The native loader's step on ``fix-model --state convert``'s copy for the installed release,
    whether fix_model warned about the state (an OptimizerStateWarning: a state it dropped or kept
    unchanged, a rule that differs), and what it did with it (``FixResult.state``)."""
    out = tmp / ("fixed" + (path.suffix or ".savedmodel"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            action = koc.fix_model(path, out, FL.release() or FL.default_family, state="convert").state
        except koc.KerasOptCompatError:
            return "fails", False, "refused"
    said = any(issubclass(w.category, koc.OptimizerStateWarning) for w in caught)
    return _native(out, case), said, action


def _layers_load(path: pathlib.Path) -> bool:
    """Whether the installed Keras opens the file's format and layers: natively, or (TF 2.x SavedModels
    in Keras 3, which its own loader refuses) through kerasopt_compat.load_model (issue 20)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            FL.keras.models.load_model(str(path), compile=False)
    except Exception:  # noqa: BLE001
        if not (path.is_dir() and FL.default_family == "keras3"):
            return False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                koc.load_model(path, compile=False)
        except koc.KerasOptCompatError:
            return False
    return True


@pytest.mark.tf
@pytest.mark.parametrize("item", CORPUS, ids=["%s/%s" % (env, f["file"]) for env, _, f in CORPUS])
def test_load_model_resumes_or_says_why(item: Tuple[str, Dict[str, Any], Dict[str, Any]], tmp_path: pathlib.Path) -> None:
    env, case, f = item
    path = RESUME / env / f["file"]
    key = (env, f["format"])
    if not _layers_load(path):
        RESULTS[(env, f["file"])] = {"saver": env, "format": f["format"], "ours": "unopenable", "native": "fails"}
        pytest.skip("the installed Keras cannot open this file's format or layers (tests/test_file_formats.py)")
    native = _native(path, case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = koc.load_model(path)
        outcome = _step(model, case)
    state_warnings = [w for w in caught if issubclass(w.category, koc.OptimizerStateWarning)]
    if outcome != "exact":
        assert outcome != "nan", "NaN after one resumed step"
        assert state_warnings, "%s: the step differs from the saver's and no OptimizerStateWarning said so" % (key,)
        outcome = "documented" if any(issubclass(w.category, StateScheduleWarning) for w in state_warnings) else "warned"
        # a warning explains a different step only where the file holds no state (a rule difference is "documented")
        assert outcome == "documented" or not _stores_state(path, f["format"]), (
            "%s: the file stores optimizer state but the resumed step differs from the saver's (%s)"
            % (key, "; ".join(str(w.message)[:200] for w in state_warnings))
        )
    fixed = "n/a"  # fix_model lays out the state of .h5 and .keras files (SavedModel: kept, with a warning)
    if f["format"] in ("h5", "keras"):  # fix_model never leaves a state that the native loader mis-ties silently
        fixed, fix_warned, action = _native_after_fix(path, case, tmp_path)
        assert fixed != "nan", "NaN after fix-model --state convert and the native loader's step"
        # without a warning: "kept", the file already is the installed generation's (its native tie is the loader's
        # own); "none", it stores no state (load_model's OptimizerStateWarning says so)
        assert fixed in ("exact", "fails") or fix_warned or action in ("kept", "none"), (
            "%s: after fix-model --state convert (%s) the native step differs from the saver's, and fix_model said nothing"
            % (key, action)
        )
    RESULTS[(env, f["file"])] = {"saver": env, "format": f["format"], "ours": outcome, "native": native, "fixed": fixed}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if not FULL or not RESULTS:
        return
    rows: Dict[str, Dict[str, int]] = {}
    for r in RESULTS.values():
        counts = rows.setdefault("%s %s" % (r["saver"], r["format"]), Counter())
        counts["files"] += 1
        counts["ours " + r["ours"]] += 1
        counts["native " + r["native"]] += 1
        if r.get("fixed", "n/a") != "n/a":
            counts["fixed " + r["fixed"]] += 1
    write_report("koc_resume.json", {"flavour": FL.describe(), "generation": FL.default_family, "rows": rows})


def _first_loadable(cases) -> Tuple[pathlib.Path, Dict[str, Any]]:
    for manifest in sorted(RESUME.glob("*/manifest.json")):  # the whole corpus, not only this env's sample
        for case in json.loads(manifest.read_text())["cases"]:
            for f in case["files"]:
                path = manifest.parent / f["file"]
                if case["case"] in cases and f["format"] == "h5" and _layers_load(path):
                    return path, case
    pytest.skip("the installed Keras opens none of these .h5 files")


@pytest.mark.tf
def test_state_fresh_and_require_and_a_bad_value() -> None:
    path, case = _first_loadable({"keras2_adam_twin", "legacy_adam_twin", "keras3_adam_twin"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)  # exact: require passes, fresh says nothing
        warnings.simplefilter("ignore", koc.DecayConversionWarning)
        resumed = koc.load_model(path, state="require")
        assert _step(resumed, case) == "exact"
        fresh = koc.load_model(path, state="fresh")
    assert int(np.asarray(fresh.optimizer.iterations)) == 0
    stored_lr = case["optimizer"]["config"]["learning_rate"]
    assert koc.serialize(fresh.optimizer)["config"]["learning_rate"] == pytest.approx(stored_lr)
    assert _step(fresh, case) != "exact"
    with pytest.raises(koc.InvalidConfigError, match="state"):
        koc.load_model(path, state="bogus")


@pytest.mark.tf
def test_state_require_refuses_an_inexact_resume() -> None:
    path, _ = _first_loadable({"keras2_nadam_twin", "legacy_nadam_twin", "keras3_nadam_twin"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        koc.load_model(path)
    if not any(issubclass(w.category, koc.OptimizerStateWarning) for w in caught):
        pytest.skip("this Keras continues that Nadam exactly (same generation)")
    with pytest.raises(koc.OptimizerStateError):
        koc.load_model(path, state="require")


@pytest.mark.tf
@pytest.mark.parametrize("case_name", ["legacy_adam_twin", "legacy_sgd_nesterov_bn"] if FULL else ["legacy_adam_twin"])
def test_upgrade_of_a_legacy_optimizer_is_an_archive_the_installed_keras_reads(case_name: str, tmp_path: pathlib.Path) -> None:
    """Keras 2.13-2.15 and tf_keras cannot read back a ``.keras`` archive holding a legacy
    (OptimizerV2) optimizer ("'Adam' object has no attribute 'build'"): ``upgrade_model`` saves
    the default class with the state restored into it, and the installed ``load_model`` of the
    archive resumes the saver's next step."""
    from kerasopt_compat._optional import parse_version

    if FL.default_family != "keras2" or parse_version(FL.keras_version or "0")[:2] < (2, 13):
        pytest.skip("Keras 2.13-2.15 and tf_keras write .keras archives with Keras 2 optimizers (Keras 3 has no legacy ones)")
    path, case = _first_loadable({case_name})
    out = tmp_path / "model.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)  # Adam and SGD continue exactly in Keras 2
        warnings.simplefilter("ignore", koc.DecayConversionWarning)
        koc.upgrade_model(path, out)
    model = FL.keras.models.load_model(str(out))
    assert int(np.asarray(model.optimizer.iterations)) == case["iterations"]
    assert _step(model, case) == "exact"
