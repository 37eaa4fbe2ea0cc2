"""load_model on files compiled with a custom loss or metric (tests/data/custom_models,
written by tools/export_custom_models.py with the real wheels).

Without ``custom_objects`` kerasopt_compat must do exactly what the native loader
does: raise its own error (same class, same message), or, where the native loader
returns a model, return one that takes a training step. With ``custom_objects``
the model loads, holds the stored optimizer and trains one step (issue 17).
"""

from __future__ import annotations

import json
import math
import pathlib
import warnings

import pytest
from live_helpers import require_keras

require_keras()

from custom_fns import CUSTOM_OBJECTS  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402
from kerasopt_compat._models.load import optimizer_matches  # noqa: E402

pytest.importorskip("h5py")

FOLDER = pathlib.Path(__file__).resolve().parent / "data" / "custom_models"
FILES = [
    (env.name, entry["file"])
    for env in sorted(p for p in FOLDER.iterdir() if p.is_dir())
    for entry in json.loads((env / "manifest.json").read_text())["files"]
]


def native_load(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flavour().keras.models.load_model(str(path), **kwargs)


def layers_load_here(path) -> bool:
    try:
        native_load(path, compile=False)
    except Exception:  # noqa: BLE001
        return False
    return True


def one_step(model) -> float:
    import numpy as np

    x = np.array([[0.25, 0.5], [0.75, 1.0]], dtype="float32")
    out = model.train_on_batch(x, x.sum(axis=1, keepdims=True))
    first = out[0] if isinstance(out, (list, tuple)) else out
    return float(first)


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


@pytest.mark.tf
@pytest.mark.parametrize("env,name", FILES, ids=["%s/%s" % f for f in FILES])
def test_without_custom_objects_the_native_outcome_stands(env, name, tmp_path):
    """The native loader's outcome on the file whose stored optimizer alone was made
    right for this env (``fix_model``): its error, unchanged, or a model that trains."""
    path = FOLDER / env / name
    if not layers_load_here(path):
        pytest.skip("this Keras cannot read the file's layers (tests/test_file_formats.py covers the note)")
    fixed = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        koc.fix_model(path, fixed, (flavour().release() or flavour().default_family))
    try:
        native_load(fixed)
    except Exception as native_exc:  # noqa: BLE001
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(type(native_exc)) as info:
                koc.load_model(path)
        assert first_line(info.value) == first_line(native_exc)
        assert not [w for w in caught if issubclass(w.category, koc.OptimizerStateWarning)], "a false state warning"
        try:
            native_load(path)
        except Exception as unfixed_exc:  # noqa: BLE001
            if first_line(unfixed_exc) == first_line(native_exc):  # the optimizer was not the cause at all
                assert str(info.value) == str(unfixed_exc)
        return
    # the native loader returns a model: ours must too, and it must train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        model = koc.load_model(path)
    assert math.isfinite(one_step(model))


@pytest.mark.tf
@pytest.mark.parametrize("env,name", FILES, ids=["%s/%s" % f for f in FILES])
def test_with_custom_objects_the_model_trains(env, name, tmp_path):
    path = FOLDER / env / name
    if not layers_load_here(path):
        pytest.skip("this Keras cannot read the file's layers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        model = koc.load_model(path, custom_objects=CUSTOM_OBJECTS)
    assert optimizer_matches(flavour(), model.optimizer, koc.read_optimizer(path))
    native_failure = _native_step_failure(path, tmp_path / name)
    if native_failure is not None:
        # TF 2.4 compiles a TF 2.15 file's stored metrics into a structure its own train
        # step cannot flatten ('<' not supported between 'function' and 'str'): a native
        # defect that the loaded model keeps, never a worse one
        with pytest.raises(type(native_failure)):
            one_step(model)
        return
    assert math.isfinite(one_step(model))


def _native_step_failure(path, fixed):
    """The error of one training step of the native loader's model, read from the file
    with its optimizer alone made right for this env; None when it trains."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        koc.fix_model(path, fixed, (flavour().release() or flavour().default_family))
    try:
        native = native_load(fixed, custom_objects=CUSTOM_OBJECTS)
        one_step(native)
    except Exception as exc:  # noqa: BLE001
        if flavour().kind == "keras3" and str(path).endswith(".h5"):
            return None  # Keras 3 builds an .h5 model's optimizer for no variables: load_model's to fix
        return exc
    return None
