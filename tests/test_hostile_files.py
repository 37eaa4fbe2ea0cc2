"""Hostile and unlucky model files (issue 25): each bad input is built here, in a temp dir, from a real model
file of tests/data/models; the public API and the command line must answer with the package's own error
(or a documented, safe outcome), in bounded time, and never change an input. No TensorFlow needed."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import warnings
import zipfile
from typing import Callable, Dict, Iterator, List, Optional

import pytest

import kerasopt_compat as koc
from kerasopt_compat.__main__ import main
from kerasopt_compat._files import model as _modelfile

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

MODELS = pathlib.Path(__file__).parent / "data" / "models"
KERAS2 = MODELS / "tf215" / "adam.keras"  # Keras 2.15 .keras: optimizer/vars, layers/dense/vars
KERAS3 = MODELS / "tf221" / "adam.keras"
H5 = MODELS / "tf215" / "adam.h5"  # Keras 2 .h5 with optimizer_weights
SAVEDMODEL = MODELS / "tf215" / "adam.savedmodel"
SHARD = "variables.data-00000-of-00001"

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no os.mkfifo on this platform")
needs_symlink = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")


# --------------------------------------------------------------------------- helpers


def digest(path: pathlib.Path) -> str:
    """A hash of a file or folder (names, link texts and bytes; a FIFO by name only, never opened)."""
    h = hashlib.sha256()
    items = [path] if not path.is_dir() or path.is_symlink() else [path] + sorted(path.rglob("*"))
    for p in items:
        h.update(str(p.relative_to(path.parent)).encode())
        mode = os.lstat(p).st_mode
        if stat.S_ISLNK(mode):
            h.update(b"->" + os.readlink(p).encode())
        elif stat.S_ISREG(mode):
            h.update(p.read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def deadline(seconds: int = 60) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block blocks, e.g. opening a FIFO."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("blocked for %d s" % seconds)

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(args: List[str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """``python -m kerasopt_compat ARGS`` in its own process group, killed whole (``--jobs`` workers too) when it
    outlives ``timeout``: a hang is a failure, never a stuck suite."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kerasopt_compat"] + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("kerasopt-compat %s still running after %d s" % (" ".join(args), timeout))
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def rezip(src: pathlib.Path, dst: pathlib.Path, replace: Optional[Dict[str, bytes]] = None, extra=()) -> pathlib.Path:
    """A copy of a .keras archive with members replaced and ``extra`` (name, bytes) members appended."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, replace.get(info.filename, zin.read(info)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
            for name, data in extra:
                zout.writestr(name, data)
    return dst


def with_weights(src: pathlib.Path, dst: pathlib.Path, edit: Callable[..., None]) -> pathlib.Path:
    """A copy of a .keras archive whose model.weights.h5 was changed by ``edit(h5py.File)``."""
    with zipfile.ZipFile(src) as zf:
        buf = io.BytesIO(zf.read("model.weights.h5"))
    with h5py.File(buf, "r+") as fh:
        edit(fh)
    return rezip(src, dst, {"model.weights.h5": buf.getvalue()})


def with_h5(src: pathlib.Path, dst: pathlib.Path, edit: Callable[..., None]) -> pathlib.Path:
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as fh:
        edit(fh)
    return dst


def flip_weights_byte(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    """A copy of a .keras archive with one bit of model.weights.h5's stored data flipped (its CRC then fails)."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo("model.weights.h5")
    assert info.compress_type == zipfile.ZIP_STORED
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x10
    dst.write_bytes(bytes(data))
    return dst


def other_file(tmp_path: pathlib.Path) -> pathlib.Path:
    """A second HDF5 file whose values must never reach a result."""
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as fh:
        fh["secret"] = np.int64(31337)
        fh["grp/x"] = np.full((3,), 31337.0, dtype="float32")
    return path


def outputs_left(folder: pathlib.Path, before: List[str]) -> List[str]:
    return sorted(set(os.listdir(folder)) - set(before))


# --------------------------------------------------------------------------- item 6: a damaged member


@pytest.mark.parametrize("state", ["convert", "keep"])
def test_bit_flip_in_keras_weights_is_the_package_error(tmp_path, state):
    bad = flip_weights_byte(KERAS2, tmp_path / "bad.keras")
    before, listing = digest(bad), os.listdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(koc.ModelFileError, match="model.weights.h5"):
            koc.fix_model(bad, tmp_path / "out.keras", "keras3", state=state)
    with pytest.raises(koc.ModelFileError, match="model.weights.h5"):
        koc.read_state(bad)
    assert digest(bad) == before
    assert outputs_left(tmp_path, listing) == []  # no output, no temporary
    status = main(["fix-model", str(bad), str(tmp_path / "out.keras"), "--to", "keras3", "-q"])
    assert status == 2 and outputs_left(tmp_path, listing) == []


