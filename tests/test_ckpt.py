"""The TF-free checkpoint-bundle reader (kerasopt_compat._files.bundle) on SavedModels written by real wheels.

The corpus (tests/data/resume_sm/<env>/, tools/export_savedmodels.py) holds
Keras 2.9 (legacy optimizers) and Keras 2.15 (``optimizers`` and
``optimizers.legacy``) SavedModels trained 3 steps, with the saver's own slot
values per variable in manifest.json. Runs without TensorFlow; where TF is
installed the bundle reader is also compared with ``tf.train.load_checkpoint``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from typing import Any, Dict, List, Tuple

import pytest

np = pytest.importorskip("numpy")

from conftest import DATA  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._files import protowire as pw  # noqa: E402
from kerasopt_compat._files.bundle import OBJECT_GRAPH_KEY, Bundle, ObjectGraph, _masked, crc32c  # noqa: E402
from kerasopt_compat._files.savedmodel import savedmodel_state, savedmodel_weights  # noqa: E402
from kerasopt_compat._optional import is_installed  # noqa: E402
from kerasopt_compat._state import slots as _slots  # noqa: E402

CORPUS = DATA / "resume_sm"


def _cases() -> List[Tuple[str, Dict[str, Any]]]:
    out = []
    for manifest in sorted(CORPUS.glob("*/manifest.json")):
        doc = json.loads(manifest.read_text())
        for model in doc["models"]:
            out.append((doc["env"], dict(model, keras=doc["keras"], path=str(manifest.parent / model["dir"]))))
    return out


CASES = _cases()


def _name(saver_name: str) -> str:
    """VariableState names leave out the ``:0`` the saver's live variable names carry."""
    return saver_name[:-2] if saver_name.endswith(":0") else saver_name


IDS = ["%s-%s" % (env, m["dir"]) for env, m in CASES]


def test_corpus_present():
    envs = {env for env, _ in CASES}
    assert {"tf29", "tf215"} <= envs
    assert {m["generation"] for _, m in CASES} == {"legacy", "keras2"}


@pytest.mark.parametrize("env,model", CASES, ids=IDS)
def test_state_equals_the_savers(env, model):
    state = savedmodel_state(model["path"])
    assert state.iterations == model["iterations"] == 3
    assert state.saver == _slots.Saver(model["generation"], model["keras"], "savedmodel")
    assert state.optimizer is not None and state.optimizer["class_name"] == model["class_name"]
    assert state.notes == ()
    expected = model["variables"]
    assert [v.name for v in state.variables] == [_name(v["name"]) for v in expected]
    assert [v.index for v in state.variables] == list(range(len(expected)))
    tie = "object-graph" if model["generation"] == "legacy" else "name"
    for var, want in zip(state.variables, expected):
        assert var.tie == tie
        assert var.shape == tuple(want["shape"])
        assert sorted(var.slots) == sorted(want["slots"])
        for slot, value in want["slots"].items():
            assert var.slots[slot].dtype == np.float32
            np.testing.assert_array_equal(
                var.slots[slot], np.asarray(value, dtype=np.float32), err_msg="%s %s" % (var.name, slot)
            )
    for key, value in model["extra"].items():
        assert state.extra[key] == pytest.approx(value, rel=1e-7)


@pytest.mark.parametrize("env,model", CASES, ids=IDS)
def test_same_shaped_variables_are_told_apart(env, model):
    """The two kernels (and the two biases) have one shape: a positional mix-up would go unnoticed by shape."""
    state = savedmodel_state(model["path"])
    kernels = [v for v in state.variables if v.name.endswith("kernel")]
    assert len(kernels) == 2 and kernels[0].shape == kernels[1].shape
    for slot in kernels[0].slots:
        assert not np.array_equal(kernels[0].slots[slot], kernels[1].slots[slot]), slot


