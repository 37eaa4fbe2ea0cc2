"""``kerasopt-compat state PATH... [--json]``: the optimizer state a model file or training checkpoint holds (no TensorFlow)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional, Sequence

from .._errors import KerasOptCompatError
from .._files.state import read_state
from .._state.slots import OptimizerState


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kerasopt-compat state",
        description="Print the optimizer state stored in model files (.h5, .keras, SavedModel folders) and TF training "
        "checkpoints (a tf.train.Checkpoint / save_weights prefix, its .index, a folder with a 'checkpoint' file, a "
        "BackupAndRestore folder, a TF1 Saver checkpoint): class, saver, iteration count, and the slots of every model "
        "variable with their shapes and how they were tied to it. A checkpoint stores no optimizer config: its class is "
        "inferred from the optimizer's variable names. Imports no TensorFlow.",
        epilog="examples:\n"
        "  kerasopt-compat state model.h5\n"
        "  kerasopt-compat state a.keras b.h5 --json\n"
        "  kerasopt-compat state ckpts/ckpt-3 ckpts/ backup/ model.ckpt-1000\n\n"
        "exit status: 0 every path read, 2 a path could not be read",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="PATH", help="model files or training checkpoints")
    p.add_argument("--json", action="store_true", help="one JSON document (a list, one entry per file)")
    p.add_argument("--custom", action="append", default=[], metavar="NAME", help="let your own optimizer class NAME through")
    return p


def _class(state: OptimizerState) -> Optional[str]:
    if state.optimizer is None:  # a training checkpoint or a weights file: the class inferred from its names, if any
        inferred = state.extra.get("class_name")
        return inferred if isinstance(inferred, str) else None
    cls = state.optimizer.get("class_name")
    inner = (state.optimizer.get("config") or {}).get("inner_optimizer")
    if isinstance(inner, dict) and inner.get("class_name"):
        return "%s(%s)" % (cls, inner["class_name"])
    return cls


def as_json(state: OptimizerState) -> Dict[str, Any]:
    """The state as JSON-native data: every slot by its shape, not its values."""
    return {
        "file": state.path,
        "class": _class(state),
        "optimizer": state.optimizer,
        "saver": state.saver._asdict(),
        "iterations": state.iterations,
        "extra": dict(state.extra),
        "variables": [
            {
                "name": v.name,
                "index": v.index,
                "shape": list(v.shape),
                "tie": v.tie,
                "model_path": v.model_path,
                "slots": {k: list(getattr(a, "shape", ())) for k, a in sorted(v.slots.items())},
            }
            for v in state.variables
        ],
        "notes": list(state.notes),
    }


#: ``extra`` entries printed elsewhere in the text form (the class; each variable's object path)
_NOT_CLASS_WIDE = ("class_name", "object_paths")


def as_text(state: OptimizerState) -> List[str]:
    saver = state.saver
    cls = _class(state)
    if state.optimizer is None:
        cls = "%s (inferred: no optimizer config stored)" % cls if cls else "no optimizer config"
    if saver.format == "checkpoint":  # a checkpoint stores no Keras version
        how = "TF1 Saver checkpoint" if saver.layout == "tf1" else "checkpoint"
    else:
        how = "Keras %s, %s" % (saver.keras_version or "?", saver.format)
    lines = [
        "%s: %s, saved by %s (%s), iterations %s"
        % (state.path, cls, saver.generation, how, "?" if state.iterations is None else state.iterations)
    ]
    extra = {k: v for k, v in state.extra.items() if k not in _NOT_CLASS_WIDE}
    if extra:
        lines.append("  class-wide: " + ", ".join("%s=%s" % (k, extra[k]) for k in sorted(extra)))
    paths = state.extra.get("object_paths") or {}
    for v in state.variables:
        label = v.name if v.name is not None else "#%d %s" % (v.index, v.model_path or "")
        if v.name in paths:
            label += " [%s]" % paths[v.name]
        slots = ", ".join("%s %s" % (k, tuple(getattr(a, "shape", ()))) for k, a in sorted(v.slots.items()))
        lines.append("  %s %s (tied by %s): %s" % (label, tuple(v.shape), v.tie, slots or "no slots"))
    if not state.variables:
        lines.append("  no slots tied to variables")
    lines.extend("  note: %s" % note for note in state.notes)
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    status = 0
    out: List[Dict[str, Any]] = []
    for path in args.files:
        try:
            state = read_state(path, custom_objects=args.custom or None)
        except KerasOptCompatError as exc:
            print("error: %s" % exc, file=sys.stderr)
            status = 2
            continue
        if args.json:
            out.append(as_json(state))
        else:
            print("\n".join(as_text(state)))
    if args.json:
        print(json.dumps(out, indent=1))
    return status