def _bulk_folder(tmp_path: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(H5, folder / "a0.h5")
    flip_weights_byte(KERAS2, folder / "a1_bitflip.keras")
    shutil.copyfile(H5, folder / "a2_boom.h5")
    rezip(KERAS2, folder / "a3_duplicate.keras", extra=[("config.json", b"not json")])
    shutil.copyfile(KERAS3, folder / "a4.keras")
    return folder


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_bulk_skip_reports_every_failure_whatever_its_class_and_goes_on(tmp_path, jobs, monkeypatch):
    folder = _bulk_folder(tmp_path)
    before = digest(folder)
    real = _modelfile.fix_model

    def fix_model(src, dst, *args, **kwargs):  # a failure no reader anticipates: not the package's, not OSError
        if "boom" in os.fspath(src):
            raise RuntimeError("unexpected failure")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(_modelfile, "fix_model", fix_model)  # --jobs 2: forked workers inherit it
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    with deadline(120):
        status = main(["fix-model", "--to", "keras3", str(folder), "-o", str(out), "--on-error", "skip", "--jobs", jobs,
                       "--report", str(report), "-q"])  # fmt: skip
    assert status == 1
    assert digest(folder) == before
    lines = {pathlib.Path(line["path"]).name: line for line in map(json.loads, report.read_text().splitlines())}
    assert sorted(lines) == ["a0.h5", "a1_bitflip.keras", "a2_boom.h5", "a3_duplicate.keras", "a4.keras"]
    assert lines["a2_boom.h5"]["error"] == "RuntimeError: unexpected failure"
    assert "model.weights.h5" in lines["a1_bitflip.keras"]["error"]
    assert "more than once" in lines["a3_duplicate.keras"]["error"]
    assert lines["a0.h5"]["error"] is None and lines["a4.keras"]["error"] is None  # the run reached the last file
    assert sorted(p.name for p in out.iterdir()) == ["a0.h5", "a4.keras"]


# --------------------------------------------------------------------------- item 7: duplicate members


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(json.dumps({"class_name": "Sequential", "config": {}}).encode(), id="no-compile_config"),
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    ],
)
def test_a_duplicate_config_json_is_refused(tmp_path, first):
    with zipfile.ZipFile(KERAS2) as zf:
        real = zf.read("config.json")
    bad = rezip(KERAS2, tmp_path / "dup.keras", {"config.json": first}, extra=[("config.json", real)])
    before = digest(bad)
    for call in (koc.read_optimizer, koc.read_state, lambda p: koc.fix_model(p, tmp_path / "o.keras", "tf2.15")):
        with pytest.raises(koc.UnsafeModelFileError, match="'config.json' more than once"):
            call(bad)
    assert digest(bad) == before and not (tmp_path / "o.keras").exists()


@pytest.mark.parametrize("member", ["model.weights.h5", "metadata.json", "assets/x.txt"])
def test_any_duplicate_member_is_refused(tmp_path, member):
    with zipfile.ZipFile(KERAS2) as zf:
        data = zf.read(member) if member in zf.namelist() else b"x"
    bad = rezip(KERAS2, tmp_path / "dup.keras", extra=[(member, data), (member, data)])
    with pytest.raises(koc.UnsafeModelFileError, match="more than once"):
        koc.read_state(bad)
    status = main(["fix-model", str(bad), str(tmp_path / "o.keras"), "--to", "keras3", "-q"])
    assert status == 2 and not (tmp_path / "o.keras").exists()


# --------------------------------------------------------------------------- item 8: a dataset where a group belongs


def _dataset_at(name: str) -> Callable[..., None]:
    def edit(fh):
        if name in fh:
            del fh[name]
        fh[name] = np.arange(3, dtype="int64")

    return edit


@pytest.mark.parametrize("source", [KERAS2, KERAS3], ids=["keras2", "keras3"])
@pytest.mark.parametrize("name", ["optimizer/vars", "vars", "layers", "layers/dense/vars"])
def test_a_dataset_instead_of_a_group_in_model_weights(tmp_path, source, name):
    bad = with_weights(source, tmp_path / "bad.keras", _dataset_at(name))
    before = digest(bad)
    try:
        state = koc.read_state(bad)
    except koc.ModelFileError as exc:
        assert "not a group" in str(exc) and name in str(exc)
    else:  # a group Keras leaves empty or absent (the root vars): read, but no slot is tied through it
        assert name in ("vars",) and state.untied and state.variables == ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            koc.fix_model(bad, tmp_path / "out.keras", "tf2.15" if source == KERAS3 else "keras3")
        except koc.ModelFileError as exc:
            assert "not a group" in str(exc)
    assert digest(bad) == before


