"""Training checkpoints across versions: the installed Keras' own restore beside ``restore_checkpoint``.

For the checkpoints tests/test_restore_checkpoint.py restores (its ``CASES``: the whole corpus where
``KOC_RESUME_FULL=1``, a sample elsewhere), each env restores the checkpoint twice into the manifest's model
(built with the installed Keras and the case's optimizer config) and takes one ``train_on_batch`` on the
manifest's next batch, compared with the saver's next-step weights (relative 1e-4, absolute 1e-6):

* **ours**: ``kerasopt_compat.restore_checkpoint``: ``exact``, ``documented`` (a rule difference between the
  generations, with the warning tests/test_restore_checkpoint.py checks) or ``refused`` (a class the release lacks);
* **native**, the installed Keras' own means: ``tf.train.Checkpoint(model=, optimizer=).restore`` (``ckpt``; Keras 3
  builds the optimizer first), ``model.load_weights`` (``save_weights``), for ``tf1_saver`` Keras 2's
  ``load_weights`` (it restores name-based) and, where that raises and in Keras 3 on TensorFlow,
  ``tf.train.Checkpoint.restore``; the installed
  ``BackupAndRestore`` in a ``fit`` on a copy of the folder (``backup``). Outcomes: ``exact``; ``state lost`` (the
  weights equal the ones ``restore_checkpoint`` assigns, the step differs: slots or step count not restored);
  ``weights lost`` (the weights are not the checkpoint's: unresolved or tied to other variables); ``silent
  restart`` (``BackupAndRestore`` started at epoch 0 without an error); ``cannot read`` (the installed Keras has
  no reader for the format: Keras 3's ``load_weights``, or no TensorFlow installed); ``error`` (the restore or the
  step raised); ``nan`` (NaN or infinity after the step).

Both are written to ``koc_trainckpt.json`` for compat_matrix.md ("Training checkpoints across versions").
"""

from __future__ import annotations

import os
import pathlib
import shutil
import warnings
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import pytest
from live_helpers import require_keras, write_report

require_keras()

import numpy as np  # noqa: E402
from test_restore_checkpoint import CASES, DATA, FL, K, _ids, _np, _seed, build, expected_warnings, optimizer_config  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat import _errors as E  # noqa: E402

pytestmark = pytest.mark.tf

#: (writer env, case name) -> {"writer", "kind", "family", "ours", "native"}
RESULTS: Dict[Tuple[str, str], Dict[str, str]] = {}
HAS_TF = FL.tensorflow_version is not None
ON_TF = HAS_TF and (FL.kind != "keras3" or K.backend.backend() == "tensorflow")


def _optimizer(case: Dict[str, Any]) -> Any:
    """The case's optimizer as the installed Keras' default generation builds it (None: the release lacks it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return koc.deserialize(optimizer_config(case))
    except koc.UnsupportedClassError:
        return None


def _model(case: Dict[str, Any], optimizer: Any) -> Any:
    K.backend.clear_session()
    _seed(7)
    model = build(case["model"])  # the saver's layer names: the native restore's best chance
    model.compile(optimizer=optimizer, loss="mse")
    model.predict(np.zeros((1, 4), "float32"), verbose=0)
    return model


def _batch(case: Dict[str, Any]) -> Tuple[Any, Any]:
    return np.asarray(case["next_batch"]["x"], "float32"), np.asarray(case["next_batch"]["y"], "float32")


def _step_outcome(model: Any, case: Dict[str, Any]) -> str:
    after = [_np(v) for v in model.trainable_variables]
    if not all(np.all(np.isfinite(a)) for a in after):
        return "nan"
    same = all(np.allclose(a, np.asarray(ref["value"]), rtol=1e-4, atol=1e-6) for a, ref in zip(after, case["next_weights"]))
    return "exact" if same and len(after) == len(case["next_weights"]) else "differs"


def _ours(env: str, case: Dict[str, Any]) -> Tuple[str, Optional[List[Any]]]:
    """restore_checkpoint's outcome, and the weights it assigned (before the step)."""
    if _optimizer(case) is None:
        return "refused", None
    model = _model(case, "sgd")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = koc.restore_checkpoint(DATA / env / case["prefix"], model, optimizer=optimizer_config(case))
    restored = [_np(v) for v in model.trainable_variables]
    model.train_on_batch(*_batch(case))
    outcome = _step_outcome(model, case)
    got = {type(w.message) for w in caught if issubclass(w.category, koc.OptimizerStateWarning)}
    documented = expected_warnings(case, report) - {E.Tf1MomentumWarning, E.EMADroppedWarning}
    if outcome == "differs" and documented and got >= documented:
        outcome = "documented"
    return outcome, restored