@pytest.mark.parametrize("env,model", CASES, ids=IDS)
def test_weights_by_object_path(env, model):
    weights = savedmodel_weights(model["path"])
    assert list(weights) == [
        "layer_with_weights-0/kernel",
        "layer_with_weights-0/bias",
        "layer_with_weights-1/kernel",
        "layer_with_weights-1/bias",
    ]
    paths = savedmodel_state(model["path"]).extra["object_paths"]
    for want in model["variables"]:
        np.testing.assert_array_equal(weights[paths[_name(want["name"])]], np.asarray(want["value"], dtype=np.float32))


def test_crc32c_known_values():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(b"6789", crc32c(b"12345")) == 0xE3069283


MODEL_DIRS = sorted(str(p) for p in (DATA / "models").glob("*/*.savedmodel"))
MODEL_IDS = [os.sep.join(p.split(os.sep)[-2:]) for p in MODEL_DIRS]


@pytest.mark.parametrize("path", MODEL_DIRS, ids=MODEL_IDS)
def test_other_savedmodels(path):
    """tests/data/models (tools/export_models.py, 2 steps): every one read, LossScaleOptimizer through its inner class."""
    state = savedmodel_state(path)
    if path.endswith("nooptimizer.savedmodel"):
        assert state.iterations is None and state.variables == ()
        return
    assert state.iterations == 2 and state.notes == ()
    inner = state.optimizer["config"].get("inner_optimizer", state.optimizer)
    if inner["class_name"] == "Adam":
        assert [sorted(v.slots) for v in state.variables] == [["m", "v"], ["m", "v"]]
        assert [v.index for v in state.variables] == [0, 1]
    if path.endswith("lso.savedmodel"):
        assert state.extra["loss_scale"] == 32768.0 and state.extra["loss_scale_counter"] == 2


# --------------------------------------------------------------------------- untrusted input


def _copy(tmp_path, env="tf215", name="optimizers_adam_amsgrad"):
    dst = tmp_path / name
    shutil.copytree(CORPUS / env / name, dst)
    return dst


def _index(sm):
    return sm / "variables" / "variables.index"


def _data(sm):
    return sm / "variables" / "variables.data-00000-of-00001"


@pytest.mark.parametrize("keep", [0, 1, 20, 47, 48, 100, -1, -5, -48, -49])
def test_truncated_index(tmp_path, keep):
    sm = _copy(tmp_path)
    data = _index(sm).read_bytes()
    _index(sm).write_bytes(data[:keep])
    with pytest.raises(koc.ModelFileError, match="variables.index"):
        savedmodel_state(sm)


@pytest.mark.parametrize("keep", [0, 100, -1, -200])
def test_truncated_data_file(tmp_path, keep):
    sm = _copy(tmp_path)
    data = _data(sm).read_bytes()
    _data(sm).write_bytes(data[:keep])
    with pytest.raises(koc.ModelFileError, match="variables.data-00000-of-00001"):
        savedmodel_state(sm)


def test_missing_variables(tmp_path):
    sm = _copy(tmp_path)
    shutil.rmtree(sm / "variables")
    with pytest.raises(koc.ModelFileError, match="no variables/variables.index"):
        savedmodel_state(sm)


@pytest.mark.parametrize("env,name", [("tf29", "optimizers_nadam"), ("tf215", "optimizers_rmsprop_centered")])
def test_every_flipped_index_byte_is_an_error_or_harmless(tmp_path, env, name):
    """Flip each byte of the index: a ModelFileError naming the index, or (footer padding) the same result."""
    sm = _copy(tmp_path, env, name)
    good = savedmodel_state(sm)
    data = _index(sm).read_bytes()
    harmless = []
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        _index(sm).write_bytes(bytes(bad))
        try:
            state = savedmodel_state(sm)
        except koc.ModelFileError as exc:
            assert "variables.index" in str(exc)
            continue
        harmless.append(pos)
        assert state.iterations == good.iterations and [v.name for v in state.variables] == [v.name for v in good.variables]
        for a, b in zip(state.variables, good.variables):
            for slot in a.slots:
                np.testing.assert_array_equal(a.slots[slot], b.slots[slot])
    # only the footer's padding (after the two handles, before the magic number) goes unnoticed
    assert harmless and min(harmless) >= len(data) - 48 + 4 and max(harmless) < len(data) - 8


