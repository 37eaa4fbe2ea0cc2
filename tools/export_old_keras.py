#!/usr/bin/env python
"""Old ``.h5`` files: stand-alone Keras 2.0-2.3 and TF 1.15's ``tf.keras``, trained 3 steps.

Runs under CPython 3.7 in a venv of its own (not a tox env: these wheels are
too old for the project's Pythons), e.g.::

    ~/.pyenv/versions/3.7.16/bin/python -m venv /work/venv-k23
    /work/venv-k23/bin/pip install "tensorflow==1.15.*" "keras==2.3.*" "h5py<3" "numpy<1.19" "protobuf<3.21"
    /work/venv-k23/bin/python tools/export_old_keras.py tests/data/old_keras keras2.3
    /work/venv-k23/bin/python tools/export_old_keras.py tests/data/old_keras tfkeras1.15 --tf-keras

(``keras==2.2.*``, ``2.1.*``, ``2.0.*`` the same way, with TF 1.15 as backend.)
Imports no kerasopt_compat: what it records comes from the live objects only.

Writes ``OUTDIR/RELEASE/<case>.h5`` and ``OUTDIR/RELEASE/manifest.json``.
Every case is ``Sequential([Dense(2, input_shape=(2,), activation="tanh"),
Dense(2)])`` (the first layer stores ``batch_input_shape``; both kernels
(2, 2), both biases (2,), so a slot tied to the wrong variable has the right
shape and only the next step shows it), weights set from fixed arrays,
compiled with one optimizer and ``loss="mse"``, trained with
``train_on_batch`` on three fixed batches and saved with ``model.save``; then
one more step on a fourth batch. The manifest records per case:

* ``class``, ``options`` (constructor arguments), ``config`` (the optimizer's
  own ``get_config()``), ``file``;
* ``weight_names``: the optimizer's weights as the file names them;
* ``iterations``: the optimizer's own count after 3 steps (``None`` where the
  release does not keep one in its weights: stand-alone 2.2's RMSprop,
  Adagrad, Adadelta);
* ``variables``: per trainable variable of the model (``model.trainable_weights``
  order): ``name`` (``dense_1/kernel``), ``shape``, and ``slots``: canonical
  slot name -> values after 3 steps. Stand-alone Keras: tied through the
  optimizer's own ``get_updates``, which builds each slot list with one entry
  per ``params`` (the model's ``_collected_trainable_weights``) in that order
  and sets ``weights`` to the head followed by those lists
  (:data:`STANDALONE_LISTS`, read from ``keras/optimizers.py`` of each release);
  the exporter checks the lists' lengths and shapes against the live
  ``weights``. ``tf.keras``: ``optimizer.get_slot(variable, name)``;
* ``extra``: ``momentum_cache`` (Nadam's stored ``m_schedule``, where stored);
* ``predictions``: the saved model's ``predict`` on the fourth batch's ``x``;
* ``next_batch`` (``x``, ``y``) and ``next_weights`` (same order and names): stand-alone
  Keras: the optimizer's own update tensors evaluated in one run that assigns nothing
  (:func:`clean_next_weights`: ``train_on_batch`` on TF 1.15 races reads against the
  step's own assignments); ``trained_minus_rule``: how far ``train_on_batch``'s step
  landed from that (max abs). ``tf.keras``: ``train_on_batch``'s step.

The case ``adam_numbered`` compiles a second model with a second ``Adam``
in the same graph first, so its optimizer's name scope is ``Adam_1``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

#: Stand-alone Keras: the lists ``get_updates`` puts in ``weights`` after the head, per class
#: (canonical slot name per list; ``None`` = the amsgrad-off ``vhat`` placeholders of shape
#: (1,)), and the head. Read from keras/optimizers.py of 2.0.9, 2.1.6, 2.2.5, 2.3.1.
STANDALONE_LISTS = {
    "SGD": ("momentum",),
    "RMSprop": ("rms",),
    "Adagrad": ("accumulator",),
    "Adadelta": ("accum_grad", "accum_var"),
    "Adam": ("m", "v", "vhat"),
    "Adamax": ("m", "v"),
    "Nadam": ("m", "v"),
}

#: tf.keras (OptimizerV2) slot names -> canonical.
TF_SLOTS = {
    "SGD": {"momentum": "momentum"},
    "RMSprop": {"rms": "rms", "momentum": "momentum", "mg": "mg"},
    "Adagrad": {"accumulator": "accumulator"},
    "Adadelta": {"accum_grad": "accum_grad", "accum_var": "accum_var"},
    "Adam": {"m": "m", "v": "v", "vhat": "vhat"},
    "Adamax": {"m": "m", "v": "v"},
    "Nadam": {"m": "m", "v": "v"},
}

#: case -> (class, options); amsgrad only where the release's Adam takes it.
CASES = [
    ("sgd_nesterov", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("rmsprop", "RMSprop", {"lr": 0.01}),
    ("adagrad", "Adagrad", {"lr": 0.05}),
    ("adadelta", "Adadelta", {"lr": 1.0}),
    ("adam", "Adam", {"lr": 0.01}),
    ("adam_amsgrad", "Adam", {"lr": 0.01, "amsgrad": True}),
    ("adamax", "Adamax", {"lr": 0.01}),
    ("nadam", "Nadam", {"lr": 0.01}),
    ("adam_numbered", "Adam", {"lr": 0.01}),
]

KERNEL0 = np.array([[0.5, -0.3], [0.2, 0.8]], dtype="float32")
BIAS0 = np.array([0.1, -0.1], dtype="float32")
KERNEL1 = np.array([[-0.4, 0.6], [0.7, 0.25]], dtype="float32")
BIAS1 = np.array([0.05, 0.0], dtype="float32")


def batch(step):
    """The fixed batch of step ``step`` (0-based): 4 samples of 2 features, 2 targets."""
    x = (np.arange(8, dtype="float32").reshape(4, 2) + 1.0 + step) / (7.0 + 2 * step)
    y = np.stack([np.sin(3 * x[:, 0] + step), np.cos(2 * x[:, 1]) - 0.5 * x[:, 0]], axis=1).astype("float32")
    return x, y


def build(K, tf_keras):
    layers = K.layers
    model = K.models.Sequential([layers.Dense(2, input_shape=(2,), activation="tanh"), layers.Dense(2)])
    model.set_weights([KERNEL0, BIAS0, KERNEL1, BIAS1])
    return model


def value_list(backend, variables):
    return [np.asarray(v) for v in backend.batch_get_value(list(variables))]


def var_name(variable):
    name = variable.name
    return name[:-2] if name.endswith(":0") else name


def standalone_state(K, optimizer, model, cls):
    """Slots per trainable variable, tied through get_updates' lists (see the module docstring)."""
    # Keras 2.0/2.1's Sequential compiles an inner Model (``model.model``)
    inner = model if hasattr(model, "_collected_trainable_weights") else model.model
    params = list(inner._collected_trainable_weights)
    weights = list(optimizer.weights)
    values = value_list(K.backend, weights)
    head = 0
    iterations = None
    extra = {}
    if weights and var_name(weights[0]).rpartition("/")[2] == "iterations":
        iterations = int(values[0])
        head = 1
    if cls == "Nadam" and len(weights) > head and var_name(weights[head]).rpartition("/")[2] == "m_schedule":
        extra["momentum_cache"] = float(values[head])
        head += 1
    lists = STANDALONE_LISTS[cls]
    if cls == "Adam" and len(weights) - head == 2 * len(params):
        lists = ("m", "v")  # an Adam without amsgrad (Keras 2.0-2.1.2)
    n = len(params)
    if len(weights) - head != len(lists) * n:
        raise SystemExit("%s: %d weights, head %d, expected %d lists of %d" % (cls, len(weights), head, len(lists), n))
    variables = []
    for j, p in enumerate(params):
        slots = {}
        for k, slot in enumerate(lists):
            value = values[head + k * n + j]
            if slot == "vhat" and not getattr(optimizer, "amsgrad", False):
                if value.shape != (1,):
                    raise SystemExit("%s: vhat placeholder of shape %s" % (cls, value.shape))
                continue
            if value.shape != tuple(K.backend.int_shape(p)):
                raise SystemExit(
                    "%s: list %s entry %d has shape %s, params[%d] %s" % (cls, slot, j, value.shape, j, K.backend.int_shape(p))
                )
            slots[slot] = value.tolist()
        variables.append({"name": var_name(p), "shape": list(K.backend.int_shape(p)), "slots": slots})
    return iterations, variables, extra


