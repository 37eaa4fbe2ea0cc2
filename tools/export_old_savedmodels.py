#!/usr/bin/env python
"""SavedModels written by an old TensorFlow that newer ones load (issue 24), with the saver's next step.

Usage (with the real old wheel; TF 2.7 needs Python 3.8, pyenv has it)::

    ~/.pyenv/versions/3.8.18/bin/python -m venv /tmp/venv-tf27
    /tmp/venv-tf27/bin/pip install "tensorflow-cpu==2.7.*" "numpy<1.24" "protobuf<3.20"
    /tmp/venv-tf27/bin/python tools/export_old_savedmodels.py tests/data/old_savedmodels tf27

Writes ``OUTDIR/ENVNAME/<kind>.savedmodel/`` (the default ``save_traces=True``,
as users save them) and ``OUTDIR/ENVNAME/manifest.json``. Kinds:
``dense_features`` (``Sequential([DenseFeatures(feature columns), Dense, Dense])``
fed a dict: a numeric column, a 2-wide numeric column and an embedding of a
vocabulary column; Keras returns it unbuilt when it loads it, its weights
created at the first call). Compiled with ``Adam(0.01)``, ``loss="mse"``,
trained 3 steps with ``train_on_batch``; the manifest records per kind:
``file``, ``iterations``, ``x`` (the 4th batch's inputs, ``{feature: list}``),
``y``, ``predictions`` (the saver's, on ``x``, before the 4th step) and
``next_weights``: ``{variable name: value}`` of every trainable variable
after the 4th step (names without ``:0``). Needs TensorFlow only (not
kerasopt_compat, which does not support TF 2.7).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys

import numpy as np
import tensorflow as tf

K = tf.keras


def dense_features():
    fc = tf.feature_column
    columns = [
        fc.numeric_column("a"),
        fc.numeric_column("b", shape=(2,)),
        fc.embedding_column(fc.categorical_column_with_vocabulary_list("c", ["x", "y", "z"]), dimension=2),
    ]
    model = K.Sequential([K.layers.DenseFeatures(columns), K.layers.Dense(3, activation="relu"), K.layers.Dense(1)])
    rng = np.random.RandomState(7)
    batches = []
    for _ in range(4):
        x = {
            "a": rng.rand(4, 1).astype("float32"),
            "b": rng.rand(4, 2).astype("float32"),
            "c": np.array([["x"], ["y"], ["z"], ["y"]])[rng.permutation(4)],
        }
        batches.append((x, rng.rand(4, 1).astype("float32")))
    return model, batches


KINDS = {"dense_features": dense_features}


def _name(var):
    return var.name[:-2] if var.name.endswith(":0") else var.name


def _feed(x):
    return {k: tf.constant(v) for k, v in x.items()}


def run(out_dir, kind):
    K.backend.clear_session()
    tf.random.set_seed(1234)
    np.random.seed(1234)
    model, batches = KINDS[kind]()
    model.compile(optimizer=K.optimizers.Adam(learning_rate=0.01), loss="mse")
    for x, y in batches[:3]:
        model.train_on_batch(_feed(x), y)
    fname = "%s.savedmodel" % kind
    path = os.path.join(out_dir, fname)
    model.save(path, save_format="tf")
    for sub in ("assets",):  # git keeps no empty directories
        p = os.path.join(path, sub)
        if os.path.isdir(p) and not os.listdir(p):
            os.rmdir(p)
    x, y = batches[3]
    predictions = np.asarray(model.predict(_feed(x), verbose=0))
    iterations = int(model.optimizer.iterations.numpy())
    model.train_on_batch(_feed(x), y)
    names = [_name(v) for v in model.trainable_variables]
    if len(set(names)) != len(names):
        raise SystemExit("%s: two trainable variables share a name: %s" % (kind, names))
    return {
        "kind": kind,
        "file": fname,
        "iterations": iterations,
        "x": {k: v.tolist() for k, v in x.items()},
        "y": y.tolist(),
        "predictions": predictions.tolist(),
        "next_weights": {_name(v): v.numpy().tolist() for v in model.trainable_variables},
    }


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: export_old_savedmodels.py OUTDIR ENVNAME\n")
        return 2
    out_dir = os.path.join(argv[1], argv[2])
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    saved_by = {"env": argv[2], "python": platform.python_version(), "tensorflow": tf.__version__, "keras_version": K.__version__}
    cases = [run(out_dir, kind) for kind in KINDS]
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump({"saved_by": saved_by, "cases": cases}, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    sys.stderr.write("wrote %d SavedModels to %s\n" % (len(cases), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
