"""``fix-model --to TARGET IN... -o OUTDIR``: a folder of model files at once (no TensorFlow)."""

from __future__ import annotations

import hashlib
import json
import pathlib

import pytest

import kerasopt_compat as koc
from kerasopt_compat.__main__ import main
from kerasopt_compat._cli.bulk import model_files

pytest.importorskip("h5py")

MODELS = pathlib.Path(__file__).parent / "data" / "models"


def _tree_digest(root: pathlib.Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def _expected_inputs() -> list:
    """Every model file of tests/data/models, listed independently of model_files()."""
    out = []
    for env in sorted(p for p in MODELS.iterdir() if p.is_dir()):
        for p in sorted(env.iterdir()):
            if p.suffix in (".h5", ".keras") or (p / "saved_model.pb").is_file():
                out.append(p)
    return out


def _report(path: pathlib.Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_model_files_walks_folders_and_keeps_savedmodels_whole():
    found = list(model_files([str(MODELS)]))
    assert sorted(src for src, _ in found) == sorted(str(p) for p in _expected_inputs())
    assert all(rel == str(pathlib.Path(src).relative_to(MODELS)) for src, rel in found)
    assert not any("variables" in rel for _, rel in found)  # nothing inside a SavedModel
    one = MODELS / "tf29" / "adam.h5"
    assert list(model_files([str(one)])) == [(str(one), "adam.h5")]


@pytest.mark.parametrize("command", [["upgrade"], ["fix-model", "--to", "tf2.9"]])
def test_a_savedmodel_without_saved_model_pb_is_skipped_and_said(command, tmp_path, capsys):
    """issue 24: a SavedModel folder that lost saved_model.pb (a corrupt keras_metadata.pb beside it) was
    walked into, nothing found, "0 files" and exit 0."""
    models = tmp_path / "models"
    broken = models / "team" / "run1"
    (broken / "variables").mkdir(parents=True)
    (broken / "keras_metadata.pb").write_bytes(b"\x0a\xff\xff not a protobuf")
    (broken / "variables" / "variables.index").write_bytes(b"")
    (broken / "variables" / "stray.h5").write_bytes(b"")  # not walked into
    report = tmp_path / "report.jsonl"
    status = main(command + [str(models), "-o", str(tmp_path / "out"), "--report", str(report)])
    err = capsys.readouterr().err
    assert status == 1
    assert "%s: skipped: a SavedModel directory without saved_model.pb (it holds keras_metadata.pb, " % broken in err
    assert "variables/variables.index" in err
    assert "0 files: 0 " in err and "; 1 folder skipped (SavedModel parts without saved_model.pb)" in err
    assert [(line["path"], line["skipped"], line["output"]) for line in _report(report)] == [(str(broken), True, None)]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
    # given by itself, the same
    assert main(command + [str(broken), "-o", str(tmp_path / "out2"), "-q"]) == 1
    assert "skipped: a SavedModel directory without saved_model.pb" in capsys.readouterr().err


def test_model_files_reports_skipped_folders_and_still_finds_the_rest(tmp_path):
    (tmp_path / "a" / "variables").mkdir(parents=True)
    (tmp_path / "a" / "fingerprint.pb").write_bytes(b"")
    (tmp_path / "b.h5").write_bytes(b"")
    skipped: list = []
    assert list(model_files([str(tmp_path)], skipped=skipped)) == [(str(tmp_path / "b.h5"), "b.h5")]
    assert [p for p, _ in skipped] == [str(tmp_path / "a")]
    assert "fingerprint.pb" in skipped[0][1]
    assert list(model_files([str(MODELS)], skipped=skipped)) and len(skipped) == 1  # complete SavedModels: none


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_folder_is_fixed_file_by_file(jobs, tmp_path, capsys):
    before = _tree_digest(MODELS)
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    args = ["fix-model", "--to", "tf2.9", str(MODELS), "-o", str(out), "--jobs", jobs, "--on-error", "skip"]
    status = main(args + ["--report", str(report), "-q"])
    assert _tree_digest(MODELS) == before  # inputs untouched
    lines = _report(report)
    inputs = _expected_inputs()
    assert [line["path"] for line in lines] == [str(p) for p in inputs]  # one line per file, in order
    failed = [line for line in lines if line["error"]]
    # the files saved without an optimizer are the failures (NoOptimizerError), nothing else
    assert sorted(pathlib.Path(line["path"]).name for line in failed) == sorted(
        p.name for p in inputs if p.name.startswith("nooptimizer")
    )
    assert status == 1  # a file failed
    err = capsys.readouterr().err
    assert "%d files: " % len(inputs) in err and "%d failed" % len(failed) in err
    for line in lines:
        if line["error"]:
            assert line["output"] is None
            continue
        src, dst = pathlib.Path(line["path"]), pathlib.Path(line["output"])
        assert dst == out / src.relative_to(MODELS) and dst.exists()
        assert line["container"] in ("h5", "keras", "savedmodel") and line["class"]
        assert line["state"] in ("kept", "converted", "dropped", "none")
        # the same as fix_model on that one file
        with _quiet():
            single = koc.fix_model(src, tmp_path / "single" / src.relative_to(MODELS), "tf2.9", check=True)
        assert line["changed"] == single.changed and koc.read_optimizer(dst) == koc.normalize(single.after)


def _quiet():
    import warnings

    ctx = warnings.catch_warnings()
    warnings.simplefilter("ignore")  # reset when the context exits
    return ctx


def test_on_error_stop_stops_at_the_first_failure(tmp_path, capsys):
    report = tmp_path / "r.jsonl"
    status = main(["fix-model", "--to", "tf2.9", str(MODELS), "-o", str(tmp_path / "o"), "--report", str(report), "-q"])
    assert status == 1
    lines = _report(report)
    assert lines[-1]["error"] and all(line["error"] is None for line in lines[:-1])
    assert len(lines) < len(_expected_inputs())
    assert "stopped at the first failure" in capsys.readouterr().err


def test_check_writes_nothing_and_says_what_would_change(tmp_path, capsys):
    src = MODELS / "tf215"
    status = main(["fix-model", "--to", "tf2.9", str(src / "adam.h5"), str(src / "lso.h5"), "-o", str(tmp_path / "o"), "--check"])
    assert status == 1 and not (tmp_path / "o").exists()
    assert "2 files: 2 would change, 0 unchanged, 0 failed" in capsys.readouterr().err
    assert main(["fix-model", "--to", "tf2.9", str(src / "adam.h5"), str(src / "lso.h5"), "-o", str(tmp_path / "o"), "-q"]) == 0
    capsys.readouterr()
    assert main(["fix-model", "--to", "tf2.9", str(tmp_path / "o"), "-o", str(tmp_path / "again"), "--check"]) == 0
    assert "2 files: 0 would change, 2 unchanged, 0 failed" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["a.h5", "b.h5", "c.h5"], "give IN and OUT"),
        (["a.h5", "b.h5", "--jobs", "2"], "are for -o OUTDIR"),
        ([str(MODELS / "tf29" / "adam.h5"), str(MODELS / "tf215" / "adam.h5"), "-o", "{tmp}"], "two inputs would be written"),
        ([str(MODELS / "nope"), "-o", "{tmp}"], "no such file or directory"),
        ([str(MODELS / "tf29" / "adam.h5"), "-o", "{tmp}", "--jobs", "0"], "--jobs must be at least 1"),
        ([str(MODELS), "-o", str(MODELS / "tf29" / "out")], "overlaps the input"),
    ],
)
def test_usage_errors(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path / "o")) for a in argv]
    try:
        status = main(["fix-model", "--to", "tf2.9"] + argv)
    except SystemExit as exc:  # argparse
        status = exc.code
    assert status == 2 and message in capsys.readouterr().err
    assert not (MODELS / "tf29" / "out").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["a.h5", "b.keras", "c.h5"], "give IN and OUT.keras"),
        (["a.h5", "b.keras", "--report", "r.jsonl"], "are for -o OUTDIR"),
        # model.h5 and model.keras of one folder would both become OUTDIR/model.keras
        ([str(MODELS / "tf215" / "adam.h5"), str(MODELS / "tf215" / "adam.keras"), "-o", "{tmp}"], "two inputs would be"),
        ([str(MODELS / "tf29"), "-o", str(MODELS / "tf29" / "out")], "overlaps the input"),
        # tf29/adam.h5 and the SavedModel tf29/adam.savedmodel would both become OUTDIR/adam.keras
        ([str(MODELS / "tf29"), "-o", "{tmp}"], "/o/adam.keras; give them apart"),
    ],
)
def test_upgrade_usage_errors_come_before_any_keras(argv, message, tmp_path, capsys):
    """``upgrade IN... -o OUTDIR`` checks its arguments without TensorFlow (the upgrade itself is tested in the
    Keras 3 envs: tests/test_savedmodel_keras3.py)."""
    argv = [a.replace("{tmp}", str(tmp_path / "o")) for a in argv]
    try:
        status = main(["upgrade"] + argv)
    except SystemExit as exc:  # argparse
        status = exc.code
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (MODELS / "tf29" / "out").exists()


