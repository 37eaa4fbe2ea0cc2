"""read_state of TF training checkpoints, without TensorFlow (issue 27), against the corpus written by the real wheels.

tests/data/checkpoints/<env>/manifest.json (tools/export_checkpoints.py) holds, per checkpoint, what the saver's
live optimizer held: its iteration count and every slot value per model variable (tied by the live optimizer's own
objects), and each variable's key in the checkpoint. ``read_state`` must give the same by value, tie every slot to
the same variable, and report the saver's generation. Pure: runs with no TensorFlow installed (and with it).
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import struct
from typing import Any, Dict, List, Tuple

import pytest

import kerasopt_compat as koc
from kerasopt_compat._state.slots import StoredArray

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
READ = [(env, c) for env, c in CASES if not _keras3_backup(c)]


def test_the_corpus_is_there():
    envs = {env for env, _ in CASES}
    assert {"tf29", "tf211", "tf215", "tf221", "tfkeras221"} <= envs
    kinds = {(c["family"], c["kind"]) for _, c in CASES}
    assert {("legacy", "ckpt"), ("keras2", "ckpt"), ("keras3", "ckpt"), ("tf1", "tf1_saver")} <= kinds
    assert {("legacy", "backup"), ("keras2", "backup"), ("legacy", "save_weights"), ("keras2", "save_weights")} <= kinds
    assert any(".data-00001-of-00002" in f for _, c in READ for f in c["files"])  # a sharded one is read
    assert {env for env, c in READ if _sliced(c)} == {"tf221", "tfkeras221"}  # tensors split into slices are read


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


@pytest.mark.parametrize("env, case", READ, ids=["%s-%s" % (e, c["case"]) for e, c in READ])
def test_lazy_read_state_reads_the_same_values_one_tensor_at_a_time(env, case):
    """read_state(lazy=True): every non-scalar slot a StoredArray of the right shape and dtype, read when asked."""
    state = koc.read_state(DATA / env / case["prefix"], lazy=True)
    stored = [a for v in state.variables for a in v.slots.values() if isinstance(a, StoredArray)]
    assert len(stored) == sum(1 for v in state.variables for a in v.slots.values() if len(v.shape)) > 0
    for a in stored:
        value = a.read()
        assert value.shape == a.shape and value.dtype == a.dtype
    _check(state, case)  # by value, through numpy.asarray


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


@pytest.mark.parametrize(
    "env, case", [(e, c) for e, c in CASES if _sliced(c)], ids=lambda x: x if isinstance(x, str) else x["case"]
)
def test_sliced_checkpoints_hold_sliced_tensors(env, case):
    """The sliced cases really split a tensor across shards (read exactly by test_read_state_equals_the_savers_state)."""
    from kerasopt_compat._files.bundle import Bundle

    bundle = Bundle(DATA / env / case["prefix"])
    sliced = [e for e in bundle.entries.values() if e.sliced]
    assert sliced and len(bundle.slice_entries) >= 2
    assert {e.shard_id for e in bundle.slice_entries.values()} == {0, 1}  # across the two shards
    assert all(k.startswith(b"\x00") for k in bundle.slice_entries)


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


# --------------------------------------------------------------------------- hostile sliced tensors

SLICED_KEY = "optimizer/_trainable_variables/3/.ATTRIBUTES/VARIABLE_VALUE"  # shape [4]: slices [0:2], [2:3], [3:4]


def _sliced_index(tmp_path: pathlib.Path, slices, *, drop=(), add=None, dim: int = 4) -> pathlib.Path:
    """The tf221 sliced checkpoint with its index written again: the sliced tensor's entry listing ``slices``
    ((start, length) per slice), the slice entries under ``drop`` left out, ``add`` (extents -> the stored
    slice whose entry to copy) added. The data files are kept."""
    from test_ckpt import _block, _tag

    from kerasopt_compat._files import protowire as pw
    from kerasopt_compat._files.bundle import _table_entries, slice_key

    prefix, _ = _copy_case(tmp_path, "tf221", "keras3_adam_sliced")
    index = pathlib.Path(str(prefix) + ".index")
    entries = dict(_table_entries(index.read_bytes(), str(index)))
    for extents in drop:
        del entries[slice_key(SLICED_KEY, extents)]
    for extents, copy_of in (add or {}).items():
        entries[slice_key(SLICED_KEY, extents)] = entries[slice_key(SLICED_KEY, copy_of)]
    body = b"".join(  # one TensorSliceProto per slice, one Extent each (the tensor is 1-D)
        pw.len_field(
            7,
            pw.len_field(
                1,
                (_tag(1, 0) + pw.encode_varint(start % (1 << 64)) if start else b"")
                + _tag(2, 0)
                + pw.encode_varint(length % (1 << 64)),
            ),
        )
        for start, length in slices
    )
    dims = pw.len_field(2, _tag(1, 0) + pw.encode_varint(dim))
    entries[SLICED_KEY.encode()] = _tag(1, 0) + pw.encode_varint(1) + pw.len_field(2, dims) + body
    block = _block(sorted(entries.items()))
    index_block = _block([(b"\xff", pw.encode_varint(0) + pw.encode_varint(len(block) - 5))])
    meta = _block([])
    handles = pw.encode_varint(len(block) + len(index_block)) + pw.encode_varint(len(meta) - 5)
    handles += pw.encode_varint(len(block)) + pw.encode_varint(len(index_block) - 5)
    footer = handles + b"\0" * (40 - len(handles)) + struct.pack("<Q", 0xDB4775248B80FB57)
    index.write_bytes(block + index_block + meta + footer)
    return prefix


def test_the_rewritten_sliced_index_reads_as_before(tmp_path):
    prefix = _sliced_index(tmp_path, [(0, 2), (2, 1), (3, 1)])
    _check(koc.read_state(prefix), _one("tf221", "keras3_adam_sliced"))


@pytest.mark.parametrize(
    "slices, drop, add, error",
    [
        ([(0, 2), (2, 1), (3, 2)], (), {((3, 2),): ((0, 2),)}, r"slice \[3, 5\) .* size 4: out of range"),
        ([(0, 2), (2, 1), (-1, 1)], (), {}, "out of range"),
        ([(0, 2), (2, 1), (3, 0)], (), {}, "out of range"),
        ([(0, 2), (1, 2), (3, 1)], (), {((1, 2),): ((0, 2),)}, r"slice \[1:3\] overlaps"),
        ([(0, 2), (3, 1)], (), {}, "cover 3 of its 4 elements: a slice is missing"),
        ([(0, 2), (2, 1), (3, 1)], [((3, 1),)], {}, r"the index lacks its slice \[3:4\]"),
        ([(0, 2), (2, 2)], (), {((2, 2),): ((2, 1),)}, r"slice \[2:4\] is stored as dtype 1, shape \[1\], 4 bytes"),
        (
            [(0, 2), (2, 1), (3, 1)],
            [((2, 1),)],
            {((2, 1),): ((0, 2),)},
            r"slice \[2:3\] is stored as dtype 1, shape \[2\], 8 bytes",
        ),
    ],
    ids=["past-the-end", "negative-start", "empty", "overlap", "gap", "missing", "short", "wrong-shape"],
)
def test_a_hostile_sliced_tensor(tmp_path, slices, drop, add, error):
    from kerasopt_compat._files.bundle import Bundle

    prefix = _sliced_index(tmp_path, slices, drop=drop, add=add)
    with pytest.raises(koc.ModelFileError, match=error) as info:
        Bundle(prefix).tensor(SLICED_KEY)
    assert SLICED_KEY in str(info.value)  # the message names the tensor


def test_slices_claiming_more_bytes_than_their_shard_holds(tmp_path):
    """A tensor of 4000 elements in 2000 slices all stored on the same 8 bytes: refused before any memory is taken
    for it (the memory a sliced tensor takes is bounded by its files, as for any tensor)."""
    from kerasopt_compat._files.bundle import Bundle

    slices = [(2 * k, 2) for k in range(2000)]
    prefix = _sliced_index(tmp_path, slices, add={((2 * k, 2),): ((0, 2),) for k in range(1, 2000)}, dim=4000)
    with pytest.raises(koc.ModelFileError, match=r"its slices in .*data-0000\d-of-00002 claim 16000 bytes, the file holds"):
        Bundle(prefix).tensor(SLICED_KEY)


def test_a_corrupt_slice_fails_its_crc(tmp_path):
    from kerasopt_compat._files.bundle import Bundle, slice_key

    prefix, _ = _copy_case(tmp_path, "tf221", "keras3_adam_sliced")
    bundle = Bundle(prefix)
    part = bundle.slice_entries[slice_key(SLICED_KEY, ((2, 1),))]
    shard = pathlib.Path(bundle.shard_path(part.shard_id))
    data = bytearray(shard.read_bytes())
    data[part.offset] ^= 0x10
    shard.write_bytes(bytes(data))
    with pytest.raises(koc.ModelFileError, match=r"CRC32C") as info:
        Bundle(prefix).tensor(SLICED_KEY)
    assert SLICED_KEY + "[2:3]" in str(info.value)


def test_slice_keys_are_tensorflows_ordered_code():
    """EncodeTensorNameSlice's keys, byte by byte (ordered_code.cc's documented examples and the corpus)."""
    from kerasopt_compat._files.bundle import _ordered_signed, slice_key

    assert _ordered_signed(0) == b"\x80" and _ordered_signed(-1) == b"\x7f" and _ordered_signed(63) == b"\xbf"
    assert _ordered_signed(64) == b"\xc0\x40" and _ordered_signed(-65) == b"\x3f\xbf"
    assert _ordered_signed(0x424242) == b"\xf0\x42\x42\x42" and _ordered_signed(-0x800) == b"\x38\x00"
    assert _ordered_signed(2**55) == b"\xff\x80\x80" + b"\x00" * 6 and _ordered_signed(2**62) == b"\xff\xc0\x40" + b"\x00" * 7
    assert _ordered_signed(2**63 - 1) == b"\xff\xc0\x7f" + b"\xff" * 7
    assert slice_key("a\x00b\xff", ((2, -1),)) == b"\x00a\x00\xffb\xc3\xbf\x00\x01\x01\x01\x82\x7f"


@pytest.mark.tf
@pytest.mark.skipif(not _tf_installed(), reason="needs TensorFlow")
def test_tensors_tensorflow_slices_equal_tf_load_checkpoint(tmp_path):
    """Tensors TF 2.16+ splits into many slices (starts past one byte of ordered code) read as TF reads them."""
    import tensorflow as tf

    from kerasopt_compat._files.bundle import Bundle

    policy = getattr(tf.train.experimental, "MaxShardSizePolicy", None)
    if policy is None:
        pytest.skip("TF %s has no MaxShardSizePolicy (TF 2.16+): it writes no sliced tensors" % tf.__version__)
    rng = np.random.default_rng(27)
    values = {
        "tall": rng.standard_normal((300, 7)).astype("float32"),
        "wide": rng.standard_normal((3, 2000)).astype("float64"),
        "long": np.arange(20000, dtype="int64"),
        "half": rng.standard_normal((40, 50)).astype("float16"),
        "small": np.arange(3, dtype="int32"),
    }
    ckpt = tf.train.Checkpoint(**{k: tf.Variable(v) for k, v in values.items()})
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy(max_shard_size=4000))
    prefix = ckpt.write(str(tmp_path / "ckpt"), options=options)
    ours = Bundle(prefix)
    starts = [start for e in ours.entries.values() for extents in e.slices for start, _ in extents]
    assert max(starts) >= 8192  # three-byte ordered code
    reader = tf.train.load_checkpoint(prefix)
    assert sorted(reader.get_variable_to_shape_map()) == ours.keys()
    for key in ours.keys():
        mine = ours.tensor(key)
        if isinstance(mine, list):
            continue
        value = reader.get_tensor(key)
        assert mine.dtype == value.dtype and mine.shape == value.shape, key
        np.testing.assert_array_equal(mine, value, err_msg=key)
    for name, value in values.items():
        np.testing.assert_array_equal(ours.tensor(name + "/.ATTRIBUTES/VARIABLE_VALUE"), value)


# --------------------------------------------------------------------------- Keras 3 BackupAndRestore folders

#: a Dense layer's variables in its weights-file group: vars/0 the kernel, vars/1 the bias
_DENSE_VARS = {"kernel": 0, "bias": 1}


def _check_keras3_backup(state: koc.OptimizerState, case: Dict[str, Any]) -> None:
    assert (state.saver.generation, state.saver.format) == ("keras3", "checkpoint")
    assert state.optimizer is None  # the weights file stores no optimizer config
    assert state.iterations == case["iterations"] and state.extra["epoch"] == case["epoch"]
    assert state.extra["class_name"] == case["class"]
    assert not state.untied, state.notes
    assert len(state.variables) == len(case["variables"])
    for want in case["variables"]:
        got = state.variables[want["index"]]
        layer, var = want["path"].split("/")[-2:]
        assert got.index == want["index"] and list(got.shape) == want["shape"]
        assert got.model_path == "layers/%s/vars/%d" % (layer, _DENSE_VARS[var])  # tied by the file's layer paths
        assert got.tie == "position" and got.name is None
        assert sorted(got.slots) == sorted(want["slots"])
        for slot, value in want["slots"].items():
            np.testing.assert_allclose(np.asarray(got.slots[slot]), np.asarray(value, dtype="float32"), rtol=1e-6, atol=0)
    for key, value in case["extra"].items():
        assert state.extra[key] == pytest.approx(value, rel=1e-6), key


KERAS3_BACKUPS = [(e, c) for e, c in CASES if _keras3_backup(c)]


@pytest.mark.parametrize("env, case", KERAS3_BACKUPS, ids=["%s-%s" % (e, c["case"]) for e, c in KERAS3_BACKUPS])
def test_a_keras3_backup_folder_equals_the_savers_state(env, case):
    pytest.importorskip("h5py")
    folder = DATA / env / case["prefix"]
    assert sorted(p.name for p in folder.iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    _check_keras3_backup(koc.read_state(folder), case)


def _copy_backup(tmp_path: pathlib.Path) -> Tuple[pathlib.Path, Dict[str, Any]]:
    pytest.importorskip("h5py")
    env, case = KERAS3_BACKUPS[0]
    dst = tmp_path / "backup"
    shutil.copytree(DATA / env / case["prefix"], dst)
    return dst, case


@pytest.mark.parametrize(
    "text, error",
    [
        ('{"epoch": "1", "batch": 0}', "'epoch' is '1', not a count"),
        ('{"epoch": -1}', "not a count"),
        ('{"epoch": true}', "not a count"),
        ('{"batch": 3}', "'epoch' is None"),
        ('{"epoch": 1, "batch": 1.5}', "'batch' is 1.5"),
        ("[1]", "'epoch' is None"),
        ("{", "not valid JSON"),
    ],
)
def test_a_malformed_training_metadata(tmp_path, text, error):
    folder, _ = _copy_backup(tmp_path)
    (folder / "training_metadata.json").write_text(text)
    with pytest.raises(koc.ModelFileError, match=error):
        koc.read_state(folder)


def test_a_mid_epoch_backup_reports_its_batch(tmp_path):
    folder, case = _copy_backup(tmp_path)
    (folder / "training_metadata.json").write_text('{"epoch": 1, "batch": 7}')
    state = koc.read_state(folder)
    assert (state.extra["epoch"], state.extra["batch"]) == (1, 7) and state.iterations == case["iterations"]


def test_a_backup_weights_file_through_a_symlink_out_of_the_folder(tmp_path):
    folder, _ = _copy_backup(tmp_path)
    outside = tmp_path / "elsewhere.weights.h5"
    (folder / "latest.weights.h5").rename(outside)
    (folder / "latest.weights.h5").symlink_to(outside)
    with pytest.raises(koc.ModelFileError):
        koc.read_state(folder)


def test_a_backup_weights_file_that_is_no_hdf5(tmp_path):
    folder, _ = _copy_backup(tmp_path)
    (folder / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(koc.ModelFileError):
        koc.read_state(folder)


def _edit_weights(folder: pathlib.Path, edit) -> None:
    import h5py

    with h5py.File(folder / "latest.weights.h5", "r+") as fh:
        edit(fh)


def _rename_optimizer(fh):
    fh["optimizer/vars"].attrs["name"] = "my_optimizer"


def _add_a_conv_layer(fh):
    fh.create_group("layers/conv2d/vars").create_dataset("0", data=np.zeros((1, 1, 4, 4), "float32"))


def _drop_a_slot(fh):
    del fh["optimizer/vars/9"]


def _add_a_norm_layer(fh):
    fh.create_group("layers/batch_normalization/vars").create_dataset("0", data=np.zeros((4,), "float32"))


def _nest_the_layers(fh):  # a layer group holding another layer group directly (not under "layers")
    fh["layers"].move("dense", "dense_1/dense")


@pytest.mark.parametrize(
    "edit, note",
    [
        (_rename_optimizer, "name 'my_optimizer' is no class's default name"),
        (_add_a_conv_layer, r"layers of several classes \(conv2d, dense\)"),
        (_drop_a_slot, "fit no slot layout of Adam"),
        (_add_a_norm_layer, r"several classes"),
        (_nest_the_layers, r"layers/dense_1 stores sub-objects \['dense'\]"),
    ],
    ids=["unknown-optimizer-name", "two-layer-classes", "a-slot-missing", "batch-norm", "odd-nesting"],
)
def test_a_backup_whose_layout_the_file_does_not_determine_is_left_untied(tmp_path, edit, note):
    """Never tied by bare position: without the model config, a tie needs the file's own layer paths to fix
    the variables' order and exactly one slot layout to fit; otherwise untied, with a note saying why."""
    folder, case = _copy_backup(tmp_path)
    _edit_weights(folder, edit)
    state = koc.read_state(folder)
    assert state.untied and state.variables == ()
    assert any(re.search(note, n) for n in state.notes), state.notes
    assert state.extra["epoch"] == case["epoch"] and state.extra["raw_iterations"] == case["iterations"]