def clean_next_weights(K, model, optimizer, params, x, y):
    """The trainable weights after one step on ``(x, y)`` by the optimizer's own update tensors,
    all evaluated in one ``session.run`` that assigns nothing, so every read sees the state
    before the step (the stored state). ``train_on_batch`` runs the same assignments in one
    group without control dependencies: on TF 1.15 some reads see values already assigned
    in the same step (Adam's ``t`` read after ``iterations += 1``; a layer's gradient with
    the next layer's kernel already updated), so the trained step is not the rule's."""
    inner = model if hasattr(model, "_collected_trainable_weights") else model.model
    xs, ys, sample_weights = inner._standardize_user_data(x, y)
    function = inner.train_function
    ins = list(xs) + list(ys) + list(sample_weights)
    if len(function.inputs) == len(ins) + 1:
        ins.append(1)  # the learning phase
    feed = dict(zip(function.inputs, ins))
    new_values = {}
    for update in optimizer.updates:
        if isinstance(update, tuple):
            continue  # Nadam's m_schedule: not a model weight
        op = update if hasattr(update, "type") else getattr(update, "_parent_op", None) or update.op
        if op.type in ("Assign", "AssignVariableOp"):
            new_values[op.inputs[0].op.name] = op.inputs[1]
    tensors = [new_values[p.op.name] for p in params]
    session = K.backend.get_session()
    return [np.asarray(v) for v in session.run(tensors, feed_dict=feed)]


