"""The files the package writes (``fix-model``, ``upgrade``, ``normalize -o``/``--in-place``, ``--report``): their mode,
a missing folder, an output that is the input through a link, and the temporaries a killed run leaves (no TensorFlow).

Issue 24 §4 and issue 25 items 1 and 3. Every case is built in a temporary folder from the committed model files;
inputs are hashed before and after.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import time

import pytest

import kerasopt_compat as koc
from kerasopt_compat._cli.main import main
from kerasopt_compat._files.atomic import TEMP_MARK

pytest.importorskip("h5py")
# what fix_model says about the state it copies is tested elsewhere (tests/test_fix_state.py)
pytestmark = pytest.mark.filterwarnings("ignore::kerasopt_compat.ConversionWarning")

MODELS = pathlib.Path(__file__).parent / "data" / "models"
H5 = MODELS / "tf29" / "adam.h5"
KERAS = MODELS / "tf215" / "adam.keras"
SAVEDMODEL = MODELS / "tf29" / "adam.savedmodel"
POSIX = pytest.mark.skipif(os.name != "posix", reason="file modes, symlinks and umask are POSIX")


def _digest(root: pathlib.Path) -> str:
    """Names, modes and bytes of a file or of a folder's whole tree (links not followed)."""
    h = hashlib.sha256()
    paths = [root] + (sorted(root.rglob("*")) if root.is_dir() and not root.is_symlink() else [])
    for p in paths:
        st = os.lstat(p)
        h.update(("%s %o\n" % (p.relative_to(root), st.st_mode)).encode())
        if stat.S_ISREG(st.st_mode):
            h.update(p.read_bytes())
    return h.hexdigest()


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _cli(*argv: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    """The command line in a fresh process (a new run: it started after anything the test made before)."""
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(koc.__file__).parent.parent))
    return subprocess.run(
        [sys.executable, "-m", "kerasopt_compat", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def umask022():
    with _umask(0o022):
        yield


@pytest.fixture
def umask027():
    with _umask(0o027):
        yield


# --------------------------------------------------------------------------- modes


@POSIX
def test_fix_model_outputs_get_the_umask_mode(tmp_path, umask022):
    koc.fix_model(H5, tmp_path / "out.h5", "keras3")
    koc.fix_model(KERAS, tmp_path / "out.keras", "keras3")
    koc.fix_model(SAVEDMODEL, tmp_path / "out.savedmodel", "keras2")
    assert _mode(tmp_path / "out.h5") == 0o644
    assert _mode(tmp_path / "out.keras") == 0o644
    tree = tmp_path / "out.savedmodel"
    assert _mode(tree) == 0o755
    inside = sorted(tree.rglob("*"))
    assert {p.relative_to(tree).as_posix() for p in inside} >= {"keras_metadata.pb", "saved_model.pb", "variables"}
    for p in inside:
        assert _mode(p) == (0o755 if p.is_dir() else 0o644), p
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "out.keras", "out.savedmodel"]  # no temporaries


@POSIX
def test_outputs_follow_the_umask_not_a_fixed_mode(tmp_path, umask027):
    koc.fix_model(H5, tmp_path / "out.h5", "keras3")
    koc.fix_model(SAVEDMODEL, tmp_path / "sm", "keras2")
    assert _mode(tmp_path / "out.h5") == 0o640
    assert _mode(tmp_path / "sm") == 0o750 and _mode(tmp_path / "sm" / "keras_metadata.pb") == 0o640


@POSIX
def test_a_replaced_file_keeps_its_mode_as_open_would(tmp_path, umask022):
    out = tmp_path / "out.h5"
    out.write_bytes(b"old")
    out.chmod(0o600)
    koc.fix_model(H5, out, "keras3", force=True)
    assert _mode(out) == 0o600 and out.read_bytes() != b"old"


@POSIX
def test_cli_outputs_get_the_umask_mode(tmp_path, umask022):
    """fix-model IN OUT and -o OUTDIR (with its --report), normalize -o: what a plain open() gives."""
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"class_name": "Adam", "config": {"lr": 0.1}}))
    assert main(["normalize", str(src), "-o", str(tmp_path / "out.json"), "-q"]) == 0
    assert main(["fix-model", str(H5), str(tmp_path / "one.h5"), "--to", "keras3", "-q"]) == 0
    report = tmp_path / "report.jsonl"
    status = main(["fix-model", "--to", "tf2.9", str(H5), str(KERAS), "-o", str(tmp_path / "many"), "--report", str(report)])
    assert status == 0
    many = [tmp_path / "many" / "adam.h5", tmp_path / "many" / "adam.keras"]
    for path in [tmp_path / "out.json", tmp_path / "one.h5", report] + many:
        assert _mode(path) == 0o644, path


