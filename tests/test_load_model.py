"""load_model and fix-model against the installed TF/Keras, on every committed model file.

For each (saved-by, loaded-by) pair this records the native ``load_model``
outcome (ok / silently wrong / fails: optimizer / fails: layers), what
``kerasopt_compat.load_model`` gives, and the native outcome after
``fix_model(..., <this env's release>)``; the JSON report goes to
``$KOC_REPORT_DIR/model_matrix.json`` (tox sets it per env).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Any, Dict

import pytest
from live_helpers import require_keras

require_keras()

from model_helpers import file_id, model_files, path_of  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._config import tables as _tables  # noqa: E402
from kerasopt_compat._files.base import Rewrite  # noqa: E402
from kerasopt_compat._files.model import native_entry  # noqa: E402
from kerasopt_compat._files.registry import BY_FORMAT  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402
from kerasopt_compat._models.load import optimizer_matches  # noqa: E402

pytest.importorskip("h5py")

REPORT: Dict[str, Dict[str, Any]] = {}
OK, WRONG, FAILS_OPT, FAILS_LAYERS = "ok", "silently wrong", "fails: optimizer", "fails: layers"
#: compile=True fails, compile=False loads, and the same error remains with the
#: optimizer rewritten for this env: the stored loss/metrics are in the way
FAILS_COMPILE = "fails: loss/metrics"
#: this release has no class for the stored optimizer (AdamW before TF 2.9, Lion before
#: 2.13...): kerasopt_compat.load_model / fix_model raise UnsupportedClassError naming it
REFUSED = "refused: class"
#: this loader's own deserialize cannot read the class even from its own serialize()
#: (TF 2.13-2.15 AdamW/Lion/Adafactor: it returns the class name): a native bug
NATIVE_CANNOT = "fails: native bug"


def native_cannot_read(cls_name: str) -> bool:
    """Whether the installed ``optimizers.deserialize`` fails on its own export of ``cls_name``."""
    K = flavour().keras
    cls = getattr(K.optimizers, cls_name, None)
    if not isinstance(cls, type):
        return False
    try:
        again = K.optimizers.deserialize(json.loads(json.dumps(K.optimizers.serialize(cls()))))
    except (ValueError, TypeError):
        return True
    return isinstance(again, str)


def release() -> str:
    """This env's release name for fix_model."""
    fl = flavour()
    if fl.kind == "tf_keras":
        return "tf_keras"
    if fl.kind == "keras3":
        return "keras3"
    major, minor = fl.tensorflow_version.split(".")[:2]
    return "tf%s.%s" % (major, minor)


def loaded_by() -> str:
    return os.environ.get("TOX_ENV_NAME") or flavour().describe()


