"""read_state of TF training checkpoints, without TensorFlow (issue 27), against the corpus written by the real wheels.

tests/data/checkpoints/<env>/manifest.json (tools/export_checkpoints.py) holds, per checkpoint, what the saver's
live optimizer held: its iteration count and every slot value per model variable (tied by the live optimizer's own
objects), and each variable's key in the checkpoint. ``read_state`` must give the same by value, tie every slot to
the same variable, and report the saver's generation. Pure: runs with no TensorFlow installed (and with it).
"""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import Any, Dict, List, Tuple

import pytest

import kerasopt_compat as koc

np = pytest.importorskip("numpy")

DATA = pathlib.Path(__file__).parent / "data" / "checkpoints"
SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
#: TF1 optimizer class -> the canonical class read_state reports
TF1_CLASS = {
    "AdamOptimizer": "Adam",
    "MomentumOptimizer": "SGD",
    "RMSPropOptimizer": "RMSprop",
    "AdagradOptimizer": "Adagrad",
    "FtrlOptimizer": "Ftrl",
    "AdadeltaOptimizer": "Adadelta",
}


def _cases() -> List[Tuple[str, Dict[str, Any]]]:
    out = []
    for manifest in sorted(DATA.glob("*/manifest.json")):
        env = manifest.parent.name
        for case in json.loads(manifest.read_text())["cases"]:
            out.append((env, case))
    return out


CASES = _cases()


def _sliced(case: Dict[str, Any]) -> bool:
    return "sliced" in case["case"]


def _keras3_backup(case: Dict[str, Any]) -> bool:
    return case["kind"] == "backup" and case["family"] == "keras3"


#: the checkpoints read_state reads; the others are tested below for what they give
READ = [(env, c) for env, c in CASES if not _sliced(c) and not _keras3_backup(c)]


def test_the_corpus_is_there():
    envs = {env for env, _ in CASES}
    assert {"tf29", "tf211", "tf215", "tf221", "tfkeras221"} <= envs
    kinds = {(c["family"], c["kind"]) for _, c in CASES}
    assert {("legacy", "ckpt"), ("keras2", "ckpt"), ("keras3", "ckpt"), ("tf1", "tf1_saver")} <= kinds
    assert {("legacy", "backup"), ("keras2", "backup"), ("legacy", "save_weights"), ("keras2", "save_weights")} <= kinds
    assert any(".data-00001-of-00002" in f for _, c in READ for f in c["files"])  # a sharded one is read