@pytest.mark.parametrize("name", ["optimizer_weights", "model_weights"])
def test_a_dataset_instead_of_a_group_in_an_h5(tmp_path, name):
    bad = with_h5(H5, tmp_path / "bad.h5", _dataset_at(name))
    with pytest.raises(koc.ModelFileError, match="not a group"):
        koc.read_state(bad)


# --------------------------------------------------------------------------- item 4: FIFOs and other special files


@needs_fifo
def test_a_fifo_as_checkpoint_shard_is_refused_without_blocking(tmp_path):
    sm = tmp_path / "m.savedmodel"
    shutil.copytree(SAVEDMODEL, sm)
    (sm / "variables" / SHARD).unlink()
    os.mkfifo(sm / "variables" / SHARD)
    before = digest(sm)
    with deadline(60):
        with pytest.raises(koc.UnsafeModelFileError, match="FIFO"):
            koc.read_state(sm)
        with pytest.raises(koc.UnsafeModelFileError, match="FIFO"):
            koc.fix_model(sm, tmp_path / "out", "keras2")  # state: the shard is read; copy: a FIFO is not copied
    assert digest(sm) == before and not (tmp_path / "out").exists()


@needs_fifo
@pytest.mark.parametrize("name", ["keras_metadata.pb", "variables/variables.index"])
def test_a_fifo_as_savedmodel_part_is_refused(tmp_path, name):
    sm = tmp_path / "m.savedmodel"
    shutil.copytree(SAVEDMODEL, sm)
    (sm / name).unlink()
    os.mkfifo(sm / name)
    with deadline(60), pytest.raises(koc.UnsafeModelFileError, match="FIFO"):
        koc.read_state(sm)


@needs_fifo
def test_a_fifo_named_like_a_model_file(tmp_path):
    fifo = tmp_path / "m.h5"
    os.mkfifo(fifo)
    with deadline(60):
        for call in (koc.read_optimizer, koc.read_state):
            with pytest.raises(koc.UnsafeModelFileError, match="FIFO"):
                call(fifo)
        assert main(["fix-model", str(fifo), str(tmp_path / "o.h5"), "--to", "keras3", "-q"]) == 2


@needs_fifo
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_fifo_in_a_walked_folder_is_that_files_error(tmp_path, jobs):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(H5, folder / "m0.h5")
    os.mkfifo(folder / "m1.h5")
    shutil.copyfile(H5, folder / "m2.h5")
    done = run_cli(["fix-model", "--to", "keras3", str(folder), "-o", str(tmp_path / "out"), "--on-error", "skip",
                    "--jobs", jobs, "-q"])  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "m1.h5" in done.stderr and "FIFO" in done.stderr and "1 failed" in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m0.h5", "m2.h5"]
    # the FIFO named on the command line, among other files
    listed = [str(folder / n) for n in ("m0.h5", "m1.h5", "m2.h5")]
    done = run_cli(["fix-model", "--to", "keras3"] + listed + ["-o", str(tmp_path / "out2"), "--on-error", "skip",
                    "--jobs", jobs, "-q"])  # fmt: skip
    assert done.returncode == 1 and "FIFO" in done.stderr and "1 failed" in done.stderr, done.stderr
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["m0.h5", "m2.h5"]


@needs_fifo
def test_a_fifo_behind_an_h5_external_link_is_never_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.h5")

    def edit(fh):
        fh["optimizer_weights/trap"] = h5py.ExternalLink(str(tmp_path / "pipe.h5"), "/x")

    bad = with_h5(H5, tmp_path / "bad.h5", edit)
    with deadline(60), pytest.raises(koc.UnsafeModelFileError, match="external link"):
        koc.read_state(bad)


# --------------------------------------------------------------------------- item 2: links out of a file


def _keras_edit_external(target: pathlib.Path) -> Callable[..., None]:
    def edit(fh):
        del fh["optimizer/vars/0"]
        fh["optimizer/vars/0"] = h5py.ExternalLink(str(target), "/secret")

    return edit


