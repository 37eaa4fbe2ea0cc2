"""``kerasopt-compat state`` on TF training checkpoints (issue 27), against the corpus written by the real wheels.

tests/data/checkpoints/<env>/manifest.json (tools/export_checkpoints.py) holds what the saver's live optimizer held:
its class, iteration count and every slot per model variable. The command must print the same in text and JSON for
every kind of path read_state accepts, and an unreadable path gives the package's error line and exit status 2.
Pure: runs with no TensorFlow installed (and with it).
"""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import Any, Dict, List

import pytest

from kerasopt_compat._cli.main import main

pytest.importorskip("numpy")

DATA = pathlib.Path(__file__).parent / "data" / "checkpoints"
TF1_CLASS = {"AdamOptimizer": "Adam", "MomentumOptimizer": "SGD", "RMSPropOptimizer": "RMSprop"}


def _case(env: str, name: str) -> Dict[str, Any]:
    cases = json.loads((DATA / env / "manifest.json").read_text())["cases"]
    return next(c for c in cases if c["case"] == name)


#: (env, case, how the path is given): a prefix, a folder with a ``checkpoint`` file, an ``.index``, a Keras 2
#: BackupAndRestore folder, a Keras 3 one, a TF1 Saver checkpoint, a sharded one
PATHS = [
    ("tf215", "keras2_adam_ckpt", "folder"),
    ("tf29", "legacy_adam_save_weights", "prefix"),
    ("tf221", "keras3_adam_ckpt", "index"),
    ("tf215", "legacy_adam_backup", "prefix"),
    ("tf221", "keras3_adam_backup", "prefix"),
    ("tf215", "tf1_adam", "folder"),
    ("tf215", "tf1_momentum_nesterov", "prefix"),
    ("tf221", "keras3_adam_sharded", "prefix"),
]


def _path(env: str, case: Dict[str, Any], how: str) -> str:
    prefix = DATA / env / case["prefix"]
    if how == "folder":
        return str(prefix.parent)
    if how == "index":
        return str(prefix) + ".index"
    return str(prefix)


def _expected_class(case: Dict[str, Any]) -> str:
    return TF1_CLASS.get(case["class"], case["class"])


def _generation(case: Dict[str, Any]) -> str:
    return "legacy" if case["family"] == "tf1" else case["family"]


def _slots(case: Dict[str, Any]) -> List[Dict[str, Any]]:
    """{slot: shape} per variable of the manifest, in its order."""
    return [{k: list(want["shape"]) for k in sorted(want["slots"])} for want in case["variables"]]


@pytest.mark.parametrize("env, name, how", PATHS)
def test_state_prints_a_checkpoint(env: str, name: str, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    case = _case(env, name)
    path = _path(env, case, how)
    assert main(["state", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    saved_by = "TF1 Saver checkpoint" if case["family"] == "tf1" else "checkpoint"
    assert lines[0] == "%s: %s (inferred: no optimizer config stored), saved by %s (%s), iterations %d" % (
        path,
        _expected_class(case),
        _generation(case),
        saved_by,
        case["iterations"],
    )
    body = "\n".join(lines[1:])
    for want in case["variables"]:
        shape = tuple(want["shape"])
        row = "%s (tied by " % (shape,)
        slots = ", ".join("%s %s" % (k, shape) for k in sorted(want["slots"]))
        rows = [line for line in lines[1:] if row in line and line.endswith("): " + slots)]
        assert rows, (want["name"], slots)
        if case["family"] != "keras3" or case["kind"] != "backup":  # a Keras 3 backup stores no variable names
            assert any(line.startswith("  %s " % want["name"]) for line in rows), want["name"]
    if case["kind"] == "backup":
        assert "epoch=%d" % case["epoch"] in body


@pytest.mark.parametrize("env, name, how", PATHS)
def test_state_json_of_a_checkpoint(env: str, name: str, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    case = _case(env, name)
    path = _path(env, case, how)
    assert main(["state", path, "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["file"] == path
    assert doc["class"] == _expected_class(case)
    assert doc["optimizer"] is None  # a checkpoint stores no config
    assert doc["saver"]["generation"] == _generation(case)
    assert doc["saver"]["format"] == "checkpoint"
    assert doc["saver"]["layout"] == ("tf1" if case["family"] == "tf1" else None)
    assert doc["iterations"] == case["iterations"]
    if case["kind"] == "backup":
        assert doc["extra"]["epoch"] == case["epoch"]
    got = sorted(json.dumps(v["slots"], sort_keys=True) for v in doc["variables"])
    assert got == sorted(json.dumps(s, sort_keys=True) for s in _slots(case))
    if not (case["family"] == "keras3" and case["kind"] == "backup"):
        by_name = {v["name"]: v for v in doc["variables"]}
        for want in case["variables"]:
            assert by_name[want["name"]]["shape"] == want["shape"]
            assert by_name[want["name"]]["slots"] == {k: want["shape"] for k in want["slots"]}


def test_state_help_names_checkpoints(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["state", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "training checkpoints" in out and "BackupAndRestore" in out and "TF1 Saver" in out


def test_state_of_a_missing_path(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _path("tf215", _case("tf215", "keras2_adam_ckpt"), "folder")
    missing = str(tmp_path / "ckpt-9")
    assert main(["state", missing, good]) == 2  # the others are still printed
    captured = capsys.readouterr()
    assert captured.err.startswith("error: %s: " % missing)
    assert captured.out.startswith(good + ": Adam")


def test_state_of_a_truncated_checkpoint(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = _case("tf215", "keras2_adam_ckpt")
    folder = tmp_path / "ckpt"
    shutil.copytree((DATA / "tf215" / case["prefix"]).parent, folder)
    (shard,) = folder.glob("*.data-00000-of-00001")
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    assert main(["state", str(folder), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    (line,) = captured.err.splitlines()
    assert line.startswith("error: %s" % shard) and ("truncated" in line or "past the end" in line)


def test_state_of_a_checkpoint_file_pointing_outside(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = _case("tf215", "keras2_adam_ckpt")
    folder = tmp_path / "ckpt"
    shutil.copytree((DATA / "tf215" / case["prefix"]).parent, folder)
    (folder / "checkpoint").write_text('model_checkpoint_path: "../elsewhere/ckpt-3"\n')
    assert main(["state", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: %s: " % (folder / "checkpoint")) and "outside its folder" in err
