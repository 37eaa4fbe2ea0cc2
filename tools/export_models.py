#!/usr/bin/env python
"""Save tiny real model files with the *installed* TF/Keras, for tests/data/models.

Usage (inside a tox env, so the real wheel writes the files)::

    tox exec -e tf29 -- python tools/export_models.py tests/data/models tf29
    tox exec -e tf215 -- python tools/export_models.py tests/data/models tf215 adamw_ema

With VARIANT names only those files are (re)written and their manifest
entries replaced; the env's other files are left byte for byte.

Writes ``OUTDIR/ENVNAME/<variant>.<format>`` for every format the installed
Keras can write (``.h5`` always; ``.keras`` on Keras 2.13+ and Keras 3; a
SavedModel directory ``<variant>.savedmodel/`` on Keras 2 / tf_keras) and
``OUTDIR/ENVNAME/manifest.json``, which lists per file the variant, the
format, the versions that wrote it, and ``expected``: the canonical dict of
the live optimizer right before saving (``kerasopt_compat.serialize``), or
``null`` for the model saved without an optimizer.

Each model is ``Sequential([Input((2,)), Dense(1)])`` compiled with
``loss="mse", metrics=["mae"]`` and fitted one epoch on 8 samples (two
steps), so the files also hold optimizer state. Variants:

* ``adam``: ``Adam(learning_rate=0.123, beta_1=0.8)``
* ``sgd_decay``: legacy ``SGD(learning_rate=0.2, decay=0.01)`` (where the
  env has OptimizerV2: TF <= 2.10 ``optimizers``, 2.11-2.15/tf_keras
  ``optimizers.legacy``)
* ``schedule``: ``SGD(learning_rate=ExponentialDecay(0.1, 10, 0.9), momentum=0.5)``
* ``lso``: ``LossScaleOptimizer(Adam(learning_rate=0.05))``
* ``nooptimizer``: the same model, never compiled
* ``adam_plain``, ``sgd_decay_plain``: ``adam``/``sgd_decay`` compiled with
  ``loss="mean_squared_error"`` and no metrics, ``.h5`` only (Keras 3.15's
  ``.h5`` loader fails on the loss ``"mse"`` before it reaches the optimizer;
  with this loss it loads and silently drops the optimizer's settings)
* ``adamw_ema``: ``AdamW(learning_rate=0.02, weight_decay=0.05, use_ema=True,
  ema_momentum=0.9, ema_overwrite_frequency=3)``, ``.h5`` only, where
  ``optimizers`` has AdamW (TF 2.13+, tf_keras, Keras 3): settings TF
  2.9/2.10 hold only in ``optimizers.experimental``
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

try:
    import tensorflow as tf
except ImportError:
    tf = None

if tf is not None:
    K = tf.keras
else:
    import keras as K  # type: ignore[no-redef]

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402


def _keras_major_minor():
    fl = flavour()
    parts = (fl.keras_version or "0.0").split(".")
    return int(parts[0]), int(parts[1])


KERAS3 = flavour().kind == "keras3"
KV = _keras_major_minor()


def legacy_namespace():
    """The OptimizerV2 namespace, or None (Keras 3)."""
    if KERAS3:
        return None
    if flavour().default_family == "legacy":
        return K.optimizers
    return K.optimizers.legacy


def make_optimizer(variant):
    variant = variant.replace("_plain", "")
    if variant == "adam":
        return K.optimizers.Adam(learning_rate=0.123, beta_1=0.8)
    if variant == "sgd_decay":
        ns = legacy_namespace()
        return None if ns is None else ns.SGD(learning_rate=0.2, decay=0.01)
    if variant == "schedule":
        sched = K.optimizers.schedules.ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9)
        return K.optimizers.SGD(learning_rate=sched, momentum=0.5)
    if variant == "lso":
        inner = K.optimizers.Adam(learning_rate=0.05)
        if KERAS3:
            return K.optimizers.LossScaleOptimizer(inner)
        return K.mixed_precision.LossScaleOptimizer(inner)
    if variant == "adamw_ema":
        cls = getattr(K.optimizers, "AdamW", None)
        if cls is None:
            return None
        return cls(learning_rate=0.02, weight_decay=0.05, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3)
    raise ValueError(variant)


VARIANTS = ("adam", "sgd_decay", "schedule", "lso", "nooptimizer", "adam_plain", "sgd_decay_plain", "adamw_ema")
#: variants written as ``.h5`` only
H5_ONLY = ("adam_plain", "sgd_decay_plain", "adamw_ema")


def formats(variant):
    out = ["h5"]
    if variant in H5_ONLY:
        return out
    if KERAS3 or KV >= (2, 13):
        out.append("keras")
    if not KERAS3:
        out.append("savedmodel")
    return out


def build(variant):
    model = K.Sequential([K.Input(shape=(2,)), K.layers.Dense(1)])
    if variant == "nooptimizer":
        return model, None
    opt = make_optimizer(variant)
    if opt is None:
        return None, None
    if variant.endswith("_plain"):
        model.compile(optimizer=opt, loss="mean_squared_error")
    else:
        model.compile(optimizer=opt, loss="mse", metrics=["mae"])
    x = np.arange(16, dtype="float32").reshape(8, 2) / 16.0
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    return model, koc.serialize(model.optimizer)


def save(model, path, fmt):
    if fmt == "h5":
        model.save(path)
    elif fmt == "keras":
        model.save(path)
    else:
        if KV >= (2, 13):
            model.save(path, save_format="tf")
        else:
            model.save(path)
        # git keeps no empty directories; the loaders do not need an empty assets/.
        assets = os.path.join(path, "assets")
        if os.path.isdir(assets) and not os.listdir(assets):
            os.rmdir(assets)


def main(argv):
    if len(argv) < 3 or not set(argv[3:]) <= set(VARIANTS):
        sys.stderr.write("usage: export_models.py OUTDIR ENVNAME [VARIANT ...]; variants: %s\n" % " ".join(VARIANTS))
        return 2
    out_dir = os.path.join(argv[1], argv[2])
    only = tuple(argv[3:])
    files, notes = [], []
    if only:  # keep the other variants' files and manifest entries
        with open(os.path.join(out_dir, "manifest.json")) as fh:
            old = json.load(fh)
        files = [f for f in old["files"] if f["variant"] not in only]
        notes = [n for n in old["notes"] if n.split(":")[0].split(".")[0] not in only]
        for f in old["files"]:
            if f["variant"] in only:
                path = os.path.join(out_dir, f["file"])
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    else:
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(out_dir)
    fl = flavour()
    saved_by = {
        "env": argv[2],
        "python": platform.python_version(),
        "flavour": fl.describe(),
        "kind": fl.kind,
        "default_family": fl.default_family,
    }
    for variant in only or VARIANTS:
        for fmt in formats(variant):
            model, expected = build(variant)
            if model is None:
                notes.append("%s: no such optimizer here" % variant)
                break
            name = "%s.%s" % (variant, "savedmodel" if fmt == "savedmodel" else fmt)
            try:
                save(model, os.path.join(out_dir, name), fmt)
            except Exception as exc:  # noqa: BLE001 - record what the real wheel refuses
                notes.append("%s: save failed: %s: %s" % (name, type(exc).__name__, str(exc).splitlines()[0][:200]))
                traceback.print_exc()
                continue
            files.append({"file": name, "format": fmt, "variant": variant, "expected": expected})
    manifest = {"saved_by": saved_by, "files": files, "notes": notes}
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=False, allow_nan=False)
        fh.write("\n")
    sys.stderr.write("wrote %d model files to %s\n" % (len(files), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
