#!/usr/bin/env python
"""Export optimizer ``serialize()`` dicts from the *installed* TF/Keras.

Usage::

    python tools/export_native.py OUT.json ENVNAME

Flavour detection: if ``tensorflow`` imports, ``tf.keras`` is used (TF 2.4
in-tree keras, Keras 2.x, Keras 3 behind TF 2.16+, or tf_keras when
TF_USE_LEGACY_KERAS=1).  Otherwise stand-alone ``keras`` (Keras 3, any
backend) is used.  Only the installed TF/Keras and numpy are needed.
Python 3.8 compatible.
"""

from __future__ import print_function

import inspect
import json
import math
import os
import platform
import re
import sys
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

SKIP_NAMES = {"Optimizer", "BaseOptimizer", "TFOptimizer", "MultiOptimizer", "OptimizerMap"}

NONDEFAULT = {
    "Adadelta": {"rho": 0.9, "epsilon": 1e-6},
    "Adagrad": {"initial_accumulator_value": 0.2, "epsilon": 1e-6},
    "Adam": {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "amsgrad": True},
    "Adamax": {"beta_1": 0.8, "epsilon": 1e-6},
    "Ftrl": {"learning_rate_power": -0.6, "l1_regularization_strength": 0.01},
    "Nadam": {"beta_1": 0.8, "beta_2": 0.99},
    "RMSprop": {"rho": 0.8, "momentum": 0.5, "centered": True},
    "SGD": {"momentum": 0.9, "nesterov": True},
    "AdamW": {"weight_decay": 0.01, "beta_1": 0.8},
    "Lion": {"beta_1": 0.8},
    "Lamb": {"beta_1": 0.8},
    "Adafactor": {"beta_2_decay": -0.7},
}

# (variant suffix, schedule class name, positional args, keyword args)
SCHEDULES = [
    ("ExponentialDecay", "ExponentialDecay", [0.1, 10, 0.9], {"staircase": True}),
    ("PiecewiseConstantDecay", "PiecewiseConstantDecay", [[10, 20], [0.1, 0.05, 0.01]], {}),
    ("PolynomialDecay", "PolynomialDecay", [0.1, 100], {"end_learning_rate": 0.001, "power": 2.0, "cycle": True}),
    ("InverseTimeDecay", "InverseTimeDecay", [0.1, 1, 0.5], {}),
    ("CosineDecay", "CosineDecay", [0.1, 100], {"alpha": 0.1}),
    ("CosineDecay_warmup", "CosineDecay", [0.1, 100], {"warmup_target": 0.2, "warmup_steps": 10}),
    ("CosineDecayRestarts", "CosineDecayRestarts", [0.1, 50], {"t_mul": 2.0, "m_mul": 0.9, "alpha": 0.01}),
]


# --------------------------------------------------------------------------
# flavour detection
# --------------------------------------------------------------------------
def dist_version(*names):
    try:
        from importlib import metadata as md  # py3.8+
    except ImportError:  # pragma: no cover
        return None
    for name in names:
        try:
            return md.version(name)
        except Exception:
            pass
    return None


tf = None
try:
    import tensorflow as tf  # noqa: F811
except ImportError:
    tf = None

if tf is not None:
    if not tf.executing_eagerly():
        tf.compat.v1.enable_eager_execution()
    K = tf.keras
else:
    import keras as K

KERAS_VERSION = dist_version("keras", "keras-nightly")
if KERAS_VERSION is None and tf is None:
    KERAS_VERSION = getattr(K, "__version__", None)
TF_KERAS_VERSION = dist_version("tf-keras", "tf_keras", "tf-keras-nightly")


def is_keras3():
    v = getattr(K, "__version__", None) or ""
    if v.split(".")[0] == "3":
        return True
    # tf.keras under TF 2.16+ (keras._tf_keras.keras) has no __version__
    # everywhere; Keras 3 is recognisable by `keras.Variable`/`ops`.
    return hasattr(K, "Variable") and hasattr(K, "ops")