def test_a_nested_model_of_one_class_is_tied(tmp_path):
    """A model nested in the file (its own ``layers``) keeps the order its numbering gives."""
    folder, case = _copy_backup(tmp_path)

    def nest(fh):
        fh["layers"].move("dense", "sequential/layers/dense")
        fh["layers"].move("dense_1", "sequential/layers/dense_1")

    _edit_weights(folder, nest)
    state = koc.read_state(folder)
    assert not state.untied, state.notes
    assert [v.model_path for v in state.variables] == [
        "layers/sequential/layers/%s/vars/%d" % (layer, i) for layer in ("dense", "dense_1") for i in (0, 1)
    ]


def _keras3_installed() -> bool:
    from kerasopt_compat._optional import is_installed

    return is_installed("keras")


@pytest.mark.tf
@pytest.mark.skipif(not _keras3_installed(), reason="needs Keras")
@pytest.mark.parametrize(
    "cls, options, tied",
    [
        ("Adam", {"amsgrad": True}, True),
        ("Adam", {"use_ema": True}, True),
        ("AdamW", {}, True),
        ("Nadam", {}, True),
        ("Adagrad", {}, True),
        ("Ftrl", {}, True),
        # one slot block per variable either way: the file cannot tell momentum from use_ema, centered from momentum
        ("SGD", {"momentum": 0.9, "nesterov": True}, False),
        ("RMSprop", {"centered": True}, False),
    ],
    ids=["adam-amsgrad", "adam-ema", "adamw", "nadam", "adagrad", "ftrl", "sgd-momentum", "rmsprop-centered"],
)
def test_a_backup_the_installed_keras3_writes_is_tied_as_keras_ties_it(tmp_path, cls, options, tied):
    """A BackupAndRestore folder written here by the installed Keras 3 (Dense layers of different shapes):
    every slot read_state ties to a model variable is the live optimizer's slot of that very variable
    (found by its own path, ``{variable path with _}_{slot}``), by value; the epoch and the step count are
    the live ones."""
    import keras  # the installed Keras: this test writes the backup with it

    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip("Keras %s writes a TF checkpoint backup (tested by the corpus)" % keras.__version__)
    from kerasopt_compat._state.slots import SLOTS

    keras.utils.set_random_seed(27)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5), keras.layers.Dense(2), keras.layers.Dense(1)])
    optimizer = getattr(keras.optimizers, cls)(learning_rate=0.01, **options)
    model.compile(optimizer=optimizer, loss="mse")
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    y = np.sin(x).sum(axis=1, keepdims=True)
    backup = tmp_path / "backup"
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=2,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False)],
    )
    state = koc.read_state(backup)
    assert state.extra["epoch"] == 2
    h5py = pytest.importorskip("h5py")
    with h5py.File(str(backup / "latest.weights.h5"), "r") as fh:
        named = "name" in fh["optimizer/vars"].attrs
    if not named:  # Keras 3.3 writes no optimizer name into the file: nothing says the class, nothing is tied
        assert state.untied and state.variables == () and "class_name" not in state.extra
        assert any("stores no optimizer config" in n and "pass the optimizer yourself" in n for n in state.notes)
        return
    assert state.extra["class_name"] == cls
    if not tied:  # never tied by bare position: left untied, the note naming the layouts that fit
        assert state.untied and state.variables == () and state.extra["raw_iterations"] == 4
        assert any("slot layouts of %s" % cls in n and "does not say which" in n for n in state.notes), state.notes
        return
    assert not state.untied, state.notes
    assert state.iterations == int(optimizer.iterations.numpy()) == 4
    live = {v.path.split("/", 1)[-1]: np.asarray(v.numpy()) for v in optimizer.variables}
    own = {row.canonical: row.keras3 for row in SLOTS[cls]}
    own["average"] = "average"
    assert len(state.variables) == len(model.trainable_variables)
    tied = 0
    for got, var in zip(state.variables, model.trainable_variables):
        assert got.shape == tuple(var.shape)
        for slot, value in got.slots.items():
            name = "%s_%s" % (var.path.replace("/", "_"), own[slot])
            np.testing.assert_array_equal(np.asarray(value), live[name], err_msg=name)
            tied += 1
    assert tied == sum(1 for v in optimizer.variables if np.asarray(v.numpy()).ndim > 0)


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