def test_flipped_data_bytes_fail_the_crc(tmp_path):
    sm = _copy(tmp_path)
    data = _data(sm).read_bytes()
    for pos in range(0, len(data), 31):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        _data(sm).write_bytes(bytes(bad))
        bundle = Bundle(sm / "variables" / "variables")
        with pytest.raises(koc.ModelFileError, match="variables.data-00000-of-00001: tensor .*(CRC32C|string lengths)"):
            for key in bundle.keys():
                bundle.tensor(key)


# --- forged bundles (a small SSTable/bundle writer, test-only)


def _block(entries: List[Tuple[bytes, bytes]], kind: int = 0) -> bytes:
    out = bytearray()
    for key, value in entries:  # no prefix sharing, one restart point
        out += pw.encode_varint(0) + pw.encode_varint(len(key)) + pw.encode_varint(len(value)) + key + value
    out += struct.pack("<II", 0, 1)
    return bytes(out) + bytes([kind]) + struct.pack("<I", _masked(crc32c(bytes(out) + bytes([kind]))))


def _tag(number, wire):
    return pw.encode_varint(number << 3 | wire)


def _entry(dtype: int, shape, offset: int, size: int, crc: int) -> bytes:
    dims = b"".join(pw.len_field(2, _tag(1, 0) + pw.encode_varint(d)) for d in shape)
    return (
        _tag(1, 0)
        + pw.encode_varint(dtype)
        + pw.len_field(2, dims)
        + _tag(4, 0)
        + pw.encode_varint(offset)
        + _tag(5, 0)
        + pw.encode_varint(size)
        + _tag(6, 5)
        + struct.pack("<I", crc)
    )


def _string_tensor(value: bytes) -> Tuple[bytes, int]:
    lengths = pw.encode_varint(len(value))
    crc = crc32c(struct.pack("<I", len(value)))
    length_crc = struct.pack("<I", _masked(crc))
    return lengths + length_crc + value, _masked(crc32c(value, crc32c(length_crc, crc)))


def write_bundle(prefix, tensors: Dict[str, Tuple[int, Tuple[int, ...], bytes]], *, kind: int = 0, overrides=None) -> None:
    """tensors: key -> (dtype, shape, payload); a string payload (dtype 7) is one scalar string."""
    data = bytearray()
    entries = [(b"", _tag(1, 0) + pw.encode_varint(1))]
    for key in sorted(tensors):
        dtype, shape, payload = tensors[key]
        if dtype == 7:
            raw, crc = _string_tensor(payload)
        else:
            raw, crc = payload, _masked(crc32c(payload))
        fields = dict(dtype=dtype, shape=shape, offset=len(data), size=len(raw), crc=crc)
        fields.update((overrides or {}).get(key, {}))
        entries.append((key.encode(), _entry(**fields)))
        data += raw
    block = _block(entries, kind)
    index_block = _block([(b"\xff", pw.encode_varint(0) + pw.encode_varint(len(block) - 5))])
    meta = _block([])
    handles = pw.encode_varint(len(block) + len(index_block)) + pw.encode_varint(len(meta) - 5)
    handles += pw.encode_varint(len(block)) + pw.encode_varint(len(index_block) - 5)
    footer = handles + b"\0" * (40 - len(handles)) + struct.pack("<Q", 0xDB4775248B80FB57)
    with open(str(prefix) + ".index", "wb") as fh:
        fh.write(block + index_block + meta + footer)
    with open(str(prefix) + ".data-00000-of-00001", "wb") as fh:
        fh.write(bytes(data))


