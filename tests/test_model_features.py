"""What a target release's own ``load_model`` cannot build from a copy's stored model config
(``_config.tables.MODEL_FEATURES``, issue 24 §2): the rows on synthetic configs (pure), and, in every
env, ``fix_model(..., target=<this env's release>)`` of every committed file warns (or, with
``strict=True``, raises) exactly when this env's native ``load_model`` fails to build the copy."""

from __future__ import annotations

import json
import os
import pathlib
import warnings
import zipfile
from typing import Any, Dict, List

import pytest

import kerasopt_compat as koc
from kerasopt_compat._config import tables as T
from kerasopt_compat._files.model import unbuildable
from kerasopt_compat._files.protowire import len_field

DATA = pathlib.Path(__file__).resolve().parent / "data"
FULL = os.environ.get("KOC_RESUME_FULL") == "1"

# --------------------------------------------------------------------------- pure: the rows


def _layer(cls: str, **config: Any) -> Dict[str, Any]:
    return {"class_name": cls, "config": {"name": "the_%s" % cls.lower(), "dtype": "float32", **config}}


def _sequential(*layers: Dict[str, Any]) -> Dict[str, Any]:
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": list(layers)}}


_DENSE = _layer("Dense", units=1)
_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}

#: One stored model config per row (``what``): (config, layer and class the warning names).
#: A model that has the feature; every row needs one.
EXAMPLES: Dict[str, Any] = {
    "a Keras 3 class path for Functional": (
        {"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "f", "layers": []}},
        "'f' (Functional)",
    ),
    "a Keras 2 class path for Functional": (
        {"module": "keras.src.engine.functional", "class_name": "Functional", "config": {"name": "f", "layers": []}},
        "'f' (Functional)",
    ),
    "Keras 3's inbound_nodes ({'args': ..., 'kwargs': ...})": (
        {
            "class_name": "Functional",
            "config": {
                "name": "f",
                "layers": [dict(_DENSE, name="the_dense", inbound_nodes=[{"args": [], "kwargs": {}}])],
            },
        },
        "'the_dense' (Dense)",
    ),
    "Keras 3's InputLayer batch_shape (Keras 2: batch_input_shape)": (
        _sequential(_layer("InputLayer", batch_shape=[None, 2]), _DENSE),
        "'the_inputlayer' (InputLayer)",
    ),
    "InputLayer optional": (
        _sequential(_layer("InputLayer", batch_input_shape=[None, 2], optional=False), _DENSE),
        "'the_inputlayer' (InputLayer)",
    ),
    "a Keras 3 DTypePolicy object as dtype": (
        _sequential(_layer("Dense", units=1, dtype=_POLICY)),
        "'the_dense' (Dense)",
    ),
    "Keras 3's quantization_config": (_sequential(_layer("Dense", units=1, quantization_config=None)), "'the_dense' (Dense)"),
    "Keras 3's initializer input_axes": (
        _sequential(_layer("Dense", units=1, kernel_initializer={"class_name": "GlorotUniform", "config": {"input_axes": None}})),
        "'the_dense' (Dense), in its GlorotUniform,",
    ),
    "a wrapped layer stored without its module (Keras <= 2.12)": (
        _sequential(_layer("Bidirectional", layer={"class_name": "LSTM", "config": {"units": 2}})),
        "'the_bidirectional' (Bidirectional)",
    ),
    "Keras 2's RNN time_major": (_sequential(_layer("LSTM", units=2, time_major=False)), "'the_lstm' (LSTM)"),
    "a list as BatchNormalization axis": (
        _sequential(_layer("BatchNormalization", axis=[1])),
        "'the_batchnormalization' (BatchNormalization)",
    ),
    "a SavedModel graph using the op DisableCopyOnRead": (_sequential(_DENSE), None),
    "the Keras metadata in keras_metadata.pb": (_sequential(_DENSE), None),
    "a .keras archive of Keras 2.15+ (its weights stored by tracked path)": (_sequential(_DENSE), None),
}

#: The same models without the feature (what the other generation writes).
WITHOUT: Dict[str, Any] = {
    "a Keras 3 class path for Functional": {"module": "keras.src.engine.functional", "class_name": "Functional"},
    "a Keras 2 class path for Functional": {"module": "keras.src.models.functional", "class_name": "Functional"},
    "Keras 3's inbound_nodes ({'args': ..., 'kwargs': ...})": {
        "class_name": "Functional",
        "config": {"name": "f", "layers": [dict(_DENSE, inbound_nodes=[[["input_1", 0, 0, {}]]])]},
    },
    "Keras 3's InputLayer batch_shape (Keras 2: batch_input_shape)": _sequential(
        _layer("InputLayer", batch_input_shape=[None, 2])
    ),
    "InputLayer optional": _sequential(_layer("InputLayer", batch_input_shape=[None, 2])),
    # a model's own dtype policy: Keras 2's Sequential ignores it
    "a Keras 3 DTypePolicy object as dtype": {
        "class_name": "Sequential",
        "config": {"name": "s", "dtype": _POLICY, "layers": []},
    },
    "Keras 3's quantization_config": _sequential(_DENSE),
    "Keras 3's initializer input_axes": _sequential(
        _layer("Dense", kernel_initializer={"class_name": "GlorotUniform", "config": {}})
    ),
    "a wrapped layer stored without its module (Keras <= 2.12)": _sequential(
        _layer("Bidirectional", layer={"module": "keras.layers", "class_name": "LSTM", "config": {}})
    ),
    "Keras 2's RNN time_major": _sequential(_layer("LSTM", units=2)),
    "a list as BatchNormalization axis": _sequential(_layer("BatchNormalization", axis=1)),
    "a SavedModel graph using the op DisableCopyOnRead": _sequential(_DENSE),
    "the Keras metadata in keras_metadata.pb": _sequential(_DENSE),  # the test removes the file itself
    "a .keras archive of Keras 2.15+ (its weights stored by tracked path)": _sequential(_DENSE),  # Keras 2.14 metadata
}


def _write(
    tmp_path: pathlib.Path, fmt: str, config: Any, graph_op: str = "ReadVariableOp", keras_version: str = "x"
) -> pathlib.Path:
    """A minimal file of ``fmt`` storing ``config`` as its model config (no weights: the rows read the config only)."""
    if fmt == "h5":
        h5py = pytest.importorskip("h5py")
        path = tmp_path / "m.h5"
        with h5py.File(path, "w") as fh:
            fh.attrs["model_config"] = json.dumps(config)
        return path
    if fmt == "keras":
        path = tmp_path / "m.keras"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("config.json", json.dumps(dict(config, compile_config=None)))
            zf.writestr("metadata.json", json.dumps({"keras_version": keras_version}))
        return path
    path = tmp_path / "m.savedmodel"
    (path / "variables").mkdir(parents=True)
    root = len_field(3, b"root") + len_field(5, json.dumps(config).encode())
    (path / "keras_metadata.pb").write_bytes(len_field(1, root))
    op = graph_op.encode()
    (path / "saved_model.pb").write_bytes(len_field(1, b"node") + bytes([0x12, len(op)]) + op)
    return path


def _rows() -> List[T.ModelFeature]:
    return list(T.MODEL_FEATURES)


def test_every_row_has_an_example_and_names_known_releases_and_formats():
    assert sorted(EXAMPLES) == sorted(row.what for row in T.MODEL_FEATURES) == sorted(WITHOUT)
    for row in T.MODEL_FEATURES:
        assert row.cannot and row.cannot <= set(T.RELEASES), row.what
        assert row.formats <= {"h5", "keras", "savedmodel"} and row.formats, row.what
        assert row.match in ("key", "list", "class", "no_module", "module", "inbound", "op", "file", "saved_by"), row.what


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row.what[:40])
def test_each_row_on_a_synthetic_config(row, tmp_path):
    config, names = EXAMPLES[row.what]
    opens = sorted(set(T.RELEASES) - row.cannot)
    for fmt in sorted(row.formats):
        folder = tmp_path / fmt
        folder.mkdir()
        if row.match == "op":
            path = _write(folder, fmt, config, graph_op=str(row.value))
        elif row.match == "saved_by":
            path = _write(folder, fmt, config, keras_version="2.15.0")
        else:
            path = _write(folder, fmt, config)
        for target in sorted(row.cannot):
            reason = unbuildable(path, fmt, target)
            assert reason is not None and target in reason and row.written_by in reason, (target, reason)
            if names is not None:
                assert reason.startswith("layer %s stores %s (key %r" % (names, row.what, row.key)), reason
        for target in opens:
            reason = unbuildable(path, fmt, target)
            assert reason is None or row.what not in reason, (target, reason)
        (folder / "without").mkdir()
        without = _write(folder / "without", fmt, WITHOUT[row.what], keras_version="2.14.0")
        if row.match == "file":  # the same SavedModel without that file (a TF 2.4 one keeps its metadata elsewhere)
            (without / str(row.value)).unlink()
        for target in sorted(row.cannot):  # another row may still name the file (TF 2.4: keras_metadata.pb)
            reason = unbuildable(without, fmt, target)
            assert reason is None or row.what not in reason, (target, reason)
    for fmt in {"h5", "keras", "savedmodel"} - row.formats:  # the loader of that container builds it
        folder = tmp_path / ("other-" + fmt)
        folder.mkdir()
        path = _write(folder, fmt, config, graph_op=str(row.value) if row.match == "op" else "ReadVariableOp")
        reason = unbuildable(path, fmt, sorted(row.cannot)[0])
        assert reason is None or row.what not in reason