@pytest.fixture(scope="module", autouse=True)
def write_report():
    yield
    folder = os.environ.get("KOC_REPORT_DIR")
    if folder and REPORT:
        os.makedirs(folder, exist_ok=True)
        doc = {"loaded_by": loaded_by(), "flavour": flavour().describe(), "release": release(), "pairs": REPORT}
        with open(os.path.join(folder, "model_matrix.json"), "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)


def native_load(path, compile=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flavour().keras.models.load_model(str(path), compile=compile)


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, (text[0] if text else "")[:160])


def native_outcome(path, wanted):
    """(outcome, detail) of the installed load_model on ``path``."""
    try:
        model = native_load(path)
    except Exception as exc:  # noqa: BLE001
        try:
            native_load(path, compile=False)
        except Exception:  # noqa: BLE001
            return FAILS_LAYERS, short(exc)
        return FAILS_OPT, short(exc)
    if getattr(model, "optimizer", None) is None:
        return WRONG, "no optimizer"
    if optimizer_matches(flavour(), model.optimizer, wanted):
        return OK, ""
    try:
        got = koc.serialize(model.optimizer)
    except koc.KerasOptCompatError as exc:
        return WRONG, short(exc)
    return WRONG, json.dumps(got)[:200]


@pytest.mark.tf
@pytest.mark.parametrize("item", model_files(), ids=file_id)
def test_load_model_restores_the_stored_optimizer(item, tmp_path):
    env, entry = item
    path = path_of(env, entry)
    row: Dict[str, Any] = {"saved_by": env, "file": entry["file"], "format": entry["format"], "variant": entry["variant"]}
    REPORT["%s/%s" % (env, entry["file"])] = row
    if entry["expected"] is None:
        return no_optimizer(path, row)
    wanted = koc.read_optimizer(path)
    row["native"], row["native_detail"] = native_outcome(path, wanted)

    # kerasopt_compat.load_model
    ours_error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = koc.load_model(path)
        except Exception as exc:  # noqa: BLE001
            row["ours"], row["ours_detail"] = REFUSED if isinstance(exc, koc.UnsupportedClassError) else "fails", short(exc)
            model, ours_error = None, exc
    row["ours_warnings"] = sorted({type(w.message).__name__ for w in caught if issubclass(w.category, koc.ConversionWarning)})
    if model is not None:
        row["ours"] = OK if optimizer_matches(flavour(), model.optimizer, wanted) else WRONG

    # native load_model after fix_model(..., this release)
    fixed = tmp_path / path.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        try:
            koc.fix_model(path, fixed, release())
        except koc.UnsupportedClassError as exc:
            row["native_after_fix"], row["after_fix_detail"] = REFUSED, short(exc)
    if "native_after_fix" not in row:
        row["native_after_fix"], row["after_fix_detail"] = native_outcome(fixed, wanted)
    inner = wanted["config"]["inner_optimizer"] if wanted["class_name"] == "LossScaleOptimizer" else wanted
    if row["native_after_fix"] in (FAILS_OPT, WRONG) and native_cannot_read(inner["class_name"]):
        row["native_after_fix"] = NATIVE_CANNOT
        if row["native"] in (FAILS_OPT, WRONG):
            row["native"] = NATIVE_CANNOT
    if row["native_after_fix"] == FAILS_OPT:
        # Does this loader fail on this file even with a plain default SGD stored?
        # Then the loss/metrics are in the way, not (only) the optimizer.
        probe_error = probe_plain_sgd(path, entry["format"], tmp_path / ("probe-" + path.name))
        if probe_error == row["after_fix_detail"]:
            row["native_after_fix"] = FAILS_COMPILE
            if row["native_detail"] == probe_error:
                row["native"] = FAILS_COMPILE

    if row["native"] == FAILS_LAYERS and rebuilds_savedmodel(path):
        assert row["ours"] == OK, row
    elif row["native"] == FAILS_LAYERS:
        assert row["ours"] == "fails", row
        row["ours"] = FAILS_LAYERS  # the loader's own error, re-raised with a note
        assert "the stored optimizer was not the cause" in str(ours_error) + "".join(getattr(ours_error, "__notes__", []))
    elif REFUSED in (row["ours"], row["native_after_fix"]):
        # only a class newer than this release (FIRST_RELEASE), never one it loaded natively
        assert inner["class_name"] in _tables.FIRST_RELEASE, row
        assert row["native"] != OK, row
        assert row["ours"] in (OK, REFUSED) and row["native_after_fix"] in (OK, FAILS_COMPILE, REFUSED), row
        if row["ours"] == REFUSED:  # only where the installed Keras has no class for it at all
            with pytest.raises(koc.UnsupportedClassError):
                koc.deserialize(wanted)
    else:
        assert row["ours"] == OK, row
        # after fix-model the native loader restores the optimizer, unless it
        # cannot compile this file even with a plain default SGD stored; and
        # nothing that loaded natively regresses
        assert row["native_after_fix"] in (OK, FAILS_COMPILE, NATIVE_CANNOT), row
        if row["native"] == OK:
            assert row["native_after_fix"] == OK, row


@pytest.mark.tf
@pytest.mark.parametrize("target", ["release", "keras2"])
def test_fixed_adamw_h5_restores_settings_and_state_natively(target, tmp_path):
    """TF 2.13-2.15's .h5 loader finds AdamW only as ``Custom>AdamW``: after fix_model
    for this release (or the generation) the native loader restores its settings
    and every stored slot, as it does from the file TF 2.15 wrote."""
    src = path_of("tf215", {"file": "adamw_ema.h5"})
    if flavour().default_family != "keras2":
        pytest.skip("a Keras 2 .h5 with the Keras 2 AdamW: for TF 2.11-2.15/tf_keras loaders")
    fixed = tmp_path / "fixed.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        result = koc.fix_model(src, fixed, release() if target == "release" else target)
    assert result.state == "kept", result
    assert koc.read_optimizer(fixed) == koc.read_optimizer(src)
    original, copy = native_load(src).optimizer, native_load(fixed).optimizer
    assert optimizer_matches(flavour(), copy, koc.read_optimizer(src))

    def values(opt):
        variables = opt.variables() if callable(opt.variables) else opt.variables  # a method in TF 2.11/2.12
        return [(v.name, v.numpy()) for v in variables]

    want, got = values(original), values(copy)
    assert [n for n, _ in got] == [n for n, _ in want] and len(want) > 1
    assert int(copy.iterations.numpy()) == int(original.iterations.numpy()) > 0
    for (name, a), (_, b) in zip(got, want):
        assert (a == b).all(), name


REGISTERED_ONLY = sorted({(fmt, cls) for fmt, loader, cls in _tables.MODEL_FILE_CLASS_NAMES})


@pytest.mark.tf
@pytest.mark.parametrize("fmt,cls", REGISTERED_ONLY, ids=["%s-%s" % item for item in REGISTERED_ONLY])
def test_fixed_copy_of_a_class_found_by_registered_name_loads_natively(fmt, cls, tmp_path):
    """A file this env writes itself with each class of ``_tables.MODEL_FILE_CLASS_NAMES``:
    after fix_model for this release the native loader builds that class with the
    stored settings and (.h5: restored at load) iteration count."""
    import numpy as np

    fl = flavour()
    K = fl.keras
    if fl.default_family != "keras2" or not isinstance(getattr(K.optimizers, cls, None), type):
        pytest.skip("%s is not a class of this env's Keras 2 optimizers" % cls)
    model = K.Sequential([K.layers.Dense(2, input_shape=(3,))])
    kwargs = {"learning_rate": 0.03, "weight_decay": 0.02} if cls != "Adafactor" else {"learning_rate": 0.03}
    model.compile(getattr(K.optimizers, cls)(**kwargs), "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=2, verbose=0)
    src, fixed = tmp_path / ("src" + (".h5" if fmt == "h5" else "")), tmp_path / ("fixed" + (".h5" if fmt == "h5" else ""))
    model.save(str(src), save_format="h5" if fmt == "h5" else "tf")
    original = native_load(src).optimizer  # this env reads its own file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        koc.fix_model(src, fixed, release())
    copy = native_load(fixed).optimizer
    assert type(copy) is type(original)
    assert optimizer_matches(fl, copy, koc.read_optimizer(src))
    assert int(copy.iterations.numpy()) == int(original.iterations.numpy())


def probe_plain_sgd(path, fmt, probe):
    """The native compile=True error on a copy storing a default SGD in this env's own shape, or None."""
    fl = flavour()
    loader = "tf_keras" if fl.kind == "tf_keras" else fl.default_family
    entry = native_entry({"class_name": "SGD", "config": {}}, fl.default_family, fmt, loader=loader)
    BY_FORMAT[fmt].write(Rewrite(str(path), str(probe), entry, {}))
    try:
        native_load(probe)
    except Exception as exc:  # noqa: BLE001
        return short(exc)
    return None


def no_optimizer(path, row):
    try:
        native = native_load(path)
    except Exception as exc:  # noqa: BLE001
        row["native"] = row["ours"] = FAILS_LAYERS
        if rebuilds_savedmodel(path):
            row["ours"] = "ok (no optimizer)"
            assert getattr(koc.load_model(path), "optimizer", None) is None
            return
        with pytest.raises(type(exc)):
            koc.load_model(path)
        return
    row["native"] = row["ours"] = "ok (no optimizer)"
    ours = koc.load_model(path)
    assert type(getattr(ours, "optimizer", None)) is type(getattr(native, "optimizer", None))


def rebuilds_savedmodel(path) -> bool:
    """Keras 3 refuses TF 2.x SavedModels; kerasopt_compat.load_model rebuilds them (kerasopt_compat._models.savedmodel)."""
    return flavour().default_family == "keras3" and os.path.isdir(str(path))


def loads_here(env: str, name: str) -> bool:
    """Whether this env's loader reads that committed file with compile=False."""
    try:
        native_load(path_of(env, {"file": name}), compile=False)
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.mark.tf
def test_done_when_tf215_adam_h5_restores_both_values_here(tmp_path):
    """The issue's acceptance example, on every env whose loader reads the file's layers."""
    name = "adam_plain.h5" if flavour().kind == "keras3" else "adam.h5"
    if not loads_here("tf215", name):
        pytest.skip("this Keras cannot read TF 2.15's layer configs")
    path = path_of("tf215", {"file": name})
    for model in (koc.load_model(path), fixed_native(path, tmp_path)):
        cfg = koc.serialize(model.optimizer)["config"]
        assert cfg["learning_rate"] == pytest.approx(0.123) and cfg["beta_1"] == pytest.approx(0.8)


def fixed_native(path, tmp_path):
    out = tmp_path / ("fixed-" + path.name)
    koc.fix_model(path, out, release())
    return native_load(out)


@pytest.mark.tf
def test_load_model_keras3_converts_legacy_decay_with_a_warning():
    if flavour().kind != "keras3":
        pytest.skip("Keras 3 only: it has no legacy decay")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = koc.load_model(path_of("tf29", {"file": "sgd_decay_plain.h5"}))
    assert len([w for w in caught if issubclass(w.category, koc.DecayConversionWarning)]) == 1  # once per call
    lr = koc.serialize(model.optimizer)["config"]["learning_rate"]
    assert lr["class_name"] == "InverseTimeDecay"
    assert lr["config"]["decay_rate"] == pytest.approx(0.01) and lr["config"]["initial_learning_rate"] == pytest.approx(0.2)


@pytest.mark.tf
def test_load_model_strict_refuses_a_setting_the_installed_keras_cannot_hold(tmp_path):
    if flavour().default_family != "legacy":
        pytest.skip("needs a loader whose optimizers have no weight_decay (TF <= 2.10)")
    import h5py

    path = tmp_path / "wd.h5"
    shutil.copyfile(path_of("tf215", {"file": "adam.h5"}), path)
    with h5py.File(path, "r+") as fh:
        doc = json.loads(fh.attrs["training_config"])
        doc["optimizer_config"]["config"]["weight_decay"] = 0.1
        fh.attrs["training_config"] = json.dumps(doc).encode()
    with pytest.raises(koc.LossyConversionError, match="weight_decay"):
        koc.load_model(path, strict=True)
    with pytest.warns(koc.LossyConversionWarning, match="weight_decay"):
        model = koc.load_model(path)
    assert koc.serialize(model.optimizer)["config"]["learning_rate"] == pytest.approx(0.123)


@pytest.mark.tf
def test_load_model_restores_a_tf215_keras_state_in_keras3():
    """Keras 3 skips a TF 2.15 ``.keras`` optimizer's variables (its Adam has one more); the state the
    archive stores is restored by kerasopt_compat, iteration count and slots."""
    if flavour().kind != "keras3":
        pytest.skip("measured on Keras 3: its own loader skips a TF 2.15 .keras optimizer's variables")
    path = path_of("tf215", {"file": "adam.keras"})
    stored = koc.read_state(path)
    assert stored.iterations and stored.variables and not stored.untied
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        model = koc.load_model(path)
    assert int(model.optimizer.iterations.numpy()) == stored.iterations


@pytest.mark.tf
def test_load_model_warns_when_the_optimizer_state_is_lost(tmp_path):
    """A damaged archive whose slots have shapes no model variable has: nothing can be tied, the
    installed loader restored nothing, and the warning says training restarts from a fresh state."""
    if flavour().kind != "keras3":
        pytest.skip("measured on Keras 3: its own loader restores nothing of a TF 2.15 .keras optimizer")
    import io
    import zipfile

    import h5py
    import numpy as np

    damaged = tmp_path / "damaged.keras"
    with zipfile.ZipFile(path_of("tf215", {"file": "adam.keras"})) as zin, zipfile.ZipFile(damaged, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "model.weights.h5":
                buf = io.BytesIO(data)
                with h5py.File(buf, "r+") as fh:
                    slots = fh["optimizer/vars"]
                    for key in sorted(slots, key=int)[1:]:  # every slot; the iteration count (0) stays
                        del slots[key]
                        slots[key] = np.zeros((7,), "float32")
                data = buf.getvalue()
            zout.writestr(item, data)
    with pytest.warns(koc.OptimizerStateWarning, match="training restarts from a fresh optimizer state"):
        model = koc.load_model(damaged)
    assert int(model.optimizer.iterations.numpy()) == 0
    with pytest.raises(koc.OptimizerStateError, match="not restored"):
        koc.load_model(damaged, state="require")
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        koc.load_model(path_of("tf215", {"file": "adam_plain.h5"}))  # the .h5 state is restored


@pytest.mark.tf
def test_load_model_compile_false_is_the_native_load():
    loadable = [(env, e) for env, e in model_files() if e["file"] == "adam.h5" and loads_here(env, "adam.h5")]
    if not loadable:
        pytest.skip("this Keras reads none of the committed adam.h5 files")
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.ConversionWarning)
        model = koc.load_model(path_of(*loadable[0]), compile=False)
    assert getattr(model, "optimizer", None) is None


@pytest.mark.tf
def test_layer_errors_keep_their_type_and_get_a_note(tmp_path):
    if flavour().default_family != "keras3":
        path = path_of("keras3-jax", {"file": "adam.h5"})
    else:  # an .h5 named .keras, which Keras 3 opens as a zip archive (SavedModels kerasopt_compat rebuilds)
        path = tmp_path / "h5.keras"
        shutil.copyfile(path_of("tf29", {"file": "adam_plain.h5"}), path)
    with pytest.raises(Exception) as native_info:
        native_load(path)
    with pytest.raises(type(native_info.value)) as info:
        koc.load_model(path)
    text = str(info.value) + "".join(getattr(info.value, "__notes__", []))
    assert "the stored optimizer was not the cause" in text


@pytest.mark.tf
def test_an_optimizer_kerasopt_compat_cannot_read_is_left_to_the_native_loader(tmp_path):
    import h5py

    env = next((env for env, e in model_files() if e["file"] == "adam_plain.h5" and loads_here(env, "adam_plain.h5")), None)
    if env is None:
        pytest.skip("this Keras reads none of the committed adam_plain.h5 files")
    path = tmp_path / "custom.h5"
    shutil.copyfile(path_of(env, {"file": "adam_plain.h5"}), path)
    with h5py.File(path, "r+") as fh:
        doc = json.loads(fh.attrs["training_config"])
        doc["optimizer_config"]["class_name"] = "MyOwnOptimizer"
        fh.attrs["training_config"] = json.dumps(doc).encode()
    try:
        native_load(path)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            koc.load_model(path)
    else:
        koc.load_model(path)
