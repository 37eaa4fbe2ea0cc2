#!/usr/bin/env python
"""The training-checkpoint corpus (issue 27): TF checkpoints written by the real wheels, with the saver's next step.

Rerun (each env's own python, so that env's real wheel writes the files;
kerasopt_compat is imported from this checkout; the script is deterministic:
fixed seeds, fixed batches)::

    T=.tox   # or any folder holding the tox envs
    for e in tf29 tf211 tf215 tf221; do
        $T/$e/bin/python tools/export_checkpoints.py tests/data/checkpoints $e
    done
    TF_USE_LEGACY_KERAS=1 $T/tfkeras221/bin/python tools/export_checkpoints.py tests/data/checkpoints tfkeras221

(``tox exec -e ENV -- python tools/export_checkpoints.py tests/data/checkpoints ENV``
does the same with tox.ini's ``set_env``.) Writes ``OUTDIR/ENV/<case>/...`` and
``OUTDIR/ENV/manifest.json``; the env's folder is replaced.

Kinds (``kind`` in the manifest):

* ``ckpt``: ``tf.train.Checkpoint(model=model, optimizer=model.optimizer)``
  saved through ``tf.train.CheckpointManager`` with ``checkpoint_number=3``
  (``<case>/ckpt-3.index``, ``.data-*``, and the manager's ``checkpoint`` file).
  Every optimizer class of every generation the env has, on ``twin``; Adam also
  on ``nested``, and (TF 2.16+, where ``tf.train.CheckpointOptions`` takes a
  sharding callback) a ``sharded`` Adam case (two shards, no tensor split) and a ``sliced`` one (tensors
  split into slices across shards, as the policy does when a tensor does not fit), written with
  ``tf.train.experimental.MaxShardSizePolicy`` into two shards;
* ``save_weights``: ``model.save_weights("<case>/w")`` in the TF format (Keras 2
  and tf_keras; Keras 3 writes no such format), Adam;
* ``backup``: a ``BackupAndRestore(<case>/backup)`` folder left by a ``fit`` of 3
  epochs (2 steps each) stopped by a callback raising after epoch 1 (the backup
  is written first; ``delete_checkpoint=False`` where the argument exists),
  Adam. Keras 2 writes a TF checkpoint under ``backup/chief/``; Keras 3 a
  ``latest.weights.h5`` and ``training_metadata.json``;
* ``tf1_saver`` (tf215 only): ``tf.compat.v1.train.Saver`` name-based
  checkpoints written in graph mode: ``tf.compat.v1.layers.dense`` twice (4 ->
  4 -> 4, layers ``dense`` and ``dense_1``), trained 3 steps with each of
  ``tf.compat.v1.train.AdamOptimizer``, ``MomentumOptimizer(nesterov=True)``,
  ``RMSPropOptimizer(centered=True, momentum=0.5)``, ``AdagradOptimizer``,
  ``FtrlOptimizer``, ``AdadeltaOptimizer``, with ``global_step``
  (``model.ckpt-3``), plus Adam without ``global_step`` (``model.ckpt``; the
  step is only in ``beta1_power``) and Adam written with ``Saver(sharded=True)``
  with the variables on two logical CPUs (``model.ckpt-3.data-0000{0,1}-of-00002``).
  No ``.meta`` graph is written (``write_meta_graph=False``), to stay small.

Models: ``twin`` = ``Sequential([Input(4), Dense(4), Dense(4)])`` (both kernels
(4, 4), both biases (4,)); ``nested`` = a Functional model ``Input(4) ->
Dense(4) -> Sequential([Input(4), Dense(4)], name="inner") -> Dense(2)``.
Training: ``compile(loss="mse")``, ``train_on_batch`` on the fixed batches 0, 1,
2 (``backup``: ``fit`` on batches 0+1, ``batch_size=4``, no shuffling); after
saving, one more ``train_on_batch`` on batch 3 (``next_batch``) gives
``next_weights``: the reference a restore + one step must reproduce.

Manifest per case: ``case``, ``kind``, ``family`` (the saver's optimizer
generation: ``legacy``, ``keras2``, ``keras3``, ``tf1``), ``class``,
``options``, ``model`` (+ ``model_description``), ``files`` (paths relative to
the env folder), ``prefix`` (the checkpoint prefix to read, or the backup
folder), ``sharding`` (how a sharded case was made), ``optimizer`` (the
canonical dict of ``kerasopt_compat.serialize``, else ``native_config``),
``iterations``, ``raw_iterations``, ``epoch`` (backup: epochs completed),
``variables`` (per trainable variable in ``model.trainable_variables`` order:
``index``, ``name`` as the optimizer's slot names spell it, ``path`` (Keras 3's
``variable.path``), ``key`` (the variable's bundle key in the checkpoint,
``<object path>/.ATTRIBUTES/VARIABLE_VALUE``, checked to be in the file;
TF1: the variable name), ``shape``, ``slots`` (canonical slot name -> values,
tied by the live optimizer's own objects) and for TF1 ``slot_keys`` (canonical
-> the stored name, ``dense/kernel/Adam_1``)), ``extra`` (class-wide values;
TF1: ``beta1_power``/``beta2_power``), ``next_batch``, ``next_weights``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
ENV_ARG = sys.argv[2] if len(sys.argv) > 2 else ""
TF1_ENVS = ("tf215",)
if ENV_ARG in TF1_ENVS:  # two logical CPUs for the sharded TF1 Saver; must precede TensorFlow's initialisation
    import tensorflow as _tf

    _tf.config.set_logical_device_configuration(
        _tf.config.list_physical_devices("CPU")[0], [_tf.config.LogicalDeviceConfiguration()] * 2
    )

import export_resume as R  # noqa: E402  (the resume corpus' slot/iteration readers)
from export_models import K  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._files.bundle import _table_entries  # noqa: E402

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover - every env of this script has TensorFlow
    tf = None

FL = R.FL
KERAS3 = R.KERAS3
KV = R.KV
ALL = ("legacy", "keras2", "keras3")
NEW = ("keras2", "keras3")

#: case name -> (class, options, families)
CLASSES = [
    ("adam", "Adam", {"learning_rate": 0.01}, ALL),
    ("adam_amsgrad", "Adam", {"learning_rate": 0.01, "amsgrad": True}, ALL),
    ("sgd_nesterov", "SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, ALL),
    ("rmsprop_centered", "RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}, ALL),
    ("adagrad", "Adagrad", {"learning_rate": 0.05}, ALL),
    ("adadelta", "Adadelta", {"learning_rate": 1.0}, ALL),
    ("ftrl", "Ftrl", {"learning_rate": 0.05}, ALL),
    ("nadam", "Nadam", {"learning_rate": 0.01}, ALL),
    ("adamax", "Adamax", {"learning_rate": 0.01}, ALL),
    ("adamw", "AdamW", {"learning_rate": 0.01, "weight_decay": 0.004}, NEW),
    ("adam_ema", "Adam", {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.9}, NEW),
]
MODELS = {
    "twin": "Sequential([Input((4,)), Dense(4), Dense(4)]): two (4, 4) kernels, two (4,) biases",
    "nested": "Functional: Input((4,)) -> Dense(4) -> Sequential([Input((4,)), Dense(4)], name='inner') -> Dense(2)",
    "tf1_dense": "tf.compat.v1 graph: x[None, 4] -> tf.compat.v1.layers.dense(4, name='dense') -> "
    "tf.compat.v1.layers.dense(4, name='dense_1'); loss mean squared error",
}


def make_model(kind):
    if kind == "twin":
        return K.Sequential([K.Input(shape=(4,)), K.layers.Dense(4), K.layers.Dense(4)])
    inputs = K.Input(shape=(4,))
    x = K.layers.Dense(4)(inputs)
    x = K.Sequential([K.Input(shape=(4,)), K.layers.Dense(4)], name="inner")(x)
    return K.Model(inputs, K.layers.Dense(2)(x))


def batches(n_out=4):
    """Four fixed (x, y) batches of 4 samples, 4 features."""
    out = []
    for step in range(4):
        x = ((np.arange(16, dtype="float32").reshape(4, 4) + step) / 16.0 - 0.3).astype("float32")
        x = np.sin(x * (1.0 + 0.5 * np.arange(4, dtype="float32"))).astype("float32")
        y = np.stack([np.sin(x.sum(axis=1) * (k + 1)) for k in range(n_out)], axis=1).astype("float32")
        out.append((x, y))
    return out


def _children(obj):
    if hasattr(obj, "_trackable_children"):
        try:
            return dict(obj._trackable_children(save_type="checkpoint"))
        except TypeError:
            return dict(obj._trackable_children())
    return {ref.name: ref.ref for ref in obj._checkpoint_dependencies}


def object_paths(root):
    """id(trackable) -> its object path from ``root``: breadth-first, first path found (as TF names them)."""
    paths = {id(root): ""}
    queue = [root]
    while queue:
        obj = queue.pop(0)
        for name, child in _children(obj).items():
            if id(child) in paths:
                continue
            paths[id(child)] = (paths[id(obj)] + "/" + name).lstrip("/")
            queue.append(child)
    return paths


def _var_ids(var):
    out = [id(var)]
    for attr in ("_value", "value"):
        inner = getattr(var, attr, None)
        if inner is not None and not callable(inner):
            out.append(id(inner))
    return out


def bundle_keys(prefix):
    return {name for name, _ in tf.train.list_variables(prefix)}


def variable_keys(model, root, prefix, relative_to=""):
    """Bundle key per trainable variable, checked to be in the checkpoint at ``prefix``."""
    paths = object_paths(root)
    keys = bundle_keys(prefix)
    out = []
    for var in model.trainable_variables:
        path = next((paths[i] for i in _var_ids(var) if i in paths), None)
        if path is None:
            raise SystemExit("%s: no object path for %s" % (prefix, var.name))
        key = (relative_to + "/" + path).lstrip("/") + "/.ATTRIBUTES/VARIABLE_VALUE"
        if key not in keys:
            raise SystemExit("%s: %s not in the checkpoint (keys: %s)" % (prefix, key, sorted(keys)))
        out.append(key)
    return out


def config_of(opt):
    try:
        return {"optimizer": koc.serialize(opt)}
    except Exception as exc:  # noqa: BLE001 - fall back to the native config, and say so
        cfg = opt.get_config()
        return {
            "native_config": json.loads(json.dumps(cfg, default=repr)),
            "serialize_error": "%s: %s" % (type(exc).__name__, exc),
        }


def state_entry(model, opt, family, cls):
    base_cls = "Adam" if cls == "AdamW" and family == "legacy" else cls
    per_var, extra, unmatched = R.slot_values(model, opt, family, base_cls)
    its, raw = R.iterations(opt)
    variables = []
    for i, var in enumerate(model.trainable_variables):
        entry = {"index": i, "name": R.var_name(var), "shape": list(var.shape)}
        if KERAS3:
            entry["path"] = var.path
        entry["slots"] = {k: v.tolist() for k, v in sorted(per_var[i].items())}
        variables.append(entry)
    return {"iterations": its, "raw_iterations": raw, "variables": variables, "extra": extra, "unmatched": unmatched}


def next_step(model, batch):
    x, y = batch
    model.train_on_batch(x, y)
    return {
        "next_batch": {"x": x.tolist(), "y": y.tolist()},
        "next_weights": [
            {"index": i, "name": R.var_name(v), "value": R._np(v).tolist()} for i, v in enumerate(model.trainable_variables)
        ],
    }


def _files(env_dir, folder):
    out = []
    for dirpath, _, names in os.walk(folder):
        for n in sorted(names):
            out.append(os.path.relpath(os.path.join(dirpath, n), env_dir).replace(os.sep, "/"))
    return sorted(out)


def _sliced(prefix):
    """Whether the bundle has sliced entries (keys that start with a NUL byte: a tensor split into pieces)."""
    with open(prefix + ".index", "rb") as fh:
        data = fh.read()
    return any(key.startswith(b"\x00") for key, _ in _table_entries(data, prefix))


def _save_sharded(manager, folder, sliced):
    """Save through ``manager`` with a MaxShardSizePolicy that splits the checkpoint into two shards (or more
    when ``sliced``), with (``sliced``) or without tensors split into slices across shards; the policy's
    choice varies from save to save, so each size is tried by saving and checking the result."""
    policy = tf.train.experimental.MaxShardSizePolicy
    for size in range(2048, 95, -16):
        opts = tf.train.CheckpointOptions(experimental_sharding_callback=policy(max_shard_size=size))
        prefix = manager.save(checkpoint_number=3, options=opts)
        shards = [n for n in os.listdir(folder) if n.startswith(os.path.basename(prefix) + ".data-")]
        if _sliced(prefix) == sliced and (len(shards) == 2 or (sliced and len(shards) > 1)):
            return prefix, size, len(shards)
        for n in os.listdir(folder):
            if n.startswith(os.path.basename(prefix) + "."):
                os.remove(os.path.join(folder, n))
    raise RuntimeError("no max_shard_size gives %s two shards" % ("sliced" if sliced else "unsliced"))


def run_object_case(env_dir, family, ns, case, kind, model_kind):
    name, cls, options, _ = case
    K.backend.clear_session()
    K.utils.set_random_seed(1234)
    model = make_model(model_kind)
    entry_ns = {}
    if not hasattr(ns, cls) and hasattr(getattr(ns, "experimental", None), cls):  # TF 2.11: AdamW is experimental
        ns = ns.experimental
        entry_ns["namespace"] = "optimizers.experimental"
    opt = R.make_optimizer(ns, family, cls, options)
    model.compile(optimizer=opt, loss="mse")
    data = batches(2 if model_kind == "nested" else 4)
    stem = "%s_%s_%s" % (family, name, kind if model_kind == "twin" else model_kind)
    folder = os.path.join(env_dir, stem)
    os.makedirs(folder)
    entry = {
        "case": stem,
        "kind": "ckpt" if kind in ("sharded", "sliced") else kind,
        "family": family,
        "class": cls,
        "options": options,
        "model": model_kind,
    }
    entry["model_description"] = MODELS[model_kind]
    entry.update(entry_ns)
    if kind == "backup":
        return run_backup(env_dir, folder, model, data, entry, family, cls)
    for x, y in data[:3]:
        model.train_on_batch(x, y)
    if kind in ("ckpt", "sharded", "sliced"):
        ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        manager = tf.train.CheckpointManager(ckpt, folder, max_to_keep=1)
        if kind in ("sharded", "sliced"):
            prefix, size, count = _save_sharded(manager, folder, kind == "sliced")
            entry["sharding"] = (
                "tf.train.CheckpointOptions(experimental_sharding_callback="
                "tf.train.experimental.MaxShardSizePolicy(max_shard_size=%d)): %d shards%s"
                % (
                    size,
                    count,
                    ", tensors split into slices across shards" if kind == "sliced" else ", no tensor sliced",
                )
            )
        else:
            prefix = manager.save(checkpoint_number=3)
        entry["keys"] = variable_keys(model, ckpt, prefix)
    else:  # save_weights, TF format
        prefix = os.path.join(folder, "w")
        kwargs = {"save_format": "tf"} if KV >= (2, 0) else {}
        model.save_weights(prefix, **kwargs)
        entry["keys"] = variable_keys(model, model, prefix)
    entry["prefix"] = os.path.relpath(prefix, env_dir).replace(os.sep, "/")
    entry["files"] = _files(env_dir, folder)
    entry.update(config_of(model.optimizer))
    entry.update(state_entry(model, model.optimizer, family, cls))
    for var, key in zip(entry["variables"], entry.pop("keys")):
        var["key"] = key
    entry.update(next_step(model, data[3]))
    return entry


class _Stop(Exception):
    pass


def run_backup(env_dir, folder, model, data, entry, family, cls):
    backup = os.path.join(folder, "backup")

    class Stop(K.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise _Stop()

    kwargs = {}
    try:
        cb = K.callbacks.BackupAndRestore(backup, delete_checkpoint=False)
        kwargs["delete_checkpoint"] = False
    except TypeError:  # TF 2.9: no such argument
        cb = K.callbacks.BackupAndRestore(backup)
    x = np.concatenate([data[0][0], data[1][0]])
    y = np.concatenate([data[0][1], data[1][1]])
    try:
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[cb, Stop()])
    except _Stop:
        pass
    else:
        raise SystemExit("fit was not stopped")
    entry["prefix"] = os.path.relpath(backup, env_dir).replace(os.sep, "/")
    entry["files"] = _files(env_dir, folder)
    entry["backup_kwargs"] = kwargs
    entry["epoch"] = 1
    entry["fit"] = {"x": x.tolist(), "y": y.tolist(), "batch_size": 4, "epochs": 3, "stopped_after_epoch": 1}
    entry.update(config_of(model.optimizer))
    entry.update(state_entry(model, model.optimizer, family, cls))
    if not KERAS3:
        index = sorted(f for f in entry["files"] if f.endswith(".index"))
        if len(index) != 1:
            raise SystemExit("backup: expected one checkpoint, got %s" % index)
        prefix = os.path.join(env_dir, index[0][: -len(".index")])
        keys = bundle_keys(prefix)
        entry["backup_prefix"] = os.path.relpath(prefix, env_dir).replace(os.sep, "/")
        paths = object_paths(model)
        for var, v in zip(entry["variables"], model.trainable_variables):
            rel = next(paths[i] for i in _var_ids(v) if i in paths)
            key = "model/%s/.ATTRIBUTES/VARIABLE_VALUE" % rel
            if key not in keys:
                raise SystemExit("backup: %s not in %s" % (key, sorted(keys)))
            var["key"] = key
    entry.update(next_step(model, data[3]))
    return entry


# --- TF1 name-based checkpoints --------------------------------------------------------------

#: TF1 slot name -> canonical slot name, per optimizer
TF1_SLOTS = {
    "Adam": {"m": "m", "v": "v"},
    "Momentum": {"momentum": "momentum"},
    "RMSProp": {"rms": "rms", "momentum": "momentum", "mg": "mg"},
    "Adagrad": {"accumulator": "accumulator"},
    "Ftrl": {"accum": "accumulator", "linear": "linear"},
    "Adadelta": {"accum": "accum_grad", "accum_update": "accum_var"},
}
TF1_CASES = [
    ("adam", "Adam", {"learning_rate": 0.01}, True, False),
    ("momentum_nesterov", "Momentum", {"learning_rate": 0.05, "momentum": 0.9, "use_nesterov": True}, True, False),
    ("rmsprop_centered", "RMSProp", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}, True, False),
    ("adagrad", "Adagrad", {"learning_rate": 0.05}, True, False),
    ("ftrl", "Ftrl", {"learning_rate": 0.05}, True, False),
    ("adadelta", "Adadelta", {"learning_rate": 1.0}, True, False),
    ("adam_no_global_step", "Adam", {"learning_rate": 0.01}, False, False),
    ("adam_sharded", "Adam", {"learning_rate": 0.01}, True, True),
]


def run_tf1_case(env_dir, case):
    name, cls, options, with_step, sharded = case
    v1 = tf.compat.v1
    stem = "tf1_%s" % name
    folder = os.path.join(env_dir, stem)
    os.makedirs(folder)
    data = batches(4)
    graph = tf.Graph()
    with graph.as_default(), tf.device("/cpu:0"):
        v1.set_random_seed(1234)
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        y = v1.placeholder(tf.float32, [None, 4], name="y")
        h = v1.layers.dense(x, 4, name="dense")
        with tf.device("/cpu:1" if sharded else "/cpu:0"):
            out = v1.layers.dense(h, 4, name="dense_1")
        loss = tf.reduce_mean(tf.square(out - y))
        step = v1.train.get_or_create_global_step() if with_step else None
        opt = getattr(v1.train, cls + "Optimizer")(**options)
        train = opt.minimize(loss, global_step=step)
        saver = v1.train.Saver(sharded=sharded)
        vars_ = v1.trainable_variables()
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for bx, by in data[:3]:
                sess.run(train, {x: bx, y: by})
            prefix = saver.save(sess, os.path.join(folder, "model.ckpt"), global_step=step, write_meta_graph=False)
            variables = []
            for i, var in enumerate(vars_):
                slots, slot_keys = {}, {}
                for slot_name in opt.get_slot_names():
                    slot = opt.get_slot(var, slot_name)
                    if slot is None:
                        continue
                    canonical = TF1_SLOTS[cls][slot_name]
                    slots[canonical] = sess.run(slot).tolist()
                    slot_keys[canonical] = slot.op.name
                variables.append(
                    {
                        "index": i,
                        "name": var.op.name,
                        "key": var.op.name,
                        "shape": var.shape.as_list(),
                        "slots": dict(sorted(slots.items())),
                        "slot_keys": dict(sorted(slot_keys.items())),
                    }
                )
            extra = {}
            if cls == "Adam":
                b1, b2 = opt._get_beta_accumulators()
                extra = {"beta1_power": float(sess.run(b1)), "beta2_power": float(sess.run(b2))}
            stored = {n for n, _ in tf.train.list_variables(prefix)}
            missing = [k for v in variables for k in [v["key"]] + list(v["slot_keys"].values()) if k not in stored]
            if missing:
                raise SystemExit("%s: not in the checkpoint: %s" % (stem, missing))
            bx, by = data[3]
            sess.run(train, {x: bx, y: by})
            next_weights = [{"index": i, "name": v.op.name, "value": sess.run(v).tolist()} for i, v in enumerate(vars_)]
    entry = {
        "case": stem,
        "kind": "tf1_saver",
        "family": "tf1",
        "class": cls + "Optimizer",
        "options": options,
        "model": "tf1_dense",
        "model_description": MODELS["tf1_dense"],
        "global_step": with_step,
        "prefix": os.path.relpath(prefix, env_dir).replace(os.sep, "/"),
        "files": _files(env_dir, folder),
        "native_config": {"class": "tf.compat.v1.train.%sOptimizer" % cls, **options},
        "iterations": 3,
        "variables": variables,
        "extra": extra,
        "unmatched": [],
        "next_batch": {"x": data[3][0].tolist(), "y": data[3][1].tolist()},
        "next_weights": next_weights,
    }
    if sharded:
        entry["sharding"] = (
            "tf.compat.v1.train.Saver(sharded=True); dense_1's variables on /cpu:1, the rest on /cpu:0 (two logical CPUs)"
        )
    return entry


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: export_checkpoints.py OUTDIR ENVNAME\n")
        return 2
    env_dir = os.path.join(argv[1], argv[2])
    if os.path.isdir(env_dir):
        shutil.rmtree(env_dir)
    os.makedirs(env_dir)
    saved_by = {
        "env": argv[2],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "flavour": FL.describe(),
        "kind": FL.kind,
        "keras_version": FL.keras_version,
        "default_family": FL.default_family,
    }
    todo = []
    for family, ns in R.families():
        for case in CLASSES:
            if family in case[3]:
                todo.append((family, ns, case, "ckpt", "twin"))
        adam = CLASSES[0]
        todo.append((family, ns, adam, "ckpt", "nested"))
        if hasattr(tf.train.experimental, "MaxShardSizePolicy"):
            todo.append((family, ns, adam, "sharded", "twin"))
            todo.append((family, ns, adam, "sliced", "twin"))
        if not KERAS3:
            todo.append((family, ns, adam, "save_weights", "twin"))
        todo.append((family, ns, adam, "backup", "twin"))
    cases, notes = [], []
    for family, ns, case, kind, model_kind in todo:
        try:
            cases.append(run_object_case(env_dir, family, ns, case, kind, model_kind))
        except Exception as exc:  # noqa: BLE001 - record what the real wheel refuses
            traceback.print_exc()
            notes.append(
                "%s %s %s %s: %s: %s" % (family, case[0], kind, model_kind, type(exc).__name__, str(exc).splitlines()[0][:200])
            )
    if argv[2] in TF1_ENVS:
        for case in TF1_CASES:
            cases.append(run_tf1_case(env_dir, case))
    for c in cases:
        if c.get("unmatched"):
            notes.append("%s: optimizer variables not tied to a model variable: %s" % (c["case"], c["unmatched"]))
    manifest = {"saved_by": saved_by, "cases": cases, "notes": notes}
    with open(os.path.join(env_dir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=None, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    sys.stderr.write("wrote %d cases to %s; notes:\n%s\n" % (len(cases), env_dir, "\n".join(notes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
