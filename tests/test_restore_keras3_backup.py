"""restore_checkpoint of Keras 3 ``BackupAndRestore`` folders the installed Keras 3 writes (any backend).

The corpus (tests/test_restore_checkpoint.py) restores the tf221 backup of a Sequential model into every flavour;
here the installed Keras 3 writes backups of models the corpus lacks (a Functional model with a nested Sequential
and a BatchNormalization: layers of several classes, non-trainable variables), restored into a fresh model: the
weights by their place in ``latest.weights.h5``, the optimizer's variables in the model's order, the epoch from
``training_metadata.json``; one more step equals the saver's. Keras 2 flavours skip (they write a TF checkpoint).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from live_helpers import require_keras

require_keras()

import numpy as np  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402

pytestmark = pytest.mark.tf

FL = flavour()
K = FL.keras
if FL.kind != "keras3":
    pytest.skip("Keras %s writes a TF checkpoint backup (the corpus covers it)" % FL.kind, allow_module_level=True)


def _nested() -> Any:
    inputs = K.Input(shape=(4,))
    x = K.layers.Dense(4)(inputs)
    x = K.Sequential([K.Input(shape=(4,)), K.layers.Dense(4)], name="inner")(x)
    x = K.layers.BatchNormalization()(x)
    return K.Model(inputs, K.layers.Dense(2)(x))


class _StopAfter(K.callbacks.Callback):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.stop = epoch

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == self.stop:
            raise RuntimeError("preempted")


def _backup(tmp_path: Any, optimizer: Any) -> Any:
    """A fit of 3 epochs (2 steps each) preempted after the second: the saver, its data and the folder."""
    K.utils.set_random_seed(27)
    saver = _nested()
    saver.compile(optimizer=optimizer, loss="mse")
    x = np.linspace(-1, 1, 32, dtype="float32").reshape(8, 4)
    y = np.stack([np.sin(x).sum(axis=1), np.cos(x).sum(axis=1)], axis=1).astype("float32")
    folder = tmp_path / "backup"
    backup = K.callbacks.BackupAndRestore(str(folder), delete_checkpoint=False)
    with pytest.raises(RuntimeError, match="preempted"):
        saver.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[backup, _StopAfter(1)])
    return saver, x, y, folder


@pytest.mark.parametrize("cls, options", [("Adam", {}), ("Adam", {"amsgrad": True}), ("Adagrad", {}), ("Nadam", {})], ids=str)
def test_a_keras3_backup_of_a_nested_model_resumes_with_the_savers_next_step(tmp_path, cls, options):
    saver, x, y, folder = _backup(tmp_path, getattr(K.optimizers, cls)(learning_rate=0.01, **options))
    fresh = _nested()
    fresh.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        report = koc.restore_checkpoint(folder, fresh, optimizer=koc.serialize(saver.optimizer))
    assert report.exact and report.refused is None, report.warnings
    assert report.epoch == 2 and report.iterations == 4
    assert [w.status for w in report.weights] == ["restored"] * len(fresh.weights)
    for a, b in zip(fresh.weights, saver.weights):  # the BatchNormalization's moving statistics too
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
    saver.train_on_batch(x[:4], y[:4])
    fresh.train_on_batch(x[:4], y[:4])
    for a, b in zip(fresh.trainable_variables, saver.trainable_variables):
        np.testing.assert_allclose(np.asarray(a.numpy()), np.asarray(b.numpy()), rtol=1e-5, atol=1e-7)


def test_a_keras3_backup_into_a_model_lacking_a_layer_names_what_it_leaves_out(tmp_path):
    """The fresh model has no BatchNormalization: its stored weights tie to nothing (refused, named), and the
    optimizer's variables, whose order the file does not give, are not tied by position: strict refuses."""
    saver, _x, _y, folder = _backup(tmp_path, K.optimizers.Adam(learning_rate=0.01))
    inputs = K.Input(shape=(4,))
    x = K.layers.Dense(4)(inputs)
    x = K.Sequential([K.Input(shape=(4,)), K.layers.Dense(4)], name="inner")(x)
    fresh = K.Model(inputs, K.layers.Dense(2)(x))
    before = [np.asarray(v.numpy()) for v in fresh.weights]
    with pytest.raises(koc.OptimizerStateError, match="batch_normalization"):
        koc.restore_checkpoint(folder, fresh, optimizer=koc.serialize(saver.optimizer), strict=True)
    assert all(np.array_equal(np.asarray(v.numpy()), b) for v, b in zip(fresh.weights, before)), "strict touched it"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = koc.restore_checkpoint(folder, fresh, optimizer=koc.serialize(saver.optimizer))
    said = {type(w.message): str(w.message) for w in caught if issubclass(w.category, koc.OptimizerStateWarning)}
    assert "layers/batch_normalization/vars/0" in said[koc.AmbiguousTieWarning]
    assert "slots not tied" in said[koc.DroppedStateWarning]  # why the stored slots are left out
    assert not report.exact
