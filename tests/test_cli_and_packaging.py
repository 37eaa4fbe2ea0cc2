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


def test_import_alone_loads_only_the_package_and_its_errors():
    # what `import kerasopt_compat` adds to a bare interpreter: the errors module,
    # no typing/re/json (most of the import time); the rest loads on first use
    code = textwrap.dedent(
        """
        import sys
        before = set(sys.modules)
        import kerasopt_compat
        print(" ".join(sorted(set(sys.modules) - before)))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=dict(os.environ))
    added = set(run.stdout.split())
    assert {"kerasopt_compat", "kerasopt_compat._errors"} <= added
    assert not added & {"typing", "re", "json", "functools", "collections", "kerasopt_compat._config.normalize"}, added


def test_every_public_name_is_listed_and_importable():
    import kerasopt_compat

    for name in kerasopt_compat.__all__:
        assert name in dir(kerasopt_compat), name
        exec("from kerasopt_compat import %s" % name, {})
        assert getattr(kerasopt_compat, name) is not None
    with pytest.raises(AttributeError):
        kerasopt_compat.no_such_name  # noqa: B018


def test_lazy_submodule_list_matches_the_package():
    import kerasopt_compat

    folder = os.path.dirname(kerasopt_compat.__file__)
    modules = {f[:-3] for f in os.listdir(folder) if f.endswith(".py")} - {"__init__", "__main__"}
    packages = {f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f, "__init__.py"))}
    assert kerasopt_compat._SUBMODULES == modules | packages
    code = "import kerasopt_compat as k, sys; k._config; assert 'kerasopt_compat._config' in sys.modules"
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


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return str(path)


def test_cli_reports_non_json_files_and_goes_on(tmp_path, capsys):
    sgd = _write(tmp_path, "sgd.json", TF211)
    h5 = _write(tmp_path, "model.h5", b"\x89HDF\r\n\x1a\n\x00\x00\x00\xff\xfe" + bytes(range(256)))
    keras = _write(tmp_path, "model.keras", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x9c\xff")
    binary = _write(tmp_path, "blob.bin", b"\xff\xfe\x00garbage\x80")
    adam = _write(tmp_path, "adam.json", {"class_name": "Adam", "config": {"lr": 0.1}})
    folder = tmp_path / "saved_model"
    folder.mkdir()
    assert main([sgd, h5, keras, binary, str(folder), adam]) == 2
    out, err = capsys.readouterr()
    assert [json.loads(line)["class_name"] for line in out.splitlines()] == ["SGD", "Adam"]
    lines = err.splitlines()
    assert len(lines) == 4, err
    assert lines[0].startswith(h5 + ": ") and "HDF5" in lines[0]
    assert lines[1].startswith(keras + ": ") and "zip" in lines[1]
    assert lines[2].startswith(binary + ": ") and "not UTF-8" in lines[2]
    assert lines[3].startswith(str(folder) + ": ") and "directory" in lines[3]
    assert "Traceback" not in err


MODEL_JSON = {
    "class_name": "Sequential",
    "config": {"name": "sequential", "layers": [{"class_name": "Dense", "config": {"units": 1}}]},
    "keras_version": "2.9.0",
    "backend": "tensorflow",
}


@pytest.mark.parametrize(
    "model",
    [
        MODEL_JSON,
        # a .keras archive's config.json (Keras 3)
        {
            "module": "keras",
            "class_name": "Sequential",
            "config": {"name": "sequential", "layers": []},
            "registered_name": None,
            "build_config": {"input_shape": [None, 1]},
            "compile_config": {"optimizer": "adam", "loss": "mse"},
        },
    ],
)
def test_cli_says_a_model_config_is_not_an_optimizer(tmp_path, capsys, model):
    assert main([_write(tmp_path, "model.json", model)]) == 2
    err = capsys.readouterr().err
    assert "this is a model config (class 'Sequential'), not an optimizer" in err
    assert "unexpected top-level key" not in err


def test_cli_custom_lets_a_class_through_and_says_how(tmp_path, capsys):
    mine = _write(tmp_path, "mine.json", {"class_name": "MyOpt", "config": {"lr": 0.5, "name": "x"}})
    assert main([mine]) == 2
    err = capsys.readouterr().err
    assert "--custom MyOpt" in err and "custom_objects" not in err and "installed:" not in err
    assert main(["--custom", "MyOpt", mine]) == 0
    assert json.loads(capsys.readouterr().out) == {"class_name": "MyOpt", "config": {"lr": 0.5, "name": "x"}}


def test_cli_warnings_are_one_clean_line_strict_and_quiet(tmp_path, capsys):
    decayed = _write(tmp_path, "sgd.json", {"class_name": "SGD", "config": {"lr": 0.1, "decay": 0.01}})
    lossy = _write(tmp_path, "lion.json", {"class_name": "SGD", "config": {"use_ema": True}})
    assert main(["--to", "keras3", decayed]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: %s: SGD: legacy learning-rate decay" % decayed)
    assert main(["--to", "legacy", lossy]) == 0
    assert capsys.readouterr().err.startswith("warning: %s: " % lossy)
    assert main(["--to", "legacy", "--strict", lossy]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "use_ema" in captured.err and not captured.err.startswith("warning")
    assert main(["-q", "--to", "keras3", decayed]) == 0
    assert capsys.readouterr().err == ""


def test_pure_errors_do_not_claim_installed_versions():
    from kerasopt_compat import UnknownKeyError, normalize

    with pytest.raises(UnknownKeyError) as info:
        normalize({"class_name": "SGD", "config": {"bogus": 1}})
    assert "installed:" not in str(info.value)


def _start(code, value, site_dir=None):
    env = dict(os.environ, KERASOPT_COMPAT_INSTALL=value, PYTHONWARNINGS="default")
    if site_dir is not None:
        code = "import site; site.addsitedir(%r)\n" % str(site_dir) + code
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_autoinstall_warns_once_on_an_unknown_value():
    run = _start("import kerasopt_compat.autoinstall as a; print(a.INSTALLED)", "bogus")
    assert run.returncode == 0 and run.stdout.split() == ["False"]
    assert run.stderr.count("RuntimeWarning") == 1
    assert "'bogus'" in run.stderr and "1/true/yes/on" in run.stderr


@pytest.mark.skipif(is_installed("tensorflow") or is_installed("keras"), reason="TF/Keras installed here")
def test_autoinstall_without_tensorflow_starts_cleanly_from_a_pth_file(tmp_path):
    # the README recipe: a .pth line runs at start-up, like sitecustomize, without replacing it
    (tmp_path / "kerasopt_compat-autoinstall.pth").write_text("import kerasopt_compat.autoinstall\n")
    run = _start("print('started')", "1", site_dir=tmp_path)
    assert run.returncode == 0 and run.stdout.split() == ["started"]
    assert run.stderr.count("RuntimeWarning") == 1 and "Traceback" not in run.stderr
    assert "kerasopt_compat[tensorflow]" in run.stderr and "kerasopt_compat[keras]" in run.stderr


@pytest.mark.parametrize("layout", ["json", "jsonl", "oneshot"])
def test_cli_refuses_json_nested_too_deep_without_a_traceback(layout, tmp_path, capsys):
    """A record nested 100 000 levels deep is a per-record error (the C scanner would exhaust the stack)."""
    from kerasopt_compat._cli.main import main as cli_main

    deep = '{"class_name": "SGD", "config": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = tmp_path / "deep.txt"
    good = '{"class_name": "SGD", "config": {"lr": 0.1}}'
    path.write_text(deep if layout != "jsonl" else good + "\n" + deep + "\n")
    argv = [str(path)] if layout == "oneshot" else ["normalize", str(path), "--on-error", "skip"]
    status = cli_main(argv)
    captured = capsys.readouterr()
    assert "nested deeper than 500 levels" in captured.err and "Traceback" not in captured.err
    if layout == "jsonl":
        assert status == 1 and '"learning_rate": 0.1' in captured.out  # the good record is still converted
    else:
        assert status == 2


def test_help_lists_every_command_and_each_says_kerasopt_compat(capsys):
    """``kerasopt-compat --help`` names every command; each command's own usage line says ``kerasopt-compat CMD``."""
    from kerasopt_compat._cli.main import COMMANDS

    assert set(COMMANDS) == {"check", "normalize", "convert", "fix-model", "state", "upgrade"}
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    listed = text.split("positional arguments:")[1].split("options:")[0]
    for command in COMMANDS:
        assert "\n    %s " % command in listed or "\n    %s\n" % command in listed, command
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: kerasopt-compat %s " % command), out[:80]
        assert "python -m kerasopt_compat" not in out