KERAS3_CKPTS = [(e, c) for e, c in READ if c["family"] == "keras3"]


@pytest.mark.parametrize("env, case", KERAS3_CKPTS, ids=["%s-%s" % (e, c["case"]) for e, c in KERAS3_CKPTS])
def test_keras3_slots_tie_by_the_optimizers_slot_lists(env, case):
    """Keras 3 on TF: each slot is the k-th item of one of the optimizer's slot lists (``_momentums``...), the slot
    of ``_trainable_variables[k]``; every variable's ``model_path`` is its object path in the checkpoint."""
    state = koc.read_state(DATA / env / case["prefix"])
    assert not state.untied, state.notes
    assert {v.tie for v in state.variables} == {"object-graph"}
    by_name = {v.name: v for v in state.variables}
    for want in case["variables"]:
        assert by_name[want["name"]].model_path + SUFFIX == want["key"]


def _keras3_graph_edit(tmp_path: pathlib.Path, edit) -> Tuple[pathlib.Path, Dict[str, Any]]:
    from test_ckpt import encode_graph

    from kerasopt_compat._files.bundle import Bundle, ObjectGraph

    prefix, case = _copy_case(tmp_path, "tf221", "keras3_adam_ckpt")
    graph = Bundle(prefix).object_graph()
    nodes = list(graph.nodes)
    edit(graph, nodes)
    _rewrite(prefix, encode_graph(ObjectGraph(nodes, graph.where)))
    return prefix, case


