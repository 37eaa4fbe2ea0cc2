"""The pure half of loading TF 2.x SavedModels into Keras 3 (kerasopt_compat._models.savedmodel), without TF or Keras.

What a SavedModel directory holds is untrusted: a truncated bundle, a corrupt
object graph, a metadata file that is not protobuf, a model config naming a
module, a subclassed model without a config, a directory without
``keras_metadata.pb`` or ``variables/`` all raise the package's own
:class:`ModelFileError` (:class:`SavedModelError`), and nothing named in the
file is imported. :func:`plan_weights` ties stored variables to a layer's
weights by name, by position only where the stored order is known and every
shape agrees, and refuses anything else.
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest

np = pytest.importorskip("numpy")

from conftest import DATA  # noqa: E402
from test_ckpt import _forge, _rewrite  # noqa: E402

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._files.bundle import Bundle  # noqa: E402
from kerasopt_compat._files.savedmodel import _METADATA_PB, _read_savedmodel, _replace_root_metadata  # noqa: E402
from kerasopt_compat._models.savedmodel import (  # noqa: E402
    LiveVariable,
    SavedModelError,
    StoredVariable,
    plan_weights,
    read_savedmodel_parts,
)

RESUME = DATA / "resume"
SAVEDMODELS = sorted(str(p) for p in RESUME.glob("*/*.savedmodel")) + sorted(
    str(p.parent) for p in (DATA / "resume_sm").glob("*/*/keras_metadata.pb")
)


def test_corpus_present() -> None:
    assert len(SAVEDMODELS) >= 40


@pytest.mark.parametrize("path", SAVEDMODELS, ids=[p.split("data/", 1)[-1] for p in SAVEDMODELS])
def test_every_variable_has_a_layer(path: str) -> None:
    """Each stored model variable sits under a layer node of keras_metadata.pb, one per (layer, name)."""
    parts = read_savedmodel_parts(path)
    assert parts.model_config["class_name"] in ("Sequential", "Functional", "Model")
    assert parts.variables
    layer_paths = {layer.path for layer in parts.layers.values() if layer.path}
    seen = set()
    for var in parts.variables:
        owner = var.path.rsplit("/", 1)[0]
        assert owner in layer_paths, var.path
        assert var.path not in seen
        seen.add(var.path)
        assert parts.bundle.tensor(var.key).shape == var.shape
    assert "evil" not in " ".join(sys.modules)


def _copy(tmp_path, name: str = "tf215/keras2_adam_twin.savedmodel"):
    dst = tmp_path / "sm"
    shutil.copytree(RESUME / name, dst)
    return dst


def _with_metadata(sm, change) -> None:
    """Rewrite the root metadata JSON of ``sm``'s keras_metadata.pb with ``change(doc)``."""
    doc = _read_savedmodel(str(sm)).doc
    change(doc)
    pb = sm / _METADATA_PB
    pb.write_bytes(_replace_root_metadata(pb.read_bytes(), json.dumps(doc).encode(), str(sm)))


def test_a_config_naming_a_module_is_refused_and_nothing_is_imported(tmp_path) -> None:
    sm = _copy(tmp_path)

    def evil(doc):
        layer = doc["model_config"]["config"]["layers"][1]
        layer["module"] = "koc_evil_module_for_tests"
        layer["class_name"] = "Evil"

    _with_metadata(sm, evil)
    with pytest.raises(SavedModelError, match="koc_evil_module_for_tests.*never imports") as info:
        read_savedmodel_parts(str(sm))
    assert isinstance(info.value, koc.ModelFileError)
    assert "koc_evil_module_for_tests" not in sys.modules


def test_a_subclassed_model_without_config_is_refused(tmp_path) -> None:
    sm = _copy(tmp_path)
    _with_metadata(sm, lambda doc: doc.__setitem__("model_config", {"class_name": "MyModel"}))
    with pytest.raises(SavedModelError, match="no model config for class 'MyModel'.*TFSMLayer"):
        read_savedmodel_parts(str(sm))