def test_h5_external_link_is_never_resolved(tmp_path):
    target = other_file(tmp_path)

    def edit(fh):
        group = fh["optimizer_weights"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][0]
        del group[name]
        group[name] = h5py.ExternalLink(str(target), "/secret")

    bad = with_h5(H5, tmp_path / "bad.h5", edit)
    before = digest(bad)
    with pytest.raises(koc.UnsafeModelFileError, match="external link"):
        koc.read_state(bad)
    with pytest.raises(koc.UnsafeModelFileError, match="external link"):
        koc.fix_model(bad, tmp_path / "out.h5", "tf2.9", state="convert")
    assert not (tmp_path / "out.h5").exists() and digest(bad) == before
    assert main(["state", str(bad)]) == 2


def test_keras_external_link_is_never_resolved(tmp_path):
    bad = with_weights(KERAS2, tmp_path / "bad.keras", _keras_edit_external(other_file(tmp_path)))
    with pytest.raises(koc.UnsafeModelFileError, match="external link"):
        koc.read_state(bad)
    with pytest.raises(koc.UnsafeModelFileError, match="external link"):
        koc.fix_model(bad, tmp_path / "out.keras", "keras3", state="convert")
    assert not (tmp_path / "out.keras").exists()


@pytest.mark.parametrize("kind", ["virtual", "external-storage"])
def test_h5_virtual_dataset_or_external_storage_is_never_read(tmp_path, kind):
    target = other_file(tmp_path)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.int64(31337).tobytes())

    def edit(fh):
        group = fh["optimizer_weights"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][0]
        del group[name]
        if kind == "virtual":
            layout = h5py.VirtualLayout(shape=(3,), dtype="float32")
            layout[:] = h5py.VirtualSource(str(target), "grp/x", shape=(3,))
            group.create_virtual_dataset(name, layout)
        else:
            group.create_dataset(name, shape=(1,), dtype="int64", external=[(str(raw), 0, 8)])  # h5py ignores it for ()

    bad = with_h5(H5, tmp_path / "bad.h5", edit)
    with pytest.raises(koc.UnsafeModelFileError, match="virtual|external files"):
        koc.read_state(bad)
    with pytest.raises(koc.UnsafeModelFileError):
        koc.fix_model(bad, tmp_path / "out.h5", "tf2.9", state="convert")


def _savedmodel_with_link(tmp_path: pathlib.Path, where: str, text: str) -> pathlib.Path:
    sm = tmp_path / "m.savedmodel"
    shutil.copytree(SAVEDMODEL, sm)
    (sm / "assets").mkdir(exist_ok=True)
    os.symlink(text, sm / where)
    return sm


@needs_symlink
@pytest.mark.parametrize(
    "where, text",
    [
        ("assets/passwd", "/etc/passwd"),
        ("assets/etc", "/etc"),
        ("assets/up", "../.."),
        ("up", ".."),
        ("assets/dangling", "/nonexistent/file"),
        ("assets/sibling", "../../m.savedmodel/variables"),  # resolves inside, but only through the folder's own name
    ],
)
def test_savedmodel_link_out_of_the_folder_is_refused(tmp_path, where, text):
    sm = _savedmodel_with_link(tmp_path, where, text)
    before = digest(sm)
    listing = os.listdir(tmp_path)
    with pytest.raises(koc.UnsafeModelFileError, match="out of the SavedModel folder"):
        koc.fix_model(sm, tmp_path / "out", "keras2", state="keep")
    assert digest(sm) == before
    assert outputs_left(tmp_path, listing) == []  # no output, no temporary folder
    assert main(["fix-model", str(sm), str(tmp_path / "out"), "--to", "keras2", "-q"]) == 2


@needs_symlink
@pytest.mark.parametrize("text", ["../variables/variables.index", "..", "missing-inside"])
def test_savedmodel_link_inside_the_folder_is_kept_as_a_link(tmp_path, text):
    sm = _savedmodel_with_link(tmp_path, "assets/alias", text)
    koc.fix_model(sm, tmp_path / "out", "keras2", state="keep")
    copied = tmp_path / "out" / "assets" / "alias"
    assert copied.is_symlink() and os.readlink(copied) == text
    assert os.path.realpath(copied).startswith(os.path.realpath(tmp_path / "out"))
    assert not (tmp_path / "out" / "keras_metadata.pb").is_symlink()


@needs_symlink
@pytest.mark.parametrize("name", [SHARD, "variables.index"])
def test_savedmodel_checkpoint_linked_from_outside_is_not_read(tmp_path, name):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sm = tmp_path / "m.savedmodel"
    shutil.copytree(SAVEDMODEL, sm)
    shutil.move(str(sm / "variables" / name), str(elsewhere / name))
    os.symlink(str(elsewhere / name), sm / "variables" / name)
    with pytest.raises(koc.UnsafeModelFileError, match="outside"):
        koc.read_state(sm)