def _subclassed_names(graph, nodes) -> None:
    """As Keras 3 on TF saves a subclassed model: its variables keep their TF names, which repeat
    (``subclassed_twin/kernel`` twice), while the slots spell the Keras paths."""
    opt = graph.follow("optimizer")
    for node in graph.list_items(graph.nodes[opt].child("_trainable_variables")):
        attrs = nodes[node].attributes
        leaf = attrs[0].full_name.split("/")[-1]
        nodes[node] = nodes[node]._replace(attributes=(attrs[0]._replace(full_name="subclassed_twin/" + leaf),) + attrs[1:])


def test_keras3_slots_of_variables_whose_names_repeat_tie_by_the_slot_lists(tmp_path):
    prefix, case = _keras3_graph_edit(tmp_path, _subclassed_names)
    state = koc.read_state(prefix)
    assert not state.untied, state.notes
    assert [v.name for v in state.variables] == ["subclassed_twin_kernel", "subclassed_twin_bias"] * 2
    assert "object_paths" not in state.extra or not state.extra["object_paths"]  # a name cannot say which
    for got, want in zip(state.variables, case["variables"]):
        assert got.model_path + SUFFIX == want["key"] and got.tie == "object-graph"
        for slot, value in want["slots"].items():
            np.testing.assert_allclose(np.asarray(got.slots[slot]), np.asarray(value, dtype="float32"), rtol=1e-6, atol=0)


