"""``read_state`` of a ~1 GB training checkpoint against TF's own reader (issue 27, "Prove it": speed).

    .tox/tf215/bin/python benchmarks/bench_checkpoints.py [--mb 1000] [--runs 5] [--cache DIR] [--root CHECKOUT]

Writes once, with the installed TensorFlow/Keras, a ``tf.train.Checkpoint(model=, optimizer=)`` of a
``Sequential`` of a few ``Dense(4096)`` + ``Dense(8)`` trained one step with Adam (weights, ``m``, ``v``:
at least ``--mb`` MB) into a cache folder outside the repository (``--cache``, default
``~/.cache/kerasopt-compat-bench``; kept for the next run, delete it by hand), then measures, each in a
fresh Python process (peak RSS is a high-water mark), after one warm-up round that fills the page cache
and then ``--runs`` rounds in alternating order:

* ``meta``: the metadata only, no tensor values: ``checkpoint_variables(path)`` (the model's variables,
  names and shapes) and ``read_state(path, lazy=True)`` (class, generation, iterations, every slot tied to
  its variable, values left in the file as ``StoredArray``);
* ``stream``: ``read_state(path, lazy=True)`` then every slot read one at a time and dropped (what
  ``restore_state`` does with a lazy state);
* ``full``: ``read_state(path)``, every slot value in memory (the result itself is that big);
* ``native``: ``tf.train.load_checkpoint(path)`` + ``get_variable_to_shape_map()`` (its metadata), then
  every variable read with ``get_tensor`` and kept (the ratio baseline; it reads the weights too).

The pure modes import no TensorFlow. Reported per mode: wall time of each part (min / median / max),
peak RSS over the RSS before the call, and, for ``full``, the bytes the result holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_WRITE = r"""
import os, sys, numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
keras = tf.keras
folder, width, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = keras.Sequential([keras.Input((width,))] + [keras.layers.Dense(width) for _ in range(depth)] + [keras.layers.Dense(8)])
optimizer = keras.optimizers.Adam(1e-4)
rng = np.random.default_rng(0)
x = rng.normal(size=(16, width)).astype("float32")
y = rng.normal(size=(16, 8)).astype("float32")
with tf.GradientTape() as tape:
    loss = tf.reduce_mean((model(x) - y) ** 2)
optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=optimizer), folder, max_to_keep=1)
print(manager.save())
"""

_VERSION = "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; import tensorflow as tf; print(tf.__version__)"

_CHILD = r"""
import json, os, resource, sys, time, warnings
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
mode, path = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
warnings.simplefilter("ignore")
def rss_kb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
out = {}
if mode == "native":
    import tensorflow as tf
    before = rss_kb()
    t = time.perf_counter()
    reader = tf.train.load_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
    out["meta_s"] = time.perf_counter() - t
    t = time.perf_counter()
    kept = {key: reader.get_tensor(key) for key in shapes}
    out["read_s"] = time.perf_counter() - t
    out["held_bytes"] = sum(getattr(v, "nbytes", 0) for v in kept.values())
else:
    import numpy
    import kerasopt_compat
    from kerasopt_compat import read_state
    from kerasopt_compat._files.checkpoint import checkpoint_variables
    assert "tensorflow" not in sys.modules
    before = rss_kb()
    if mode == "meta":
        t = time.perf_counter()
        kind, variables = checkpoint_variables(path)
        out["variables_s"] = time.perf_counter() - t
        t = time.perf_counter()
        state = read_state(path, lazy=True)
        out["meta_s"] = time.perf_counter() - t
        out["read"] = "%s %s, iterations %s, %d slots of %d variables" % (
            state.saver.generation, state.extra.get("class_name"), state.iterations,
            sum(len(v.slots) for v in state.variables), len(state.variables),
        )
    elif mode == "stream":
        t = time.perf_counter()
        state = read_state(path, lazy=True)
        total = 0
        for v in state.variables:
            for value in v.slots.values():
                total += numpy.asarray(value).nbytes
        out["read_s"] = time.perf_counter() - t
        out["streamed_bytes"] = total
    else:
        t = time.perf_counter()
        state = read_state(path)
        out["read_s"] = time.perf_counter() - t
        out["held_bytes"] = sum(numpy.asarray(a).nbytes for v in state.variables for a in v.slots.values())
        out["iterations"] = state.iterations
