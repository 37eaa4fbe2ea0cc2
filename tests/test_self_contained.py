"""The repository stands on its own: no tracked file needs anything beside the checkout."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: A path out of the checkout into the reference folder kept beside it.
OUTSIDE = re.compile(r"\.\./shared\b|parent\s*/\s*[\"']shared[\"']|shared/" + r"spec\b")
#: The one allowed mention: .ci/run points KOC_WILD_CORPUS at third-party data
#: that must not be committed (the test using it skips without it).
ALLOWED = {".ci/run": re.compile(r"shared/data/wild_optimizers\.jsonl")}


def _tracked_files():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an sdist or a copy without .git): no list of tracked files")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, stdout=subprocess.PIPE).stdout
    return [name for name in out.decode("utf-8").split("\0") if name]


def test_no_tracked_file_refers_outside_the_checkout():
    offenders = []
    for name in _tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary fixtures
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append("%s:%d: %s" % (name, number, line.strip()))
            elif "shared/" in line and name in ALLOWED and not ALLOWED[name].search(line):
                offenders.append("%s:%d: %s" % (name, number, line.strip()))
    assert not offenders, "tracked files refer to the reference folder beside the checkout:\n" + "\n".join(offenders)


def test_documented_shapes_are_in_the_repository():
    import json

    data = json.loads((ROOT / "tests" / "data" / "documented_shapes.json").read_text(encoding="utf-8"))
    assert "TensorFlow 2.9.3" in data["_about"]
    sgd = [c for c in data["cases"] if c["class"] == "tf.keras.optimizers.SGD" and not c["constructor_kwargs"]]
    assert sgd[0]["serialize"] == {
        "class_name": "SGD",
        "config": {"name": "SGD", "learning_rate": 0.01, "decay": 0.0, "momentum": 0.0, "nesterov": False},
    }


def test_ci_runs_the_suite_from_an_empty_temporary_directory():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    copy = ci.index('cd "$work"')
    assert "mktemp -d" in ci[:copy]
    assert ci.index("tox run-parallel") > copy


def _fake_tox(root):
    """A .tox tree as one live env leaves it: junit report and koc_report.json."""
    tmp = root / "tf29" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "junit.xml").write_text('<testsuite tests="3" failures="0" errors="0" skipped="0" time="1.5"/>')
    report = {
        "python": "3.10.13",
        "flavour": "TensorFlow 2.9.3, Keras 2.9.0 (legacy)",
        "kind": "keras package",
        "tensorflow": "2.9.3",
        "keras": "2.9.0",
        "default_family": "legacy",
        "classes": {"SGD": ["legacy"]},
        "sgd": {"class_name": "SGD", "config": {}},
        "cross": [["tf24", "SGD/defaults", "exact"]],
    }
    (tmp / "koc_report.json").write_text(json.dumps(report))


def test_compat_matrix_check_fails_on_an_edited_cell(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import compat_matrix
    finally:
        sys.path.pop(0)
    _fake_tox(tmp_path / ".tox")
    page = tmp_path / "compat_matrix.md"
    compat_matrix.main(str(tmp_path / ".tox"))
    page.write_text(capsys.readouterr().out)
    assert compat_matrix.check(str(tmp_path / ".tox"), str(page)) == 0
    page.write_text(page.read_text().replace("| 1 / 0 / 0 / 0 |", "| 2 / 0 / 0 / 0 |"))
    capsys.readouterr()
    assert compat_matrix.check(str(tmp_path / ".tox"), str(page)) == 1
    out = capsys.readouterr().out
    assert "-| tf24 | 2 / 0 / 0 / 0 |" in out and "+| tf24 | 1 / 0 / 0 / 0 |" in out and "is stale" in out