def test_keras3_slots_of_repeated_names_outside_the_slot_lists_are_left_untied(tmp_path):
    """Without the slot lists, names that repeat cannot tie a slot: left out with a note, never by position."""

    def edit(graph, nodes):
        _subclassed_names(graph, nodes)
        opt = graph.follow("optimizer")
        keep = tuple(c for c in nodes[opt].children if c[0] not in ("_momentums", "_velocities"))
        nodes[opt] = nodes[opt]._replace(children=keep)

    prefix, _ = _keras3_graph_edit(tmp_path, edit)
    state = koc.read_state(prefix)
    assert state.untied and state.variables == ()
    assert any("no single slot list" in n for n in state.notes), state.notes


def test_keras3_3_empty_slot_lists_tie_per_kind_in_build_order(tmp_path):
    """Keras 3.3 saves the slot lists empty (``_momentums`` with no items) and the count as ``iterations``: each
    kind's k-th slot in ``_variables`` is the k-th trainable variable's (build order), said as ``position``."""

    def edit(graph, nodes):
        _subclassed_names(graph, nodes)
        opt = graph.follow("optimizer")
        for name, child in nodes[opt].children:
            if name in ("_momentums", "_velocities"):
                nodes[child] = nodes[child]._replace(children=())
        renamed = tuple(("iterations" if c[0] == "_iterations" else c[0], c[1]) for c in nodes[opt].children)
        nodes[opt] = nodes[opt]._replace(children=renamed)

    prefix, case = _keras3_graph_edit(tmp_path, edit)
    state = koc.read_state(prefix)
    assert not state.untied, state.notes
    assert state.iterations == case["iterations"]
    assert [v.tie for v in state.variables] == ["position"] * len(case["variables"])
    for got, want in zip(state.variables, case["variables"]):
        assert got.model_path + SUFFIX == want["key"]
        for slot, value in want["slots"].items():
            np.testing.assert_allclose(np.asarray(got.slots[slot]), np.asarray(value, dtype="float32"), rtol=1e-6, atol=0)