def test_upgrade_output_names():
    from kerasopt_compat._cli.bulk import _keras_name

    assert _keras_name("a/model.h5") == "a/model.keras"
    assert _keras_name("a/model.HDF5") == "a/model.keras"
    assert _keras_name("model.keras") == "model.keras"
    assert _keras_name("runs/sm_dir/") == "runs/sm_dir.keras"  # a SavedModel directory
    assert _keras_name("runs/v1.2") == "runs/v1.2.keras"  # a directory name with a dot keeps it
    assert _keras_name("runs/x.savedmodel") == "runs/x.keras"  # not x.savedmodel.keras
    assert _keras_name("runs/X.SavedModel/") == "runs/X.keras"


def test_fix_model_warnings_name_the_file_once(tmp_path, capsys):
    """``warning: a.h5: the optimizer state ...``, not ``warning: a.h5: a.h5: ...``, in both forms and the report."""
    src = MODELS / "tf29" / "adam.h5"
    assert main(["fix-model", str(src), str(tmp_path / "one.h5"), "--to", "keras3"]) == 0
    one = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert one and all(line.startswith("warning: %s: " % src) and line.count(str(src)) == 1 for line in one), one
    report = tmp_path / "r.jsonl"
    assert main(["fix-model", "--to", "keras3", str(src), "-o", str(tmp_path / "many"), "--report", str(report)]) == 0
    many = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(many) == len(one)
    assert all(line.startswith("warning: %s: DroppedStateWarning: " % src) and line.count(str(src)) == 1 for line in many)
    (line,) = _report(report)
    assert line["path"] == str(src) and line["warnings"]
    assert not [w for w in line["warnings"] if str(src) in w]
