"""Which model-file formats the installed loader opens (``_config.tables.UNOPENABLE``),
checked against the native ``load_model`` in every env, and the note
``kerasopt_compat.load_model`` adds when the format is the cause (issue 17)."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
from model_helpers import MODELS

import kerasopt_compat as koc
from kerasopt_compat._config import tables as T
from kerasopt_compat._files.model import unopenable

h5py = pytest.importorskip("h5py")


def tfjs_json(tmp_path):
    with h5py.File(MODELS / "tf215" / "adam.h5", "r") as fh:
        topology = {"keras_version": "2.15.0", "backend": "tensorflow"}
        topology.update({key: json.loads(fh.attrs[key]) for key in ("model_config", "training_config")})
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": "layers-model", "modelTopology": topology, "weightsManifest": []}))
    return path


def candidates(kind, tmp_path):
    """Real files of that kind (several savers: a loader may reject one's layers, not the format)."""
    if kind == "h5":
        return [MODELS / env / "adam_plain.h5" for env in ("tf29", "tf215", "tf221", "keras3-jax")]
    if kind == "keras":
        return [MODELS / env / "adam.keras" for env in ("tf215", "tfkeras221", "tf221", "keras3-jax")]
    if kind == "savedmodel":
        return [MODELS / env / "adam.savedmodel" for env in ("tf29", "tf211", "tf215", "tfkeras221")]
    if kind == "tfjs":
        return [tfjs_json(tmp_path)]
    if kind == "h5-named-keras":
        out = []
        for env in ("tf29", "tf215", "tf221"):
            out.append(tmp_path / ("%s-h5.keras" % env))
            shutil.copyfile(MODELS / env / "adam_plain.h5", out[-1])
        return out
    if kind == "savedmodel-no-variables":
        out = tmp_path / "novars.savedmodel"
        shutil.copytree(MODELS / "tf215" / "adam.savedmodel", out)
        shutil.rmtree(out / "variables")
        return [out]
    raise AssertionError(kind)


KINDS = ("h5", "keras", "savedmodel", "tfjs", "h5-named-keras", "savedmodel-no-variables")
FMT = {"h5-named-keras": "h5", "savedmodel-no-variables": "savedmodel"}


def test_every_row_names_a_known_format_and_loader():
    loaders = {loader for row in T.FILE_LOADERS.values() for loader in row} | {"*"}
    for kind, loader in T.UNOPENABLE:
        assert kind in KINDS and loader in loaders
    for release in T.RELEASES:
        assert release in T.FILE_LOADERS


@pytest.mark.parametrize(
    "release,kind,opens",
    [
        ("tf2.9", "keras", False),
        ("tf2.12", "keras", True),
        ("keras2", "keras", True),  # a generation: some of its releases open it
        ("keras3", "savedmodel", False),
        ("tf2.15", "savedmodel", True),
        ("tf_keras", "tfjs", False),
        ("tf2.21", "h5-named-keras", False),
        ("tf2.15", "h5", True),
    ],
)
def test_unopenable_table_lookups(release, kind, opens, tmp_path):
    path = candidates(kind, tmp_path)[0]
    reason = unopenable(path, FMT.get(kind, kind), release)
    assert (reason is None) == opens
    if reason:
        assert release in reason


@pytest.mark.tf
@pytest.mark.parametrize("kind", KINDS)
def test_the_table_is_what_the_installed_loader_does(kind, tmp_path):
    from live_helpers import require_keras

    require_keras()
    from kerasopt_compat._keras.flavour import flavour

    fl = flavour()
    paths = candidates(kind, tmp_path)
    release = fl.release() or fl.default_family
    reason = unopenable(paths[0], FMT.get(kind, kind), release)
    outcomes = []
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fl.keras.models.load_model(str(path), compile=False)
                outcomes.append(None)
            except Exception as exc:  # noqa: BLE001
                outcomes.append(exc)
    if reason is None:
        if all(o is not None for o in outcomes) and kind in _OWN_SAVE:
            # the committed files' layers may be what this release rejects (TF 2.12-2.14 read none of
            # the newer .keras archives): the format is proven by a file this release saves itself
            outcomes.append(_load_own_file(fl, kind, tmp_path))
        assert any(o is None for o in outcomes), "the table says %s opens a %s; it opened none: %r" % (
            release,
            kind,
            outcomes,
        )
        return
    assert all(o is not None for o in outcomes), "the table says %s cannot open a %s, but it did" % (
        release,
        kind,
    )
    if kind.startswith("savedmodel") and fl.default_family == "keras3":
        # Keras 3 refuses SavedModels; kerasopt_compat.load_model rebuilds them (tests/test_savedmodel_keras3.py)
        for path in paths:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if kind == "savedmodel":
                    assert koc.load_model(path).optimizer is not None
                else:
                    with pytest.raises(koc.ModelFileError, match="no variables/.*TFSMLayer"):
                        koc.load_model(path)
        return
    for path, native_exc in zip(paths, outcomes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(type(native_exc)) as info:
                koc.load_model(path)
        text = str(info.value) + "\n".join(getattr(info.value, "__notes__", []))
        assert "kerasopt_compat: the stored optimizer was not the cause: this file is " + reason in text
        assert "its layers or model config" not in text


@pytest.mark.parametrize(
    "src,target,opens_instead",
    [("tf215/adam.keras", "tf2.9", "TF 2.12+"), ("tf215/adam.savedmodel", "keras3", "tf_keras"), ("tf29/adam.h5", "tf2.9", None)],
)
def test_fix_model_warns_when_the_target_cannot_open_the_format(src, target, opens_instead, tmp_path):
    from kerasopt_compat._cli.fix import main

    path = MODELS / src
    out = tmp_path / path.name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        koc.fix_model(path, out, target)
    said = [str(w.message) for w in caught if issubclass(w.category, koc.FileFormatWarning)]
    if opens_instead is None:
        assert not said
        return
    assert len(said) == 1 and target in said[0] and opens_instead in said[0]
    with pytest.raises(koc.ModelFileError, match="cannot open"):
        koc.fix_model(path, tmp_path / ("strict-" + path.name), target, strict=True)
    assert not (tmp_path / ("strict-" + path.name)).exists()
    assert main([str(path), str(tmp_path / ("cli-" + path.name)), "--to", target, "--strict"]) == 2


_OWN_SAVE = {"keras": "own.keras", "h5": "own.h5", "savedmodel": "own_savedmodel"}


def _load_own_file(fl, kind, tmp_path):
    """None when a model the installed Keras saves as ``kind`` loads again; else the error."""
    keras = fl.keras
    model = keras.Sequential([keras.layers.Dense(1)])
    model.build((None, 2))
    path = tmp_path / _OWN_SAVE[kind]
    try:
        if kind == "savedmodel":  # TF 2.4 reads no newer keras_metadata.pb: its own SavedModel proves the row
            model.save(str(path), save_format="tf")
        else:
            model.save(str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # noqa: BLE001
        return exc
    return None
