"""fix_model(state=...) on the resume corpus's .h5 files, without TensorFlow.

A file converted for the other generation (legacy <-> Keras 2) must read back
(read_state) with the same iteration count and, per variable, the same slots,
now in the target generation's own layout and names; what cannot be laid out is
dropped with a warning, never left for a native loader to tie by position.
The live proof (the target's native load_model + one step resumes, or fix_model
warned) is in tests/test_resume.py.
"""

from __future__ import annotations

import pathlib
import warnings

import pytest

import kerasopt_compat as koc
from kerasopt_compat._files.state import read_state

np = pytest.importorskip("numpy")
pytest.importorskip("h5py")

RESUME = pathlib.Path(__file__).parent / "data" / "resume"
PAIRS = [
    (src, target)
    for env, pattern, target in (
        ("tf215", "*.h5", "tf2.9"),
        ("tf29", "*.h5", "tf2.15"),
        ("tf215", "*.keras", "keras3"),  # Keras 2 -> Keras 3 archives (legacy ones store no state)
        ("tf221", "*.keras", "tf2.15"),
    )
    for src in sorted((RESUME / env).glob(pattern))
    if not src.name.endswith(".after_h5.keras")  # no optimizer config: nothing to fix
]


@pytest.mark.parametrize("src,target", PAIRS, ids=["%s->%s" % (s.name, t) for s, t in PAIRS])
def test_converted_state_reads_back_in_the_target_layout(src, target, tmp_path):
    out = tmp_path / src.name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = koc.fix_model(src, out, target)
    before, after = read_state(src), read_state(out)
    said = [w for w in caught if issubclass(w.category, koc.OptimizerStateWarning)]
    if before.saver.generation == result.family:
        assert result.state == "kept"
        return
    if result.state == "none":  # nothing stored (a legacy optimizer in a .keras archive)
        assert before.variables == () and before.iterations is None and not said
        return
    if result.state == "kept":  # a .keras state that cannot be laid out (LossScaleOptimizer): copied, with a warning
        assert src.suffix == ".keras" and said
        return
    if result.state == "dropped":
        assert said and after.variables == () and after.iterations is None
        return
    assert result.state == "converted"
    assert after.saver.generation == result.family
    assert after.iterations == before.iterations and after.notes == ()
    old_vars = {v.index: v for v in before.variables}
    # every variable keeps its slots, but one whose only slot the target lacks and the saver never read
    # (Keras 2 SGD's m without momentum, for legacy's or Keras 3's SGD, which create none)
    unused = not before.optimizer["config"].get("momentum") and before.optimizer["class_name"] == "SGD"
    assert [v.index for v in after.variables] == ([] if unused else sorted(old_vars))
    for var in after.variables:
        old = old_vars[var.index]
        if src.suffix == ".h5":  # .keras archives store no names
            assert var.name == old.name
        for slot, value in var.slots.items():
            if slot in old.slots:
                np.testing.assert_array_equal(np.asarray(value), np.asarray(old.slots[slot]))
            else:  # a slot the target has and the saver never used (Keras 2 SGD's m without momentum)
                assert not np.any(np.asarray(value))
    if result.family == "keras3" and isinstance(before.optimizer["config"]["learning_rate"], float):  # its own variable
        assert after.extra["learning_rate"] == pytest.approx(before.optimizer["config"]["learning_rate"])


def test_drop_and_keep(tmp_path):
    src = RESUME / "tf215" / "keras2_adam_twin.h5"
    with pytest.warns(koc.OptimizerStateWarning, match="dropped"):
        assert koc.fix_model(src, tmp_path / "d.h5", "tf2.9", state="drop").state == "dropped"
    assert read_state(tmp_path / "d.h5").variables == ()
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        assert koc.fix_model(src, tmp_path / "k.h5", "tf2.9", state="keep").state == "kept"
    assert read_state(tmp_path / "k.h5").saver.generation == "keras2"
    with pytest.raises(koc.ModelFileError, match="state must be one of"):
        koc.fix_model(src, tmp_path / "x.h5", "tf2.9", state="bogus")


CLI_STATES = [("convert", "laid out for the target"), ("drop", "dropped"), ("keep", "copied unchanged")]


@pytest.mark.parametrize("state,said", CLI_STATES)
def test_cli_state_flag(state, said, tmp_path, capsys):
    from kerasopt_compat.__main__ import main

    src = RESUME / "tf215" / "keras2_adam_twin.h5"
    out = tmp_path / "out.h5"
    assert main(["fix-model", str(src), str(out), "--to", "tf2.9", "--state", state]) == 0
    assert "optimizer state %s" % said in capsys.readouterr().out
    back = read_state(out)
    if state == "drop":
        assert back.variables == () and back.iterations is None
    else:
        assert back.saver.generation == {"convert": "legacy", "keep": "keras2"}[state]
    with pytest.raises(SystemExit):
        main(["fix-model", str(src), str(tmp_path / "x.h5"), "--to", "tf2.9", "--state", "bogus"])


def _compressed_copy(src: pathlib.Path, dst: pathlib.Path) -> None:
    """``src`` with every array dataset stored chunked and gzip-compressed (what ``h5py`` writes
    for a user who saved with compression), attributes as stored."""
    import h5py

    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
        for key in fin.attrs:
            fout.attrs.create(key, fin.attrs[key], dtype=fin.attrs.get_id(key).dtype)

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                out = fout.require_group(name)
            elif obj.shape:
                out = fout.create_dataset(name, data=obj[()], chunks=True, compression="gzip", compression_opts=9)
            else:
                out = fout.create_dataset(name, data=obj[()])
            for key in obj.attrs:
                out.attrs.create(key, obj.attrs[key], dtype=obj.attrs.get_id(key).dtype)

        fin.visititems(visit)


@pytest.mark.parametrize("compressed", [False, True], ids=["contiguous", "gzip"])
def test_converted_h5_keeps_the_source_layout_and_size(compressed, tmp_path):
    """A converted ``.h5`` is a new file: the model weights copied as stored (chunks, compression),
    the new optimizer weights stored like the old ones, no space left over from deleted datasets
    (issue 24: a 486 MB file grew to 567 MB)."""
    import h5py

    src = RESUME / "tf215" / "keras2_adam_wrapped.h5"
    if compressed:
        _compressed_copy(src, tmp_path / "gz.h5")
        src = tmp_path / "gz.h5"
    out = tmp_path / "out.h5"
    assert koc.fix_model(src, out, "tf2.9", state="convert").state == "converted"
    assert out.stat().st_size <= src.stat().st_size * 1.05 + 4096, (out.stat().st_size, src.stat().st_size)
    with h5py.File(src, "r") as fin, h5py.File(out, "r") as fout:
        kept: list = []
        fin["model_weights"].visititems(lambda name, obj: kept.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert kept
        for name in kept:
            a, b = fin["model_weights"][name], fout["model_weights"][name]
            assert (a.chunks, a.compression) == (b.chunks, b.compression), name
            np.testing.assert_array_equal(a[()], b[()])
        new: list = []
        fout["optimizer_weights"].visititems(lambda name, obj: new.append(obj) if isinstance(obj, h5py.Dataset) else None)
        arrays = [ds for ds in new if ds.shape]
        assert arrays and all(ds.compression == ("gzip" if compressed else None) for ds in arrays)
        assert dict(fin.attrs)["model_config"] == dict(fout.attrs)["model_config"]
    assert read_state(out).iterations == read_state(src).iterations