KERAS3 = is_keras3()


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def to_jsonable(x, warn):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            out[str(k)] = to_jsonable(v, warn)
        return out
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v, warn) for v in x]
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            warn.append("non-finite float %r replaced by string" % (x,))
            return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
        return x
    if isinstance(x, np.generic):
        return to_jsonable(x.item(), warn)
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist(), warn)
    # tensors / variables / other array likes
    try:
        arr = np.asarray(x)
        if arr.dtype != object:
            warn.append("converted %s via numpy" % type(x).__name__)
            return to_jsonable(arr.tolist(), warn)
    except Exception:
        pass
    warn.append("unserializable %s stored as repr" % type(x).__name__)
    return "<unserializable %s: %s>" % (type(x).__name__, repr(x)[:200])


def err_str(e):
    msg = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    return "%s: %s" % (type(e).__name__, msg[:300])


def get_ns(path):
    """path like 'optimizers.legacy' relative to K; None when missing."""
    obj = K
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except Exception:
            return None
    return obj


def serialize(opt, **kw):
    return K.optimizers.serialize(opt, **kw)


def serialize_has_legacy_format():
    try:
        return "use_legacy_format" in inspect.signature(K.optimizers.serialize).parameters
    except (TypeError, ValueError):
        return False


def sig_params(fn):
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}


def make_var_and_grad(kind):
    vals = np.array([1.0, 2.0], dtype="float32")
    grads = np.array([0.1, 0.2], dtype="float32")
    if kind == "tf.Variable":
        return tf.Variable(vals, dtype=tf.float32), tf.constant(grads)
    var = K.Variable(vals, dtype="float32")
    return var, K.ops.convert_to_tensor(grads)


def _stateless_step(opt, grad, var):
    opt.build([var])
    tv, ov = opt.stateless_apply([v.value for v in opt.variables], [grad], [var.value])
    for v, val in zip(opt.variables, ov):
        v.assign(val)
    var.assign(tv[0])


def do_step(build):
    """Build a fresh optimizer and apply one gradient step.

    Returns (optimizer, description).  Attempts, in order: apply_gradients
    on a tf.Variable (TF flavours), apply_gradients on a keras.Variable
    (Keras 3), opt.apply(grads, vars) and opt.stateless_apply (Keras 3, for
    JAX).  Each attempt uses a freshly built optimizer.
    """
    attempts = []
    if tf is not None:
        attempts.append(("apply_gradients", "tf.Variable"))
    if KERAS3:
        attempts.append(("apply_gradients", "keras.Variable"))
        attempts.append(("apply", "keras.Variable"))
        attempts.append(("stateless_apply", "keras.Variable"))
    errors = []
    first_exc = None
    for method, kind in attempts:
        opt = build()
        var, grad = make_var_and_grad(kind)
        try:
            if method == "apply_gradients":
                opt.apply_gradients([(grad, var)])
            elif method == "apply":
                opt.apply([grad], [var])
            else:
                _stateless_step(opt, grad, var)
        except Exception as e:
            errors.append("%s(%s) -> %s" % (method, kind, err_str(e)[:200]))
            if first_exc is None:
                first_exc = e
            continue
        val = var.numpy() if hasattr(var, "numpy") else var
        desc = {"method": method, "variable": kind, "value_after": to_jsonable(np.asarray(val), [])}
        if errors:
            desc["failed_attempts"] = errors
        return opt, desc
    if len(errors) == 1:
        raise first_exc
    raise RuntimeError("all step attempts failed: " + " | ".join(errors))


def describe_schedule(cls_name, args, kwargs):
    return {"schedule": cls_name, "args": list(args), "kwargs": dict(kwargs)}


def build_schedule(cls_name, args, kwargs):
    cls = getattr(K.optimizers.schedules, cls_name)
    return cls(*args, **kwargs)


EXPORTS = []
NOTES = []