@POSIX
def test_normalize_in_place_keeps_the_mode(tmp_path, umask022):
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"class_name": "Adam", "config": {"lr": 0.1}}))
    src.chmod(0o640)
    assert main(["normalize", str(src), "--in-place", "-q"]) == 0
    assert _mode(src) == 0o640 and json.loads(src.read_text())["config"]["learning_rate"] == 0.1


# --------------------------------------------------------------------------- a missing folder


def test_fix_model_into_a_missing_folder_is_the_packages_error(tmp_path):
    with pytest.raises(koc.ModelFileError, match="the folder .*nope does not exist"):
        koc.fix_model(H5, tmp_path / "nope" / "out.h5", "keras3")
    assert not (tmp_path / "nope").exists()


def test_fix_model_command_into_a_missing_folder_exits_2(tmp_path):
    done = _cli("fix-model", str(H5), str(tmp_path / "nope" / "out.h5"), "--to", "keras3", "-q", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: %s: cannot write it: the folder %s does not exist" % (
        tmp_path / "nope" / "out.h5",
        tmp_path / "nope",
    )
    assert sorted(os.listdir(tmp_path)) == []


def test_normalize_and_upgrade_into_a_missing_folder(tmp_path, capsys):
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"class_name": "Adam", "config": {}}))
    assert main(["normalize", str(src), "-o", str(tmp_path / "nope" / "out.json")]) == 2
    assert "the folder %s does not exist" % (tmp_path / "nope") in capsys.readouterr().err
    # upgrade checks the folder before it loads anything (no TensorFlow needed to see it)
    with pytest.raises(koc.ModelFileError, match="does not exist"):
        koc.upgrade_model(KERAS, tmp_path / "nope" / "x.keras")
    assert main(["fix-model", "--to", "tf2.9", str(H5), "-o", str(tmp_path / "o"), "--report", str(tmp_path / "no" / "r")]) == 2
    assert "--report" in capsys.readouterr().err and not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- the output is the input, through a link


@pytest.fixture
def linked(tmp_path):
    """``d/`` holding an .h5, a .keras and a SavedModel; ``link_to_d -> d``; ``hard/`` with hard links to the files."""
    d = tmp_path / "d"
    d.mkdir()
    shutil.copy(H5, d / "m.h5")
    shutil.copy(KERAS, d / "m.keras")
    shutil.copytree(SAVEDMODEL, d / "sm")
    (tmp_path / "link_to_d").symlink_to(d, target_is_directory=True)
    (tmp_path / "hard").mkdir()
    os.link(d / "m.h5", tmp_path / "hard" / "m.h5")
    os.link(d / "m.keras", tmp_path / "hard" / "m.keras")
    return tmp_path


