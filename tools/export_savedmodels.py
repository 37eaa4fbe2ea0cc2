#!/usr/bin/env python
"""Save tiny SavedModels with optimizer state, for tests/data/resume_sm (TF-free checkpoint reader tests).

Usage (inside a tox env with TF <= 2.15, so the real wheel writes the files)::

    tox exec -e tf29 -- python tools/export_savedmodels.py tests/data/resume_sm tf29

Writes ``OUTDIR/ENVNAME/<namespace>_<variant>/`` (a SavedModel directory
written by ``model.save(path, save_format="tf")``) and
``OUTDIR/ENVNAME/manifest.json``. The model is
``Sequential([Dense(2, input_shape=(2,)), Dense(2)])``: two kernels of the
same shape and two biases of the same shape, so a slot tied to the wrong
variable is noticed. It is trained 3 steps (12 samples, batch 4, no shuffle).

The manifest records per model, from the *live* optimizer of the saver (not
from the file): ``iterations``, and per trainable variable (in
``model.trainable_variables`` order) its name, shape, value and every slot
under the canonical names of ``kerasopt_compat._state.slots.SLOTS`` (legacy
optimizers: ``get_slot``; Keras 2 optimizers: the class's slot lists indexed
through ``_index_dict``, as its ``update_step`` does), plus Nadam's momentum
product (``extra.momentum_cache``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasopt_compat._keras.flavour import flavour  # noqa: E402
from kerasopt_compat._state.slots import SLOTS  # noqa: E402

#: variant -> (class, constructor arguments)
VARIANTS = {
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    "sgd_momentum": ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    "nadam": ("Nadam", {"learning_rate": 0.01}),
    "ftrl": ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01}),
}

#: Keras 2 (new optimizer) slot name -> the list attribute holding one slot per variable (update_step reads them so)
KERAS2_LISTS = {
    "Adam": {"m": "_momentums", "v": "_velocities", "vhat": "_velocity_hats"},
    "SGD": {"m": "momentums"},
    "RMSprop": {"velocity": "_velocities", "momentum": "_momentums", "average_gradient": "_average_gradients"},
    "Nadam": {"m": "_momentums", "v": "_velocities"},
    "Ftrl": {"accumulator": "_accumulators", "linear": "_linears"},
}


def namespaces():
    fl = flavour()
    if fl.default_family == "legacy":
        return [("optimizers", tf.keras.optimizers, "legacy")]
    return [("optimizers", tf.keras.optimizers, "keras2"), ("legacy", tf.keras.optimizers.legacy, "legacy")]


def build_model():
    tf.keras.utils.set_random_seed(7)
    return tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(2,)), tf.keras.layers.Dense(2)])


def slots_of(opt, generation, cls, config, var):
    out = {}
    for slot in SLOTS[cls]:
        if slot.when and not config.get(slot.when) and generation not in slot.always_in:
            continue
        if generation == "legacy":
            value = opt.get_slot(var, slot.legacy)
        else:
            holder = getattr(opt, KERAS2_LISTS[cls][slot.keras2])
            value = holder[opt._index_dict[opt._var_key(var)]]
        out[slot.canonical] = np.asarray(value.numpy()).tolist()
    return out


def export(out_dir, env):
    rng = np.random.RandomState(3)
    x = rng.normal(size=(12, 2)).astype("float32")
    y = rng.normal(size=(12, 2)).astype("float32")
    entries = []
    for ns_name, ns, generation in namespaces():
        for variant, (cls, kwargs) in VARIANTS.items():
            name = "%s_%s" % (ns_name, variant)
            model = build_model()
            opt = getattr(ns, cls)(**kwargs)
            model.compile(optimizer=opt, loss="mse")
            model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
            path = os.path.join(out_dir, name)
            model.save(path, save_format="tf")
            config = opt.get_config()
            variables = []
            for var in model.trainable_variables:
                variables.append(
                    {
                        "name": var.name,
                        "shape": list(var.shape),
                        "value": var.numpy().tolist(),
                        "slots": slots_of(opt, generation, cls, config, var),
                    }
                )
            extra = {}
            if cls == "Nadam":
                product = opt._m_cache if generation == "legacy" else opt._u_product
                extra["momentum_cache"] = float(product.numpy())
            entries.append(
                {
                    "dir": name,
                    "class_name": cls,
                    "namespace": "tf.keras." + ("optimizers" if ns_name == "optimizers" else "optimizers.legacy"),
                    "generation": generation,
                    "iterations": int(opt.iterations.numpy()),
                    "variables": variables,
                    "extra": extra,
                }
            )
            print(name, "iterations", entries[-1]["iterations"])
    return entries


def main(argv):
    out_root, env = argv[1], argv[2]
    out_dir = os.path.join(out_root, env)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    entries = export(out_dir, env)
    fl = flavour()
    manifest = {
        "env": env,
        "tensorflow": fl.tensorflow_version,
        "keras": fl.keras_version,
        "model": "Sequential([Dense(2, input_shape=(2,)), Dense(2)]), loss mse, 3 steps",
        "models": entries,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main(sys.argv)