def record(ns_label, cls_name, variant, kwargs_desc, build, step=False, ser_kwargs=None):
    entry = {
        "id": "%s.%s/%s" % (ns_label, cls_name, variant),
        "namespace": ns_label,
        "class": cls_name,
        "variant": variant,
        "kwargs": kwargs_desc,
    }
    try:
        if step:
            opt, entry["step"] = do_step(build)
        else:
            opt = build()
        ser = serialize(opt, **(ser_kwargs or {}))
        warn = []
        entry["serialized"] = to_jsonable(ser, warn)
        if warn:
            entry["warnings"] = sorted(set(warn))
    except Exception as e:
        entry["error"] = err_str(e)
        if os.environ.get("EXPORT_DEBUG"):
            traceback.print_exc()
    EXPORTS.append(entry)
    sys.stderr.write("%-70s %s\n" % (entry["id"], "ERR " + entry["error"][:100] if "error" in entry else "ok"))
    return entry


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------
def optimizer_bases():
    bases = []
    for path in ("optimizers", "optimizers.legacy", "optimizers.experimental"):
        ns = get_ns(path)
        b = getattr(ns, "Optimizer", None) if ns is not None else None
        if inspect.isclass(b) and b not in bases:
            bases.append(b)
    return tuple(bases)


def list_classes(ns, bases):
    out = []
    for name in sorted(dir(ns)):
        if not name[:1].isupper() or name in SKIP_NAMES:
            continue
        if name.startswith("LossScaleOptimizer"):
            continue
        obj = getattr(ns, name, None)
        if not inspect.isclass(obj):
            continue
        if bases and not issubclass(obj, bases):
            out.append((name, obj, False))
            continue
        out.append((name, obj, True))
    return out


def export_namespace(ns_label, ns, bases, legacy_fmt):
    for name, cls, is_opt in list_classes(ns, bases):
        if not is_opt:
            try:
                cls()
                msg = "constructs but is not an optimizer subclass"
            except Exception as e:
                msg = err_str(e)
            NOTES.append("skipped %s.%s: %s" % (ns_label, name, msg))
            continue
        nondef = {"learning_rate": 0.1}
        nondef.update(NONDEFAULT.get(name, {}))

        def mk(kw, cls=cls):
            return lambda: cls(**kw)

        d = record(ns_label, name, "defaults", {}, mk({}))
        record(ns_label, name, "nondefault", nondef, mk(nondef))
        sched_desc = describe_schedule(
            "ExponentialDecay", [], {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9}
        )
        record(
            ns_label,
            name,
            "schedule",
            {"learning_rate": sched_desc},
            lambda cls=cls: cls(
                learning_rate=K.optimizers.schedules.ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9)
            ),
        )
        record(ns_label, name, "clipnorm", {"clipnorm": 1.0}, mk({"clipnorm": 1.0}))
        record(ns_label, name, "after_step", {}, mk({}), step=True)
        cfg = (d.get("serialized") or {}).get("config") or {}
        if "decay" in cfg:
            # legacy learning-rate decay (Nadam: its momentum-schedule decay, which
            # legacy Nadam only takes as ``schedule_decay``)
            dk = {"learning_rate": 0.1, ("schedule_decay" if name == "Nadam" else "decay"): 0.01}
            record(ns_label, name, "legacy_decay", dk, mk(dk))
        if "weight_decay" in cfg:
            wd = 0.02 if name in ("AdamW", "Muon") else 0.01
            ex = {"weight_decay": wd, "use_ema": True, "ema_momentum": 0.9, "clipvalue": 0.5, "global_clipnorm": None}
            record(ns_label, name, "extras", ex, mk(ex))
        if ns_label == "optimizers" and legacy_fmt and name in ("SGD", "Adam"):
            record(ns_label, name, "defaults_use_legacy_format", {}, mk({}), ser_kwargs={"use_legacy_format": True})
        if ns_label == "optimizers" and name == "SGD":
            sched_ns = K.optimizers.schedules
            known = set(s[1] for s in SCHEDULES)
            for sname in dir(sched_ns):
                o = getattr(sched_ns, sname, None)
                if inspect.isclass(o) and sname not in known and sname != "LearningRateSchedule":
                    NOTES.append("schedule class not exported: %s" % sname)
            for variant, sname, args, kw in SCHEDULES:
                scls = getattr(sched_ns, sname, None)
                if scls is None:
                    NOTES.append("schedule %s not available" % sname)
                    continue
                if variant == "CosineDecay_warmup" and "warmup_target" not in sig_params(scls.__init__):
                    NOTES.append("CosineDecay has no warmup_target parameter")
                    continue
                record(
                    ns_label,
                    name,
                    "schedule_" + variant,
                    {"learning_rate": describe_schedule(sname, args, kw)},
                    lambda cls=cls, sname=sname, args=args, kw=kw: cls(learning_rate=build_schedule(sname, args, kw)),
                )


