"""``kerasopt_compat.load_model`` against the native ``load_model`` on a big ``.h5`` file (issue 24 §5).

    .tox/tf215/bin/python benchmarks/bench_load.py [--mb 520] [--runs 7] [--dir DIR] [--keep] [--root CHECKOUT]

Writes, with the installed TensorFlow/Keras, a model of a few big ``Dense``
layers compiled with Adam and trained one step (its ``.h5``, weights plus
Adam's ``m`` and ``v``, is at least ``--mb`` MB), then loads it in fresh
Python processes, the native loader and kerasopt_compat's in turn (A B A B
..., after one warm-up pair that fills the page cache): each child imports,
times the ``load_model`` call (wall clock) and reports its own peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and its RSS after the
imports. Printed: min/median/max per loader, the ratios of the medians, and
the goal: ours <= 1.1x native time, peak <= native peak + the largest single
tensor in the file. A third loader, ``full``, is the native load followed by
``restore_state`` of the whole state into a new optimizer (every slot read,
one variable at a time): the path taken where the native tie is wrong;
``--before CHECKOUT`` adds that checkout's ``load_model`` as loader ``before``. The
big file is deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_WRITE = r"""
import os, sys, numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
keras = tf.keras
path, width, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
layers = [keras.layers.Dense(width, activation="relu") for _ in range(depth)] + [keras.layers.Dense(8)]
model = keras.Sequential([keras.Input((width,))] + layers)
model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
rng = np.random.default_rng(0)
model.fit(rng.normal(size=(16, width)).astype("float32"), rng.normal(size=(16, 8)).astype("float32"), epochs=1, verbose=0)
model.save(path)
print(tf.__version__, keras.__version__ if hasattr(keras, "__version__") else "")
"""

_VERSION = "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; import tensorflow as tf; print(tf.__version__)"

_LOAD = r"""
import json, os, resource, sys, time, warnings
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, sys.argv[3])
mode, path = sys.argv[1], sys.argv[2]
import tensorflow as tf
import kerasopt_compat
from kerasopt_compat import read_state, restore_state
import kerasopt_compat._models.load, kerasopt_compat._keras.restore, kerasopt_compat._files.state, h5py
def rss_kb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
before = rss_kb()
warnings.simplefilter("ignore")
start = time.perf_counter()
if mode == "native":
    model = tf.keras.models.load_model(path)
    kept = None
elif mode == "ours":
    model = kerasopt_compat.load_model(path)
    kept = None
else:  # full: the native load, then every slot read and assigned into a new optimizer
    model = tf.keras.models.load_model(path)
    kept = restore_state(model, read_state(path, lazy=True)).kept
seconds = time.perf_counter() - start
iterations = int(model.optimizer.iterations.numpy())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kb": peak, "before_kb": before, "iterations": iterations, "kept": kept}))
"""


def _largest(path: str) -> int:
    import h5py

    sizes: List[int] = []
    with h5py.File(path, "r") as fh:
        fh.visititems(lambda _n, item: sizes.append(item.nbytes) if isinstance(item, h5py.Dataset) else None)
    return max(sizes)


def _child(mode: str, path: str, args: argparse.Namespace) -> Dict[str, float]:
    root = args.before if mode == "before" else args.root
    out = subprocess.run(
        [sys.executable, "-c", _LOAD, "ours" if mode == "before" else mode, path, root],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _stats(values: List[float]) -> str:
    return "%.2f / %.2f / %.2f" % (min(values), statistics.median(values), max(values))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=520, help="smallest file size wanted, MB")
    parser.add_argument("--runs", type=int, default=7, help="counted runs per loader")
    parser.add_argument("--dir", default=None, help="where to write the big file (a temporary folder by default)")
    parser.add_argument("--keep", action="store_true", help="keep the big file")
    parser.add_argument("--modes", default="native,ours,full")
    parser.add_argument("--file", default=None, help="time this existing .h5 instead of writing one (kept)")
    parser.add_argument("--root", default=ROOT, help="the kerasopt_compat checkout to time (default: this one)")
    parser.add_argument("--before", default=None, help="another checkout, timed as loader 'before' (its load_model)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="koc-bench-load-", dir=args.dir)
    path = os.path.join(folder, "big_adam.h5")
    # weights + m + v, float32: 12 bytes a parameter; width x width kernels
    width, depth = 4096, 1
    while depth * width * width * 12 < args.mb * 1e6:
        depth += 1
    modes = args.modes.split(",") + (["before"] if args.before else [])
    try:
        if args.file:
            path, versions = args.file, [subprocess.check_output([sys.executable, "-c", _VERSION], text=True).strip()]
        else:
            versions = subprocess.run(
                [sys.executable, "-c", _WRITE, path, str(width), str(depth)], check=True, capture_output=True, text=True
            ).stdout.split()
        size = os.path.getsize(path)
        largest = _largest(path)
        print(
            "Python %s, TF %s; %s: %.0f MB (%d Dense(%d) + Dense(8), Adam, 1 step); largest tensor %.1f MB; "
            "kerasopt_compat from %s; "
            "load average %s"
            % (
                platform.python_version(),
                versions[0] if versions else "?",
                os.path.basename(path),
                size / 1e6,
                depth,
                width,
                largest / 1e6,
                args.root,
                "%.2f %.2f %.2f" % os.getloadavg(),
            )
        )
        if args.runs < 1:
            return
        for mode in modes:  # warm-up: page cache, bytecode
            _child(mode, path, args)
        results: Dict[str, List[Dict[str, float]]] = {m: [] for m in modes}
        for i in range(args.runs):
            for mode in modes if i % 2 == 0 else modes[::-1]:
                results[mode].append(_child(mode, path, args))
        print("load average after: %.2f %.2f %.2f; %d runs per loader, alternating" % (os.getloadavg() + (args.runs,)))
        print()
        print("| loader | load_model s (min / median / max) | peak RSS MB (min / median / max) | RSS before MB | iterations |")
        print("|---|---|---|---|---|")
        med: Dict[str, Dict[str, float]] = {}
        for mode in modes:
            secs = [r["seconds"] for r in results[mode]]
            peaks = [r["peak_kb"] / 1024 for r in results[mode]]
            before = [r["before_kb"] / 1024 for r in results[mode]]
            med[mode] = {"s": statistics.median(secs), "peak": statistics.median(peaks)}
            print(
                "| %s | %s | %s | %.0f | %s |"
                % (mode, _stats(secs), _stats(peaks), statistics.median(before), results[mode][0]["iterations"])
            )
        if "native" in med:
            print()
            for mode in modes:
                if mode == "native":
                    continue
                ratio = med[mode]["s"] / med["native"]["s"]
                extra = med[mode]["peak"] - med["native"]["peak"]
                paired = [o["seconds"] / n["seconds"] for o, n in zip(results[mode], results["native"])]
                print(
                    "%s / native: time %.2fx (ratio of medians; paired ratios per round min / median / max %s; "
                    "goal <= 1.1x: %s), peak %+.0f MB (goal <= +%.0f MB, the largest tensor: %s)"
                    % (
                        mode,
                        ratio,
                        _stats(paired),
                        "met" if ratio <= 1.1 else "NOT met",
                        extra,
                        largest / 2**20,
                        "met" if extra <= largest / 2**20 else "NOT met",
                    )
                )
    finally:
        if args.keep:
            print("kept", path)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
