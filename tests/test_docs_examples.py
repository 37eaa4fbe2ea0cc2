"""Every example in README.md and docs/*.md runs, in every tox env where what it needs is installed.

Collected: each fenced block whose language is ``python``, ``pycon``, ``bash`` or ``sh`` (other fences,
``text``, ``json``, ..., are not examples). Each block runs on its own, in a fresh temporary directory:

* ``python``: executed in a fresh namespace; any exception fails the test.
* ``pycon``: run as a doctest (``ELLIPSIS``, ``NORMALIZE_WHITESPACE``); the output lines shown must match.
* ``bash``/``sh``: run with ``bash`` under ``set -euo pipefail``; ``kerasopt-compat``, ``python`` and
  ``python3`` are shell functions calling the interpreter running the tests (``sys.executable``), so
  ``kerasopt-compat X`` and ``python -m kerasopt_compat X`` test this checkout's package. A command whose
  documented exit status is not 0 says so in the block (``... || test $? = 1``).

What a block needs, or why it is not run, is an HTML comment on the line right before its opening fence:

* ``<!-- example: needs keras -->``: TensorFlow or Keras installed (any flavour). Skipped where neither is,
  unless ``KOC_REQUIRE_LIVE=1`` (the live tox envs), where that is an error (as tests/live_helpers.py does).
* ``<!-- example: needs tf -->``: TensorFlow itself (the block uses ``tf.keras`` or ``tf.compat.v1``);
  skipped with a reason elsewhere, e.g. in stand-alone Keras 3 envs (keras3-jax, keras3-torch).
* ``<!-- example: needs keras3 -->``: Keras 3 (any backend; TF 2.16+ or stand-alone), e.g. TF 2.x SavedModels
  loaded by kerasopt_compat; skipped with a reason under Keras 2.
* ``<!-- example: not run: REASON -->``: never run; the reason is required (keep these rare: ``pip install``
  lines, the set-up commands that CI runs anyway, commands that change the interpreter's environment).

Any other ``<!-- example: ... -->`` text fails the block's test, so a typo cannot skip an example.

Files the examples name but cannot make themselves (a model file needs a TF/Keras to write) are copied
into the directory before a block runs, when the block's text names them (:data:`FIXTURES`).
"""

from __future__ import annotations

import doctest
import glob
import io
import os
import re
import shutil
import subprocess
import sys
from typing import Dict, List, NamedTuple, Optional

import pytest

from kerasopt_compat._optional import is_installed

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
REQUIRE_LIVE = os.environ.get("KOC_REQUIRE_LIVE") == "1"

#: name in the examples -> file or folder of the repository copied under that name
FIXTURES: Dict[str, str] = {
    # a Dense(1) model with two inputs, saved by TF 2.15 with Adam(0.123) after two training steps
    "model.h5": "tests/data/models/tf215/adam.h5",
    # the same model as a SavedModel directory
    "saved_dir": "tests/data/models/tf215/adam.savedmodel",
    # a tf.train.CheckpointManager folder: Sequential([Dense(4), Dense(4)]), Adam(0.01) after 3 steps, TF 2.15
    "ckpts": "tests/data/checkpoints/tf215/keras2_adam_ckpt",
    # a TF1 Saver folder: dense(4, name="dense") -> dense(4, name="dense_1"), AdamOptimizer(0.01) after 3 steps
    "tf1_train": "tests/data/checkpoints/tf215/tf1_adam",
    # a Keras 2 BackupAndRestore folder of that model, Adam(0.01), preempted after epoch 1 (2 steps), TF 2.15
    "tf215_backup": "tests/data/checkpoints/tf215/keras2_adam_backup/backup",
}

LANGUAGES = ("python", "pycon", "bash", "sh")
NEEDS = ("keras", "tf", "keras3")
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!--\s*example:\s*(.*?)\s*-->\s*$")
_SHELL_PRELUDE = """set -euo pipefail
kerasopt-compat() { "$KOC_PY" -m kerasopt_compat "$@"; }
python() { "$KOC_PY" "$@"; }
python3() { "$KOC_PY" "$@"; }
"""


class Block(NamedTuple):
    path: str  # relative to the repository
    line: int  # line of the opening fence (1-based)
    language: str
    source: str
    marker: Optional[str]  # the text after "example:", or None


