"""The command line, packaging promises and the dependency messages (no TF needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from kerasopt_compat import MissingDependencyError
from kerasopt_compat.__main__ import main
from kerasopt_compat._optional import import_optional_dependency, is_installed, parse_version

TF211 = {
    "class_name": "Custom>SGD",
    "config": {"name": "SGD", "weight_decay": None, "jit_compile": False, "is_legacy_optimizer": False, "learning_rate": 0.01},
}


def test_cli_normalizes_files(tmp_path, capsys):
    path = tmp_path / "opt.json"
    path.write_text(json.dumps(TF211))
    assert main([str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "class_name": "SGD",
        "config": {"name": "SGD", "learning_rate": 0.01, "decay": 0.0, "momentum": 0.0, "nesterov": False},
    }


def test_cli_to_keras3_and_errors(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(TF211))
    bad = tmp_path / "bad.json"
    bad.write_text('{"class_name": "Nope", "config": {}}')
    assert main(["--to", "keras3", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["module"] == "keras.optimizers"
    assert "Nope" in captured.err


def test_import_loads_no_heavy_modules():
    code = textwrap.dedent(
        """
        import sys, kerasopt_compat
        kerasopt_compat.normalize({'class_name': 'Custom>SGD', 'config': {'name': 'SGD', 'learning_rate': 0.009999999776482582}})
        kerasopt_compat.to_native({'class_name': 'SGD', 'config': {}}, 'keras3')
        heavy = [m for m in ('tensorflow', 'keras', 'tf_keras', 'numpy', 'jax') if m in sys.modules]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))


def test_py_typed_is_shipped():
    import kerasopt_compat

    assert os.path.exists(os.path.join(os.path.dirname(kerasopt_compat.__file__), "py.typed"))


def test_parse_version():
    assert parse_version("2.16.0rc1") == (2, 16, 0)
    assert parse_version("3.3.3") == (3, 3, 3)
    assert parse_version("2.21.0.dev2026") == (2, 21, 0)


def test_missing_dependency_message():
    with pytest.raises(MissingDependencyError) as info:
        import_optional_dependency("kerasopt_compat_no_such_module")
    assert "pip install" in str(info.value)
    assert isinstance(info.value, ImportError)


def test_too_old_dependency_message():
    with pytest.raises(MissingDependencyError) as info:
        import_optional_dependency("hypothesis", min_version="999.0")
    assert "999.0" in str(info.value) and "found hypothesis" in str(info.value)


@pytest.mark.skipif(is_installed("tensorflow") or is_installed("keras"), reason="TF/Keras installed here")
def test_live_api_without_tensorflow_says_what_to_install():
    import kerasopt_compat

    with pytest.raises(MissingDependencyError) as info:
        kerasopt_compat.deserialize({"class_name": "SGD", "config": {}})
    assert "pip install" in str(info.value) and "keras" in str(info.value)


def test_ci_runs_the_readme_test_command():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
    with open(os.path.join(root, "README.md"), encoding="utf-8") as fh:
        readme = [line.strip() for line in fh if "tox run-parallel" in line and line.startswith("python3")]
    with open(os.path.join(root, ".ci", "run"), encoding="utf-8") as fh:
        ci = fh.read()
    assert readme and all(cmd in ci for cmd in readme)
