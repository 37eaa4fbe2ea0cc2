#!/usr/bin/env python
"""Save tiny real model files compiled with a custom loss or metric, for tests/data/custom_models.

Usage (inside a tox env, so the real wheel writes the files)::

    tox exec -e tf29 -- python tools/export_custom_models.py tests/data/custom_models tf29

Writes ``OUTDIR/ENVNAME/<variant>.<format>`` in every format the installed Keras
writes (``.h5``; ``.keras`` on Keras 2.13+ and Keras 3; a SavedModel directory
on Keras 2) and ``manifest.json``. ``Sequential([Input((2,)), Dense(1)])``
with ``Adam(learning_rate=0.01)``, fitted one epoch (two steps). Variants:

* ``custom_metric``: ``loss="mse", metrics=[koc_custom_metric]``
* ``custom_loss``: ``loss=koc_custom_loss, metrics=["mae"]``

The functions are defined here, in ``__main__``, as a user's script would; the
tests pass the same-named functions of ``tests/custom_fns.py`` in
``custom_objects``. Loading without them must give the native loader's own
error (issue 17).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_models import KERAS3, formats, save  # noqa: E402

from kerasopt_compat._keras.flavour import flavour  # noqa: E402

K = flavour().keras
OPS = K.ops if KERAS3 else K.backend


def koc_custom_loss(y_true, y_pred):
    return OPS.mean(OPS.square(y_pred - y_true), axis=-1) * 2.0


def koc_custom_metric(y_true, y_pred):
    return OPS.mean(OPS.abs(y_pred - y_true), axis=-1)


COMPILE = {
    "custom_metric": {"loss": "mse", "metrics": [koc_custom_metric]},
    "custom_loss": {"loss": koc_custom_loss, "metrics": ["mae"]},
}


def build(variant):
    model = K.Sequential([K.Input(shape=(2,)), K.layers.Dense(1)])
    model.compile(optimizer=K.optimizers.Adam(learning_rate=0.01), **COMPILE[variant])
    x = np.arange(16, dtype="float32").reshape(8, 2) / 16.0
    model.fit(x, x.sum(axis=1, keepdims=True), epochs=1, batch_size=4, verbose=0)
    return model


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: export_custom_models.py OUTDIR ENVNAME\n")
        return 2
    out_dir = os.path.join(argv[1], argv[2])
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    files = []
    for variant in COMPILE:
        for fmt in formats(variant):  # the formats export_models writes for a compiled variant
            name = "%s.%s" % (variant, fmt)
            save(build(variant), os.path.join(out_dir, name), fmt)
            files.append({"file": name, "format": fmt, "variant": variant})
    saved_by = {"env": argv[2], "python": platform.python_version(), "flavour": flavour().describe()}
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump({"saved_by": saved_by, "files": files}, fh, indent=1)
        fh.write("\n")
    sys.stderr.write("wrote %d model files to %s\n" % (len(files), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