# --------------------------------------------------------------------------- item 9: checkpoint entries

ITER_KEY = "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"
LR_KEY = "optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE"
SLOT_KEY = "optimizer/_variables/1/.ATTRIBUTES/VARIABLE_VALUE"


def _bundle_parts(sm: pathlib.Path):
    from kerasopt_compat._files.bundle import OBJECT_GRAPH_KEY, Bundle

    bundle = Bundle(sm / "variables" / "variables")
    tensors = {
        key: (entry.dtype, entry.shape, bundle.tensor(key).tobytes())
        for key, entry in bundle.entries.items()
        if key != OBJECT_GRAPH_KEY
    }
    return bundle.object_graph(), tensors


def _forged_savedmodel(tmp_path: pathlib.Path, *, graph=None, tensors=None, overrides=None, header=None):
    """A copy of a Keras 2.15 SavedModel (tests/data/resume_sm) whose checkpoint bundle is written again by the
    test-only writer of tests/test_ckpt.py, with changed tensors, entries, object graph or header."""
    from test_ckpt import _copy, encode_graph, write_bundle

    from kerasopt_compat._files.bundle import OBJECT_GRAPH_KEY

    sm = _copy(tmp_path)
    old_graph, old_tensors = _bundle_parts(sm)
    old_tensors.update(tensors or {})
    old_tensors[OBJECT_GRAPH_KEY] = (7, (), encode_graph(graph or old_graph))
    prefix = sm / "variables" / "variables"
    write_bundle(prefix, old_tensors, overrides=overrides)
    if header is not None:
        _rewrite_header(prefix, header)
    return sm


def _rewrite_header(prefix: pathlib.Path, header: bytes) -> None:
    """Write the index again with another BundleHeaderProto (the entry with the empty key)."""
    from test_ckpt import _block

    from kerasopt_compat._files import protowire as pw
    from kerasopt_compat._files.bundle import _table_entries

    index = pathlib.Path(str(prefix) + ".index")
    entries = [(k, header if k == b"" else v) for k, v in _table_entries(index.read_bytes(), str(index))]
    block = _block(entries)
    index_block = _block([(b"\xff", pw.encode_varint(0) + pw.encode_varint(len(block) - 5))])
    meta = _block([])
    handles = pw.encode_varint(len(block) + len(index_block)) + pw.encode_varint(len(meta) - 5)
    handles += pw.encode_varint(len(block)) + pw.encode_varint(len(index_block) - 5)
    footer = handles + b"\0" * (40 - len(handles)) + (0xDB4775248B80FB57).to_bytes(8, "little")
    index.write_bytes(block + index_block + meta + footer)


def _tag(number: int, wire: int) -> bytes:
    from kerasopt_compat._files import protowire as pw

    return pw.encode_varint(number << 3 | wire)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"shape": (1,) * 100, "size": 4}, "rank 100"),
        ({"shape": (0, 1 << 62, 1 << 62), "size": 0}, "more elements"),
    ],
    ids=["100-dims", "0x2^62x2^62"],
)
def test_checkpoint_shapes_numpy_cannot_hold(tmp_path, override, message):
    sm = _forged_savedmodel(tmp_path, overrides={SLOT_KEY: override})
    with pytest.raises(koc.ModelFileError, match=message):
        koc.read_state(sm)


@pytest.mark.parametrize(
    "key, tensor, message",
    [
        (LR_KEY, (8, (), np.complex64(0.001 + 1j).tobytes()), "learning_rate .* holds dtype complex64, not numbers"),
        (LR_KEY, (7, (), b"0.001"), "learning_rate .* holds a string tensor"),
        (ITER_KEY, (7, (), b"3"), "iterations .* holds a string tensor"),
        (SLOT_KEY, (7, (), b"m"), "holds a string tensor"),
    ],
    ids=["complex-lr", "string-lr", "string-iterations", "string-slot"],
)
def test_checkpoint_values_that_are_not_numbers(tmp_path, key, tensor, message):
    sm = _forged_savedmodel(tmp_path, tensors={key: tensor})
    with pytest.raises(koc.ModelFileError, match=message):
        koc.read_state(sm)


