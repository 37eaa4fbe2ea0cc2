"""The TF.js ``model.json`` container (the tensorflowjs converter's layout), pure.

The optimizer entry is ``modelTopology`` -> ``training_config`` ->
``optimizer_config``; TF.js files store no optimizer state.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional

from .._errors import (
    ModelFileError,
)
from .base import _MAX_JSON_BYTES, Container, Rewrite, _atomic_file, _dumps, _json, _Meta
from .safefs import open_regular


def _read_tfjs(path: str) -> _Meta:
    try:
        with open_regular(path) as fh:
            data = fh.read(_MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise ModelFileError("%s: cannot read: %s" % (path, exc.strerror or exc)) from None
    if len(data) > _MAX_JSON_BYTES:
        raise ModelFileError("%s: larger than %d bytes" % (path, _MAX_JSON_BYTES))
    doc = _json(data, path, "the file")
    if isinstance(doc, Mapping) and "trainingConfig" in doc:
        raise ModelFileError(
            "%s: a model.json written by TF.js itself ('trainingConfig', TF.js optimizer names); kerasopt_compat "
            "reads the tensorflowjs converter layout ('modelTopology' -> 'training_config') only" % path
        )
    if not isinstance(doc, Mapping) or "modelTopology" not in doc:
        raise ModelFileError("%s: JSON text, but not a TF.js model.json (no 'modelTopology')" % path)
    topology = doc.get("modelTopology")
    holder = ("modelTopology", "training_config")
    if not (isinstance(topology, Mapping) and topology.get("training_config") is not None):
        return _Meta(doc, None, "optimizer_config")
    return _Meta(doc, holder, "optimizer_config")


def _write_tfjs(src: str, dst: str, entry: Dict[str, Any], compile_defaults: Mapping[str, Any]) -> None:
    def fill(tmp: str) -> None:
        with open(src, "rb") as fh:
            doc = json.loads(fh.read().decode("utf-8-sig"))
        doc["modelTopology"]["training_config"] = dict(doc["modelTopology"]["training_config"], optimizer_config=entry)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(_dumps(doc))

    _atomic_file(dst, fill)


class TFJS(Container):
    """A TF.js ``model.json`` written by the tensorflowjs converter."""

    format = "tfjs"
    label = "TF.js model.json"
    stores_state = False

    def claims(self, path: str, head: Optional[bytes]) -> bool:
        return head is not None and (head.lstrip()[:1] == b"{" or head.startswith(b"\xef\xbb\xbf"))

    def read_meta(self, path: str) -> _Meta:
        return _read_tfjs(path)

    def write(self, job: Rewrite) -> None:
        _write_tfjs(job.src, job.dst, job.entry, job.compile_defaults)


CONTAINER = TFJS()