def markdown_files() -> List[str]:
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def collect(path: str) -> List[Block]:
    """The example blocks of one markdown file, with the marker line right before each."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
    blocks: List[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, language = i, fence.group(1)
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        if i >= len(lines):
            raise ValueError("%s:%d: code block not closed" % (rel, start + 1))
        if language in LANGUAGES:
            marker = _MARKER.match(lines[start - 1]) if start else None
            source = "\n".join(lines[start + 1 : i]) + "\n"
            blocks.append(Block(rel, start + 1, language, source, marker.group(1) if marker else None))
        i += 1
    return blocks


ALL_BLOCKS = [block for path in markdown_files() for block in collect(path)]


def _requirement(marker: Optional[str]) -> Optional[str]:
    """What the marker asks for: None (runs everywhere), "keras", "tf" or "not run"; errors for anything else."""
    if marker is None:
        return None
    if marker.startswith("not run:"):
        if not marker[len("not run:") :].strip():
            raise ValueError("'not run:' needs a reason")
        return "not run"
    if marker.startswith("needs "):
        need = marker[len("needs ") :].strip()
        if need in NEEDS:
            return need
    raise ValueError("unknown example marker %r (known: 'needs keras', 'needs tf', 'needs keras3', 'not run: REASON')" % marker)


def _skip_unless_available(need: Optional[str]) -> None:
    has_tf = is_installed("tensorflow")
    has_keras = has_tf or is_installed("keras")
    if need is None:
        return
    if not has_keras:
        if REQUIRE_LIVE:
            raise RuntimeError("KOC_REQUIRE_LIVE=1 but neither tensorflow nor keras is installed")
        pytest.skip("needs TensorFlow or Keras (run through tox)")
    if need == "tf" and not has_tf:
        pytest.skip("needs TensorFlow (uses tf.keras); stand-alone Keras here")
    if need == "keras3":
        from kerasopt_compat import flavour

        if flavour().default_family != "keras3":
            pytest.skip("needs Keras 3; %s here" % flavour().describe())


def _prepare(directory: str, source: str) -> None:
    for name, rel in FIXTURES.items():
        if name in source:
            src = os.path.join(ROOT, rel)
            dst = os.path.join(directory, name)
            if os.path.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copyfile(src, dst)


def _run_python(block: Block) -> None:
    code = compile(block.source, "%s:%d" % (block.path, block.line), "exec")
    exec(code, {"__name__": "__docs_example__"})


def _run_pycon(block: Block) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block.source, {"__name__": "__docs_example__"}, block.path, block.path, block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    result = runner.run(test, out=report.write, clear_globs=True)
    assert result.attempted > 0, "no >>> lines in a pycon block"
    assert result.failed == 0, report.getvalue()


def _run_shell(block: Block, directory: str) -> None:
    env = dict(os.environ, KOC_PY=sys.executable)
    run = subprocess.run(
        ["bash", "-c", _SHELL_PRELUDE + block.source],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, "exit status %d\n--- stdout\n%s\n--- stderr\n%s" % (run.returncode, run.stdout, run.stderr)


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: "%s:%d:%s" % (b.path, b.line, b.language))
def test_example(block, tmp_path, monkeypatch):
    need = _requirement(block.marker)
    if need == "not run":
        pytest.skip("not run: %s" % block.marker[len("not run:") :].strip())
    _skip_unless_available(need)
    _prepare(str(tmp_path), block.source)
    monkeypatch.chdir(tmp_path)
    if block.language == "python":
        _run_python(block)
    elif block.language == "pycon":
        _run_pycon(block)
    else:
        _run_shell(block, str(tmp_path))


def test_every_page_is_collected_and_not_run_blocks_stay_rare():
    pages = {block.path for block in ALL_BLOCKS}
    for page in (
        "README.md",
        "docs/api.md",
        "docs/cli.md",
        "docs/model-files.md",
        "docs/training-checkpoints.md",
        "docs/install.md",
        "docs/security.md",
    ):
        assert page in pages, "no example collected from %s" % page
    not_run = [block for block in ALL_BLOCKS if _requirement(block.marker) == "not run"]
    assert len(not_run) * 5 <= len(ALL_BLOCKS), [(b.path, b.line) for b in not_run]


def test_collector_reads_markers_and_languages(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n<!-- example: needs tf -->\n```python\nx = 1\n```\n```text\nnot an example\n```\n"
        "<!-- example: not run: installs packages -->\n```bash\npip install x\n```\n```pycon\n>>> 1\n1\n```\n",
        encoding="utf-8",
    )
    blocks = collect(str(page))
    assert [(b.line, b.language, b.marker) for b in blocks] == [
        (3, "python", "needs tf"),
        (10, "bash", "not run: installs packages"),
        (13, "pycon", None),
    ]
    assert [_requirement(b.marker) for b in blocks] == ["tf", "not run", None]
    for bad in ("not run:", "needs numpy", "skip"):
        with pytest.raises(ValueError):
            _requirement(bad)


def test_a_renamed_argument_fails_its_example(tmp_path, monkeypatch):
    # the runners do not swallow errors: a python block calling an argument that does not exist, and a
    # shell block passing an option the command line lacks, both fail
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError):
        _run_python(Block("x.md", 1, "python", "import kerasopt_compat as koc\nkoc.normalize({}, unknown_key='keep')\n", None))
    with pytest.raises(AssertionError, match="exit status 2"):
        _run_shell(
            Block("x.md", 1, "bash", "kerasopt-compat normalize --no-such-option x.json\necho after\n", None), str(tmp_path)
        )
    with pytest.raises(AssertionError):
        _run_pycon(Block("x.md", 1, "pycon", ">>> 1 + 1\n3\n", None))


def test_readme_first_command_prints_what_the_readme_says(tmp_path):
    # The set-up block is not run (it installs packages), but its job is: the JSON it pipes into
    # ``python -m kerasopt_compat`` must give exactly the line README says it prints.
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    setup = [block for block in ALL_BLOCKS if block.path == "README.md"][0]
    piped = re.search(r"echo '([^']*)' \| \.venv/bin/python -m kerasopt_compat\s*$", setup.source, re.M)
    printed = re.search(r"^The first prints `([^`]*)`", readme, re.M)
    assert piped and printed
    run = subprocess.run(
        [sys.executable, "-m", "kerasopt_compat"], input=piped.group(1), cwd=str(tmp_path), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == printed.group(1)