def test_no_keras_metadata_and_no_variables_are_refused(tmp_path) -> None:
    sm = _copy(tmp_path)
    shutil.rmtree(sm / "variables")
    with pytest.raises(SavedModelError, match="no variables/.*TFSMLayer"):
        read_savedmodel_parts(str(sm))
    sm2 = tmp_path / "fn_only"
    shutil.copytree(RESUME / "tf215/keras2_adam_twin.savedmodel", sm2)
    (sm2 / _METADATA_PB).unlink()
    with pytest.raises(SavedModelError, match="tf.function-only SavedModel.*TFSMLayer"):
        read_savedmodel_parts(str(sm2))


@pytest.mark.parametrize("keep", [0, 47, 100, -1, -49])
def test_a_truncated_bundle_is_refused(tmp_path, keep) -> None:
    sm = _copy(tmp_path)
    index = sm / "variables" / "variables.index"
    index.write_bytes(index.read_bytes()[:keep])
    with pytest.raises(koc.ModelFileError, match="variables.index"):
        read_savedmodel_parts(str(sm))


def test_a_truncated_data_file_is_refused(tmp_path) -> None:
    sm = _copy(tmp_path)
    data = sm / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-7])
    with pytest.raises(koc.ModelFileError, match="variables.data-00000-of-00001.*truncated"):
        parts = read_savedmodel_parts(str(sm))  # the object graph is the data file's last tensor
        for var in parts.variables:
            parts.bundle.tensor(var.key)


def test_a_corrupt_object_graph_is_refused(tmp_path) -> None:
    sm = _copy(tmp_path)
    graph = Bundle(sm / "variables" / "variables").object_graph()
    root = graph.nodes[0]
    forged = object.__new__(type(graph))
    forged.nodes, forged.where = (root._replace(children=root.children + (("x", 10**6),)),) + graph.nodes[1:], graph.where
    _rewrite(sm, forged)
    with pytest.raises(koc.ModelFileError, match="refers to node"):
        read_savedmodel_parts(str(sm))
    # a listed model variable whose node lost its value attribute
    sm2 = tmp_path / "novalue"
    shutil.copytree(DATA / "resume_sm/tf29/optimizers_ftrl", sm2)
    graph = Bundle(sm2 / "variables" / "variables").object_graph()
    listed = graph.list_items(graph.follow("variables"))
    assert listed, "this saver lists the model's variables at the root"
    _rewrite(sm2, _forge(graph, listed[0], attributes=()))
    with pytest.raises(koc.ModelFileError, match="node %d is not a variable" % listed[0]):
        read_savedmodel_parts(str(sm2))


def test_a_metadata_file_that_is_not_protobuf_is_refused(tmp_path) -> None:
    sm = _copy(tmp_path)
    (sm / _METADATA_PB).write_bytes(b"\xff\xff\xff\xff not a protobuf")
    with pytest.raises(koc.ModelFileError):
        read_savedmodel_parts(str(sm))


def _stored(path: str, shape=(2, 2), node=0) -> StoredVariable:
    return StoredVariable(path, node, "", path + "/.ATTRIBUTES/VARIABLE_VALUE", shape)


def test_plan_ties_by_name_whatever_the_order() -> None:
    stored = {("dense",): [_stored("l/bias", (2,)), _stored("l/kernel")]}
    live = {("dense",): [LiveVariable("kernel", (2, 2)), LiveVariable("bias", (2,))]}
    plan = plan_weights("sm", stored, live, order_known=False)
    assert [(t.stored.path, t.slot, t.how) for t in plan] == [("l/bias", 1, "name"), ("l/kernel", 0, "name")]


def test_plan_ties_an_lstm_cell_by_its_variable_names() -> None:
    stored = {
        ("lstm",): [_stored("l/cell/kernel", (3, 8)), _stored("l/cell/recurrent_kernel", (2, 8)), _stored("l/cell/bias", (8,))]
    }
    live = {("lstm",): [LiveVariable("kernel", (3, 8)), LiveVariable("recurrent_kernel", (2, 8)), LiveVariable("bias", (8,))]}
    assert [t.slot for t in plan_weights("sm", stored, live, order_known=False)] == [0, 1, 2]