@POSIX
@pytest.mark.parametrize(
    "src,dst",
    [
        ("d/m.h5", "link_to_d/m.h5"),  # the same file through a symlinked folder
        ("d/m.h5", "hard/m.h5"),  # a hard link
        ("link_to_d/m.h5", "d/m.h5"),
        ("d/m.keras", "hard/m.keras"),
        ("d/sm", "link_to_d/sm"),  # the SavedModel folder itself
        ("d/sm", "d"),  # a folder holding the input: --force would replace it
        ("d/sm", "link_to_d"),
        ("d/sm", "link_to_d/sm/variables"),  # inside the input
        ("d/sm/keras_metadata.pb", "link_to_d/sm"),
    ],
)
def test_fix_model_never_replaces_its_input_through_a_link(linked, src, dst):
    before = _digest(linked / "d")
    with pytest.raises(koc.ModelFileError, match="must be a new path; fix_model never modifies its input"):
        koc.fix_model(linked / src, linked / dst, "keras2", force=True)
    done = _cli("fix-model", src, dst, "--to", "keras2", "--force", "-q", cwd=linked)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "must be a new path" in done.stderr
    assert _digest(linked / "d") == before
    assert sorted(os.listdir(linked / "d")) == ["m.h5", "m.keras", "sm"]  # no temporary left either


@POSIX
def test_fix_model_many_files_refuses_an_output_folder_linked_to_an_input(linked, capsys):
    before = _digest(linked / "d")
    assert main(["fix-model", "--to", "tf2.9", str(linked / "d"), "-o", str(linked / "link_to_d"), "--force"]) == 2
    assert "overlaps the input" in capsys.readouterr().err
    # a symlink inside OUTDIR's parent chain that leads into the input
    (linked / "out").symlink_to(linked / "d" / "sm", target_is_directory=True)
    assert main(["fix-model", "--to", "tf2.9", str(linked / "d"), "-o", str(linked / "out" / "x"), "--force"]) == 2
    assert "overlaps the input" in capsys.readouterr().err
    # a hard-linked output inside OUTDIR: that file's error, the input untouched
    (linked / "o").mkdir()
    os.link(linked / "d" / "m.h5", linked / "o" / "m.h5")
    assert main(["fix-model", "--to", "tf2.9", str(linked / "d" / "m.h5"), "-o", str(linked / "o"), "--force"]) == 1
    assert "must be a new path" in capsys.readouterr().err
    assert _digest(linked / "d") == before


@POSIX
def test_upgrade_never_replaces_its_input_through_a_link(linked, capsys):
    """Refused before any Keras is needed (the upgrade itself: tests/test_savedmodel_keras3.py)."""
    before = _digest(linked / "d")
    for dst in ["link_to_d/m.keras", "hard/m.keras", "link_to_d/sm/x.keras"]:
        with pytest.raises(koc.ModelFileError, match="must be a new path; upgrade_model never modifies its input"):
            koc.upgrade_model(linked / ("d/sm" if "sm" in dst else "d/m.keras"), linked / dst, force=True)
    assert main(["upgrade", str(linked / "d"), "-o", str(linked / "link_to_d" / "up"), "--force"]) == 2
    assert "overlaps the input" in capsys.readouterr().err
    assert _digest(linked / "d") == before