def test_a_generation_target_warns_only_when_none_of_its_releases_builds_it(tmp_path):
    path = _write(tmp_path, "keras", EXAMPLES["InputLayer optional"][0])
    assert unbuildable(path, "keras", "tf2.15") is not None
    assert unbuildable(path, "keras", "tf_keras") is None
    assert unbuildable(path, "keras", "keras2") is None  # tf_keras builds it
    assert unbuildable(path, "keras", "legacy") is not None  # TF 2.4-2.10: none does


def test_the_first_feature_in_stored_order_is_named(tmp_path):
    config = _sequential(
        _layer("InputLayer", batch_shape=[None, 2], optional=False), _layer("Dense", units=1, quantization_config=None)
    )
    reason = unbuildable(_write(tmp_path, "h5", config), "h5", "tf2.9")
    assert reason is not None and reason.startswith("layer 'the_inputlayer' (InputLayer) stores Keras 3's InputLayer batch_shape")


def test_fix_model_warns_with_the_reason_and_strict_refuses(tmp_path):
    from kerasopt_compat._cli.fix import main

    src = DATA / "models" / "tf221" / "adam.h5"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = koc.fix_model(src, tmp_path / "out.h5", "tf2.9")
    said = [w for w in caught if issubclass(w.category, koc.FileFormatWarning)]
    assert result.written and len(said) == 1 and said[0].category is koc.ModelConfigWarning
    text = str(said[0].message)
    assert text.startswith("%s: layer 'input_layer' (InputLayer) stores Keras 3's InputLayer batch_shape" % src), text
    assert "tf2.9" in text and "target a Keras 3 release" in text
    with pytest.raises(koc.ModelFileError, match="batch_shape.*tf2.15"):
        koc.fix_model(src, tmp_path / "strict.h5", "tf2.15", strict=True)
    assert not (tmp_path / "strict.h5").exists()
    assert main([str(src), str(tmp_path / "cli.h5"), "--to", "tf2.9", "--strict"]) == 2
    with warnings.catch_warnings(record=True) as caught:  # the release that saved it
        warnings.simplefilter("always")
        koc.fix_model(src, tmp_path / "k3.h5", "keras3")
    assert not [w for w in caught if issubclass(w.category, koc.FileFormatWarning)]