def test_checkpoint_variable_missing_from_the_index(tmp_path):
    from test_ckpt import _copy

    graph, _ = _bundle_parts(_copy(tmp_path / "probe"))
    node = next(
        i
        for i, n in enumerate(graph.nodes)
        if any(a.checkpoint_key.startswith("layer_with_weights-0/kernel") for a in n.attributes)
    )
    attrs = tuple(a._replace(checkpoint_key="gone/.ATTRIBUTES/VARIABLE_VALUE") for a in graph.nodes[node].attributes)
    nodes = list(graph.nodes)
    nodes[node] = nodes[node]._replace(attributes=attrs)
    from kerasopt_compat._files.bundle import ObjectGraph

    sm = _forged_savedmodel(tmp_path, graph=ObjectGraph(nodes, graph.where))
    with pytest.raises(koc.ModelFileError, match="'gone/.ATTRIBUTES/VARIABLE_VALUE'"):
        koc.read_state(sm)


def test_checkpoint_list_child_named_like_a_digit(tmp_path):
    from test_ckpt import _copy

    from kerasopt_compat._files.bundle import ObjectGraph

    good = koc.read_state(_copy(tmp_path / "probe"))
    graph, _ = _bundle_parts(_copy(tmp_path / "probe2"))
    lst = graph.follow("optimizer", "_variables")
    nodes = list(graph.nodes)
    nodes[lst] = nodes[lst]._replace(children=nodes[lst].children + (("\u00b2", 0), ("\u0663", 0)))  # '²', Arabic 3
    sm = _forged_savedmodel(tmp_path, graph=ObjectGraph(nodes, graph.where))
    state = koc.read_state(sm)  # not list items: ignored, as TensorFlow's own list restore ignores them
    assert state.iterations == good.iterations and len(state.variables) == len(good.variables)


def test_checkpoint_declared_big_endian_is_refused(tmp_path):
    from kerasopt_compat._files import protowire as pw

    header = _tag(1, 0) + pw.encode_varint(1) + _tag(2, 0) + pw.encode_varint(1)  # num_shards 1, BIG endian
    sm = _forged_savedmodel(tmp_path, header=header)
    with pytest.raises(koc.ModelFileError, match="big-endian"):
        koc.read_state(sm)
    little = _forged_savedmodel(tmp_path / "again", header=_tag(1, 0) + pw.encode_varint(1) + _tag(2, 0) + pw.encode_varint(0))
    assert koc.read_state(little).iterations == 3


# --------------------------------------------------------------------------- item 10: unreadable parts


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a mode-000 file")
@pytest.mark.parametrize("name", ["keras_metadata.pb", "variables/variables.index", "variables/" + SHARD])
def test_an_unreadable_savedmodel_part(tmp_path, name):
    sm = tmp_path / "m.savedmodel"
    shutil.copytree(SAVEDMODEL, sm)
    os.chmod(sm / name, 0)
    try:
        for call in (koc.read_state, koc.read_optimizer) if name == "keras_metadata.pb" else (koc.read_state,):
            with pytest.raises(koc.ModelFileError, match="ermission"):
                call(sm)
    finally:
        os.chmod(sm / name, 0o644)


@pytest.mark.parametrize("name", ["keras_metadata.pb", "variables/variables.index", "variables/" + SHARD])
def test_a_folder_where_a_savedmodel_file_belongs(tmp_path, name):
    """What an unreadable part gives as root too: open() fails; the package's error, never a raw OSError."""
    sm = tmp_path / "m.savedmodel"
    shutil.copytree(SAVEDMODEL, sm)
    (sm / name).unlink()
    (sm / name).mkdir()
    calls = (koc.read_state, koc.read_optimizer) if name == "keras_metadata.pb" else (koc.read_state,)
    for call in calls:
        with pytest.raises(koc.ModelFileError, match="a directory"):
            call(sm)
    assert main(["state", str(sm)]) == 2


# --------------------------------------------------------------------------- item 5: memory follows the file


def _capped(limit_mb: int) -> Callable[[], None]:
    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))

    return cap


