"""The committed model files (tests/data/models, written by tools/export_models.py)."""

from __future__ import annotations

import json
import pathlib
from typing import Any, Dict, Iterator, List, Tuple

MODELS = pathlib.Path(__file__).resolve().parent / "data" / "models"


def manifests() -> Dict[str, Dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(MODELS.glob("*/manifest.json"))}


def model_files() -> List[Tuple[str, Dict[str, Any]]]:
    """(saved-by env, manifest entry) for every committed model file."""
    return [(env, entry) for env, data in manifests().items() for entry in data["files"]]


def file_id(item: Tuple[str, Dict[str, Any]]) -> str:
    return "%s/%s" % (item[0], item[1]["file"])


def path_of(env: str, entry: Dict[str, Any]) -> pathlib.Path:
    return MODELS / env / entry["file"]


def with_optimizer() -> Iterator[Tuple[str, Dict[str, Any]]]:
    return iter([item for item in model_files() if item[1]["expected"] is not None])