def tf_keras_state(K, optimizer, model, cls):
    values = {}
    variables = []
    for p in model.trainable_weights:
        slots = {}
        for slot in optimizer.get_slot_names():
            canonical = TF_SLOTS[cls][slot]
            slots[canonical] = np.asarray(K.backend.get_value(optimizer.get_slot(p, slot))).tolist()
        variables.append({"name": var_name(p), "shape": [int(d) for d in p.shape], "slots": slots})
    extra = {}
    if cls == "Nadam":
        extra["momentum_cache"] = float(K.backend.get_value(optimizer._m_cache))
    del values
    return int(K.backend.get_value(optimizer.iterations)), variables, extra


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("release", help="folder name, e.g. keras2.3")
    parser.add_argument("--tf-keras", action="store_true", help="TF 1.15's tf.keras instead of stand-alone keras")
    args = parser.parse_args()
    if args.tf_keras:
        K = tf.keras
        version = tf.keras.__version__
    else:
        import keras as K

        version = K.__version__
    out = os.path.join(args.outdir, args.release)
    os.makedirs(out, exist_ok=True)
    cases = []
    for case, cls, options in CASES:
        klass = getattr(K.optimizers, cls)
        params = inspect.signature(klass.__init__).parameters
        has_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if "amsgrad" in options and "amsgrad" not in params:
            continue
        opts = dict(options)
        if args.tf_keras and "lr" in opts:
            opts["learning_rate"] = opts.pop("lr")
        if not args.tf_keras and "lr" not in params and not has_kwargs:
            raise SystemExit("%s takes no lr" % cls)
        K.backend.clear_session()
        if case == "adam_numbered":
            first = build(K, args.tf_keras)
            first.compile(optimizer=klass(**opts), loss="mse")
            first.train_on_batch(*batch(0))
        model = build(K, args.tf_keras)
        optimizer = klass(**opts)
        model.compile(optimizer=optimizer, loss="mse")
        for step in range(3):
            model.train_on_batch(*batch(step))
        path = os.path.join(out, case + ".h5")
        if os.path.exists(path):
            os.remove(path)
        model.save(path)
        if args.tf_keras:
            iterations, variables, extra = tf_keras_state(K, optimizer, model, cls)
        else:
            iterations, variables, extra = standalone_state(K, optimizer, model, cls)
        weight_names = [w.name for w in optimizer.weights]
        x, y = batch(3)
        predictions = np.asarray(model.predict(x)).tolist()
        clean = None if args.tf_keras else clean_next_weights(K, model, optimizer, model.trainable_weights, x, y)
        model.train_on_batch(x, y)
        trained = value_list(K.backend, model.trainable_weights)
        next_weights = [
            {"name": var_name(p), "value": np.asarray(v).tolist()}
            for p, v in zip(model.trainable_weights, clean if clean is not None else trained)
        ]
        racy = max(float(np.max(np.abs(a - b))) for a, b in zip(clean, trained)) if clean is not None else 0.0
        cases.append(
            {
                "case": case,
                "class": cls,
                "options": opts,
                "config": {k: (v if not isinstance(v, np.generic) else v.item()) for k, v in optimizer.get_config().items()},
                "file": case + ".h5",
                "weight_names": weight_names,
                "iterations": iterations,
                "variables": variables,
                "extra": extra,
                "next_batch": {"x": x.tolist(), "y": y.tolist()},
                "predictions": predictions,
                "next_weights": next_weights,
                "trained_minus_rule": racy,
            }
        )
        print("%s: %s, %d optimizer weights, first %r" % (args.release, case, len(weight_names), weight_names[0]))
    manifest = {
        "saved_by": {
            "release": args.release,
            "keras": version,
            "tf_keras": bool(args.tf_keras),
            "tensorflow": tf.__version__,
            "python": platform.python_version(),
        },
        "cases": cases,
    }
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=False)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
