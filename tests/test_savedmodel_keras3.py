"""TF 2.x SavedModels in Keras 3: ``kerasopt_compat.load_model`` rebuilds and resumes them (issue 20).

Keras 3's own ``load_model`` refuses SavedModel directories. In every Keras 3
env (TensorFlow, JAX, PyTorch backends) each SavedModel of the corpora is
loaded with :func:`kerasopt_compat.load_model` and must

* predict exactly as its ``.h5`` twin (saved by the same process at the same
  step) loaded by the installed Keras' own ``.h5`` loader: an independent
  weight-assignment path (tests/data/resume);
* take one step equal to the saver's next step (relative 1e-4 of the step),
  or give an :class:`OptimizerStateWarning` saying why not (Nadam's schedule
  and legacy RMSprop between generations: ``_keras.restore.RULE_DIFFERENCES``);
* hold the saver's weights, iteration count and slots (tests/data/resume_sm).

Every corpus runs whole where ``KOC_RESUME_FULL=1`` (tox.ini: tf220, keras3-jax,
keras3-torch); elsewhere a sample (``SAMPLE``), to keep CI within its time. The
resume corpus's SavedModels run here as a sample everywhere: tests/test_resume.py
takes the step on every one of them (through ``kerasopt_compat.load_model``) in
the full envs and counts them for ``compat_matrix.md``.
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
from typing import Any, Dict, List, Tuple

import pytest
from live_helpers import require_keras, write_report

require_keras()

import numpy as np  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402
from kerasopt_compat._keras.restore import state_of  # noqa: E402

FL = flavour()
if FL.default_family != "keras3":
    pytest.skip("Keras 2 loads SavedModels itself (tests/test_resume.py)", allow_module_level=True)

DATA = pathlib.Path(__file__).resolve().parent / "data"
RESUME = DATA / "resume"
RESUME_SM = DATA / "resume_sm"
FULL = os.environ.get("KOC_RESUME_FULL") == "1"
#: Elsewhere (CI time): one Keras 2 and one legacy saver of the resume corpus, two of
#: tests/data/resume_sm, the model kinds of one saver, one upgrade.
SAMPLE = {"keras2_adam_twin", "legacy_adam_bn"}
#: tf215: the regression kinds of issue 24 (LSTM and Bidirectional saved with traces, a Keras 2 loss object).
SAMPLE_KINDS_SAVERS = {"tfkeras221", "tf215"}


#: (saver env, corpus, model) -> outcome, for the "SavedModels in Keras 3" table of compat_matrix.md (full envs).
OUTCOMES: Dict[Tuple[str, str, str], str] = {}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Any:
    yield
    if not FULL or not OUTCOMES:
        return
    rows: Dict[str, Dict[str, int]] = {}
    for (saver, corpus, _), outcome in sorted(OUTCOMES.items()):
        counts = rows.setdefault("%s %s" % (saver, corpus), {"models": 0})
        counts["models"] += 1
        counts[outcome] = counts.get(outcome, 0) + 1
    write_report("koc_savedmodels.json", {"flavour": FL.describe(), "rows": rows})


def _resume_corpus() -> List[Tuple[str, Dict[str, Any], str, str]]:
    """(saver env, case, SavedModel dir, .h5 twin) of every SavedModel of tests/data/resume."""
    out = []
    for manifest in sorted(RESUME.glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            files = {f["format"]: f["file"] for f in case["files"]}
            if "savedmodel" not in files or case["case"] not in SAMPLE:
                continue
            out.append((manifest.parent.name, case, files["savedmodel"], files["h5"]))
    return out


RESUME_CORPUS = _resume_corpus()


def _np(value: Any) -> Any:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype="float64")


def _step(model: Any, case: Dict[str, Any]) -> str:
    """One step on the saver's 4th batch: 'exact' when the weights are then the saver's."""
    before = [_np(v) for v in model.trainable_variables]
    x = np.asarray(case["next_batch"]["x"], dtype="float32")
    y = np.asarray(case["next_batch"]["y"], dtype="float32")
    model.train_on_batch(x, y)
    after = [_np(v) for v in model.trainable_variables]
    want = [np.asarray(w["value"], dtype="float64") for w in case["next_weights"]]
    assert [a.shape for a in after] == [w.shape for w in want]
    if not all(np.all(np.isfinite(a)) for a in after):
        return "nan"
    for i, (b, a, w) in enumerate(zip(before, after, want)):
        if case["model"] == "bn" and i == 1:  # the bias before BatchNormalization: see tests/test_resume.py
            continue
        if np.max(np.abs(a - w)) > 1e-4 * np.max(np.abs(w - b)) + 1e-6:
            return "different"
    return "exact"


def test_the_native_loader_still_refuses_savedmodels() -> None:
    """The reason this module exists: when a Keras 3 opens SavedModels itself, this loader should step aside."""
    path = RESUME / RESUME_CORPUS[0][0] / RESUME_CORPUS[0][2]
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever Keras raises
        FL.keras.models.load_model(str(path))


@pytest.mark.tf
@pytest.mark.parametrize("item", RESUME_CORPUS, ids=["%s/%s" % (env, sm) for env, _, sm, _ in RESUME_CORPUS])
def test_savedmodel_loads_predicts_and_resumes(item: Tuple[str, Dict[str, Any], str, str]) -> None:
    env, case, sm, h5 = item
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = koc.load_model(RESUME / env / sm)
    assert model.optimizer is not None
    assert int(_np(model.optimizer.iterations)) == case["iterations"]
    twin = FL.keras.models.load_model(str(RESUME / env / h5), compile=False)
    x = np.asarray(case["next_batch"]["x"], dtype="float32")
    np.testing.assert_allclose(_np(model.predict(x, verbose=0)), _np(twin.predict(x, verbose=0)), rtol=1e-6, atol=1e-7)
    outcome = _step(model, case)
    assert outcome != "nan"
    if outcome != "exact":
        state_warnings = [w for w in caught if issubclass(w.category, koc.OptimizerStateWarning)]
        assert state_warnings, "%s/%s: the step differs from the saver's and no OptimizerStateWarning said so" % (env, sm)


def _sm_corpus() -> List[Tuple[str, Dict[str, Any]]]:
    out = []
    for manifest in sorted(RESUME_SM.glob("*/manifest.json")):
        for entry in json.loads(manifest.read_text())["models"]:
            out.append((manifest.parent.name, entry))
    return out


SM_CORPUS = [item for i, item in enumerate(_sm_corpus()) if FULL or i == 0 or _sm_corpus()[i - 1][0] != item[0]]


@pytest.mark.tf
@pytest.mark.parametrize("item", SM_CORPUS, ids=["%s/%s" % (env, e["dir"]) for env, e in SM_CORPUS])
def test_savedmodel_holds_the_savers_weights_and_state(item: Tuple[str, Dict[str, Any]]) -> None:
    env, entry = item
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.OptimizerStateWarning)  # checked slot by slot below
        warnings.simplefilter("ignore", koc.DecayConversionWarning)
        model = koc.load_model(RESUME_SM / env / entry["dir"])
    assert int(_np(model.optimizer.iterations)) == entry["iterations"]
    live = {v.path.split("/", 1)[-1]: v for v in model.weights}
    state = {vs.name.split("/", 1)[-1]: vs for vs in state_of(model.optimizer, model).variables}
    compared = 0
    for var in entry["variables"]:
        name = var["name"][:-2] if var["name"].endswith(":0") else var["name"]
        np.testing.assert_allclose(_np(live[name]), np.asarray(var["value"]), rtol=0, atol=0)
        for slot, value in var["slots"].items():
            if slot in state[name].slots:
                np.testing.assert_allclose(np.asarray(state[name].slots[slot], dtype="float64"), value, rtol=1e-7)
                compared += 1
    assert compared, "no slot of %s/%s was compared" % (env, entry["dir"])
    OUTCOMES[(env, "resume_sm", entry["dir"])] = "state exact"


def _first(cases: set) -> Tuple[pathlib.Path, Dict[str, Any]]:
    for env, case, sm, _ in _resume_corpus_all():
        if case["case"] in cases:
            return RESUME / env / sm, case
    raise AssertionError("the corpus has none of %s" % sorted(cases))


def _resume_corpus_all() -> List[Tuple[str, Dict[str, Any], str, str]]:
    out = []
    for manifest in sorted(RESUME.glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            files = {f["format"]: f["file"] for f in case["files"]}
            if "savedmodel" in files:
                out.append((manifest.parent.name, case, files["savedmodel"], files["h5"]))
    return out


@pytest.mark.tf
def test_state_fresh_require_and_compile_false() -> None:
    path, case = _first({"keras2_adam_twin"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        resumed = koc.load_model(path, state="require")
        assert _step(resumed, case) == "exact"
        fresh = koc.load_model(path, state="fresh")
    assert int(_np(fresh.optimizer.iterations)) == 0
    assert _step(fresh, case) != "exact"
    bare = koc.load_model(path, compile=False)
    assert getattr(bare, "optimizer", None) is None
    x = np.asarray(case["next_batch"]["x"], dtype="float32")
    np.testing.assert_allclose(_np(bare.predict(x, verbose=0)), _np(koc.load_model(path).predict(x, verbose=0)))


@pytest.mark.tf
def test_state_require_refuses_an_inexact_resume() -> None:
    path, _ = _first({"legacy_nadam_twin"})
    with pytest.raises(koc.OptimizerStateError):
        koc.load_model(path, state="require")


@pytest.mark.tf
def test_refusals_name_tfsmlayer(tmp_path: pathlib.Path) -> None:
    import shutil

    path, _ = _first({"keras2_adam_twin"})
    no_vars = tmp_path / "no_vars"
    shutil.copytree(path, no_vars)
    shutil.rmtree(no_vars / "variables")
    with pytest.raises(koc.ModelFileError, match="variables/.*TFSMLayer"):
        koc.load_model(no_vars)
    no_meta = tmp_path / "no_meta"
    shutil.copytree(path, no_meta)
    (no_meta / "keras_metadata.pb").unlink()
    with pytest.raises(koc.ModelFileError, match="keras_metadata.pb.*TFSMLayer"):
        koc.load_model(no_meta)


def _kinds_corpus() -> List[Tuple[str, Dict[str, Any]]]:
    out = []
    for manifest in sorted((DATA / "savedmodel_kinds").glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            out.append((manifest.parent.name, case))
    return out


KINDS_CORPUS = [item for item in _kinds_corpus() if FULL or item[0] in SAMPLE_KINDS_SAVERS]


def _tail(name: str, model_name: str) -> str:
    """A variable's name as Keras 2 and 3 both spell it: without ``:0`` and without the model's own
    name in front (Keras 3 paths of a Sequential's weights start with it): ``lstm/lstm_cell/kernel``,
    ``bidirectional/forward_lstm/lstm_cell/kernel``."""
    name = name[:-2] if name.endswith(":0") else name
    return name[len(model_name) + 1 :] if name.startswith(model_name + "/") else name


@pytest.mark.tf
@pytest.mark.parametrize("item", KINDS_CORPUS, ids=["%s/%s" % (env, c["kind"]) for env, c in KINDS_CORPUS])
def test_other_model_kinds_load_predict_and_resume(item: Tuple[str, Dict[str, Any]]) -> None:
    """Two inputs, Embedding+LSTM, a custom layer from custom_objects; LSTM and Bidirectional(LSTM)
    saved with traces, a Keras 2 loss object (tests/data/savedmodel_kinds)."""
    from custom_fns import koc_scale_layer

    env, case = item
    custom = {"KocScale": koc_scale_layer()} if "KocScale" in case["custom_objects"] else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = koc.load_model(DATA / "savedmodel_kinds" / env / case["file"], custom_objects=custom)
    assert int(_np(model.optimizer.iterations)) == case["iterations"]
    x = [np.asarray(a, dtype="int32" if case["kind"] == "embed_lstm" else "float32") for a in case["x"]]
    feed = x if len(x) > 1 else x[0]
    np.testing.assert_allclose(_np(model.predict(feed, verbose=0)), case["predictions"], rtol=1e-5, atol=1e-6)
    before = {_tail(v.path, model.name): _np(v) for v in model.trainable_variables}
    model.train_on_batch(feed, np.asarray(case["y"], dtype="float32"))
    after = {_tail(v.path, model.name): _np(v) for v in model.trainable_variables}
    want = {_tail(k, model.name): np.asarray(v) for k, v in case["next_weights"].items()}
    assert len(after) == len(model.trainable_variables) and sorted(after) == sorted(want)
    if case["kind"] == "embed_lstm" and FL.keras.backend.backend() == "tensorflow":
        _drop_duplicate_token_rows(x[0], before, after, want)
    differs = [k for k in want if np.max(np.abs(after[k] - want[k])) > 1e-4 * np.max(np.abs(want[k] - before[k])) + 1e-6]
    # Adam's state is stored in every one of these files: it must be restored exactly (issue 24)
    assert not differs, "%s/%s: %s step differently from the saver (warnings: %s)" % (
        env,
        case["kind"],
        differs,
        [str(w.message) for w in caught if issubclass(w.category, koc.OptimizerStateWarning)],
    )
    assert not [w for w in caught if issubclass(w.category, koc.OptimizerStateWarning)]
    OUTCOMES[(env, "kinds", case["kind"])] = "exact"


def _drop_duplicate_token_rows(tokens: Any, *weights: Dict[str, Any]) -> None:
    """Keras 3 on TensorFlow applies Adam to an Embedding's sparse gradient (``tf.IndexedSlices``)
    occurrence by occurrence (``ops.square`` of the slices, then ``scatter_add``), so a token
    that occurs twice in the batch adds two squares to ``v`` where Keras 2 / tf_keras and the
    other backends add the square of the summed gradient: the installed Keras' own update,
    the same for a model trained from scratch, not the resumed state. Those rows are left out;
    the rows of tokens that occur once must still step exactly as the saver's."""
    values, counts = np.unique(tokens, return_counts=True)
    once = values[counts == 1]
    assert once.size, "the batch has no token that occurs once: nothing of the embedding is compared"
    for w in weights:
        w["embedding/embeddings"] = w["embedding/embeddings"][once]


@pytest.mark.tf
def test_a_custom_layer_not_in_custom_objects_is_the_packages_error() -> None:
    env, case = next(item for item in KINDS_CORPUS if item[1]["kind"] == "custom_layer")
    with pytest.raises(koc.ModelFileError, match="KocScale.*custom_objects"):
        koc.load_model(DATA / "savedmodel_kinds" / env / case["file"])


@pytest.mark.tf
@pytest.mark.parametrize("case_name", ["keras2_adam_twin", "legacy_sgd_nesterov_bn"] if FULL else ["keras2_adam_twin"])
def test_upgrade_model_writes_a_keras_file_that_plain_keras_resumes(tmp_path: pathlib.Path, case_name: str) -> None:
    path, case = _first({case_name})
    before = sorted((p.relative_to(path), p.stat().st_mtime_ns, p.stat().st_size) for p in path.rglob("*"))
    out = tmp_path / "model.keras"
    assert koc.upgrade_model(path, out) == str(out)
    assert sorted((p.relative_to(path), p.stat().st_mtime_ns, p.stat().st_size) for p in path.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary file left beside it
    model = FL.keras.models.load_model(str(out))
    assert int(_np(model.optimizer.iterations)) == case["iterations"]
    assert _step(model, case) == "exact"
    with pytest.raises(koc.ModelFileError, match="exists"):
        koc.upgrade_model(path, out)
    with pytest.raises(koc.ModelFileError, match=r"\.keras"):
        koc.upgrade_model(path, tmp_path / "model.h5")


@pytest.mark.tf
def test_upgrade_command(tmp_path: pathlib.Path, capsys: Any) -> None:
    from kerasopt_compat._cli.main import main

    path, case = _first({"keras2_adam_twin"})
    out = tmp_path / "cli.keras"
    assert main(["upgrade", str(path), str(out), "-q"]) == 0
    assert _step(FL.keras.models.load_model(str(out)), case) == "exact"
    assert main(["upgrade", str(path), str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["upgrade", str(path), str(out), "--force", "--state", "fresh", "-q"]) == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh = FL.keras.models.load_model(str(out))
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]  # saved built, zero slots
    assert int(_np(fresh.optimizer.iterations)) == 0
    assert _step(fresh, case) == "different"  # a fresh Adam's step is not the saver's


@pytest.mark.tf
@pytest.mark.parametrize("jobs", ["1", "2"] if FULL else ["1"])
def test_upgrade_many_files_into_a_folder(jobs: str, tmp_path: pathlib.Path, capsys: Any) -> None:
    """``upgrade IN... -o OUTDIR``: a folder walked (a SavedModel and its .h5 twin in a subfolder, a broken file)."""
    import shutil

    from kerasopt_compat._cli.main import main

    env, case, sm, h5 = next(item for item in _resume_corpus_all() if item[1]["case"] == "keras2_adam_twin")
    models = tmp_path / "models"
    shutil.copytree(RESUME / env / sm, models / "team" / "run1")
    shutil.copy(RESUME / env / h5, models / "team" / "run1_twin.h5")
    (models / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # HDF5 signature, nothing after it
    before = sorted((p.relative_to(models), p.stat().st_mtime_ns, p.stat().st_size) for p in models.rglob("*"))
    out, report = tmp_path / "upgraded", tmp_path / "report.jsonl"
    args = ["upgrade", str(models), "-o", str(out), "--jobs", jobs, "--on-error", "skip", "--report", str(report), "-q"]
    status = main(args)
    assert status == 1  # broken.h5 failed; the others were written
    assert sorted((p.relative_to(models), p.stat().st_mtime_ns, p.stat().st_size) for p in models.rglob("*")) == before
    assert "3 files: 2 written as .keras, 1 failed" in capsys.readouterr().err
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [pathlib.Path(line["path"]).relative_to(models).as_posix() for line in lines] == [
        "broken.h5",
        "team/run1",
        "team/run1_twin.h5",
    ]
    assert lines[0]["error"] and lines[0]["output"] is None
    assert [line["container"] for line in lines[1:]] == ["savedmodel", "h5"]
    assert [line["class"] for line in lines[1:]] == ["Adam", "Adam"]
    for line, name in zip(lines[1:], ["team/run1.keras", "team/run1_twin.keras"]):
        assert line["output"] == str(out / name) and line["error"] is None
        model = FL.keras.models.load_model(line["output"])  # the installed Keras' own loader
        assert int(_np(model.optimizer.iterations)) == case["iterations"]
        assert _step(model, case) == "exact"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "team",
        "team/run1.keras",
        "team/run1_twin.keras",
    ]  # no temporary file left


@pytest.mark.tf
@pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")
def test_upgrade_writes_mode_0644_and_names_x_savedmodel_x_keras(tmp_path: pathlib.Path) -> None:
    """Under umask 022 ``upgrade``'s outputs are 0644 (what ``open`` gives, not ``mkstemp``'s 0600); a SavedModel
    directory ``x.savedmodel`` is upgraded to ``x.keras`` (stale temporaries: tests/test_output_files.py)."""
    import shutil
    import stat

    from kerasopt_compat._cli.main import main

    path, case = _first({"keras2_adam_twin"})
    models = tmp_path / "models"
    shutil.copytree(path, models / "run1.savedmodel")
    out = tmp_path / "up"
    old = os.umask(0o022)
    try:
        assert main(["upgrade", str(models), "-o", str(out), "-q"]) == 0
        assert koc.upgrade_model(models / "run1.savedmodel", tmp_path / "one.keras") == str(tmp_path / "one.keras")
    finally:
        os.umask(old)
    assert sorted(p.name for p in out.iterdir()) == ["run1.keras"]  # not run1.savedmodel.keras, no temporary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "one.keras", "up"]
    for written in (out / "run1.keras", tmp_path / "one.keras"):
        assert stat.S_IMODE(written.stat().st_mode) == 0o644
        assert int(_np(FL.keras.models.load_model(str(written)).optimizer.iterations)) == case["iterations"]


@pytest.mark.tf
@pytest.mark.parametrize("name,custom", [("custom_loss", "koc_custom_loss"), ("custom_metric", "koc_custom_metric")])
def test_a_custom_loss_or_metric_comes_from_custom_objects(name: str, custom: str) -> None:
    """tests/data/custom_models: without custom_objects the package's error names the function; with it, it trains."""
    import custom_fns

    path = DATA / "custom_models" / "tf215" / ("%s.savedmodel" % name)
    with pytest.raises(koc.ModelFileError, match="cannot compile .*%s.*custom_objects" % custom):
        koc.load_model(path)
    model = koc.load_model(path, custom_objects={custom: getattr(custom_fns, custom)})
    x = np.array([[0.25, 0.5], [0.75, 1.0]], dtype="float32")
    out = model.train_on_batch(x, x.sum(axis=1, keepdims=True))
    assert np.all(np.isfinite(np.asarray(out, dtype="float64")))