def run_capped(code: str, limit_mb: int = 700, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """``code`` in a child process whose address space is capped (a MemoryError there is a failure)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, preexec_fn=_capped(limit_mb)
    )


needs_rlimit = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS caps memory on Linux")


@needs_rlimit
def test_a_huge_zero_filled_keras_member_is_streamed(tmp_path):
    """A 256 MiB asset that deflates to ~256 KB: fix_model copies it through without holding it (360 MB cap)."""
    big = tmp_path / "big.keras"
    shutil.copyfile(KERAS2, big)
    chunk = bytes(1 << 24)
    with zipfile.ZipFile(big, "a", compression=zipfile.ZIP_DEFLATED) as zf, zf.open(
        "assets/zeros.bin", "w", force_zip64=True
    ) as fh:
        for _ in range(16):
            fh.write(chunk)
    assert big.stat().st_size < 8 << 20
    out = tmp_path / "out.keras"
    code = "import kerasopt_compat as k; print(k.fix_model(%r, %r, 'keras3', state='keep').written)" % (str(big), str(out))
    done = run_capped(code, limit_mb=360)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]
    with zipfile.ZipFile(out) as zf:
        assert zf.getinfo("assets/zeros.bin").file_size == 1 << 28
        assert zf.testzip() is None


@needs_rlimit
def test_an_h5_slot_declaring_gigabytes_it_does_not_store(tmp_path):
    def edit(fh):
        group = fh["optimizer_weights"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][1]
        del group[name]
        group.create_dataset(name, shape=(1 << 29,), dtype="float32", chunks=(1 << 20,))  # 2 GiB, nothing allocated

    bad = with_h5(H5, tmp_path / "bad.h5", edit)
    assert bad.stat().st_size < 1 << 20
    code = (
        "import kerasopt_compat as k\n"
        "try:\n    k.read_state(%r)\nexcept k.ModelFileError as exc:\n    print('refused:', exc)\n" % str(bad)
    )
    done = run_capped(code)
    assert done.returncode == 0 and "refused:" in done.stdout and "declares 2147483648 bytes" in done.stdout, done.stderr


def test_a_deep_object_graph_of_long_names_is_refused(tmp_path):
    """A 4000-node chain of 2000-character names: its object paths would take ~16 GB."""
    from kerasopt_compat._files.bundle import GraphNode, ObjectGraph

    nodes = [GraphNode((("n" * 2000, i + 1),), (), ()) for i in range(3999)] + [GraphNode((), (), ())]
    graph = ObjectGraph(nodes, "forged")
    with deadline(60), pytest.raises(koc.ModelFileError, match="object paths exceed"):
        graph.paths()


def test_a_string_tensor_of_millions_of_strings_is_refused(tmp_path):
    from test_ckpt import _string_tensor  # noqa: F401 -- the writer's module, for its bundle format

    sm = _forged_savedmodel(tmp_path, overrides={SLOT_KEY: {"dtype": 7, "shape": (20_000_000,), "size": 20_000_004}})
    with deadline(60), pytest.raises(koc.ModelFileError, match="strings"):
        koc.read_state(sm)


def _children() -> set:
    """This process's child processes (zombies too): ``{(pid, start time)}`` from /proc; empty elsewhere."""
    found = set()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        try:
            with open("/proc/%s/stat" % entry) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(os.getpid()):  # state, ppid, ...
            found.add((entry, fields[19]))
    return found


def _die_in_workers(monkeypatch, marker: str) -> None:
    """``fix_model`` on a file whose name holds ``marker`` kills the worker process reading it (SIGKILL)."""
    real = _modelfile.fix_model
    parent = os.getpid()

    def fix_model(src, dst, *args, **kwargs):
        if marker in os.fspath(src) and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(_modelfile, "fix_model", fix_model)  # forked workers inherit it


def test_bulk_jobs_survive_a_worker_that_dies(tmp_path, monkeypatch):
    """A file that kills its worker process (a crash in a C library, the out-of-memory killer): that file's
    line says so, every other file is written, in input order; no worker process is left behind."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a0.h5", "a1.h5", "a2_die.h5", "a3.h5", "a4.h5", "a5.h5"):
        shutil.copyfile(H5, folder / name)
    _die_in_workers(monkeypatch, "die")
    children = _children()
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    with deadline(180):
        status = main(["fix-model", "--to", "keras3", str(folder), "-o", str(out), "--on-error", "skip", "--jobs", "2",
                       "--report", str(report), "-q"])  # fmt: skip
    assert status == 1
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [pathlib.Path(line["path"]).name for line in lines] == sorted(os.listdir(folder))
    errors = {pathlib.Path(line["path"]).name: line["error"] for line in lines if line["error"]}
    assert list(errors) == ["a2_die.h5"] and "worker process" in errors["a2_die.h5"]
    assert sorted(p.name for p in out.iterdir()) == ["a0.h5", "a1.h5", "a3.h5", "a4.h5", "a5.h5"]
    assert _children() <= children  # every worker reaped: no zombie, no orphan


@pytest.mark.parametrize("jobs", ["2", "3"])
def test_bulk_jobs_replace_every_worker_that_dies(tmp_path, monkeypatch, capsys, jobs):
    """Every other file kills its worker: each of those fails alone (the same line each time), each other
    file is done once by a worker started in place of a dead one."""
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["b%d%s.h5" % (i, "_die" if i % 2 else "") for i in range(9)]
    for name in names:
        shutil.copyfile(H5, folder / name)
    _die_in_workers(monkeypatch, "die")
    children = _children()
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    with deadline(180):
        status = main(["fix-model", "--to", "keras3", str(folder), "-o", str(out), "--on-error", "skip", "--jobs", jobs,
                       "--report", str(report), "-q"])  # fmt: skip
    assert status == 1
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [pathlib.Path(line["path"]).name for line in lines] == names
    died = "RuntimeError: the worker process reading this file died (crashed or was killed)"
    assert [line["error"] for line in lines] == [died if "die" in name else None for name in names]
    assert sorted(p.name for p in out.iterdir()) == [name for name in names if "die" not in name]
    assert "9 files: 5 rewritten, 0 unchanged, 4 failed" in capsys.readouterr().err
    assert _children() <= children


def test_bulk_jobs_a_worker_that_dies_after_writing(tmp_path, monkeypatch):
    """A worker killed after its output was written, before its line came back: the file failed, so the output
    this run wrote is removed (a run again needs no --force); an output there before the run is kept."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("d0.h5", "d1_late.h5", "d2.h5", "d3_late.h5"):
        shutil.copyfile(H5, folder / name)
    real = _modelfile.fix_model
    parent = os.getpid()

    def fix_model(src, dst, *args, **kwargs):
        result = real(src, dst, *args, **kwargs)
        if "late" in os.fspath(src) and os.getpid() != parent:
            assert os.path.isfile(dst)
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    monkeypatch.setattr(_modelfile, "fix_model", fix_model)
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    out.mkdir()
    (out / "d3_late.h5").write_bytes(b"there before")
    with deadline(180):
        status = main(["fix-model", "--to", "keras3", str(folder), "-o", str(out), "--on-error", "skip", "--jobs", "2",
                       "--force", "--report", str(report), "-q"])  # fmt: skip
    assert status == 1
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [bool(line["error"]) for line in lines] == [False, True, False, True]
    assert sorted(p.name for p in out.iterdir()) == ["d0.h5", "d2.h5", "d3_late.h5"]
    assert (out / "d3_late.h5").read_bytes() != b"there before"  # --force replaced it before the worker died


def test_bulk_jobs_on_error_stop_stops_and_reaps_its_workers(tmp_path, monkeypatch, capsys):
    folder = _bulk_folder(tmp_path)
    _die_in_workers(monkeypatch, "boom")
    children = _children()
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    with deadline(180):
        status = main(["fix-model", "--to", "keras3", str(folder), "-o", str(out), "--jobs", "2", "--report",
                       str(report), "-q"])  # fmt: skip
    assert status == 1
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    # a1's damaged weights fail first: the run stops there, a2 (whose worker would die) never reported
    assert [pathlib.Path(line["path"]).name for line in lines] == ["a0.h5", "a1_bitflip.keras"]
    assert lines[0]["error"] is None and lines[1]["error"]
    assert "stopped at the first failure" in capsys.readouterr().err
    assert not [p for p in out.rglob("*") if "tmp" in p.name]
    assert _children() <= children


def test_bulk_jobs_an_exception_in_the_parent_ends_its_workers(tmp_path, monkeypatch):
    """The parent interrupted (here SIGALRM's TimeoutError; Ctrl-C alike) while its workers write: they are
    terminated and reaped at once, and each removes the temporary output it was writing."""
    import time

    from kerasopt_compat._files.atomic import atomic_path

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("c0.h5", "c1.h5", "c2.h5"):
        shutil.copyfile(H5, folder / name)
    parent = os.getpid()
    real = _modelfile.fix_model

    def fix_model(src, dst, *args, **kwargs):
        if os.getpid() != parent:
            with atomic_path(os.fspath(dst)) as tmp:
                pathlib.Path(tmp).write_bytes(b"half")
                time.sleep(300)
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(_modelfile, "fix_model", fix_model)
    children = _children()
    out = tmp_path / "out"
    started = time.monotonic()
    with pytest.raises(TimeoutError), deadline(3):
        main(["fix-model", "--to", "keras3", str(folder), "-o", str(out), "--on-error", "skip", "--jobs", "2", "-q"])
    assert time.monotonic() - started < 30
    assert _children() <= children
    assert list(out.iterdir()) == []  # the two temporaries being written removed, nothing else written
