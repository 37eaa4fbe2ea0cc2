"""Shared fixtures: the documented TF 2.9 shapes, the exports of real TF/Keras versions."""

from __future__ import annotations

import json
import pathlib
from typing import Any, Dict, Iterator, List, Tuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(__file__).resolve().parent / "data"
#: The contract: TF 2.9.3's own ``serialize()`` output for every class and
#: variant (see tests/data/README.md), tracked in the repository.
SPEC = DATA / "documented_shapes.json"
EXPORTS = DATA / "exports"


def load_spec() -> List[Dict[str, Any]]:
    return json.loads(SPEC.read_text(encoding="utf-8"))["cases"]


def load_exports() -> Dict[str, Dict[str, Any]]:
    """Per env: the file written by tools/export_native.py under that real version."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(EXPORTS.glob("*.json"))}


def iter_exports() -> Iterator[Tuple[str, Dict[str, Any]]]:
    for env, data in load_exports().items():
        for entry in data["exports"]:
            if "serialized" in entry:
                yield env, entry


def spec_case_id(case: Dict[str, Any]) -> str:
    """The export variant a documented case corresponds to."""
    kwargs = case["constructor_kwargs"]
    if not kwargs:
        return "defaults"
    if kwargs == {"clipnorm": 1.0}:
        return "clipnorm"
    if isinstance(kwargs.get("learning_rate"), str):
        return "schedule"
    return "nondefault"


@pytest.fixture(scope="session")
def spec_cases() -> List[Dict[str, Any]]:
    return load_spec()
