"""read_optimizer / fix_model / fix-model on model files written by real TF/Keras wheels.

Pure: these tests import no TensorFlow (h5py is in the ``test`` extra).
"""

from __future__ import annotations

import doctest
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import warnings
import zipfile

import pytest
from model_helpers import MODELS, file_id, manifests, model_files, path_of, with_optimizer

import kerasopt_compat as koc
from kerasopt_compat.__main__ import main
from kerasopt_compat._config import tables as T
from kerasopt_compat._files import model as _modelfile
from kerasopt_compat._files import savedmodel as _smfile

h5py = pytest.importorskip("h5py")

ALL = model_files()
WITH_OPT = list(with_optimizer())
TARGETS = ["tf2.9", "tf2.15", "tf_keras", "keras3"]


def digest(path: pathlib.Path) -> str:
    """Hash of a file, or of every file (names and bytes) of a directory."""
    h = hashlib.sha256()
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in paths:
        h.update(str(p.relative_to(path) if p != path else "").encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_every_saving_env_and_format_is_committed():
    found = {(env, e["format"]) for env, e in ALL}
    for env in ("tf29", "tf211", "tf215", "tfkeras221", "tf221", "keras3-jax"):
        assert (env, "h5") in found, env
    for env in ("tf215", "tfkeras221", "tf221", "keras3-jax"):
        assert (env, "keras") in found, env
    for env in ("tf29", "tf211", "tf215", "tfkeras221"):
        assert (env, "savedmodel") in found, env
    variants = {e["variant"] for _, e in ALL}
    assert variants == {"adam", "sgd_decay", "schedule", "lso", "nooptimizer", "adam_plain", "sgd_decay_plain", "adamw_ema"}


# --------------------------------------------------------------------------- read


@pytest.mark.parametrize("item", ALL, ids=file_id)
def test_read_optimizer_gives_the_optimizer_the_model_was_saved_with(item):
    env, entry = item
    path = path_of(env, entry)
    if entry["expected"] is None:
        with pytest.raises(koc.NoOptimizerError, match="holds no optimizer") as info:
            koc.read_optimizer(path)
        assert str(path) in str(info.value)
        assert isinstance(info.value, koc.InvalidConfigError)
    else:
        assert koc.read_optimizer(path) == entry["expected"]


def test_read_optimizer_values_written_by_hand():
    adam = koc.read_optimizer(MODELS / "tf215" / "adam.h5")["config"]
    assert (adam["learning_rate"], adam["beta_1"]) == (0.123, 0.8)
    sgd = koc.read_optimizer(MODELS / "tf29" / "sgd_decay.savedmodel")["config"]
    assert (sgd["learning_rate"], sgd["decay"]) == (0.2, 0.01)
    lso = koc.read_optimizer(MODELS / "keras3-jax" / "lso.keras")
    assert lso["class_name"] == "LossScaleOptimizer"
    assert lso["config"]["inner_optimizer"]["config"]["learning_rate"] == 0.05
    sched = koc.read_optimizer(MODELS / "tfkeras221" / "schedule.keras")["config"]["learning_rate"]
    assert sched["class_name"] == "ExponentialDecay" and sched["config"]["decay_rate"] == 0.9


def test_read_optimizer_accepts_keras_metadata_pb_and_pathlike():
    sm = MODELS / "tf215" / "adam.savedmodel"
    assert koc.read_optimizer(sm / "keras_metadata.pb") == koc.read_optimizer(str(sm))


def test_reading_imports_no_tensorflow_keras_or_jax():
    paths = [str(path_of(env, e)) for env, e in WITH_OPT]
    code = (
        "import sys, json, kerasopt_compat as k\n"
        "paths = json.loads(sys.argv[1])\n"
        "[k.read_optimizer(p) for p in paths]\n"
        "import tempfile, os\n"
        "d = tempfile.mkdtemp()\n"
        "[k.fix_model(p, os.path.join(d, str(i) + os.path.basename(p)), 'tf2.9') for i, p in enumerate(paths)]\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'jax'))\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(paths)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_missing_h5py_is_a_missing_dependency_error_with_the_install_hint():
    code = (
        "import sys; sys.modules['h5py'] = None\n"
        "import kerasopt_compat as k\n"
        "try:\n"
        "    k.read_optimizer(sys.argv[1])\n"
        "except k.MissingDependencyError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(MODELS / "tf29" / "adam.h5")], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("ERR kerasopt_compat needs h5py")
    assert "pip install" in out.stdout


def test_tfjs_model_json(tmp_path):
    """A model.json in the tensorflowjs converter's layout (``modelTopology`` holds
    the Keras ``model_config`` and ``training_config``), built from a real .h5."""
    with h5py.File(MODELS / "tf215" / "adam.h5", "r") as fh:
        model_config = json.loads(fh.attrs["model_config"])
        training_config = json.loads(fh.attrs["training_config"])
    doc = {
        "format": "layers-model",
        "generatedBy": "keras v2.15.0",
        "convertedBy": "hand-written in the tensorflowjs converter layout",
        "modelTopology": {
            "keras_version": "2.15.0",
            "backend": "tensorflow",
            "model_config": model_config,
            "training_config": training_config,
        },
        "weightsManifest": [],
    }
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc))
    assert koc.read_optimizer(path) == koc.read_optimizer(MODELS / "tf215" / "adam.h5")
    out = tmp_path / "fixed.json"
    result = koc.fix_model(path, out, "tf2.9")
    assert result.format == "tfjs" and result.changed
    fixed = json.loads(out.read_text())
    assert fixed["modelTopology"]["training_config"]["optimizer_config"] == result.after
    assert fixed["modelTopology"]["model_config"] == model_config
    del doc["modelTopology"]["training_config"]
    path.write_text(json.dumps(doc))
    with pytest.raises(koc.NoOptimizerError):
        koc.read_optimizer(path)


def test_not_model_files_are_reported_with_the_file_name(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(koc.ModelFileError, match="notes.txt: not a Keras model file"):
        koc.read_optimizer(text)
    other_json = tmp_path / "other.json"
    other_json.write_text('{"a": 1}')
    with pytest.raises(koc.ModelFileError, match="not a TF.js model.json"):
        koc.read_optimizer(other_json)
    empty_dir = tmp_path / "dir"
    empty_dir.mkdir()
    with pytest.raises(koc.ModelFileError, match="not a SavedModel"):
        koc.read_optimizer(empty_dir)
    (empty_dir / "saved_model.pb").write_bytes(b"")
    with pytest.raises(koc.ModelFileError, match="without keras_metadata.pb"):
        koc.read_optimizer(empty_dir)
    archive = tmp_path / "x.keras"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("metadata.json", "{}")
    with pytest.raises(koc.ModelFileError, match="without config.json"):
        koc.read_optimizer(archive)
    with pytest.raises(koc.ModelFileError, match="cannot open"):
        koc.read_optimizer(tmp_path / "missing.h5")


def test_corrupt_keras_metadata_is_a_model_file_error(tmp_path):
    sm = tmp_path / "sm"
    shutil.copytree(MODELS / "tf29" / "adam.savedmodel", sm)
    data = (sm / "keras_metadata.pb").read_bytes()
    (sm / "keras_metadata.pb").write_bytes(data[: len(data) // 2])
    with pytest.raises(koc.ModelFileError, match="truncated"):
        koc.read_optimizer(sm)
    (sm / "keras_metadata.pb").write_bytes(b"\x0b\x00")  # wire type 3 (group)
    with pytest.raises(koc.ModelFileError, match="wire type 3"):
        koc.read_optimizer(sm)


def test_a_stored_optimizer_normalize_rejects_names_the_file(tmp_path):
    path = tmp_path / "m.h5"
    shutil.copyfile(MODELS / "tf29" / "adam.h5", path)
    with h5py.File(path, "r+") as fh:
        doc = json.loads(fh.attrs["training_config"])
        doc["optimizer_config"]["config"]["bogus_key"] = 1
        fh.attrs["training_config"] = json.dumps(doc).encode()
    with pytest.raises(koc.UnknownKeyError) as info:
        koc.read_optimizer(path)
    assert str(info.value).startswith(str(path) + ": ")
    assert "bogus_key" in str(info.value)


def test_metadata_rewrite_keeps_every_other_byte():
    data = (MODELS / "tf215" / "adam.savedmodel" / "keras_metadata.pb").read_bytes()
    same = _smfile._root_metadata(data, "x")
    assert _smfile._replace_root_metadata(data, same, "x") == data
    longer = same + b" " * 300  # the length varint grows by a byte
    out = _smfile._replace_root_metadata(data, longer, "x")
    assert _smfile._root_metadata(out, "x") == longer
    assert [f.raw for f in _smfile._fields(out, "x")][1:] == [f.raw for f in _smfile._fields(data, "x")][1:]


def test_resolve_target_release_names():
    assert _modelfile.resolve_target("tf2.4") == "legacy"
    assert _modelfile.resolve_target("tf2.10") == "legacy"
    assert _modelfile.resolve_target("tf2.11") == "keras2"
    assert _modelfile.resolve_target("TF2.15") == "keras2"
    assert _modelfile.resolve_target("tf-keras") == "keras2"
    assert _modelfile.resolve_target("tf2.16") == "keras3"
    assert _modelfile.resolve_target("tf2.21") == "keras3"
    for family in ("legacy", "keras2", "keras3"):
        assert _modelfile.resolve_target(family) == family
    with pytest.raises(koc.ModelFileError, match="unknown target release 'tf3.0'"):
        _modelfile.resolve_target("tf3.0")


def test_docstring_examples():
    result = doctest.testmod(_modelfile, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# --------------------------------------------------------------------------- fix


def stored_entry(path: pathlib.Path):
    return _modelfile.read_model_file(path).optimizer


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("item", WITH_OPT, ids=file_id)
def test_fix_model_rewrites_only_the_optimizer(item, target, tmp_path):
    env, entry = item
    src = path_of(env, entry)
    before = digest(src)
    dst = tmp_path / src.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        loader = T.RELEASE_LOADERS.get(target)
        expected_entry, family = _modelfile.native_entry_for(entry["expected"], target, entry["format"], loader=loader)
        # state="keep": this test is about the entry; the state's layout (the default, "convert") is tests/test_fix_state.py's
        result = koc.fix_model(src, dst, target, state="keep")
    assert digest(src) == before
    assert result.written and result.family == family and result.format == entry["format"]
    assert stored_entry(dst) == expected_entry == result.after
    assert result.changed == (stored_entry(src) != expected_entry)
    assert koc.read_optimizer(dst) == koc.normalize(expected_entry)
    assert_rest_unchanged(src, dst, entry["format"])
    again = koc.fix_model(dst, tmp_path / "again", target, check=True)
    assert not again.changed and not again.written
    assert not (tmp_path / "again").exists()
    assert [p.name for p in tmp_path.iterdir()] == [dst.name]  # no temporary left behind


def assert_rest_unchanged(src: pathlib.Path, dst: pathlib.Path, fmt: str) -> None:
    if fmt == "h5":
        with h5py.File(src, "r") as a, h5py.File(dst, "r") as b:
            assert set(a.attrs) == set(b.attrs)
            for key in a.attrs:
                if key != "training_config":
                    assert a.attrs[key] == b.attrs[key], key
            ta, tb = json.loads(a.attrs["training_config"]), json.loads(b.attrs["training_config"])
            ta.pop("optimizer_config"), tb.pop("optimizer_config")
            assert ta == tb
            names_a, names_b = [], []
            a.visit(names_a.append), b.visit(names_b.append)
            assert names_a == names_b
    elif fmt == "keras":
        with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst) as b:
            assert a.namelist() == b.namelist()
            for name in a.namelist():
                if name != "config.json":
                    assert a.read(name) == b.read(name), name
            ca, cb = json.loads(a.read("config.json")), json.loads(b.read("config.json"))
            ca["compile_config"].pop("optimizer"), cb["compile_config"].pop("optimizer")
            # null compile arguments the target needs a value for (_tables.COMPILE_NULL_DEFAULTS)
            for key, value in cb["compile_config"].items():
                if ca["compile_config"].get(key, value) is None and any(key in d for d in T.COMPILE_NULL_DEFAULTS.values()):
                    ca["compile_config"][key] = value
            assert ca == cb
    else:
        files_a = sorted(str(p.relative_to(src)) for p in src.rglob("*"))
        files_b = sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))
        assert files_a == files_b
        for name in files_a:
            if name != "keras_metadata.pb" and (src / name).is_file():
                assert (src / name).read_bytes() == (dst / name).read_bytes(), name
        ma = json.loads(_smfile._root_metadata((src / "keras_metadata.pb").read_bytes(), "a"))
        mb = json.loads(_smfile._root_metadata((dst / "keras_metadata.pb").read_bytes(), "b"))
        ma["training_config"].pop("optimizer_config"), mb["training_config"].pop("optimizer_config")
        assert ma == mb


@pytest.mark.parametrize("target", ["tf2.9", "tf2.10"])
def test_fix_model_writes_tf29_experimental_adamw(target, tmp_path):
    """TF 2.9/2.10 read AdamW and EMA only as optimizers.experimental (``Custom>AdamW``)."""
    src = MODELS / "tf215" / "adamw_ema.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.ConversionWarning)
        result = koc.fix_model(src, tmp_path / "out.h5", target)
    assert result.family == "keras2" and result.after["class_name"] == "Custom>AdamW"
    assert result.after == koc.to_native(koc.read_optimizer(src), target)
    assert koc.read_optimizer(tmp_path / "out.h5") == koc.read_optimizer(src)
    plain = koc.fix_model(MODELS / "tf215" / "adam.h5", tmp_path / "adam.h5", target)
    assert plain.family == "legacy" and plain.after["class_name"] == "Adam"


def lion_copy(tmp_path):
    """tf215/adam.h5 with its optimizer entry made a Lion (TF 2.13+)."""
    src = tmp_path / "lion.h5"
    shutil.copyfile(MODELS / "tf215" / "adam.h5", src)
    with h5py.File(src, "r+") as fh:
        doc = json.loads(fh.attrs["training_config"])
        doc["optimizer_config"] = {"class_name": "Lion", "config": {"learning_rate": 0.01}}
        fh.attrs["training_config"] = json.dumps(doc).encode()
    return src


@pytest.mark.parametrize(
    "make,target,cls",
    [(lion_copy, "tf2.9", "Lion"), (lambda _: MODELS / "tf215" / "adamw_ema.h5", "tf2.8", "AdamW")],
    ids=["lion-tf2.9", "adamw-tf2.8"],
)
def test_cli_fix_model_refusal_names_the_release(make, target, cls, tmp_path, capsys):
    src = make(tmp_path)
    assert main(["fix-model", str(src), str(tmp_path / "out.h5"), "--to", target]) == 2
    err = capsys.readouterr().err
    assert "%s cannot load %s" % (target, cls) in err and "first shipped in TF 2.13" in err
    assert "generation" not in err and "'legacy'" not in err
    assert not (tmp_path / "out.h5").exists()
    with pytest.raises(koc.UnsupportedClassError, match="^" + re.escape("%s: %s cannot load %s" % (src, target, cls))):
        koc.fix_model(src, tmp_path / "out.h5", target)


def test_fix_model_converts_legacy_decay_with_the_usual_warning(tmp_path):
    with pytest.warns(koc.DecayConversionWarning):
        result = koc.fix_model(MODELS / "tf29" / "sgd_decay.h5", tmp_path / "out.h5", "keras3")
    assert result.after["config"]["learning_rate"]["class_name"] == "InverseTimeDecay"


def test_fix_model_strict_refuses_a_setting_the_target_cannot_hold(tmp_path):
    src = tmp_path / "wd.h5"
    shutil.copyfile(MODELS / "tf215" / "adam.h5", src)
    with h5py.File(src, "r+") as fh:
        doc = json.loads(fh.attrs["training_config"])
        doc["optimizer_config"]["config"]["weight_decay"] = 0.1
        fh.attrs["training_config"] = json.dumps(doc).encode()
    with pytest.raises(koc.LossyConversionError, match="weight_decay") as info:
        koc.fix_model(src, tmp_path / "strict.h5", "tf2.9", strict=True)
    assert str(info.value).startswith(str(src))
    assert not (tmp_path / "strict.h5").exists()
    with pytest.warns(koc.LossyConversionWarning):
        koc.fix_model(src, tmp_path / "lossy.h5", "tf2.9")


@pytest.mark.parametrize("name", ["adam.h5", "adam.savedmodel"])
def test_fix_model_refuses_an_existing_output_unless_forced(tmp_path, name):
    src = MODELS / "tf215" / name
    dst = tmp_path / name
    if name.endswith(".h5"):
        dst.write_bytes(b"old")
    else:
        dst.mkdir()
        (dst / "old").write_text("old")
    with pytest.raises(koc.ModelFileError, match="already exists"):
        koc.fix_model(src, dst, "tf2.9")
    assert digest(dst) == digest(dst)  # still there
    assert (dst.read_bytes() == b"old") if dst.is_file() else (dst / "old").exists()
    koc.fix_model(src, dst, "tf2.9", force=True)
    assert koc.read_optimizer(dst)["config"]["learning_rate"] == 0.123
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    with pytest.raises(koc.ModelFileError, match="never modifies its input"):
        koc.fix_model(dst, dst, "tf2.9", force=True)


def test_fix_model_without_optimizer_is_refused(tmp_path):
    with pytest.raises(koc.NoOptimizerError, match="nooptimizer.h5"):
        koc.fix_model(MODELS / "tf29" / "nooptimizer.h5", tmp_path / "out.h5", "keras3")
    assert list(tmp_path.iterdir()) == []


def test_fix_model_check_writes_nothing(tmp_path):
    result = koc.fix_model(MODELS / "tf215" / "adam.h5", tmp_path / "out.h5", "tf2.9", check=True)
    assert result.changed and not result.written
    assert result.before["config"]["is_legacy_optimizer"] is False
    assert "is_legacy_optimizer" not in result.after["config"]
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- command line


def test_cli_fix_model(tmp_path, capsys):
    src = str(MODELS / "tf215" / "adam.h5")
    out = str(tmp_path / "out.h5")
    assert main(["fix-model", src, out, "--to", "tf2.9", "--check"]) == 1
    text = capsys.readouterr().out
    assert "would change" in text and text.count("\n") == 3
    assert not os.path.exists(out)
    assert main(["fix-model", src, out, "--to", "tf2.9"]) == 0
    assert "written" in capsys.readouterr().out
    assert main(["fix-model", src, out, "--to", "tf2.9"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["fix-model", src, out, "--to", "tf2.9", "--force"]) == 0
    assert main(["fix-model", out, str(tmp_path / "x.h5"), "--to", "tf2.9", "--check"]) == 0
    assert "nothing would change" in capsys.readouterr().out
    assert main(["fix-model", src, out, "--to", "tf9"]) == 2
    assert "unknown target release" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["fix-model", src, out])  # --to is required
    assert info.value.code == 2


def test_cli_fix_model_prints_conversion_warnings(tmp_path, capsys):
    src = str(MODELS / "tf29" / "sgd_decay.h5")
    assert main(["fix-model", src, str(tmp_path / "o.h5"), "--to", "keras3"]) == 0
    assert "warning: %s: SGD: legacy learning-rate decay=0.01" % src in capsys.readouterr().err
    assert main(["fix-model", src, str(tmp_path / "q.h5"), "--to", "keras3", "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_cli_one_shot_form_still_works(tmp_path, capsys):
    cfg = tmp_path / "opt.json"
    cfg.write_text('{"class_name": "SGD", "config": {"learning_rate": 0.1}}')
    assert main([str(cfg)]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["learning_rate"] == 0.1


def test_cli_subprocess_entry_point(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "kerasopt_compat", "fix-model", str(MODELS / "tf215" / "adam.h5"), str(tmp_path / "o.h5")]
        + ["--to", "keras3", "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out.stderr


def test_manifests_name_the_wheels_that_wrote_them():
    for env, data in manifests().items():
        assert data["saved_by"]["env"] == env
        assert data["saved_by"]["flavour"]


def test_a_string_optimizer_in_a_keras_archive(tmp_path):
    """``compile_config.optimizer`` may be a bare name (a hand-made or tool-written archive)."""
    src = MODELS / "keras3-jax" / "adam.keras"
    path = tmp_path / "str.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                doc = json.loads(data)
                doc["compile_config"]["optimizer"] = "adam"
                data = json.dumps(doc).encode()
            zout.writestr(info, data)
    assert koc.read_optimizer(path) == koc.normalize({"class_name": "Adam", "config": {}})
    result = koc.fix_model(path, tmp_path / "out.keras", "keras3")
    assert result.before == {"class_name": "adam", "config": {}}  # a bare name is read as this dict
    assert result.after["class_name"] == "Adam" and result.changed
    assert koc.read_optimizer(tmp_path / "out.keras") == koc.read_optimizer(path)


def test_tfjs_native_model_json_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"modelTopology": {}, "trainingConfig": {"optimizer_config": {"class_name": "Adam"}}}))
    with pytest.raises(koc.ModelFileError, match="written by TF.js itself"):
        koc.read_optimizer(path)


def test_fix_model_refuses_to_replace_a_directory_by_a_file(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(koc.ModelFileError, match="is a directory; the output is a file"):
        koc.fix_model(MODELS / "tf29" / "adam.h5", tmp_path / "out", "keras3", force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(koc.ModelFileError, match="is a file; the output is a SavedModel directory"):
        koc.fix_model(MODELS / "tf29" / "adam.savedmodel", tmp_path / "file", "keras3", force=True)


@pytest.mark.parametrize("kind", ["int array", "int scalar", "float array of one"])
def test_an_h5_attribute_that_is_not_text_is_a_model_file_error(tmp_path, kind):
    import numpy as np

    value = {"int array": np.arange(4, dtype="int64"), "int scalar": np.int32(7), "float array of one": np.array([1.5])}[kind]
    path = tmp_path / "bad.h5"
    shutil.copyfile(MODELS / "tf29" / "adam.h5", path)
    with h5py.File(path, "r+") as fh:
        fh.attrs["training_config"] = value
    with pytest.raises(koc.ModelFileError, match=r"bad\.h5: the 'training_config' attribute is not a string"):
        koc.read_optimizer(path)
    with pytest.raises(koc.ModelFileError, match="not a string"):
        koc.fix_model(path, tmp_path / "out.h5", "tf2.15")
