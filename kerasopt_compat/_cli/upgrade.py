"""``kerasopt-compat upgrade``: load model files with ``load_model`` and save them as the installed Keras' ``.keras``."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from .._models.upgrade import upgrade_model
from .bulk import add_options, many_or_one, one_file


def parser() -> argparse.ArgumentParser:

    p = argparse.ArgumentParser(
        prog="kerasopt-compat upgrade",
        description="Load a model file (.h5, .keras, SavedModel directory) with kerasopt_compat.load_model and save "
        "it as the installed Keras' native .keras archive (written atomically; IN is never modified). With -o: "
        "many files and folders at once, each IN written as OUTDIR/<its path>.keras. Needs the installed "
        "TensorFlow/Keras; a model with custom layers needs the Python API (custom_objects).",
        epilog="examples:\n"
        "  kerasopt-compat upgrade saved_by_tf215/ model.keras\n"
        "  kerasopt-compat upgrade old_models/ more.h5 -o upgraded/ --on-error skip --report upgraded.jsonl\n\n"
        "exit status: 0 written, 1 with -o: a file failed, 2 error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="IN OUT | IN...",
        help="a model file or SavedModel directory (never modified) and the .keras file to write; with -o: model "
        "files, SavedModel directories and folders to walk for them",
    )
    add_options(p)
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--strict", action="store_true", help="a setting the installed Keras cannot hold is an error")
    p.add_argument(
        "--state",
        choices=("restore", "require", "fresh"),
        default="restore",
        help="the optimizer state: restore it (default), require an exact restore, or start fresh",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:

    p = parser()
    args = p.parse_args(argv)
    status = many_or_one(p, args, "upgrade", "OUT.keras")
    if status is not None:
        return status
    _, failed = one_file(
        args, "upgrade", lambda: upgrade_model(args.src, args.dst, force=args.force, strict=args.strict, state=args.state)
    )
    if failed is not None:
        return failed
    print("%s: written by the installed Keras from %s" % (args.dst, args.src))
    return 0
