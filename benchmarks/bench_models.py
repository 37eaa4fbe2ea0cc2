"""Speed of read_optimizer / read_state / fix_model on model files against the native load_model + save.

    python benchmarks/bench_models.py [--number N] [--repeat R]

Times, per ``.h5`` file of tests/data/models, ``read_optimizer(path)`` (and
``read_state(path)`` per ``.h5`` file of tests/data/resume) and
``fix_model(path, tmp, <release>, force=True)`` (both pure: no TensorFlow),
and, where TensorFlow/Keras is installed, the native round trip the issue
compares them to: ``load_model(path)`` then ``model.save(tmp.h5)`` on a file
this env's loader reads, measured in the same run. Run it inside a tox env,
e.g. ``.tox/tf29/bin/python benchmarks/bench_models.py``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import timeit
import warnings

try:
    import kerasopt_compat as koc
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    import kerasopt_compat as koc
from kerasopt_compat._optional import is_installed

MODELS = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "models"
#: per Keras generation of the installed flavour: a file its own loader reads
NATIVE_FILE = {
    "legacy": "tf29/adam.h5",
    "keras2": "tf215/adam.h5",
    "tf_keras": "tfkeras221/adam.h5",
    "keras3": "keras3-jax/adam_plain.h5",
}


def best(fn, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, r = args.number, args.repeat
    warnings.simplefilter("ignore")
    tmp = tempfile.mkdtemp(prefix="koc-bench-")
    try:
        files = sorted(p for p in MODELS.glob("*/*.h5") if "nooptimizer" not in p.name)
        read = sum(best(lambda p=p: koc.read_optimizer(p), n, r) for p in files) / len(files)
        out = os.path.join(tmp, "fixed.h5")
        fix = sum(best(lambda p=p: koc.fix_model(p, out, "keras3", force=True), n, r) for p in files) / len(files)
        header = "Python %s, no TensorFlow/Keras" % platform.python_version()
        state_files = sorted((MODELS.parent / "resume").glob("*/*.h5"))
        state = sum(best(lambda p=p: koc.read_state(p), n, r) for p in state_files) / max(1, len(state_files))
        rows = [
            ("read_optimizer(.h5), mean of %d files" % len(files), read),
            ("read_state(.h5), mean of %d files of tests/data/resume" % len(state_files), state),
            ("fix_model(.h5, --to keras3)", fix),
        ]
        native = None
        if is_installed("tensorflow") or is_installed("keras"):
            fl = koc.flavour()
            header = "Python %s, %s" % (platform.python_version(), fl.describe())
            key = "tf_keras" if fl.kind == "tf_keras" else fl.default_family
            path = str(MODELS / NATIVE_FILE[key])
            saved = os.path.join(tmp, "native.h5")

            def round_trip() -> None:
                fl.keras.models.load_model(path).save(saved)

            native = best(round_trip, max(1, n // 10), r)
            rows.append(("native load_model + save (%s)" % NATIVE_FILE[key], native))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("## %s\n" % header)
    print("| operation | ms/file | ratio to native load_model + save |")
    print("|---|---|---|")
    for name, seconds in rows:
        ratio = "%.4f" % (seconds / native) if native else "n/a"
        print("| %s | %.2f | %s |" % (name, seconds * 1e3, ratio))


if __name__ == "__main__":
    main()