def _check(state: koc.OptimizerState, case: Dict[str, Any]) -> None:
    family = case["family"]
    assert state.saver.generation == ("legacy" if family == "tf1" else family)
    assert state.saver.format == "checkpoint"
    assert state.saver.layout == ("tf1" if family == "tf1" else None)
    assert state.iterations == case["iterations"]
    assert not state.untied, state.notes
    if case["kind"] == "backup":
        assert state.extra["epoch"] == case["epoch"]
    expected_class = TF1_CLASS.get(case["class"], case["class"])
    if "class_name" in state.extra:
        assert state.extra["class_name"] == expected_class
    else:  # only where the variables carry no scope and several classes store the slots alike
        assert any("store them alike" in n for n in state.notes), state.notes
    by_name = {v.name: v for v in state.variables}
    assert len(by_name) == len(state.variables) == len(case["variables"])
    paths = state.extra.get("object_paths", {})
    for want in case["variables"]:
        got = by_name[want["name"]]
        assert list(got.shape) == want["shape"]
        assert sorted(got.slots) == sorted(want["slots"]), want["name"]
        for slot, value in want["slots"].items():
            np.testing.assert_allclose(np.asarray(got.slots[slot]), np.asarray(value, dtype="float32"), rtol=1e-6, atol=0)
        if family != "tf1":  # tied to the very variable the saver's optimizer held, by its checkpoint key
            assert paths[want["name"]] + SUFFIX == want["key"]
    for key, value in case["extra"].items():
        assert state.extra[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("env, case", READ, ids=["%s-%s" % (e, c["case"]) for e, c in READ])
def test_read_state_equals_the_savers_state(env, case):
    state = koc.read_state(DATA / env / case["prefix"])
    _check(state, case)


def _one(env: str, name: str) -> Dict[str, Any]:
    return next(c for e, c in CASES if e == env and c["case"] == name)


@pytest.mark.parametrize(
    "env, name, form",
    [
        ("tf215", "keras2_adam_ckpt", "folder"),
        ("tf215", "keras2_adam_ckpt", "index"),
        ("tf215", "keras2_adam_ckpt", "data"),
        ("tf29", "legacy_adam_save_weights", "folder"),
        ("tf215", "tf1_adam", "folder"),
        ("tf215", "keras2_adam_backup", "chief"),
        ("tf221", "keras3_adam_ckpt", "folder"),
    ],
)
def test_every_way_of_naming_a_checkpoint(env, name, form):
    case = _one(env, name)
    prefix = DATA / env / case["prefix"]
    if form == "folder":
        path = prefix.parent
    elif form == "index":
        path = pathlib.Path(str(prefix) + ".index")
    elif form == "data":
        path = pathlib.Path(str(prefix) + ".data-00000-of-00001")
    else:  # Keras 2's BackupAndRestore writes backup/chief/ckpt-N; the prefix here is the backup folder
        path = next((DATA / env / case["prefix"]).glob("chief"))
    _check(koc.read_state(path), case)


def test_tf1_iterations_from_beta1_power_without_global_step():
    case = _one("tf215", "tf1_adam_no_global_step")
    state = koc.read_state(DATA / "tf215" / case["prefix"])
    assert state.iterations == 3 and "global_step" not in state.extra
    assert any("beta1_power" in n for n in state.notes)


def test_sliced_shards_are_refused_with_the_package_error():
    sliced = [(e, c) for e, c in CASES if _sliced(c)]
    assert sliced  # tf221 and tfkeras221 write them (MaxShardSizePolicy splitting tensors across shards)
    for env, case in sliced:
        with pytest.raises(koc.ModelFileError):
            koc.read_state(DATA / env / case["prefix"])


# --------------------------------------------------------------------------- hostile checkpoints


def _copy_case(tmp_path: pathlib.Path, env: str, name: str) -> Tuple[pathlib.Path, Dict[str, Any]]:
    case = _one(env, name)
    src = (DATA / env / case["prefix"]).parent
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst / pathlib.Path(case["prefix"]).name, case


@pytest.mark.parametrize("name", ["keras2_adam_ckpt", "legacy_adam_ckpt", "tf1_adam_sharded"])
def test_a_truncated_data_shard(tmp_path, name):
    prefix, _ = _copy_case(tmp_path, "tf215", name)
    shards = sorted(prefix.parent.glob(prefix.name + ".data-*"))
    last = shards[-1]
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(koc.ModelFileError, match="truncated|past the end"):
        koc.read_state(prefix)


def test_a_missing_data_shard(tmp_path):
    prefix, _ = _copy_case(tmp_path, "tf215", "tf1_adam_sharded")
    (prefix.parent / (prefix.name + ".data-00001-of-00002")).unlink()
    with pytest.raises(koc.ModelFileError, match="cannot read the data file"):
        koc.read_state(prefix)


@pytest.mark.parametrize("target", ["../elsewhere/ckpt-3", "/etc/ckpt-3", "sub/../../x/ckpt-3"])
def test_a_checkpoint_file_naming_a_path_outside_its_folder(tmp_path, target):
    prefix, _ = _copy_case(tmp_path, "tf215", "keras2_adam_ckpt")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(prefix.parent, elsewhere)  # a readable checkpoint is there: still refused
    (prefix.parent / "checkpoint").write_text('model_checkpoint_path: "%s"\n' % target)
    with pytest.raises(koc.ModelFileError, match="outside its folder"):
        koc.read_state(prefix.parent)


def test_a_checkpoint_file_through_a_symlink_out_of_the_folder(tmp_path):
    prefix, _ = _copy_case(tmp_path, "tf215", "keras2_adam_ckpt")
    other, _ = _copy_case(tmp_path / "o", "tf215", "legacy_adam_ckpt")
    (prefix.parent / "link").symlink_to(other.parent, target_is_directory=True)
    (prefix.parent / "checkpoint").write_text('model_checkpoint_path: "link/ckpt-3"\n')
    with pytest.raises(koc.ModelFileError, match="outside its folder"):
        koc.read_state(prefix.parent)


@pytest.mark.parametrize(
    "text", ["", "model_checkpoint_path: ckpt-3\n", 'all_model_checkpoint_paths: "ckpt-3"\n', 'model_checkpoint_path: ""\n']
)
def test_a_malformed_checkpoint_file(tmp_path, text):
    prefix, _ = _copy_case(tmp_path, "tf215", "keras2_adam_ckpt")
    (prefix.parent / "checkpoint").write_text(text)
    with pytest.raises(koc.ModelFileError, match="checkpoint"):
        koc.read_state(prefix.parent)


def _rewrite(prefix: pathlib.Path, graph_bytes: bytes) -> None:
    """Write the checkpoint again (the test-only bundle writer of tests/test_ckpt.py) with another object graph."""
    from test_ckpt import write_bundle

    from kerasopt_compat._files.bundle import OBJECT_GRAPH_KEY, Bundle

    bundle = Bundle(prefix)
    tensors = {k: (e.dtype, e.shape, bundle.tensor(k).tobytes()) for k, e in bundle.entries.items() if k != OBJECT_GRAPH_KEY}
    tensors[OBJECT_GRAPH_KEY] = (7, (), graph_bytes)
    for old in prefix.parent.glob(prefix.name + ".*"):
        old.unlink()
    write_bundle(prefix, tensors)


def test_the_test_writer_keeps_a_good_checkpoint_readable(tmp_path):
    from test_ckpt import encode_graph

    from kerasopt_compat._files.bundle import Bundle

    prefix, case = _copy_case(tmp_path, "tf215", "legacy_adam_ckpt")
    _rewrite(prefix, encode_graph(Bundle(prefix).object_graph()))
    _check(koc.read_state(prefix), case)


@pytest.mark.parametrize("corruption", ["garbage", "truncated", "slot-edge-out-of-range", "slot-edge-to-a-layer"])
def test_a_corrupt_object_graph(tmp_path, corruption):
    from test_ckpt import encode_graph

    from kerasopt_compat._files.bundle import Bundle, ObjectGraph

    prefix, _ = _copy_case(tmp_path, "tf215", "legacy_adam_ckpt")
    graph = Bundle(prefix).object_graph()
    good = encode_graph(graph)
    if corruption == "garbage":
        data = b"\xff" * 40
    elif corruption == "truncated":
        data = good[: len(good) // 2]
    else:
        opt = graph.follow("optimizer")
        assert opt is not None
        nodes = list(graph.nodes)
        ref = nodes[opt].slot_variables[0]
        if corruption == "slot-edge-out-of-range":
            bad = ref._replace(slot=len(nodes) + 5)
            nodes[opt] = nodes[opt]._replace(slot_variables=(bad,) + nodes[opt].slot_variables[1:])
            fake = object.__new__(ObjectGraph)  # encode_graph only reads .nodes; the constructor would refuse it
            fake.nodes = tuple(nodes)
            data = encode_graph(fake)
        else:
            layer = graph.follow("model", "layer_with_weights-0")
            bad = ref._replace(original=layer)
            nodes[opt] = nodes[opt]._replace(slot_variables=(bad,) + nodes[opt].slot_variables[1:])
            data = encode_graph(ObjectGraph(nodes, graph.where))
    _rewrite(prefix, data)
    with pytest.raises(koc.ModelFileError):
        koc.read_state(prefix)


def test_a_checkpoint_without_an_optimizer_says_so(tmp_path):
    from test_ckpt import encode_graph

    from kerasopt_compat._files.bundle import Bundle, ObjectGraph

    prefix, _ = _copy_case(tmp_path, "tf215", "legacy_adam_ckpt")
    graph = Bundle(prefix).object_graph()
    nodes = list(graph.nodes)
    nodes[0] = nodes[0]._replace(children=tuple(c for c in nodes[0].children if c[0] != "optimizer"))
    model = graph.follow("model")
    nodes[model] = nodes[model]._replace(children=tuple(c for c in nodes[model].children if c[0] != "optimizer"))
    _rewrite(prefix, encode_graph(ObjectGraph(nodes, graph.where)))
    state = koc.read_state(prefix)
    assert state.variables == () and state.iterations is None and state.notes


@pytest.mark.parametrize("name", ["legacy_adam_ckpt", "keras2_adam_ckpt"])
def test_an_optimizer_under_another_name_is_found_by_its_shape(tmp_path, name):
    """tf.train.Checkpoint(net=model, opt=optimizer) of a custom loop: no node is called "optimizer"."""
    from test_ckpt import encode_graph

    from kerasopt_compat._files.bundle import Bundle, ObjectGraph

    prefix, case = _copy_case(tmp_path, "tf215", name)
    graph = Bundle(prefix).object_graph()
    nodes = list(graph.nodes)
    nodes[0] = nodes[0]._replace(children=tuple(("opt" if c[0] == "optimizer" else c[0], c[1]) for c in nodes[0].children))
    model = graph.follow("model")
    nodes[model] = nodes[model]._replace(children=tuple(c for c in nodes[model].children if c[0] != "optimizer"))
    _rewrite(prefix, encode_graph(ObjectGraph(nodes, graph.where)))
    state = koc.read_state(prefix)
    assert state.iterations == case["iterations"] and len(state.variables) == len(case["variables"])
    assert all(paths.startswith("model/") for paths in state.extra["object_paths"].values())


def test_a_prefix_that_is_no_checkpoint(tmp_path):
    with pytest.raises(koc.ModelFileError):
        koc.read_state(tmp_path / "nothing-here")
    (tmp_path / "folder").mkdir()
    with pytest.raises(koc.ModelFileError):
        koc.read_state(tmp_path / "folder")


# --------------------------------------------------------------------------- against TensorFlow's own reader


def _tf_installed() -> bool:
    from kerasopt_compat._optional import is_installed

    return is_installed("tensorflow")


@pytest.mark.tf
@pytest.mark.skipif(not _tf_installed(), reason="needs TensorFlow")
@pytest.mark.parametrize("env, case", READ, ids=["%s-%s" % (e, c["case"]) for e, c in READ])
def test_every_tensor_equals_tf_load_checkpoint(env, case):
    """Every tensor of every corpus checkpoint read by the pure Bundle equals TensorFlow's own reading, and
    read_state's prefix is the one tf.train.latest_checkpoint finds in the folder."""
    import tensorflow as tf

    from kerasopt_compat._files.bundle import Bundle
    from kerasopt_compat._files.checkpoint import checkpoint_prefix

    prefix = str(DATA / env / case["prefix"])
    if case["kind"] == "backup":
        prefix = tf.train.latest_checkpoint(str(DATA / env / case["prefix"] / "chief"))
    else:
        folder = str(pathlib.Path(prefix).parent)
        assert checkpoint_prefix(folder) == tf.train.latest_checkpoint(folder) == prefix
    reader = tf.train.load_checkpoint(prefix)
    ours = Bundle(prefix)
    assert sorted(reader.get_variable_to_shape_map()) == ours.keys()
    for key in ours.keys():
        value = reader.get_tensor(key)
        mine = ours.tensor(key)
        if isinstance(mine, list):
            assert [value] == mine
        else:
            assert mine.dtype == value.dtype and mine.shape == value.shape, key
            np.testing.assert_array_equal(mine, value, err_msg=key)


#: every layer's place (position among the layers with weights, nested models inside) and attribute, per model
ADDRESSES = {
    "twin": [(0, "kernel"), (0, "bias"), (1, "kernel"), (1, "bias")],
    "nested": [(0, "kernel"), (0, "bias"), (1, 0, "kernel"), (1, 0, "bias"), (2, "kernel"), (2, "bias")],
}


@pytest.mark.parametrize("env, case", READ, ids=["%s-%s" % (e, c["case"]) for e, c in READ])
def test_checkpoint_variables_place_every_model_variable_alike_in_every_generation(env, case):
    """checkpoint_variables (the model's weights of a checkpoint, for restore_checkpoint) gives each variable the
    same structural address whichever generation wrote it (Keras 2 ``layer_with_weights-K``, Keras 3 layer lists),
    tied to the bundle key the saver's own objects had; TF1 checkpoints give the variable names."""
    from kerasopt_compat._files.checkpoint import checkpoint_variables, checkpoint_weights

    prefix = DATA / env / case["prefix"]
    kind, variables = checkpoint_variables(str(prefix))
    weights = checkpoint_weights(str(prefix))
    if case["family"] == "tf1":
        assert kind == "tf1"
        assert sorted(v.path for v in variables) == sorted(var["name"] for var in case["variables"])
        assert all(v.address is None for v in variables)
    else:
        assert kind == "object"
        by_key = {v.key: v for v in variables}
        got = [by_key[var["key"]].address for var in case["variables"] if "key" in var]
        assert got == ADDRESSES[case["model"]][: len(got)] and len(got) == len(case["variables"])
        assert len(variables) == len(case["variables"])  # no optimizer variable, no save counter
        assert all(v.path.split("/")[0] in ("model", "layer_with_weights-0", "layer_with_weights-1") for v in variables)
    assert sorted(weights) == sorted(v.path for v in variables)
    for v in variables:
        assert weights[v.path].shape == v.shape and np.all(np.isfinite(weights[v.path]))