def test_keras3_slot_lists_tie_over_the_names(tmp_path):
    """The lists are the optimizer's own tie (``_get_variable_index``): swapped lists move the slots with them."""

    def edit(graph, nodes):
        opt = graph.follow("optimizer")
        for name in ("_momentums", "_velocities"):
            lst = graph.nodes[opt].child(name)
            items = dict(nodes[lst].children)
            order = {"0": "2", "1": "3", "2": "0", "3": "1"}  # the two Dense layers' slots swapped
            nodes[lst] = nodes[lst]._replace(children=tuple((k, items[order[k]]) for k in ("0", "1", "2", "3")))

    prefix, case = _keras3_graph_edit(tmp_path, edit)
    state = koc.read_state(prefix)
    assert not state.untied, state.notes
    for got, want in zip(state.variables, case["variables"][2:] + case["variables"][:2]):
        for slot, value in want["slots"].items():
            np.testing.assert_allclose(np.asarray(got.slots[slot]), np.asarray(value, dtype="float32"), rtol=1e-6, atol=0)


def test_checkpoint_variables_of_a_keras3_backup_are_its_weights_file_places(tmp_path):
    """restore_checkpoint's view of a Keras 3 BackupAndRestore folder: every model variable of latest.weights.h5 by
    its place in the file (as Keras' load_weights assigns it), never an optimizer variable."""
    from kerasopt_compat._files.checkpoint import checkpoint_values, checkpoint_variables, checkpoint_weights

    folder, case = _copy_backup(tmp_path)
    kind, variables = checkpoint_variables(str(folder))
    assert kind == "weights"
    want = ["layers/%s/vars/%d" % (layer, i) for layer in ("dense", "dense_1") for i in (0, 1)]
    assert [v.key for v in variables] == [v.path for v in variables] == want
    assert [list(v.shape) for v in variables] == [var["shape"] for var in case["variables"]]
    values = checkpoint_values(str(folder), want)
    weights = checkpoint_weights(str(folder))
    for v in variables:
        assert values[v.key].shape == v.shape and np.all(np.isfinite(values[v.key]))
        np.testing.assert_array_equal(weights[v.path], values[v.key])
    with pytest.raises(koc.ModelFileError, match="no model variable 'optimizer/vars/2'"):
        checkpoint_values(str(folder), ["optimizer/vars/2"])
    _edit_weights(folder, lambda fh: fh["layers/dense/vars"].create_dataset("x", data=np.zeros(2, "float32")))
    with pytest.raises(koc.ModelFileError, match="not the datasets"):
        checkpoint_variables(str(folder))


