"""load_model keeps the slots the native loader already tied right, and corrects the others (issue 24 §5).

Where the installed ``.h5`` loader restores the optimizer state itself (legacy
OptimizerV2 in TF 2.9, Keras 2 in TF 2.11-2.15), ``kerasopt_compat.load_model``
compares the tie the native loader made by position with its own tie by
variable (names, shapes, positions: no value read) and reads and assigns only
the slots the native loader put in the wrong place. Reads are counted on
kerasopt_compat's own ``StoredArray.read`` (the only way a lazily read slot
value leaves the file); the restored values are compared with the file's, by
variable name, through ``state_of``.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import warnings
from typing import Any, Dict, List, Tuple

import pytest
from live_helpers import require_keras

require_keras()

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

import kerasopt_compat as koc  # noqa: E402
from kerasopt_compat._keras.flavour import flavour  # noqa: E402
from kerasopt_compat._keras.restore import state_of  # noqa: E402
from kerasopt_compat._state.slots import StoredArray  # noqa: E402

pytestmark = pytest.mark.tf

RESUME = pathlib.Path(__file__).resolve().parent / "data" / "resume"
#: per installed default generation: a file of the resume corpus its own .h5 loader writes
OWN_FILE = {
    "legacy": RESUME / "tf29" / "legacy_adam_twin.h5",
    "keras2": RESUME / "tf215" / "keras2_adam_twin.h5",
    "keras3": RESUME / "tf221" / "keras3_adam_twin.h5",
}
#: generations whose native .h5 loader restores the optimizer state (Keras 3's does not)
NATIVE_RESTORES = ("legacy", "keras2")


def _family() -> str:
    fl = flavour()
    return "keras2" if fl.kind == "tf_keras" else fl.default_family


def _own_file() -> pathlib.Path:
    """This generation's file, or a skip naming what in it this release cannot build (the TF 2.21 file's
    ``quantization_config`` in Keras 3.3: ``_config.tables.MODEL_FEATURES``)."""
    from kerasopt_compat._files.model import unbuildable

    path = OWN_FILE[_family()]
    fl = flavour()
    reason = unbuildable(path, "h5", fl.release() or fl.default_family)
    if reason is not None:
        pytest.skip("this release cannot build the file's model: %s" % reason)
    return path


def _key(name: str) -> str:
    """A variable name as the file's Keras 2/legacy names (``dense/kernel``) and Keras 3 ``.h5`` (``..._dense_kernel``) agree."""
    return re.sub(r":\d+$", "", name).replace("/", "_")


def _file_slots(path: Any) -> Dict[Tuple[str, str], Any]:
    """(variable key, canonical slot) -> the value the file stores, by name (read eagerly)."""
    state = koc.read_state(path)
    return {(_key(v.name), slot): np.asarray(value) for v in state.variables for slot, value in v.slots.items()}


def _live_slots(model: Any) -> Dict[Tuple[str, str], Any]:
    state = state_of(model.optimizer, model)
    return {(_key(v.name), slot): value for v in state.variables for slot, value in v.slots.items()}


def _same(live: Dict[Tuple[str, str], Any], stored: Dict[Tuple[str, str], Any]) -> List[str]:
    """The stored (variable, slot) pairs whose live value differs (live names may carry a model prefix)."""
    wrong = []
    for (var, slot), value in stored.items():
        hits = [k for k in live if k[1] == slot and (k[0] == var or k[0].endswith("_" + var) or var.endswith("_" + k[0]))]
        assert len(hits) == 1, (var, slot, sorted(live))
        if not np.array_equal(live[hits[0]], value):
            wrong.append("%s/%s" % (var, slot))
    return wrong


class _Reads:
    def __init__(self, monkeypatch: Any) -> None:
        self.count = 0
        read = StoredArray.read

        def counted(stored: StoredArray) -> Any:
            self.count += 1
            return read(stored)

        monkeypatch.setattr(StoredArray, "read", counted)


def _load(path: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", koc.OptimizerStateWarning)
        return koc.load_model(str(path))


def _native(path: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flavour().keras.models.load_model(str(path))


def _swap_twins(src: pathlib.Path, dst: pathlib.Path) -> int:
    """Copy ``src`` with its optimizer weights listed in another order: the entries of the twin layers
    ``dense`` and ``dense_1`` (same shapes) trade places. Each name still names its own value, so the
    state is the same, but a loader that assigns by position puts dense's slots in dense_1's and back.
    Returns how many entries moved."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as fh:
        group = fh["optimizer_weights"]
        names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
        second = [i for i, n in enumerate(names) if re.search(r"dense_1[/_]", n)]
        first = [i for i, n in enumerate(names) if re.search(r"dense[/_]", n) and i not in second]
        assert len(first) == len(second) > 0, names
        assert [group[names[i]].shape for i in first] == [group[names[i]].shape for i in second]
        swapped = list(names)
        for a, b in zip(first, second):
            swapped[a], swapped[b] = names[b], names[a]
        group.attrs["weight_names"] = np.array([n.encode("utf-8") for n in swapped])
    return 2 * len(first)


def test_right_native_tie_is_kept_without_reading_a_slot(monkeypatch):
    path = _own_file()
    stored = _file_slots(path)
    reads = _Reads(monkeypatch)
    model = _load(path)
    assert _same(_live_slots(model), stored) == []
    assert int(np.asarray(model.optimizer.iterations)) == koc.read_state(path).iterations
    if _family() in NATIVE_RESTORES:
        assert reads.count == 0  # the skip path: every slot was already where the native loader put it
    else:
        assert reads.count == len(stored)  # Keras 3's .h5 loader restores nothing: every slot read, once


def test_wrong_native_tie_is_corrected_reading_only_the_misplaced_slots(monkeypatch, tmp_path):
    if _family() not in NATIVE_RESTORES:
        pytest.skip("Keras 3's .h5 loader restores no optimizer state: no native tie to correct")
    path = tmp_path / "swapped.h5"
    moved = _swap_twins(OWN_FILE[_family()], path)
    stored = _file_slots(path)
    original = _file_slots(OWN_FILE[_family()])
    assert set(stored) == set(original) and all(np.array_equal(stored[k], v) for k, v in original.items())
    # the native loader alone ties by position: the twins' slots trade places
    assert len(_same(_live_slots(_native(path)), stored)) == moved
    reads = _Reads(monkeypatch)
    model = _load(path)
    assert _same(_live_slots(model), stored) == []
    assert reads.count == moved  # the misplaced slots only, each read once
    report = koc.restore_state(_native(path), koc.read_state(path, lazy=True), reuse_native=True)
    assert report.exact and report.kept == len(stored) - moved
