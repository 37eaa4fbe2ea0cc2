"""Speed of kerasopt_compat against the native Keras call, measured in the same run.

    python benchmarks/bench.py [--number N] [--repeat R]

Prints, per operation, the best time per call of the native call and of
kerasopt_compat, timed in turn (baseline, ours, baseline, ours, ...; ``--repeat``
blocks of ``--number`` calls each), and their ratio (ours / native). Without TensorFlow/Keras only
the pure functions are timed, against ``json.loads``/``copy.deepcopy`` of the
same dict. Run it inside a tox env for a given version, e.g.
``PYTHONPATH=. .tox/tf221/bin/python benchmarks/bench.py`` (``PYTHONPATH``: the
checkout, not the copy tox installed in the env).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import timeit
import warnings
from typing import Tuple

try:
    import kerasopt_compat as koc
except ImportError:  # run from a checkout without installing
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    import kerasopt_compat as koc
from kerasopt_compat._optional import is_installed

KERAS3_ADAM = {
    "module": "keras.optimizers",
    "class_name": "Adam",
    "config": {
        "name": "adam_4",
        "learning_rate": 0.0010000000474974513,
        "weight_decay": None,
        "clipnorm": None,
        "global_clipnorm": None,
        "clipvalue": None,
        "use_ema": False,
        "ema_momentum": 0.99,
        "ema_overwrite_frequency": None,
        "loss_scale_factor": None,
        "gradient_accumulation_steps": None,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-07,
        "amsgrad": False,
    },
    "registered_name": None,
}


def best(fn, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def paired(baseline, ours, number: int, repeat: int) -> Tuple[float, float]:
    """Best time per call of each, the two timed in turn (A B A B ...) so that a
    busy moment of a shared machine hits both."""
    a, b = [], []
    for _ in range(repeat):
        a.append(timeit.timeit(baseline, number=number))
        b.append(timeit.timeit(ours, number=number))
    return min(a) / number, min(b) / number


def row(name: str, native: float, ours: float, native_label: str) -> str:
    return "| %s | %s | %.1f | %.1f | %.2f |" % (name, native_label, native * 1e6, ours * 1e6, ours / native)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    n, r = args.number, args.repeat
    text = json.dumps(KERAS3_ADAM)
    rows = [
        row(
            "normalize(Keras 3 Adam dict)",
            *paired(lambda: copy.deepcopy(KERAS3_ADAM), lambda: koc.normalize(KERAS3_ADAM), n, r),
            "copy.deepcopy",
        ),
        row("loads(Keras 3 Adam JSON)", *paired(lambda: json.loads(text), lambda: koc.loads(text), n, r), "json.loads"),
    ]
    header = "Python %s, no TensorFlow/Keras" % platform.python_version()
    if is_installed("tensorflow") or is_installed("keras"):
        warnings.simplefilter("ignore")
        fl = koc.flavour()
        k = fl.keras
        header = "Python %s, %s" % (platform.python_version(), fl.describe())
        opt = k.optimizers.Adam()
        native = k.optimizers.serialize(opt)
        canonical = koc.serialize(opt)
        rows.append(
            row(
                "serialize(Adam())",
                *paired(lambda: k.optimizers.serialize(opt), lambda: koc.serialize(opt), n, r),
                "keras serialize",
            )
        )
        # The same with a new learning rate before each call (both sides pay the assignment):
        # a config serialize() has not seen, read in full (no memo hit, no cached float).
        step = iter(range(10**9))

        def new_lr():
            opt.learning_rate = 1e-3 * (1.0 + next(step) * 1e-7)

        def native_changed():
            new_lr()
            return k.optimizers.serialize(opt)

        def ours_changed():
            new_lr()
            return koc.serialize(opt)

        rows.append(
            row(
                "serialize(Adam()), new learning rate each call",
                *paired(native_changed, ours_changed, n, r),
                "keras serialize",
            )
        )
        n2 = max(1, n // 10)
        rows.append(
            row(
                "deserialize(own dict)",
                *paired(lambda: k.optimizers.deserialize(copy.deepcopy(native)), lambda: koc.deserialize(canonical), n2, r),
                "keras deserialize",
            )
        )

        def native_migrate():
            return k.optimizers.serialize(k.optimizers.deserialize(copy.deepcopy(KERAS3_ADAM)))

        ours = best(lambda: koc.normalize(KERAS3_ADAM), n2, r)
        try:
            native_migrate()
        except Exception as exc:  # noqa: BLE001 - older Keras cannot read a Keras 3 dict at all
            rows.append(
                "| migrate a Keras 3 Adam dict | keras deserialize+serialize | fails (%s) | %.1f | — |"
                % (type(exc).__name__, ours * 1e6)
            )
        else:
            rows.append(
                row(
                    "migrate a Keras 3 Adam dict",
                    *paired(native_migrate, lambda: koc.normalize(KERAS3_ADAM), n2, r),
                    "keras deserialize+serialize",
                )
            )
    print("## %s\n" % header)
    print("| operation | baseline | baseline µs/call | kerasopt_compat µs/call | ratio |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