def encode_graph(graph: ObjectGraph) -> bytes:
    nodes = b""
    for node in graph.nodes:
        body = b""
        for local, child in node.children:
            body += pw.len_field(1, _tag(1, 0) + pw.encode_varint(child % (1 << 64)) + pw.len_field(2, local.encode()))
        for a in node.attributes:
            body += pw.len_field(
                2,
                pw.len_field(1, a.name.encode())
                + pw.len_field(2, a.full_name.encode())
                + pw.len_field(3, a.checkpoint_key.encode()),
            )
        for s in node.slot_variables:
            ref = (
                _tag(1, 0)
                + pw.encode_varint(s.original)
                + pw.len_field(2, s.slot_name.encode())
                + _tag(3, 0)
                + pw.encode_varint(s.slot)
            )
            body += pw.len_field(3, ref)
        nodes += pw.len_field(1, body)
    return nodes


def _rewrite(sm, graph: ObjectGraph, **kwargs) -> None:
    """Write ``sm``'s bundle again with ``graph`` as its object graph (every tensor copied)."""
    prefix = sm / "variables" / "variables"
    bundle = Bundle(prefix)
    tensors: Dict[str, Tuple[int, Tuple[int, ...], bytes]] = {}
    for key, entry in bundle.entries.items():
        if key != OBJECT_GRAPH_KEY:
            tensors[key] = (entry.dtype, entry.shape, bundle.tensor(key).tobytes())
    tensors[OBJECT_GRAPH_KEY] = (7, (), encode_graph(graph))
    write_bundle(prefix, tensors, **kwargs)


def test_writer_round_trip(tmp_path):
    """The test writer and the reader agree (so the forged cases below test the reader, not the writer)."""
    sm = _copy(tmp_path)
    graph = Bundle(sm / "variables" / "variables").object_graph()
    good = savedmodel_state(sm)
    _rewrite(sm, graph)
    again = savedmodel_state(sm)
    assert again.iterations == good.iterations
    for a, b in zip(again.variables, good.variables):
        assert (a.name, a.tie) == (b.name, b.tie)
        for slot in a.slots:
            np.testing.assert_array_equal(a.slots[slot], b.slots[slot])


def _forge(graph: ObjectGraph, node_id: int, **changes) -> ObjectGraph:
    nodes = list(graph.nodes)
    nodes[node_id] = nodes[node_id]._replace(**changes)
    return ObjectGraph(nodes, graph.where)


def test_bad_node_reference(tmp_path):
    sm = _copy(tmp_path)
    graph = Bundle(sm / "variables" / "variables").object_graph()
    root = graph.nodes[0]
    for bad in (len(graph.nodes), 1 << 31, -1):
        with pytest.raises(koc.ModelFileError, match="refers to node"):
            _forge(graph, 0, children=root.children + (("x", bad),))
        # the same through the file
        nodes = list(graph.nodes)
        nodes[0] = root._replace(children=root.children + (("x", bad),))
        forged = object.__new__(ObjectGraph)
        forged.nodes, forged.where = tuple(nodes), graph.where
        _rewrite(sm, forged)
        with pytest.raises(koc.ModelFileError, match="_CHECKPOINTABLE_OBJECT_GRAPH: node 0 refers to node"):
            savedmodel_state(sm)


def test_cycles_end(tmp_path):
    sm = _copy(tmp_path)
    graph = Bundle(sm / "variables" / "variables").object_graph()
    opt = graph.follow("optimizer")
    cyclic = _forge(graph, opt, children=graph.nodes[opt].children + (("back", 0), ("self", opt)))
    _rewrite(sm, cyclic)
    assert savedmodel_state(sm).iterations == 3
    assert len(savedmodel_weights(sm)) == 4


