"""Training checkpoints across versions: the installed Keras' own restore beside ``restore_checkpoint``.

For the checkpoints tests/test_restore_checkpoint.py restores (its ``CASES``: the whole corpus where
``KOC_RESUME_FULL=1``, a sample elsewhere), each env restores the checkpoint with the installed Keras' own means
into the manifest's model (built with the installed Keras and the case's optimizer config) and takes one
``train_on_batch`` on the manifest's next batch, compared with the saver's next-step weights (relative 1e-4,
absolute 1e-6), beside what tests/test_restore_checkpoint.py measured on the same checkpoint (``OURS`` there):

* **ours**: ``kerasopt_compat.restore_checkpoint``: ``exact``, ``documented`` (a rule difference between the
  generations, with its warning) or ``refused`` (a class the release lacks); ``failed`` if that test failed;
* **native**, the installed Keras' own means: ``tf.train.Checkpoint(model=, optimizer=).restore`` (``ckpt``; Keras 3
  builds the optimizer first), ``model.load_weights`` (``save_weights``), for ``tf1_saver`` Keras 2's
  ``load_weights`` (it restores name-based) and, where that raises and in Keras 3 on TensorFlow,
  ``tf.train.Checkpoint.restore``; the installed ``BackupAndRestore`` in a ``fit`` on a copy of the folder
  (``backup``, one step per epoch: a resume at the saver's epoch takes exactly the next step). Outcomes:
  ``exact``; ``state lost`` (the
  weights equal the ones ``restore_checkpoint`` assigns, the step differs: slots or step count not restored);
  ``weights lost`` (the weights are not the checkpoint's: unresolved or tied to other variables); ``silent
  restart`` (``BackupAndRestore`` started at epoch 0 without an error); ``cannot read`` (the installed Keras has
  no reader for the format: Keras 3's ``load_weights``, or no TensorFlow installed); ``error`` (the restore or the
  step raised); ``nan`` (NaN or infinity after the step).

Both are written at the end of the session to ``koc_trainckpt.json`` for compat_matrix.md ("Training checkpoints
across versions"); run with tests/test_restore_checkpoint.py (the full suite does), else nothing is written.
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
import test_restore_checkpoint as trc  # noqa: E402
from test_restore_checkpoint import CASES, DATA, FL, K, _ids, _np, _seed, build, optimizer_config  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat import fixes  # noqa: E402

pytestmark = pytest.mark.tf

#: (writer env, case name) -> (the case, the native outcome, the native restore's weights where its step differs)
RESULTS: Dict[Tuple[str, str], Tuple[Dict[str, Any], str, Optional[List[Any]]]] = {}
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


def _native(env: str, case: Dict[str, Any], tmp: pathlib.Path) -> Tuple[str, Optional[List[Any]]]:
    """The installed Keras' own restore + one step (module docstring); "differs": with the weights it restored."""
    optimizer = _optimizer(case)
    if optimizer is None:
        return "refused", None
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
                    callbacks=[fixes.backup_and_restore_class(K)(str(folder)), epochs],
                )
                if epochs.begun and epochs.begun[0] == 0:
                    return "silent restart", None
                outcome = _step_outcome(model, case)
                return "state lost" if outcome == "differs" else outcome, None
            if kind == "save_weights" and FL.kind == "keras3":
                try:
                    model.load_weights(str(path))
                except ValueError:  # "File format not supported": Keras 3 reads .weights.h5 only
                    return "cannot read", None
            elif kind == "save_weights":
                model.load_weights(str(path))
            elif not (kind == "tf1_saver" and FL.kind != "keras3" and _loads_weights(model, path)):
                if not ON_TF:
                    return "cannot read", None  # tf.train.Checkpoint needs TensorFlow (and Keras on it)
                import tensorflow as tf

                _build_optimizer(model)
                tf.train.Checkpoint(model=model, optimizer=model.optimizer).restore(str(path))
            restored = [_np(v) for v in model.trainable_variables]
            model.train_on_batch(*_batch(case))
    except Exception:  # noqa: BLE001 - any native failure is the native outcome
        return "error", None
    outcome = _step_outcome(model, case)
    return outcome, restored if outcome == "differs" else None


@pytest.mark.parametrize("env,case", CASES, ids=[_ids(c) for c in CASES])
def test_native_restore_of_the_checkpoint_corpus(env: str, case: Dict[str, Any], tmp_path: pathlib.Path) -> None:
    native, restored = _native(env, case, tmp_path)
    RESULTS[(env, case["case"])] = (case, native, restored)
    # the measurement is real: the installed Keras resumes exactly from the checkpoints it wrote itself
    if env == _this_env() and case["family"] == FL.default_family and case["kind"] != "tf1_saver":
        assert native == "exact", native


def _this_env() -> str:
    """The tox env's name (its corpus folder, if it wrote one)."""
    return os.path.basename(os.path.dirname(os.environ.get("KOC_REPORT_DIR", "").rstrip(os.sep)))


def _classified(key: Tuple[str, str], native: str, restored: Optional[List[Any]]) -> str:
    """A step that differs: "state lost" where the weights are the ones restore_checkpoint assigned."""
    if native != "differs":
        return native
    ours = trc.OURS.get(key, ("", None))[1]
    if ours is not None and all(np.allclose(a, b, rtol=1e-6, atol=1e-8) for a, b in zip(restored or [], ours)):
        return "state lost"
    return "weights lost"


@pytest.fixture(scope="session", autouse=True)
def _report():
    """At the end of the session (tests/test_restore_checkpoint.py has run too): both outcomes per checkpoint.
    A checkpoint whose test_restore_checkpoint test failed or did not run counts as "ours failed"."""
    yield
    if not RESULTS or not trc.OURS:
        return
    rows: Dict[str, Dict[str, int]] = {}
    cases = {}
    for key, (case, native, restored) in sorted(RESULTS.items(), key=lambda kv: kv[0]):
        ours = trc.OURS.get(key, ("failed", None))[0]
        native = _classified(key, native, restored)
        counts = rows.setdefault("%s %s %s" % (key[0], case["family"], case["kind"]), Counter())
        counts["checkpoints"] += 1
        counts["ours " + ours] += 1
        counts["native " + native] += 1
        cases["%s/%s" % key] = [ours, native]
    write_report(
        "koc_trainckpt.json",
        {"flavour": FL.describe(), "generation": FL.default_family, "full": trc.FULL, "rows": rows, "cases": cases},
    )
