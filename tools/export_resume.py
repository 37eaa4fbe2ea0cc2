#!/usr/bin/env python
"""The resume corpus: tiny models saved after 3 training steps, with the saver's next step.

Usage (inside a tox env, so the real wheel writes the files; kerasopt_compat is
imported from this checkout)::

    tox exec -e tf29 -- python tools/export_resume.py tests/data/resume tf29

Writes ``OUTDIR/ENVNAME/<case>.<format>`` for every format the installed
Keras writes (``.h5`` always; ``.keras`` on Keras 2.13+ and Keras 3; a
SavedModel directory ``<case>.savedmodel/`` on Keras 2 / tf_keras, written
with ``save_traces=False`` to stay small) and ``OUTDIR/ENVNAME/manifest.json``.

Every case is one model compiled with one optimizer (``loss="mse"``) and
trained with ``train_on_batch`` on three fixed batches; then every format is
saved from that same model, the optimizer state is recorded, and one more
``train_on_batch`` on a fixed fourth batch gives the saver's *next-step*
weights. The manifest records per case:

* ``family`` (the saver's optimizer generation), ``class``, ``options``, the
  canonical dict (``kerasopt_compat.serialize``), ``model``;
* ``files``: ``{"file", "format"}`` per saved file;
* ``iterations`` (the optimizer's own count after 3 steps, accumulation
  adjusted in Keras 3) and ``raw_iterations`` (the stored counter);
* ``variables``: per trainable variable, in ``model.trainable_variables``
  order: ``index``, ``name`` (as the optimizer's slot names spell it:
  ``dense/kernel`` for legacy and Keras 2, the underscore path
  ``sequential_dense_kernel`` for Keras 3), ``shape`` and ``slots``
  (canonical slot name -> values after 3 steps, tied by the live optimizer's
  own variable objects, never by position);
* ``extra``: class-wide values (Nadam's ``momentum_cache`` on legacy);
* ``next_batch`` (``x``, ``y``) and ``next_weights``: every trainable
  variable (same order and names) after the fourth step.

The optimizer variables are matched to model variables by the names each
generation gives them (:data:`kerasopt_compat._state.slots.SLOTS`); an optimizer
variable left unmatched is listed in the case's ``unmatched`` and the
manifest's ``notes`` (tests/test_read_state.py requires both empty), so a
wrong table row fails against the real wheel.

Models: ``twin`` = ``Dense(2) -> Dense(2)`` on 2 inputs (both kernels (2, 2),
both biases (2,)); ``bn`` = ``Dense(4) -> BatchNormalization -> Dense(4,
trainable=False) -> Dense(1)`` on 3 inputs; ``named`` = ``twin`` with layer
names that are not Keras' defaults (``hidden``, and ``dense`` for the second,
after a layer built before took the first default name); ``wrapped`` = a
Functional model on (3, 2) sequences: ``Bidirectional(LSTM(2,
return_sequences=True)) -> TimeDistributed(Dense(2)) -> LSTM(2) ->
Sequential([Dense(2)]) -> Dense(2)``.

``--models KIND,...`` writes only the cases of those model kinds and merges
them into the existing manifest (the other cases and their files are kept).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# TF/Keras imported (quietly, tf.keras or stand-alone Keras) as the other export scripts do
from export_models import K  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402
from kerasopt_compat._state.slots import EXTRA_SLOTS, SLOTS  # noqa: E402

FL = flavour()
KERAS3 = FL.kind == "keras3"
KV = tuple(int(p) for p in (FL.keras_version or "0.0").split(".")[:2])

#: case name -> (class, options, families it exists in, model kinds)
ALL = ("legacy", "keras2", "keras3")
NEW = ("keras2", "keras3")
CASES = [
    ("sgd", "SGD", {"learning_rate": 0.05}, ALL, ("twin",)),
    ("sgd_nesterov", "SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, ALL, ("twin", "bn", "named", "wrapped")),
    ("adam", "Adam", {"learning_rate": 0.01}, ALL, ("twin", "bn", "named", "wrapped")),
    ("adam_amsgrad", "Adam", {"learning_rate": 0.01, "amsgrad": True}, ALL, ("twin",)),
    ("rmsprop", "RMSprop", {"learning_rate": 0.01}, ALL, ("twin",)),
    ("rmsprop_centered", "RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}, ALL, ("twin",)),
    ("adagrad", "Adagrad", {"learning_rate": 0.05}, ALL, ("twin",)),
    ("adadelta", "Adadelta", {"learning_rate": 1.0}, ALL, ("twin",)),
    ("adamax", "Adamax", {"learning_rate": 0.01}, ALL, ("twin",)),
    ("ftrl", "Ftrl", {"learning_rate": 0.05}, ALL, ("twin", "bn")),
    ("nadam", "Nadam", {"learning_rate": 0.01}, ALL, ("twin",)),
    ("adamw", "AdamW", {"learning_rate": 0.01, "weight_decay": 0.004}, NEW, ("twin",)),
    ("decay", "Adam", {"learning_rate": 0.01, "decay": 0.01}, ("legacy",), ("twin",)),
    ("schedule", "Adam", {"learning_rate": "ExponentialDecay(0.01, 10, 0.9)"}, ALL, ("twin",)),
    ("ema", "Adam", {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.9}, NEW, ("twin",)),
    ("lso", "LossScaleOptimizer", {"inner": "Adam(learning_rate=0.01)"}, ALL, ("twin",)),
    ("gradacc", "Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2}, ("keras3",), ("twin",)),
]


def families():
    """(family, namespace) pairs the installed Keras has."""
    if KERAS3:
        return [("keras3", K.optimizers)]
    if FL.default_family == "legacy":
        return [("legacy", K.optimizers)]
    return [("keras2", K.optimizers), ("legacy", K.optimizers.legacy)]


def make_optimizer(ns, family, cls, options):
    if cls == "LossScaleOptimizer":
        inner = ns.Adam(learning_rate=0.01)
        if KERAS3:
            return K.optimizers.LossScaleOptimizer(inner)
        return K.mixed_precision.LossScaleOptimizer(inner)
    kwargs = dict(options)
    if kwargs.get("learning_rate") == "ExponentialDecay(0.01, 10, 0.9)":
        kwargs["learning_rate"] = K.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)
    return getattr(ns, cls)(**kwargs)


def make_model(kind):
    if kind == "twin":
        return K.Sequential([K.Input(shape=(2,)), K.layers.Dense(2), K.layers.Dense(2)])
    if kind == "named":  # layer names that are not Keras' defaults (``.keras`` stores weights by tracked path)
        K.layers.Dense(2)  # a layer built before, as in a notebook: the defaults are now dense_1, dense_2
        return K.Sequential([K.Input(shape=(2,)), K.layers.Dense(2, name="hidden"), K.layers.Dense(2, name="dense")])
    if kind == "wrapped":  # sub-layers: RNN cells, Bidirectional, TimeDistributed, a nested model
        inputs = K.Input(shape=(3, 2))
        x = K.layers.Bidirectional(K.layers.LSTM(2, return_sequences=True))(inputs)
        x = K.layers.TimeDistributed(K.layers.Dense(2))(x)
        x = K.layers.LSTM(2)(x)
        x = K.Sequential([K.Input(shape=(2,)), K.layers.Dense(2)], name="inner")(x)
        return K.Model(inputs, K.layers.Dense(2)(x))
    return K.Sequential(
        [
            K.Input(shape=(3,)),
            K.layers.Dense(4),
            K.layers.BatchNormalization(),
            K.layers.Dense(4, trainable=False),
            K.layers.Dense(1),
        ]
    )


def batches(kind):
    """Four fixed (x, y) batches of 4 samples."""
    n_in, n_out = (3, 1) if kind == "bn" else (2, 2)
    shape = (4, 3, n_in) if kind == "wrapped" else (4, n_in)
    out = []
    for step in range(4):
        x = (np.arange(int(np.prod(shape)), dtype="float32").reshape(shape) + step) / float(np.prod(shape)) - 0.3
        if x.ndim == 3:
            x = np.sin(x * 7.0).astype("float32")
            y = np.stack([np.cos(x.sum(axis=(1, 2)) * (k + 1)) for k in range(n_out)], axis=1).astype("float32")
            out.append((x, y))
            continue
        y = np.stack([np.sin(x.sum(axis=1) * (k + 1)) for k in range(n_out)], axis=1).astype("float32")
        out.append((x, y))
    return out


def formats():
    # .keras first: Keras 3.15 leaves the optimizer out of a .keras saved after an .h5 of the same model
    out = []
    if KERAS3 or KV >= (2, 13):
        out.append("keras")
    out.append("h5")
    if not KERAS3:
        out.append("savedmodel")
    return out


def save(model, path, fmt):
    if fmt in ("h5", "keras"):
        model.save(path)
        return
    kwargs = {"save_traces": False}
    if KV >= (2, 13):
        kwargs["save_format"] = "tf"
    model.save(path, **kwargs)
    # git keeps no empty directories; the loaders do not need an empty assets/.
    for sub in ("assets", "fingerprint.pb"):
        p = os.path.join(path, sub)
        if os.path.isdir(p) and not os.listdir(p):
            os.rmdir(p)


def _np(value):
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _inner(opt):
    for attr in ("inner_optimizer", "_optimizer"):
        inner = getattr(opt, attr, None)
        if inner is not None:
            return inner
    return opt


def _strip(name):
    return name[:-2] if name.endswith(":0") else name


def _canonical_of(cls, family):
    table = {}
    for slot in SLOTS.get(cls, ()):
        own = getattr(slot, family)
        if own is not None:
            table[own] = slot.canonical
    return table


def var_name(var):
    """The model variable's name as the optimizer's slot names spell it."""
    if KERAS3:
        return var.path.replace("/", "_")
    return _strip(var.name)


def slot_values(model, opt, family, cls):
    """{model var index: {canonical slot: array}}, extra values, unmatched optimizer variables."""
    inner = _inner(opt)
    own_to_canonical = _canonical_of(cls, family)
    per_var = {i: {} for i in range(len(model.trainable_variables))}
    extra = {}
    if family == "legacy":
        known = {id(inner.iterations)}
        for i, var in enumerate(model.trainable_variables):
            for own in inner.get_slot_names():
                slot = inner.get_slot(var, own)
                if own not in own_to_canonical:
                    raise SystemExit("legacy %s: slot %r is not in the SLOTS table" % (cls, own))
                per_var[i][own_to_canonical[own]] = _np(slot)
                known.add(id(slot))
        if getattr(inner, "_m_cache", None) is not None:  # Nadam's momentum product
            extra["momentum_cache"] = float(_np(inner._m_cache))
            known.add(id(inner._m_cache))
        unmatched = [w.name for w in inner.weights if id(w) not in known]
        return per_var, extra, unmatched
    variables = list(inner.variables() if callable(inner.variables) else inner.variables)
    generic = {getattr(s, family): s.canonical for s in EXTRA_SLOTS if getattr(s, family)}
    names = {}
    for w in variables:
        names.setdefault(_strip(w.name), []).append(w)
    known = {id(inner._iterations if hasattr(inner, "_iterations") else inner.iterations)}
    lr = getattr(inner, "_learning_rate", None)
    if lr is not None and hasattr(lr, "numpy"):
        known.add(id(lr))
    if lr is not None and hasattr(lr, "numpy") and family == "keras3":
        extra["learning_rate"] = float(_np(lr))
    u_product = getattr(inner, "_u_product", None)  # Nadam's momentum product (tracked, so stored, in Keras 3 only)
    if u_product is not None and family == "keras3":
        extra["momentum_cache"] = float(_np(u_product))
        known.add(id(u_product))
    for i, var in enumerate(model.trainable_variables):
        key = var_name(var)
        for own, canonical in list(own_to_canonical.items()) + list(generic.items()):
            if family == "keras2":  # "{optimizer scope}/{slot}/{variable}"
                wanted = "/%s/%s" % (own, key)
                found = [w for n, ws in names.items() if ("/" + n).endswith(wanted) for w in ws]
            else:  # Keras 3: the variable's own name is "{path with _}_{slot}"
                wanted = "%s_%s" % (key, own)
                found = names.get(wanted, [])
            if len(found) > 1:
                raise SystemExit("%s %s: %d optimizer variables named %r" % (family, cls, len(found), wanted))
            if found:
                per_var[i][canonical] = _np(found[0])
                known.add(id(found[0]))
    unmatched = [w.name for w in variables if id(w) not in known]
    return per_var, extra, unmatched


def iterations(opt):
    inner = _inner(opt)
    raw = inner._iterations if hasattr(inner, "_iterations") else inner.iterations
    return int(_np(inner.iterations)), int(_np(raw))


def run_case(out_dir, family, ns, case, kind):
    name, cls, options, _, _ = case
    K.backend.clear_session()
    K.utils.set_random_seed(1234)
    model = make_model(kind)
    opt = make_optimizer(ns, family, cls, options)
    model.compile(optimizer=opt, loss="mse")
    data = batches(kind)
    for x, y in data[:3]:
        model.train_on_batch(x, y)
    stem = "%s_%s_%s" % (family, name, kind)
    files = []
    notes = []
    todo = [("%s.%s" % (stem, fmt), fmt) for fmt in formats()]
    if KERAS3 and name == "adam" and kind == "twin":
        todo.append(("%s.after_h5.keras" % stem, "keras"))  # saved after the .h5: no optimizer config
    for fname, fmt in todo:
        try:
            save(model, os.path.join(out_dir, fname), fmt)
        except Exception as exc:  # noqa: BLE001 - record what the real wheel refuses
            notes.append("%s: save failed: %s: %s" % (fname, type(exc).__name__, str(exc).splitlines()[0][:200]))
            traceback.print_exc()
            continue
        files.append({"file": fname, "format": fmt})
    base_cls = "Adam" if cls == "LossScaleOptimizer" else cls
    per_var, extra, unmatched = slot_values(model, model.optimizer, family, base_cls)
    if unmatched:
        notes.append("%s: optimizer variables not tied to a model variable: %s" % (stem, unmatched))
    its, raw = iterations(model.optimizer)
    variables = []
    for i, var in enumerate(model.trainable_variables):
        variables.append(
            {
                "index": i,
                "name": var_name(var),
                "shape": list(var.shape),
                "slots": {k: v.tolist() for k, v in sorted(per_var[i].items())},
            }
        )
    x, y = data[3]
    model.train_on_batch(x, y)
    next_weights = [{"index": i, "name": var_name(v), "value": _np(v).tolist()} for i, v in enumerate(model.trainable_variables)]
    entry = {
        "case": stem,
        "family": family,
        "class": cls,
        "options": options,
        "model": kind,
        "optimizer": koc.serialize(model.optimizer),
        "files": files,
        "iterations": its,
        "raw_iterations": raw,
        "variables": variables,
        "extra": extra,
        "unmatched": unmatched,
        "next_batch": {"x": x.tolist(), "y": y.tolist()},
        "next_weights": next_weights,
    }
    return entry, notes


def main(argv):
    only = None
    if len(argv) == 5 and argv[3] == "--models":
        only, argv = set(argv[4].split(",")), argv[:3]
    if len(argv) != 3:
        sys.stderr.write("usage: export_resume.py OUTDIR ENVNAME [--models KIND,...]\n")
        return 2
    out_dir = os.path.join(argv[1], argv[2])
    kept, notes = [], []
    if only is not None:
        with open(os.path.join(out_dir, "manifest.json")) as fh:
            old = json.load(fh)
        kept = [c for c in old["cases"] if c["model"] not in only]
        notes = [n for n in old["notes"] if not any("_%s" % kind in n for kind in only)]
        for case in old["cases"]:
            for f in case["files"] if case["model"] in only else ():
                target = os.path.join(out_dir, f["file"])
                (shutil.rmtree if os.path.isdir(target) else os.remove)(target)
    else:
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(out_dir)
    saved_by = {
        "env": argv[2],
        "python": platform.python_version(),
        "flavour": FL.describe(),
        "kind": FL.kind,
        "keras_version": FL.keras_version,
        "default_family": FL.default_family,
    }
    cases = list(kept)
    for family, ns in families():
        for case in CASES:
            if family not in case[3]:
                continue
            for kind in case[4]:
                if only is not None and kind not in only:
                    continue
                try:
                    entry, case_notes = run_case(out_dir, family, ns, case, kind)
                except Exception as exc:  # noqa: BLE001
                    traceback.print_exc()
                    notes.append("%s_%s_%s: %s: %s" % (family, case[0], kind, type(exc).__name__, str(exc).splitlines()[0][:200]))
                    continue
                cases.append(entry)
                notes.extend(case_notes)
    manifest = {"saved_by": saved_by, "cases": cases, "notes": notes}
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=None, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    sys.stderr.write("wrote %d cases to %s; notes:\n%s\n" % (len(cases), out_dir, "\n".join(notes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