# --------------------------------------------------------------------------- live: this env's loader


def _committed() -> List[str]:
    """Every committed model file (tests/data/models, tests/data/resume); the resume corpus's
    Adam cases only outside KOC_RESUME_FULL envs (they cover its every model kind and format)."""
    out = []
    for base in ("models", "resume"):
        for folder in sorted((DATA / base).iterdir()):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if not path.name.endswith((".h5", ".keras", ".savedmodel")):
                    continue
                if base == "resume" and not FULL and "_adam_" not in path.name:
                    continue
                out.append("%s/%s/%s" % (base, folder.name, path.name))
    return out


@pytest.mark.tf
@pytest.mark.parametrize("rel", _committed())
def test_fix_model_warns_exactly_when_this_release_cannot_build_the_copy(rel, tmp_path):
    from live_helpers import require_keras

    require_keras()
    from kerasopt_compat._keras.flavour import flavour

    fl = flavour()
    target = fl.release() or fl.default_family
    src = DATA / rel
    dst = tmp_path / src.name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            koc.fix_model(src, dst, target)
        except koc.KerasOptCompatError as exc:  # no optimizer, a class the target lacks: no copy to load
            pytest.skip("fix_model writes no copy for %s: %s" % (target, exc))
    said = [str(w.message) for w in caught if issubclass(w.category, koc.FileFormatWarning)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fl.keras.models.load_model(str(dst), compile=False)
            native = None
        except Exception as exc:  # noqa: BLE001 - whatever the native loader raises
            native = "%s: %s" % (type(exc).__name__, str(exc)[:300])
        finally:
            if fl.kind != "keras3":
                fl.keras.backend.clear_session()
    if native is None:
        assert not said, "%s builds the copy natively, but fix_model warned: %s" % (target, said)
    else:
        assert len(said) == 1 and target in said[0], "%s cannot build the copy (%s), but fix_model said %s" % (
            target,
            native,
            said,
        )
    # strict=True: the same check raises; a lossy optimizer setting (LossyConversionError) is refused before it
    lossy = any(issubclass(w.category, koc.LossyConversionWarning) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if native is None and not lossy:
            koc.fix_model(src, tmp_path / "strict", target, strict=True, check=True)
        elif native is not None:
            with pytest.raises(koc.LossyConversionError if lossy else koc.ModelFileError, match="" if lossy else "cannot"):
                koc.fix_model(src, tmp_path / "strict", target, strict=True, check=True)