def export_loss_scale(namespaces):
    if KERAS3:
        lso_cls = getattr(K.optimizers, "LossScaleOptimizer", None)
        lso_path = "optimizers.LossScaleOptimizer"
    else:
        lso_cls = getattr(getattr(K, "mixed_precision", None), "LossScaleOptimizer", None)
        lso_path = "mixed_precision.LossScaleOptimizer"
    if lso_cls is None:
        NOTES.append("no LossScaleOptimizer found")
        return
    params = sig_params(lso_cls.__init__)
    for ns_label in ("optimizers", "optimizers.legacy"):
        ns = namespaces.get(ns_label)
        if ns is None or getattr(ns, "SGD", None) is None:
            continue
        sgd = ns.SGD
        label = "mixed_precision.LossScaleOptimizer(%s.SGD)" % ns_label
        inner = {"namespace": ns_label, "class": "SGD", "kwargs": {}}
        variants = [
            ("defaults", {}, False),
            ("after_step", {}, True),
            ("scale_1024_growth_100", {"initial_scale": 1024.0, "dynamic_growth_steps": 100}, False),
        ]
        if "dynamic" in params:
            variants.append(("static_128", {"dynamic": False, "initial_scale": 128.0}, False))
        for variant, kw, step in variants:
            desc = {"inner_optimizer": inner, "wrapper": lso_path}
            desc.update(kw)
            record(label, "LossScaleOptimizer", variant, desc, lambda sgd=sgd, kw=kw: lso_cls(sgd(), **kw), step=step)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: export_native.py OUT.json ENVNAME\n")
        return 2
    out_path, env_name = argv[1], argv[2]
    bases = optimizer_bases()
    legacy_fmt = serialize_has_legacy_format()
    namespaces = {}
    for path in ("optimizers", "optimizers.legacy", "optimizers.experimental"):
        ns = get_ns(path)
        if ns is None:
            NOTES.append("namespace %s not present" % path)
            continue
        namespaces[path] = ns
    for path in ("optimizers", "optimizers.legacy", "optimizers.experimental"):
        if path == "optimizers.legacy" and path in namespaces:
            probe = getattr(namespaces[path], "SGD", None)
            try:
                if probe is not None:
                    probe()
            except ImportError as e:
                NOTES.append("namespace %s skipped: %s" % (path, err_str(e)))
                del namespaces[path]
        if path in namespaces:
            export_namespace(path, namespaces[path], bases, legacy_fmt)
    export_loss_scale(namespaces)
    result = {
        "env": env_name,
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__ if tf is not None else None,
            "keras": KERAS_VERSION,
            "tf_keras": TF_KERAS_VERSION,
        },
        "keras_module": getattr(K, "__name__", str(K)),
        "exports": EXPORTS,
        "notes": sorted(set(NOTES), key=NOTES.index),
    }
    d = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(d):
        os.makedirs(d)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1, allow_nan=False)
        f.write("\n")
    n_err = sum(1 for e in EXPORTS if "error" in e)
    sys.stderr.write("wrote %s: %d exports, %d errors\n" % (out_path, len(EXPORTS), n_err))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
