"""Reference training trajectories: the same config, the same 10 steps, in each version.

Usage (inside a tox env, so the real wheels and kerasopt_compat are installed)::

    tox exec -e tf29 -- python tools/trajectories.py write tests/data/trajectories_tf29.json
    tox exec -e tf215 -- python tools/trajectories.py write tests/data/trajectories_tf215.json --exports tf215
    tox exec -e tf221 -- python tools/trajectories.py write tests/data/trajectories_tf221.json --exports tf221

Without ``--exports`` (TF 2.9 only, the documented version): every documented
class x variant of tests/data/documented_shapes.json, plus legacy ``decay=0.01``
and Nadam's non-default momentum decay, built with TF 2.9's own classes. Each
case records the canonical dict (``kerasopt_compat.serialize(opt)`` before
training) and the weights after each of 10 ``apply_gradients`` steps.

With ``--exports ENV``: the entries of tests/data/exports/ENV.json for the
documented classes (variants defaults / nondefault / schedule / clipnorm /
legacy_decay), built from the entry's constructor arguments with this env's own
classes (the env that wrote the export) and trained the same way; the test
replays ``deserialize(entry["serialized"])`` in TF 2.9 against them.

:func:`train` is also what tests/test_trajectories.py uses on every flavour.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
from typing import Any, Dict, List

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

CLASSES = ("Adadelta", "Adagrad", "Adam", "Adamax", "Ftrl", "Nadam", "RMSprop", "SGD")
VARIANTS = ("defaults", "nondefault", "schedule", "clipnorm", "legacy_decay")
STEPS = 10
#: A fixed start, away from 0 so a relative difference stays meaningful.
START = [1.5, -2.0, 3.0, -2.5]


def _f32(x: float) -> float:
    """The float32 nearest to ``x``, as a Python float (exact in JSON)."""
    import struct

    return struct.unpack("f", struct.pack("f", x))[0]


#: Per-weight gradient scale: from ~0.5 down to ~0.02, where an epsilon of 1e-7 inside or
#: outside a square root starts to matter (as it does for real, small gradients).
SCALES = [1.0, 0.3, 0.1, 0.03]
#: 10 deterministic gradients of mixed sign and size (exactly representable in float32).
GRADIENTS = [
    [_f32(round(SCALES[i] * (0.6 * math.sin(1.3 * t + 0.9 * i) + 0.15 * (i - 1.5)), 5)) for i in range(4)] for t in range(STEPS)
]


def flavour():
    import kerasopt_compat

    return kerasopt_compat.flavour()


def train(opt, start: List[float] = START, gradients: List[List[float]] = GRADIENTS) -> List[List[float]]:
    """Apply ``gradients`` one ``apply_gradients`` call at a time; the weights after each step."""
    import numpy as np

    fl = flavour()
    out = []
    if fl.kind == "keras3":
        import keras

        var = keras.Variable(np.array(start, dtype="float32"))
        for g in gradients:
            opt.apply_gradients([(keras.ops.convert_to_tensor(np.array(g, dtype="float32")), var)])
            out.append([float(x) for x in keras.ops.convert_to_numpy(var)])
    else:
        import tensorflow as tf

        var = tf.Variable(np.array(start, dtype="float32"))
        for g in gradients:
            opt.apply_gradients([(tf.constant(np.array(g, dtype="float32")), var)])
            out.append([float(x) for x in var.numpy()])
    return out


def max_rel_diff(actual: List[List[float]], expected: List[List[float]]) -> float:
    """Largest |actual - expected| / |expected| over all steps and weights (denominator at least 1e-3)."""
    worst = 0.0
    for row_a, row_e in zip(actual, expected):
        for a, e in zip(row_a, row_e):
            worst = max(worst, abs(a - e) / max(abs(e), 1e-3))
    return worst


def _schedule(fl, spec: Any) -> Any:
    if isinstance(spec, str):  # documented_shapes.json writes the schedule as text
        return fl.keras.optimizers.schedules.ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9)
    cls = getattr(fl.keras.optimizers.schedules, spec["schedule"])
    return cls(*spec["args"], **spec["kwargs"])


def documented_cases() -> List[Dict[str, Any]]:
    """(class, variant, constructor kwargs) of the TF 2.9 reference cases."""
    spec = json.loads((DATA / "documented_shapes.json").read_text(encoding="utf-8"))["cases"]
    cases = []
    for case in spec:
        cls_name = case["class"].rsplit(".", 1)[-1]
        if cls_name not in CLASSES:
            continue
        kwargs = case["constructor_kwargs"]
        variant = (
            "defaults"
            if not kwargs
            else "clipnorm"
            if kwargs == {"clipnorm": 1.0}
            else "schedule"
            if isinstance(kwargs.get("learning_rate"), str)
            else "nondefault"
        )
        cases.append({"class": cls_name, "variant": variant, "kwargs": kwargs, "documented": case["serialize"]})
    for cls_name in CLASSES:
        # legacy inverse-time ``decay``; TF 2.9's Nadam reads its momentum decay from ``schedule_decay``
        key = "schedule_decay" if cls_name == "Nadam" else "decay"
        cases.append({"class": cls_name, "variant": "legacy_decay", "kwargs": {"learning_rate": 0.1, key: 0.01}})
    return cases


def write_reference(out: pathlib.Path) -> None:
    import kerasopt_compat

    fl = flavour()
    assert fl.default_family == "legacy" and (fl.tensorflow_version or "").startswith("2.9."), fl.describe()
    rows = []
    for case in documented_cases():
        kwargs = dict(case["kwargs"])
        if "learning_rate" in kwargs:
            kwargs["learning_rate"] = (
                _schedule(fl, kwargs["learning_rate"]) if isinstance(kwargs["learning_rate"], str) else kwargs["learning_rate"]
            )
        opt = getattr(fl.keras.optimizers, case["class"])(**kwargs)
        canonical = kerasopt_compat.serialize(opt)
        if "documented" in case:
            assert canonical == case["documented"], (case["class"], case["variant"], canonical)
        rows.append(
            {
                "id": "%s/%s" % (case["class"], case["variant"]),
                "class": case["class"],
                "variant": case["variant"],
                "constructor_kwargs": case["kwargs"],
                "canonical": canonical,
                "weights": train(opt),
            }
        )
    _dump(out, fl, "TF 2.9's own optimizer classes (tf.keras.optimizers.*), the documented version", rows)


def write_exports(out: pathlib.Path, env: str) -> None:
    fl = flavour()
    data = json.loads((DATA / "exports" / ("%s.json" % env)).read_text(encoding="utf-8"))
    assert data["versions"]["tensorflow"] == fl.tensorflow_version, (data["versions"], fl.describe())
    rows = []
    for entry in data["exports"]:
        if entry.get("class") not in CLASSES or entry.get("variant") not in VARIANTS or "serialized" not in entry:
            continue
        if entry["namespace"] not in ("optimizers", "optimizers.legacy"):
            continue  # optimizers.experimental holds the same classes as optimizers in TF 2.11-2.15
        ns = fl.keras
        for part in entry["namespace"].split("."):
            ns = getattr(ns, part)
        kwargs = dict(entry["kwargs"])
        if isinstance(kwargs.get("learning_rate"), dict):
            kwargs["learning_rate"] = _schedule(fl, kwargs["learning_rate"])
        opt = getattr(ns, entry["class"])(**kwargs)
        rows.append({"id": entry["id"], "weights": train(opt)})
    _dump(out, fl, "this version's own classes, built as tools/export_native.py built the export entry", rows)


def _dump(out: pathlib.Path, fl, built_with: str, rows: List[Dict[str, Any]]) -> None:
    doc = {
        "_about": "Weights after each of %d apply_gradients steps from a fixed start on fixed gradients "
        "(float32), written by tools/trajectories.py under %s. Optimizers built with %s." % (STEPS, fl.describe(), built_with),
        "versions": {"tensorflow": fl.tensorflow_version, "keras": fl.keras_version, "generation": fl.default_family},
        "start": START,
        "gradients": GRADIENTS,
        "cases": rows,
    }
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print("wrote %d cases to %s" % (len(rows), out))


def main(argv: List[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if len(argv) < 2 or argv[0] != "write":
        print(__doc__)
        return 2
    out = pathlib.Path(argv[1])
    if "--exports" in argv:
        write_exports(out, argv[argv.index("--exports") + 1])
    else:
        write_reference(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
