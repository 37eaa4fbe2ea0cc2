#!/usr/bin/env python
"""SavedModels of other model kinds for Keras 3 loading (issue 20), with the saver's next step.

Usage (inside a Keras 2 / tf_keras tox env, so the real wheel writes the files)::

    tox exec -e tf29 -- python tools/export_sm_kinds.py tests/data/savedmodel_kinds tf29

Writes ``OUTDIR/ENVNAME/<kind>.savedmodel/`` (``save_traces=False``, to stay
small) and ``OUTDIR/ENVNAME/manifest.json``. Kinds: ``two_inputs`` (a
Functional model with two inputs, concatenated), ``embed_lstm``
(``Embedding -> LSTM -> Dense``), ``custom_layer`` (``Dense -> KocScale ->
Dense``, the custom layer of tests/custom_fns.py, loaded with
``custom_objects``). Each is compiled with ``Adam(0.01)``, ``loss="mse"``,
and trained 3 steps with ``train_on_batch``; the manifest records per kind:
``file``, ``custom_objects`` (names), ``iterations``, ``x`` (the 4th batch's
inputs, a list of arrays), ``y``, ``predictions`` (the saver's, on ``x``,
before the 4th step) and ``next_weights``: ``{variable name: value}`` of every
trainable variable after the 4th step (names without ``:0``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from custom_fns import koc_scale_layer  # noqa: E402
from export_models import K  # noqa: E402

from kerasopt_compat._keras.flavour import flavour  # noqa: E402

FL = flavour()
KV = tuple(int(p) for p in (FL.keras_version or "0.0").split(".")[:2])


def two_inputs():
    a = K.Input(shape=(2,), name="a")
    b = K.Input(shape=(3,), name="b")
    h = K.layers.Concatenate()([K.layers.Dense(3, name="from_a")(a), b])
    out = K.layers.Dense(1, name="out")(K.layers.Dense(2, name="mid")(h))
    model = K.Model([a, b], out)
    rng = np.random.RandomState(0)
    batches = [
        ([rng.rand(4, 2).astype("float32"), rng.rand(4, 3).astype("float32")], rng.rand(4, 1).astype("float32")) for _ in range(4)
    ]
    return model, batches, []


def embed_lstm():
    model = K.Sequential([K.Input(shape=(5,), dtype="int32"), K.layers.Embedding(10, 3), K.layers.LSTM(4), K.layers.Dense(1)])
    rng = np.random.RandomState(1)
    batches = [([rng.randint(0, 10, size=(4, 5)).astype("int32")], rng.rand(4, 1).astype("float32")) for _ in range(4)]
    return model, batches, []


def custom_layer():
    scale = koc_scale_layer()
    model = K.Sequential([K.Input(shape=(2,)), K.layers.Dense(3), scale(factor=0.5), K.layers.Dense(1)])
    rng = np.random.RandomState(2)
    batches = [([rng.rand(4, 2).astype("float32")], rng.rand(4, 1).astype("float32")) for _ in range(4)]
    return model, batches, ["KocScale"]


def lstm():
    model = K.Sequential([K.Input(shape=(5, 3)), K.layers.LSTM(4), K.layers.Dense(1)])
    rng = np.random.RandomState(3)
    batches = [([rng.rand(4, 5, 3).astype("float32")], rng.rand(4, 1).astype("float32")) for _ in range(4)]
    return model, batches, []


def bidi_lstm():
    model = K.Sequential([K.Input(shape=(5, 3)), K.layers.Bidirectional(K.layers.LSTM(3)), K.layers.Dense(1)])
    rng = np.random.RandomState(4)
    batches = [([rng.rand(4, 5, 3).astype("float32")], rng.rand(4, 1).astype("float32")) for _ in range(4)]
    return model, batches, []


def loss_object():
    model = K.Sequential([K.Input(shape=(2,)), K.layers.Dense(3), K.layers.Dense(1)])
    rng = np.random.RandomState(5)
    batches = [([rng.rand(4, 2).astype("float32")], rng.rand(4, 1).astype("float32")) for _ in range(4)]
    return model, batches, []


KINDS = {
    "two_inputs": two_inputs,
    "embed_lstm": embed_lstm,
    "custom_layer": custom_layer,
    "lstm": lstm,
    "bidi_lstm": bidi_lstm,
    "loss_object": loss_object,
}
#: The loss each kind is compiled with ("mse" unless named here): a Keras 2 loss object, stored with
#: ``reduction: "auto"``, which Keras 3's losses do not take (issue 24).
LOSSES = {"loss_object": lambda: K.losses.MeanSquaredError()}
#: Kinds saved with the default ``save_traces=True``: their variables' checkpoint keys are then the
#: root's ``variables/N`` list, not the layer path (issue 24: LSTM cells, Bidirectional).
WITH_TRACES = {"lstm", "bidi_lstm"}


def _np(value):
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _name(var):
    return var.name[:-2] if var.name.endswith(":0") else var.name


def run(out_dir, kind):
    K.backend.clear_session()
    K.utils.set_random_seed(1234)
    model, batches, custom = KINDS[kind]()
    loss = LOSSES[kind]() if kind in LOSSES else "mse"
    model.compile(optimizer=K.optimizers.Adam(learning_rate=0.01), loss=loss)
    for x, y in batches[:3]:
        model.train_on_batch(x if len(x) > 1 else x[0], y)
    fname = "%s.savedmodel" % kind
    path = os.path.join(out_dir, fname)
    kwargs = {"save_traces": kind in WITH_TRACES}
    if KV >= (2, 13):
        kwargs["save_format"] = "tf"
    model.save(path, **kwargs)
    for sub in ("assets",):  # git keeps no empty directories
        p = os.path.join(path, sub)
        if os.path.isdir(p) and not os.listdir(p):
            os.rmdir(p)
    x, y = batches[3]
    feed = x if len(x) > 1 else x[0]
    predictions = _np(model.predict(feed, verbose=0))
    iterations = int(_np(model.optimizer.iterations))
    model.train_on_batch(feed, y)
    names = [_name(v) for v in model.trainable_variables]
    if len(set(names)) != len(names):
        raise SystemExit("%s: two trainable variables share a name: %s" % (kind, names))
    return {
        "kind": kind,
        "file": fname,
        "custom_objects": custom,
        "iterations": iterations,
        "x": [a.tolist() for a in x],
        "y": y.tolist(),
        "predictions": predictions.tolist(),
        "next_weights": {_name(v): _np(v).tolist() for v in model.trainable_variables},
    }


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write("usage: export_sm_kinds.py OUTDIR ENVNAME [KIND,KIND...]\n")
        return 2
    kinds = argv[3].split(",") if len(argv) == 4 else list(KINDS)
    out_dir = os.path.join(argv[1], argv[2])
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    saved_by = {"env": argv[2], "python": platform.python_version(), "flavour": FL.describe(), "keras_version": FL.keras_version}
    cases = [run(out_dir, kind) for kind in kinds]
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump({"saved_by": saved_by, "cases": cases}, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    sys.stderr.write("wrote %d SavedModels to %s\n" % (len(cases), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
