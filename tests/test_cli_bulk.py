"""``kerasopt-compat normalize|convert|check``: bulk files, JSON Lines streams, atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import iter_exports

from kerasopt_compat import normalize
from kerasopt_compat.__main__ import main

EXPORTS = [entry["serialized"] for _, entry in iter_exports()]
BAD_CLASS = {"class_name": "Nope", "config": {}}


def _records(n=None):
    """Records of an experiment log: the optimizer is one field among others."""
    exports = EXPORTS if n is None else (EXPORTS * (n // len(EXPORTS) + 1))[:n]
    return [{"run": i, "meta": {"optimizer": opt, "tags": ["a", i]}, "loss": 0.5} for i, opt in enumerate(exports)]


def _jsonl(path, records, extra_lines=()):
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")
    return str(path)


def _lines(text):
    return [json.loads(line) for line in text.splitlines()]


def test_jsonl_field_keeps_other_fields_and_order(tmp_path, capsys):
    records = _records()
    src = _jsonl(tmp_path / "runs.jsonl", records)
    assert main(["normalize", "--field", "meta.optimizer", src]) == 0
    captured = capsys.readouterr()
    out = _lines(captured.out)
    assert len(out) == len(records)
    for old, new in zip(records, out):
        assert new["meta"]["optimizer"] == normalize(old["meta"]["optimizer"])
        assert {k: v for k, v in new.items() if k != "meta"} == {k: v for k, v in old.items() if k != "meta"}
        assert new["meta"]["tags"] == old["meta"]["tags"]
    changed = sum(normalize(r["meta"]["optimizer"]) != r["meta"]["optimizer"] for r in records)
    summary = captured.err.strip().splitlines()[-1]
    expected = "%d records: %d converted, %d unchanged, 0 failed" % (len(records), changed, len(records) - changed)
    assert summary.endswith(expected)


@pytest.mark.parametrize(
    "mode, status, kept",
    [("stop", 1, None), ("skip", 1, 4), ("keep", 1, 6)],
)
def test_on_error_modes(tmp_path, capsys, mode, status, kept):
    good = _records(4)
    src = _jsonl(
        tmp_path / "runs.jsonl",
        good[:2],
        [json.dumps({"run": "x", "meta": {"optimizer": BAD_CLASS}}), "{not json"] + [json.dumps(r) for r in good[2:]],
    )
    assert main(["normalize", "--field", "meta.optimizer", "--on-error", mode, src]) == status
    captured = capsys.readouterr()
    err = captured.err
    assert "%s:3: unknown optimizer class" % src in err
    if mode == "stop":
        assert ":4:" not in err and len(captured.out.splitlines()) == 2
        assert "3 records: " in err and "1 failed (stopped" in err
        return
    assert "%s:4: invalid JSON" % src in err
    assert "6 records: " in err and "2 failed" in err
    lines = captured.out.splitlines()
    assert len(lines) == kept
    if mode == "keep":
        assert lines[3] == "{not json" and json.loads(lines[2])["meta"]["optimizer"] == BAD_CLASS
    assert [json.loads(line)["run"] for line in lines if line.startswith('{"run": ') and "Nope" not in line] == [0, 1, 2, 3]


def test_json_array_and_single_document(tmp_path, capsys):
    array = tmp_path / "array.json"
    array.write_text(json.dumps(EXPORTS[:3], indent=2))
    assert main(["normalize", str(array)]) == 0
    assert json.loads(capsys.readouterr().out) == [normalize(c) for c in EXPORTS[:3]]
    single = tmp_path / "one.json"
    single.write_text(json.dumps(EXPORTS[5], indent=2))
    assert main(["convert", "--to", "keras3", str(single)]) == 0
    assert json.loads(capsys.readouterr().out)["module"] == "keras.optimizers"


def test_a_field_holding_json_text_stays_text(tmp_path, capsys):
    record = {"id": 1, "optimizer": json.dumps({"class_name": "Custom>SGD", "config": {"lr": 0.1}})}
    src = _jsonl(tmp_path / "db.jsonl", [record])
    assert main(["normalize", "--field", "optimizer", src]) == 0
    out = _lines(capsys.readouterr().out)[0]
    assert isinstance(out["optimizer"], str) and json.loads(out["optimizer"])["class_name"] == "SGD"


def test_missing_field_is_a_failed_record(tmp_path, capsys):
    src = _jsonl(tmp_path / "db.jsonl", [{"id": 1}])
    assert main(["normalize", "--field", "meta.optimizer", src]) == 1
    assert "no field 'meta'" in capsys.readouterr().err


def test_output_is_atomic_and_never_the_input(tmp_path, capsys):
    src = _jsonl(tmp_path / "runs.jsonl", _records(5), [json.dumps(BAD_CLASS)])
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    # stops at the bad record: the previous output stays as it was, no temporary file is left
    assert main(["normalize", src, "--field", "meta.optimizer", "-o", str(out)]) == 1
    assert out.read_text() == "previous\n"
    assert sorted(os.listdir(tmp_path)) == ["out.jsonl", "runs.jsonl"]
    assert main(["normalize", src, "--field", "meta.optimizer", "--on-error", "skip", "-o", str(out)]) == 1
    assert len(out.read_text().splitlines()) == 5
    before = open(src, encoding="utf-8").read()
    assert main(["normalize", src, "-o", src]) == 2
    assert "--in-place" in capsys.readouterr().err
    assert open(src, encoding="utf-8").read() == before


def test_in_place_and_check(tmp_path, capsys):
    src = _jsonl(tmp_path / "runs.jsonl", _records(20))
    assert main(["normalize", "--field", "meta.optimizer", "--check", src]) == 1  # would change
    assert capsys.readouterr().out == ""
    assert main(["normalize", "--field", "meta.optimizer", "--in-place", src]) == 0
    assert main(["normalize", "--field", "meta.optimizer", "--check", src]) == 0  # now canonical
    assert os.listdir(tmp_path) == ["runs.jsonl"]


def test_jobs_keep_record_order(tmp_path, capsys):
    src = _jsonl(tmp_path / "runs.jsonl", _records(5000))
    args = ["convert", "--to", "legacy", "--on-error", "keep", "--field", "meta.optimizer", src]
    assert main(args) == 1  # AdamW, Lion, ... have no legacy class: failed, kept as they were
    one = capsys.readouterr()
    assert main(args + ["--jobs", "2"]) == 1
    two = capsys.readouterr()
    assert one.out == two.out and one.err == two.err
    assert "warning: %s:" % src in one.err and "no optimizer AdamW" in one.err


def test_version_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("kerasopt_compat ")
    with pytest.raises(SystemExit) as info:
        main(["convert", "x.jsonl"])  # --to is required
    assert info.value.code == 2
    assert main(["normalize", "--in-place", "a", "b"]) == 2


def test_unreadable_input_is_status_2(tmp_path, capsys):
    h5 = tmp_path / "model.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert main(["normalize", str(h5)]) == 2
    assert "HDF5" in capsys.readouterr().err


def test_check_reports_and_passes(capsys):
    assert main(["check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["problems"] == []
    assert {row["class"] for row in report["rows"]} >= {"SGD", "Adam", "Lion"}
    if report["flavour"] is None:
        assert "no TensorFlow or Keras installed" in report["note"]
    else:
        assert "install()" in report["columns"]
        assert all(row["serialize/deserialize"] in ("ok", "-") for row in report["rows"])
    assert main(["check"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ok")


def test_console_script_is_installed():
    exe = shutil.which("kerasopt-compat", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("kerasopt-compat is not on this interpreter's bin path (not installed as a package)")
    run = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert run.stdout.startswith("kerasopt_compat ")


def _distinct_records(n):
    """Records whose optimizers all differ (nothing to reuse: the run takes a while)."""
    for i, record in enumerate(_records(n)):
        opt = record["meta"]["optimizer"]
        if isinstance(opt["config"].get("learning_rate"), float):
            record["meta"]["optimizer"] = dict(opt, config=dict(opt["config"], learning_rate=0.5 + i * 1e-7))
        yield record


def test_interrupted_in_place_run_leaves_the_input_intact(tmp_path):
    src = _jsonl(tmp_path / "big.jsonl", _distinct_records(400_000))
    before = os.path.getsize(src), open(src, "rb").read(1 << 16)
    cmd = [sys.executable, "-m", "kerasopt_compat", "normalize", "--field", "meta.optimizer", "--in-place", src]
    # Ctrl-C as a terminal delivers it; a background CI job may have SIGINT ignored, which the child would inherit
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    deadline = time.time() + 60
    while time.time() < deadline and len(os.listdir(tmp_path)) < 2 and proc.poll() is None:
        time.sleep(0.02)  # until the temporary output file exists
    assert proc.poll() is None, "finished before it could be interrupted"
    time.sleep(0.05)  # past the creation of the temporary file, into the conversion
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert (os.path.getsize(src), open(src, "rb").read(1 << 16)) == before
    assert os.listdir(tmp_path) == ["big.jsonl"]
    assert b"interrupted" in err


@pytest.mark.skipif(not os.environ.get("KOC_BIG_TESTS"), reason="set KOC_BIG_TESTS=1 (tox env py311 does) for the 1M-record run")
@pytest.mark.parametrize("mode", ["stop", "skip", "keep"])
def test_a_million_records_with_corrupt_lines(tmp_path, mode):
    n = 1_000_000
    bad_at = {10, 500_000, n + 2}  # line numbers of corrupt records (the last one after the good ones)
    src = tmp_path / "big.jsonl"
    records = iter(_records(n))
    with open(src, "w", encoding="utf-8") as fh:
        for line in range(1, n + 4):
            fh.write("{corrupt\n" if line in bad_at else json.dumps(next(records, {"run": "end"})) + "\n")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "kerasopt_compat", "normalize", "--field", "meta.optimizer", "-q"]
    run = subprocess.run(cmd + ["--on-error", mode, str(src), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    summary = run.stderr.strip().splitlines()[-1]
    if mode == "stop":
        assert "%s:10: invalid JSON" % src in run.stderr and "10 records" in summary and not out.exists()
        return
    total = n + 3
    assert "%d records: " % total in summary and ", 3 failed" in summary
    with open(out, encoding="utf-8") as fh:
        lines = sum(1 for _ in fh)
    assert lines == (total - 3 if mode == "skip" else total)