def _build_optimizer(model: Any) -> None:
    """Keras 3: build the optimizer's variables before restoring (Keras 2 restores them when they are created)."""
    if FL.kind == "keras3":
        model.optimizer.build(model.trainable_variables)


def _loads_weights(model: Any, path: pathlib.Path) -> bool:
    """Keras 2's ``load_weights`` on a TF1 checkpoint (name-based): it raises when an optimizer variable is not in
    the file; then the native alternative is ``tf.train.Checkpoint.restore`` (which only logs what it left out)."""
    try:
        model.load_weights(str(path))
    except AssertionError:
        return False
    return True


class _Epochs(K.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.begun: List[int] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.begun.append(epoch)


def _native(env: str, case: Dict[str, Any], ours: Optional[List[Any]], tmp: pathlib.Path) -> str:
    """The installed Keras' own restore + one step (module docstring)."""
    optimizer = _optimizer(case)
    if optimizer is None:
        return "refused"
    model = _model(case, optimizer)
    path = DATA / env / case["prefix"]
    kind = case["kind"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "backup":
                folder = tmp / "backup"
                shutil.copytree(str(path), str(folder))
                epochs = _Epochs()
                model.fit(
                    *_batch(case),
                    batch_size=len(case["next_batch"]["x"]),
                    epochs=case["epoch"] + 1,
                    shuffle=False,
                    verbose=0,
                    callbacks=[K.callbacks.BackupAndRestore(str(folder)), epochs],
                )
                if epochs.begun and epochs.begun[0] == 0:
                    return "silent restart"
                outcome = _step_outcome(model, case)
                return "state lost" if outcome == "differs" else outcome
            if kind == "save_weights" and FL.kind == "keras3":
                try:
                    model.load_weights(str(path))
                except ValueError:  # "File format not supported": Keras 3 reads .weights.h5 only
                    return "cannot read"
            elif kind == "save_weights":
                model.load_weights(str(path))
            elif not (kind == "tf1_saver" and FL.kind != "keras3" and _loads_weights(model, path)):
                if not ON_TF:
                    return "cannot read"  # tf.train.Checkpoint needs TensorFlow (and Keras on it)
                import tensorflow as tf

                _build_optimizer(model)
                tf.train.Checkpoint(model=model, optimizer=model.optimizer).restore(str(path))
            restored = [_np(v) for v in model.trainable_variables]
            model.train_on_batch(*_batch(case))
    except Exception:  # noqa: BLE001 - any native failure is the native outcome
        return "error"
    outcome = _step_outcome(model, case)
    if outcome != "differs":
        return outcome
    if ours is not None and all(np.allclose(a, b, rtol=1e-6, atol=1e-8) for a, b in zip(restored, ours)):
        return "state lost"
    return "weights lost"


@pytest.mark.parametrize("env,case", CASES, ids=[_ids(c) for c in CASES])
def test_native_restore_beside_restore_checkpoint(env: str, case: Dict[str, Any], tmp_path: pathlib.Path) -> None:
    ours, restored = _ours(env, case)
    native = _native(env, case, restored, tmp_path)
    RESULTS[(env, case["case"])] = {
        "writer": env,
        "kind": case["kind"],
        "family": case["family"],
        "ours": ours,
        "native": native,
    }
    assert ours in ("exact", "documented", "refused"), "restore_checkpoint + one step: %s" % ours
    # the native path must be a real measurement: same generation, same release line -> the native restore works
    if case["family"] == FL.default_family and case["kind"] in ("ckpt", "save_weights", "backup") and env == _this_env():
        assert native == "exact", native


def _this_env() -> str:
    """The corpus folder this env wrote, if any (tox env name)."""
    return os.path.basename(os.path.dirname(os.environ.get("KOC_REPORT_DIR", "").rstrip(os.sep)))


@pytest.fixture(scope="session", autouse=True)
def _report():
    yield
    if not RESULTS:
        return
    rows: Dict[str, Dict[str, int]] = {}
    for r in RESULTS.values():
        counts = rows.setdefault("%s %s" % (r["writer"], r["kind"]), Counter())
        counts["checkpoints"] += 1
        counts["ours " + r["ours"]] += 1
        counts["native " + r["native"]] += 1
    cases = {"%s/%s" % key: [r["ours"], r["native"]] for key, r in sorted(RESULTS.items())}
    write_report(
        "koc_trainckpt.json",
        {"flavour": FL.describe(), "generation": FL.default_family, "full": FULL, "rows": rows, "cases": cases},
    )


FULL = os.environ.get("KOC_RESUME_FULL") == "1"