out["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps(out))
"""


def _child(mode: str, path: str, root: str) -> Dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, path, root], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stats(values: List[float], scale: float = 1.0, fmt: str = "%.1f") -> str:
    return " / ".join(fmt % (v * scale) for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1000, help="smallest checkpoint size wanted, MB")
    parser.add_argument("--runs", type=int, default=5, help="counted runs per mode")
    parser.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "kerasopt-compat-bench"))
    parser.add_argument("--root", default=ROOT, help="the kerasopt_compat checkout to time (default: this one)")
    parser.add_argument("--modes", default="meta,stream,full,native")
    args = parser.parse_args()
    tf_version = subprocess.check_output([sys.executable, "-c", _VERSION], text=True).strip()
    width, depth = 4096, 1
    while depth * width * width * 12 < args.mb * 1e6:  # weights + m + v, float32: 12 bytes a parameter
        depth += 1
    folder = os.path.join(args.cache, "ckpt-tf%s-%dx%d" % (tf_version, depth, width))
    if not os.path.exists(os.path.join(folder, "checkpoint")):
        os.makedirs(folder, exist_ok=True)
        subprocess.run([sys.executable, "-c", _WRITE, folder, str(width), str(depth)], check=True)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    modes = args.modes.split(",")
    print(
        "Python %s, TF %s; %s: %.0f MB (tf.train.Checkpoint of %d Dense(%d) + Dense(8), Adam, 1 step; largest tensor "
        "%.1f MB); kerasopt_compat from %s; load average %s"
        % (
            platform.python_version(),
            tf_version,
            folder,
            size / 1e6,
            depth,
            width,
            width * width * 4 / 1e6,
            args.root,
            "%.2f %.2f %.2f" % os.getloadavg(),
        )
    )
    for mode in modes:  # warm-up: page cache, bytecode
        _child(mode, folder, args.root)
    results: Dict[str, List[Dict[str, float]]] = {m: [] for m in modes}
    for i in range(args.runs):
        for mode in modes if i % 2 == 0 else modes[::-1]:
            results[mode].append(_child(mode, folder, args.root))
    print("load average after: %.2f %.2f %.2f; %d runs per mode, alternating" % (os.getloadavg() + (args.runs,)))
    if "meta" in results:
        print("read_state(lazy=True): %s\n" % results["meta"][0]["read"])
    print("| mode | part | time ms (min / median / max) | peak RSS over before, MB (median) | held by the result, MB |")
    print("|---|---|---|---|---|")
    med: Dict[str, float] = {}
    for mode in modes:
        rows = results[mode]
        peak = statistics.median(r["peak_mb"] for r in rows)
        held = rows[0].get("held_bytes", rows[0].get("streamed_bytes"))
        held_s = "%.0f" % (held / 2**20) if "held_bytes" in rows[0] else "0 (%.0f streamed)" % (held / 2**20) if held else "0"
        for part in ("variables_s", "meta_s", "read_s"):
            if part in rows[0]:
                values = [r[part] for r in rows]
                med["%s.%s" % (mode, part)] = statistics.median(values)
                print("| %s | %s | %s | %.1f | %s |" % (mode, part[:-2], _stats(values, 1e3, "%.2f"), peak, held_s))
    if "native.read_s" in med:
        print()
        for key in ("meta.meta_s", "meta.variables_s", "stream.read_s", "full.read_s"):
            base = "native.meta_s" if key.startswith("meta.") else "native.read_s"
            if key in med:
                print("%s / %s: %.3f" % (key, base, med[key] / med[base]))


if __name__ == "__main__":
    main()
