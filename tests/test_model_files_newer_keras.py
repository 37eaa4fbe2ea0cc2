"""Model files written by a Keras newer than kerasopt_compat, and your own classes in
model files: read_optimizer / fix_model / fix-model with ``unknown_keys`` and
``custom_objects``, and the command line's ``--unknown-keys``.

The files are real Keras 3 (JAX) ``.keras`` archives from ``tests/data/models``
with their stored optimizer entry edited the way a newer Keras would write it.
Pure: no TensorFlow.
"""

from __future__ import annotations

import json
import pathlib
import zipfile
from typing import Any, Callable, Dict

import pytest
from model_helpers import MODELS

import kerasopt_compat as koc
from kerasopt_compat.__main__ import main

SOURCE = MODELS / "keras3-jax" / "adam.keras"


def edited_keras(tmp_path: pathlib.Path, edit: Callable[[Dict[str, Any]], None]) -> pathlib.Path:
    """A copy of SOURCE whose stored optimizer entry went through ``edit``."""
    out = tmp_path / "edited.keras"
    with zipfile.ZipFile(SOURCE) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config["compile_config"]["optimizer"])
                data = json.dumps(config).encode()
            dst.writestr(info, data)
    return out


def add_option(entry: Dict[str, Any]) -> None:
    entry["config"]["future_option"] = 3


def rename_class(entry: Dict[str, Any]) -> None:
    entry["class_name"] = "FutureOptimizer"


def stored_entry(path: pathlib.Path) -> Dict[str, Any]:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))["compile_config"]["optimizer"]


def test_an_unknown_option_is_refused_by_default_with_the_way_out(tmp_path):
    path = edited_keras(tmp_path, add_option)
    with pytest.raises(koc.UnknownKeyError) as info:
        koc.read_optimizer(path)
    msg = str(info.value)
    assert "future_option" in msg and str(path) in msg and "unknown_keys='keep'" in msg


def test_unknown_keys_keep_reads_the_option_after_the_known_keys(tmp_path):
    path = edited_keras(tmp_path, add_option)
    with pytest.warns(koc.UnknownKeyWarning, match="future_option"):
        got = koc.read_optimizer(path, unknown_keys="keep")
    assert list(got["config"])[-1] == "future_option" and got["config"]["future_option"] == 3
    assert got["config"]["learning_rate"] == pytest.approx(0.123)


@pytest.mark.parametrize("edit", [add_option, rename_class], ids=["option", "class"])
def test_fix_model_writes_what_it_kept_through_unchanged(tmp_path, edit):
    path = edited_keras(tmp_path, edit)
    out = tmp_path / "fixed.keras"
    with pytest.raises((koc.UnknownKeyError, koc.UnknownClassError)):
        koc.fix_model(path, out, "keras3")
    assert not out.exists()
    with pytest.warns(koc.UnknownKeyWarning) as record:
        koc.fix_model(path, out, "keras3", unknown_keys="keep")
    assert len(record) == 1  # said once, not once per pass
    entry = stored_entry(out)
    if edit is add_option:
        assert entry["class_name"] == "Adam" and entry["config"]["future_option"] == 3
    else:
        assert entry["class_name"] == "FutureOptimizer" and entry["config"]["beta_1"] == 0.8


def test_fix_model_cli_unknown_keys(tmp_path, capsys):
    path = edited_keras(tmp_path, add_option)
    out = tmp_path / "fixed.keras"
    assert main(["fix-model", str(path), str(out), "--to", "tf2.15"]) == 2
    assert "future_option" in capsys.readouterr().err and not out.exists()
    assert main(["fix-model", str(path), str(out), "--to", "tf2.15", "--unknown-keys", "keep"]) == 0
    err = capsys.readouterr().err
    assert err.count("future_option") == 1 and "warning:" in err
    assert stored_entry(out)["config"]["future_option"] == 3


def test_fix_model_lets_your_own_class_through(tmp_path, capsys):
    path = edited_keras(tmp_path, lambda e: e.update(class_name="MyOptimizer", registered_name="my_pkg>MyOptimizer"))
    out = tmp_path / "fixed.keras"
    assert main(["fix-model", str(path), str(out), "--to", "keras3"]) == 2
    assert "MyOptimizer" in capsys.readouterr().err
    result = koc.fix_model(path, out, "keras3", custom_objects=["my_pkg>MyOptimizer"])
    assert result.written
    entry = stored_entry(out)
    assert entry["class_name"] == "my_pkg>MyOptimizer" and entry["config"]["beta_1"] == 0.8


def test_bulk_cli_unknown_keys(tmp_path, capsys):
    src = tmp_path / "runs.jsonl"
    records = [
        {"run": 1, "opt": {"class_name": "Adam", "config": {"learning_rate": 0.1, "future_option": [1, 2]}}},
        {"run": 2, "opt": {"class_name": "FutureOptimizer", "config": {"learning_rate": 0.2, "rho": 0.5}}},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["normalize", str(src), "--field", "opt", "--on-error", "skip"]) == 1
    err = capsys.readouterr().err
    assert "--unknown-keys keep" in err and "--custom FutureOptimizer" in err
    assert main(["convert", "--to", "tf2.9", str(src), "--field", "opt", "--unknown-keys", "keep"]) == 0
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert out[0]["opt"]["config"]["future_option"] == [1, 2] and out[0]["opt"]["config"]["decay"] == 0.0
    passed = {"name": "FutureOptimizer", "learning_rate": 0.2, "rho": 0.5}
    assert out[1]["opt"] == {"class_name": "FutureOptimizer", "config": passed}
    assert captured.err.count("UnknownKeyWarning") == 0 and captured.err.count("warning:") == 2