def test_plan_ties_by_position_only_when_the_order_is_known_and_every_shape_agrees() -> None:
    stored = {("bidi",): [_stored("l/forward_layer/cell/kernel"), _stored("l/backward_layer/cell/kernel")]}
    live = {("bidi",): [LiveVariable("kernel", (2, 2)), LiveVariable("kernel", (2, 2))]}
    assert [(t.slot, t.how) for t in plan_weights("sm", stored, live, order_known=True)] == [(0, "position"), (1, "position")]
    with pytest.raises(SavedModelError, match="does not store their order"):
        plan_weights("sm", stored, live, order_known=False)
    live_other = {("bidi",): [LiveVariable("kernel", (2, 2)), LiveVariable("kernel", (2, 3))]}
    with pytest.raises(SavedModelError, match="do not tie"):
        plan_weights("sm", stored, live_other, order_known=True)


def test_plan_refuses_a_shape_mismatch_a_missing_layer_and_an_extra_name() -> None:
    with pytest.raises(SavedModelError, match="shape"):
        plan_weights("sm", {("d",): [_stored("l/kernel", (2, 3))]}, {("d",): [LiveVariable("kernel", (2, 2))]}, True)
    with pytest.raises(SavedModelError, match="does not have"):
        plan_weights("sm", {("gone",): [_stored("l/kernel")]}, {}, True)
    with pytest.raises(SavedModelError, match="holds no value for layer d"):
        plan_weights("sm", {}, {("d",): [LiveVariable("kernel", (2, 2))]}, True)
    with pytest.raises(SavedModelError, match="do not tie"):
        plan_weights("sm", {("d",): [_stored("l/kernel")]}, {("d",): [LiveVariable("other", (3,))]}, True)


@pytest.mark.parametrize(
    "kind,first",
    [
        ("lstm", "layer_with_weights-0/cell/kernel"),
        ("bidi_lstm", "layer_with_weights-0/forward_layer/cell/kernel"),
    ],
)
def test_variables_keyed_by_the_roots_list_are_owned_by_their_layer(kind, first):
    """issue 24: saved with traces, an RNN cell's weights are keyed ``variables/N`` in the checkpoint;
    their path goes through the layer that owns them."""
    parts = read_savedmodel_parts(str(DATA / "savedmodel_kinds" / "tf215" / ("%s.savedmodel" % kind)))
    assert any(v.key.startswith("variables/") for v in parts.variables)  # the case: keys by the root's list
    assert parts.variables[0].path == first
    assert not any(v.path.startswith(("variables/", "trainable_variables/")) for v in parts.variables)
    assert len({v.path for v in parts.variables}) == len(parts.variables)


def test_keras2_loss_config_for_keras3():
    from kerasopt_compat.fixes import keras3_loss_config

    stored = {"class_name": "MeanSquaredError", "config": {"reduction": "auto", "name": "mse", "fn": "mean_squared_error"}}
    own = {"MeanSquaredError": "mean_squared_error"}.get
    assert keras3_loss_config(stored, own) == {
        "class_name": "MeanSquaredError",
        "config": {"reduction": "sum_over_batch_size", "name": "mse"},
    }
    assert stored["config"]["reduction"] == "auto"  # a copy
    other_fn = dict(stored, config=dict(stored["config"], fn="my_loss"))
    assert keras3_loss_config(other_fn, own)["config"]["fn"] == "my_loss"  # not the class's own: left for Keras to refuse
    assert keras3_loss_config("mse", own) == "mse"
    kept = {"class_name": "Huber", "config": {"reduction": "sum", "delta": 2.0}}
    assert keras3_loss_config(kept, own) is kept


def test_keras2_wrapper_configs_get_the_module_keras3_finds_them_by():
    from kerasopt_compat.fixes import keras3_nested_layer_config

    config = {"layer": {"class_name": "LSTM", "config": {}}, "backward_layer": {"class_name": "KocRNN", "config": {}}}
    keras3_nested_layer_config("Bidirectional", config, lambda name: name == "LSTM")
    assert config["layer"]["module"] == "keras.layers"
    assert "module" not in config["backward_layer"]  # not a public layer: custom_objects by name
    dense = {"layer": {"class_name": "LSTM", "config": {}}}
    keras3_nested_layer_config("Dense", dense, lambda name: True)
    assert "module" not in dense["layer"]
