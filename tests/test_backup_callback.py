"""kerasopt_compat.BackupAndRestore with the real wheels: a preempted fit resumes across Keras generations.

The corpus' ``BackupAndRestore`` folders (tests/data/checkpoints/<writer>/*_backup, tools/export_checkpoints.py:
Keras 2 ``chief/ckpt-N`` from TF 2.9/2.11/2.15/tf_keras 2.21, Keras 3 ``latest.weights.h5`` +
``training_metadata.json`` from TF 2.21) are copied and resumed with ``fit(epochs=saved_epoch + 1)`` on the
manifest's next batch (one step):

* another generation's backup: ``fit`` runs exactly the saver's next epoch and ends on the saver's next-step
  weights (or the documented rule difference, as tests/test_restore_checkpoint.py), then the folder holds the
  installed Keras' own backup, which the native callback resumes from;
* the installed generation's own backup: the same outcome as the native callback;
* no backup: a fresh start at epoch 0.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import shutil
import warnings
from typing import Any, Dict, List, Tuple

import pytest
from live_helpers import require_keras

require_keras()

import numpy as np  # noqa: E402
from test_restore_checkpoint import DATA, _cases, _seed, build, expected_warnings, optimizer_config  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat import fixes  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402

pytestmark = pytest.mark.tf

FL = flavour()
K = FL.keras
INSTALLED = "keras3" if FL.kind == "keras3" else "keras2"
#: the installed Keras' own callback (TF 2.4-2.7: ``callbacks.experimental.BackupAndRestore``)
NATIVE = fixes.backup_and_restore_class(K)
if NATIVE is None:  # no tox env has such a TF (2.2 and older); stated rather than an AttributeError
    pytest.skip("%s has no BackupAndRestore callback (TF 2.3+)" % FL.describe(), allow_module_level=True)


def _group(case: Dict[str, Any]) -> str:
    return "keras3" if case["family"] == "keras3" else "keras2"


#: TF 2.9's BackupAndRestore has no delete_checkpoint argument (it always deletes its backup at the end)
HAS_DELETE = "delete_checkpoint" in inspect.signature(NATIVE.__init__).parameters


def _keep() -> Dict[str, Any]:
    if not HAS_DELETE:
        pytest.skip("the installed BackupAndRestore has no delete_checkpoint argument: it always deletes its backup")
    return {"delete_checkpoint": False}


BACKUPS = [(env, c) for env, c in _cases() if c["kind"] == "backup"]
FOREIGN = [(env, c) for env, c in BACKUPS if _group(c) != INSTALLED]
OWN = [(env, c) for env, c in BACKUPS if _group(c) == INSTALLED]


def _ids(items: List[Tuple[str, Dict[str, Any]]]) -> List[str]:
    return ["%s-%s" % (env, c["case"]) for env, c in items]


def _np(var: Any) -> Any:
    return np.array(var.numpy() if hasattr(var, "numpy") else var)


def _copy(env: str, case: Dict[str, Any], tmp_path: pathlib.Path) -> str:
    folder = str(tmp_path / "backup")
    shutil.copytree(str(DATA / env / case["prefix"]), folder)
    return folder


def _batch(case: Dict[str, Any]) -> Tuple[Any, Any]:
    return np.asarray(case["next_batch"]["x"], "float32"), np.asarray(case["next_batch"]["y"], "float32")


def _optimizer(case: Dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", koc.ConversionWarning)
        return koc.deserialize(optimizer_config(case))


def _model(case: Dict[str, Any], optimizer: Any = None) -> Any:
    """The manifest's model with the installed Keras, compiled with the saver's optimizer config, built."""
    K.backend.clear_session()
    _seed(11)
    model = build(case["model"], rename=True)
    model.compile(optimizer=optimizer if optimizer is not None else _optimizer(case), loss="mse")
    model.predict(np.zeros((1, 4), "float32"), verbose=0)
    return model


def _own_layout(folder: str) -> bool:
    if INSTALLED == "keras3":
        return all(os.path.exists(os.path.join(folder, n)) for n in ("latest.weights.h5", "training_metadata.json"))
    return os.path.exists(os.path.join(folder, "chief", "checkpoint"))


def _foreign_layout(folder: str) -> bool:
    if INSTALLED == "keras3":
        return os.path.exists(os.path.join(folder, "chief", "checkpoint"))
    return os.path.exists(os.path.join(folder, "latest.weights.h5"))


def _resume(case: Dict[str, Any], folder: str, **kwargs: Any) -> Tuple[Any, Any, Any, set]:
    """fit(epochs=saved + 1) with kerasopt_compat.BackupAndRestore: (model, history, callback, warning classes)."""
    model = _model(case)
    callback = koc.BackupAndRestore(folder, **kwargs)
    x, y = _batch(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=case["epoch"] + 1, batch_size=len(x), callbacks=[callback], verbose=0)
    got = {type(w.message) for w in caught if issubclass(w.category, koc.OptimizerStateWarning)}
    return model, history, callback, got


@pytest.mark.parametrize("delete", [True, False], ids=["delete", "keep"])
@pytest.mark.parametrize("env,case", FOREIGN, ids=_ids(FOREIGN))
def test_another_generations_backup_resumes_at_its_epoch_with_its_state(env, case, delete, tmp_path):
    folder = _copy(env, case, tmp_path)
    model, history, callback, got = _resume(case, folder, **({} if delete else _keep()))
    assert history.epoch == [case["epoch"]], history.epoch
    assert len(history.history["loss"]) == 1
    report = callback.restore_report
    assert report is not None and report.epoch == case["epoch"]
    assert report.iterations == case["iterations"]
    assert all(w.status == "restored" for w in report.weights), report.weights
    assert model.optimizer is report.optimizer, "fit did not train with the optimizer restored into"
    assert int(_np(model.optimizer.iterations)) == case["iterations"] + 1
    after = [_np(v) for v in model.trainable_variables]
    assert all(np.all(np.isfinite(a)) for a in after), "NaN or infinity after the step"
    documented = expected_warnings(case, report)
    assert got == documented, "warnings %s, documented %s: %s" % (got, documented, report.warnings)
    if not documented - {koc.EMADroppedWarning}:
        for i, (a, ref) in enumerate(zip(after, case["next_weights"])):
            np.testing.assert_allclose(a, np.asarray(ref["value"]), rtol=1e-4, atol=1e-6, err_msg="variable %d" % i)
    if delete:  # removed like Keras removes its own backup
        assert not _own_layout(folder) and not _foreign_layout(folder), os.listdir(folder) if os.path.isdir(folder) else None
        return
    # kept: the installed Keras' own backup beside the foreign one, and the native callback resumes from it
    assert _own_layout(folder) and _foreign_layout(folder)
    x, y = _batch(case)
    model.train_on_batch(x, y)  # the same next step without any backup
    again = str(tmp_path / "again")
    shutil.copytree(folder, again)
    for which, where in (("native", folder), ("ours", again)):  # ours prefers the installed generation's own backup
        fresh = _model(case)
        cb = NATIVE(where) if which == "native" else koc.BackupAndRestore(where)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resumed = fresh.fit(x, y, epochs=case["epoch"] + 2, batch_size=len(x), callbacks=[cb], verbose=0)
        assert resumed.epoch == [case["epoch"] + 1], (which, resumed.epoch)
        assert int(_np(fresh.optimizer.iterations)) == case["iterations"] + 2, which
        for a, b in zip(fresh.trainable_variables, model.trainable_variables):
            np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-7, err_msg=which)
    assert cb.restore_report is None
    assert not _own_layout(again) and not _foreign_layout(again), "a finished fit left a stale backup"


@pytest.mark.parametrize("env,case", OWN, ids=_ids(OWN))
def test_the_installed_generations_backup_is_the_native_callbacks(env, case, tmp_path):
    x, y = _batch(case)
    outcomes = []
    for which in ("native", "ours"):
        folder = _copy(env, case, tmp_path / which)
        model = _model(case)
        callback = NATIVE(folder) if which == "native" else koc.BackupAndRestore(folder)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                history = model.fit(x, y, epochs=case["epoch"] + 1, batch_size=len(x), callbacks=[callback], verbose=0)
        except ValueError as exc:  # TF 2.11-2.15, tf_keras: "restore a checkpoint from a legacy Keras optimizer"
            outcomes.append(("raised", str(exc)))
            continue
        if which == "ours":
            assert callback.restore_report is None
        outcomes.append((history.epoch, [_np(v) for v in model.trainable_variables], os.path.exists(folder)))
    native, ours = outcomes
    if native[0] == "raised":  # the native callback's own refusal, unchanged
        assert ours == native
        return
    assert native[0] == ours[0] == [case["epoch"]], (native[0], ours[0])
    assert native[2] == ours[2]
    for a, b in zip(native[1], ours[1]):
        np.testing.assert_array_equal(a, b)


def test_a_folder_without_a_backup_starts_fresh(tmp_path):
    env, case = BACKUPS[0]
    folder = str(tmp_path / "empty")
    os.makedirs(folder)
    model = _model(case)
    callback = koc.BackupAndRestore(folder, **(_keep() if HAS_DELETE else {}))
    x, y = _batch(case)
    history = model.fit(x, y, epochs=2, batch_size=len(x), callbacks=[callback], verbose=0)
    assert history.epoch == [0, 1]
    assert callback.restore_report is None
    assert int(_np(model.optimizer.iterations)) == 2
    assert _own_layout(folder) == HAS_DELETE
    assert isinstance(callback, NATIVE)
    assert type(koc.BackupAndRestore(folder)) is type(callback), "the subclass is built once"


def test_a_corrupt_foreign_backup_is_the_packages_error(tmp_path):
    env, case = FOREIGN[0]
    folder = _copy(env, case, tmp_path)
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name.endswith((".index", ".h5")):
                with open(os.path.join(root, name), "r+b") as fh:
                    fh.truncate(40)
    model = _model(case)
    before = [_np(v) for v in model.trainable_variables]
    x, y = _batch(case)
    with pytest.raises(koc.KerasOptCompatError):
        model.fit(x, y, epochs=case["epoch"] + 1, batch_size=len(x), callbacks=[koc.BackupAndRestore(folder)], verbose=0)
    assert all(np.array_equal(_np(v), b) for v, b in zip(model.trainable_variables, before))
    assert _foreign_layout(folder), "the foreign backup was destroyed"