@POSIX
def test_normalize_output_linked_to_an_input_is_refused(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"class_name": "Adam", "config": {"lr": 0.1}}) + "\n")
    before = _digest(src)
    (tmp_path / "sym.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for out in ["sym.jsonl", "hard.jsonl"]:
        assert main(["normalize", str(src), "-o", str(tmp_path / out)]) == 2
        assert "is one of the inputs" in capsys.readouterr().err
    assert _digest(src) == before


@POSIX
def test_normalize_in_place_through_a_symlink_rewrites_the_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    src = real / "in.json"
    src.write_text(json.dumps({"class_name": "Adam", "config": {"lr": 0.1}}))
    (tmp_path / "link.json").symlink_to(src)
    assert main(["normalize", str(tmp_path / "link.json"), "--in-place", "-q"]) == 0
    assert (tmp_path / "link.json").is_symlink()
    assert json.loads(src.read_text())["config"]["learning_rate"] == 0.1
    assert sorted(os.listdir(real)) == ["in.json"] and sorted(os.listdir(tmp_path)) == ["link.json", "real"]


# --------------------------------------------------------------------------- temporaries of a killed run


def _killed_mid_write(dst: pathlib.Path, directory: bool = False) -> pathlib.Path:
    """A process that starts writing ``dst`` the package's way and is SIGKILLed: the temporary it leaves."""
    code = (
        "import os, signal, sys\n"
        "from kerasopt_compat._files.atomic import AtomicWrite\n"
        "job = AtomicWrite(sys.argv[1], directory=sys.argv[2] == 'dir')\n"
        "target = os.path.join(job.tmp, 'variables.index') if sys.argv[2] == 'dir' else job.tmp\n"
        "open(target, 'wb').write(b'half a model')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(koc.__file__).parent.parent))
    done = subprocess.run([sys.executable, "-c", code, str(dst), "dir" if directory else "file"], env=env, timeout=60)
    assert done.returncode == -9
    left = [p for p in dst.parent.iterdir() if p.name.startswith(dst.name + TEMP_MARK)]
    assert len(left) == 1, left
    return left[0]


@POSIX
def test_a_killed_write_leaves_a_visible_temporary_that_the_next_run_removes(tmp_path):
    out = tmp_path / "out.h5"
    tmp = _killed_mid_write(out)
    assert not out.exists()  # the output itself: absent or complete, never half
    assert not tmp.name.startswith(".") and tmp.name.startswith("out.h5.kerasopt_compat-tmp-")
    assert _mode(tmp) == 0o600  # private while it is written
    # what is not ours, or not that output's, is never touched
    keep = {
        "out.h5.kerasopt_compat-tmp-notours": b"x",  # not the pattern (8 hex digits)
        "other.h5.kerasopt_compat-tmp-0123abcd": b"x",  # another output's
        "out.h5.kerasopt_compat-tmp-0123abcd.bak": b"x",  # a suffix we never write
        ".out.h5.tmp-abc": b"x",  # the old naming: not the pattern
        "out.h5": None,
    }
    for name, data in keep.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    victim = tmp_path / "victim"
    victim.write_bytes(b"never removed")
    (tmp_path / "out.h5.kerasopt_compat-tmp-feedbeef").symlink_to(victim)  # a link with our name: not ours
    time.sleep(1.1)  # the next run starts after these were last changed (the process start is known to 1 s)
    done = _cli("fix-model", str(H5), "out.h5", "--to", "keras3", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = sorted(os.listdir(tmp_path))
    assert names == sorted([n for n in keep] + ["victim", "out.h5.kerasopt_compat-tmp-feedbeef"])
    assert victim.read_bytes() == b"never removed"


@POSIX
def test_stale_savedmodel_and_upgrade_temporaries_are_removed(tmp_path):
    sm_tmp = _killed_mid_write(tmp_path / "sm", directory=True)
    assert sm_tmp.is_dir() and (sm_tmp / "variables.index").is_file()
    upgrade_tmp = tmp_path / ("m.keras" + TEMP_MARK + "0a1b2c3d.keras")  # upgrade's: Keras 3 saves only *.keras
    upgrade_tmp.write_bytes(b"PK half")
    time.sleep(1.1)
    done = _cli("fix-model", str(SAVEDMODEL), "sm", "--to", "keras2", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not sm_tmp.exists()
    assert upgrade_tmp.exists()  # another output's: left for the run that writes m.keras
    done = _cli("fix-model", str(KERAS), "m.keras", "--to", "keras3", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "sm"]


@POSIX
def test_a_temporary_newer_than_the_run_is_left_alone(tmp_path):
    """A concurrent writer's temporary (changed since this process started) is never removed."""
    live = tmp_path / ("out.h5" + TEMP_MARK + "0123abcd")
    live.write_bytes(b"being written by another run")
    koc.fix_model(H5, tmp_path / "out.h5", "keras3")
    assert live.read_bytes() == b"being written by another run"
    assert sorted(os.listdir(tmp_path)) == sorted(["out.h5", live.name])


@POSIX
def test_normalize_removes_its_own_stale_temporaries(tmp_path):
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"class_name": "Adam", "config": {}}))
    stale = _killed_mid_write(tmp_path / "out.json")
    time.sleep(1.1)
    done = _cli("normalize", "in.json", "-o", "out.json", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and sorted(os.listdir(tmp_path)) == ["in.json", "out.json"]