@pytest.mark.parametrize(
    "kind,message", [(1, "snappy-compressed; kerasopt_compat reads uncompressed"), (7, "unknown compression type 7")]
)
def test_snappy_and_unknown_compression_are_refused(tmp_path, kind, message):
    sm = _copy(tmp_path)
    graph = Bundle(sm / "variables" / "variables").object_graph()
    _rewrite(sm, graph, kind=kind)
    with pytest.raises(koc.ModelFileError, match=message):
        savedmodel_state(sm)


@pytest.mark.parametrize(
    "override,message",
    [
        ({"size": 1 << 40}, "needs 16 bytes, the entry says"),
        ({"shape": (1 << 20, 1 << 20), "size": 4 << 40}, "claims"),
        ({"offset": 1 << 40}, "past the end of the data file"),
        ({"dtype": 21}, "dtype 21"),
        ({"crc": 12345}, "CRC32C"),
    ],
)
def test_forged_entries(tmp_path, override, message):
    sm = _copy(tmp_path)
    graph = Bundle(sm / "variables" / "variables").object_graph()
    key = "optimizer/_variables/1/.ATTRIBUTES/VARIABLE_VALUE"
    _rewrite(sm, graph, overrides={key: override})
    with pytest.raises(koc.ModelFileError, match=message) as info:
        savedmodel_state(sm)
    assert "variables.data-00000-of-00001: tensor %r" % key in str(info.value)


def test_keras2_position_tie_when_names_are_ambiguous(tmp_path):
    """Two model variables of one name (nested models can do that): the name cannot tie, the layout can."""
    env, model = next((e, m) for e, m in CASES if m["generation"] == "keras2" and m["class_name"] == "Adam")
    sm = _copy(tmp_path, env, model["dir"])
    graph = Bundle(sm / "variables" / "variables").object_graph()
    nodes = list(graph.nodes)
    for i, node in enumerate(nodes):
        attrs = tuple(a._replace(full_name=a.full_name.replace("dense_1/", "dense/")) for a in node.attributes)
        nodes[i] = node._replace(attributes=attrs)
    _rewrite(sm, ObjectGraph(nodes, graph.where))
    state = savedmodel_state(sm)
    assert [v.tie for v in state.variables] == ["position"] * 4
    assert not state.untied
    assert [v.name for v in state.variables] == ["dense/kernel", "dense/bias"] * 2
    for var, want in zip(state.variables, model["variables"]):
        for slot, value in want["slots"].items():
            np.testing.assert_array_equal(var.slots[slot], np.asarray(value, dtype=np.float32))
    # one slot missing: the layout is no longer determined -> left out, with a note
    opt = graph.follow("optimizer")
    lst = nodes[opt].child("_variables")
    nodes[lst] = nodes[lst]._replace(children=nodes[lst].children[:-1])
    _rewrite(sm, ObjectGraph(nodes, graph.where))
    state = savedmodel_state(sm)
    assert "vhat" not in state.variables[0].slots and any("'vhat'" in note for note in state.notes)
    assert state.untied


# --------------------------------------------------------------------------- the real thing


@pytest.mark.skipif(not is_installed("tensorflow"), reason="needs TensorFlow")
@pytest.mark.parametrize("path", [m["path"] for _, m in CASES] + MODEL_DIRS, ids=IDS + MODEL_IDS)
def test_bundle_equals_tf_load_checkpoint(path):
    import tensorflow as tf

    prefix = os.path.join(path, "variables", "variables")
    reader = tf.train.load_checkpoint(prefix)
    ours = Bundle(prefix)
    shapes = reader.get_variable_to_shape_map()
    assert sorted(shapes) == ours.keys()
    for key in ours.keys():
        value = reader.get_tensor(key)
        mine = ours.tensor(key)
        if isinstance(mine, list):
            assert [value] == mine if isinstance(value, bytes) else list(np.asarray(value).ravel()) == mine
        else:
            assert mine.dtype == value.dtype and mine.shape == value.shape, key
            np.testing.assert_array_equal(mine, value, err_msg=key)