def test_a_backup_the_file_does_not_order_ties_in_the_given_order(tmp_path):
    """Layers of several classes at one level: the file alone does not give the trainable variables' order;
    restore_checkpoint gives the model's (``trainable_paths``), checked against every stored shape."""
    from kerasopt_compat._files.checkpoint import read_checkpoint_state

    folder, case = _copy_backup(tmp_path)
    _edit_weights(folder, _add_a_norm_layer)  # a layer of another class, its variable not trainable
    order = ["layers/%s/vars/%d" % (layer, i) for layer in ("dense", "dense_1") for i in (0, 1)]
    assert read_checkpoint_state(str(folder)).untied
    state = read_checkpoint_state(str(folder), trainable_paths=order)
    assert not state.untied and state.iterations == case["iterations"]
    assert any("taken from the model restored into" in n for n in state.notes), state.notes
    _check_keras3_backup(state, case)
    swapped = order[1:2] + order[0:1] + order[2:]  # a bias where the kernel's slots are: shapes disagree
    state = read_checkpoint_state(str(folder), trainable_paths=swapped)
    assert state.untied and any("in the order of the model restored into" in n for n in state.notes), state.notes
    state = read_checkpoint_state(str(folder), trainable_paths=order[:3] + ["layers/dense_9/vars/0"])
    assert state.untied and any("layers/dense_9/vars/0" in n for n in state.notes), state.notes
