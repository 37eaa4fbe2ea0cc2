"""``kerasopt-compat fix-model IN OUT --to TARGET [--state convert|drop|keep] [--force] [--check]``,
and ``fix-model --to TARGET IN... -o OUTDIR [--jobs N] [--report FILE.jsonl]`` (:mod:`._fixbulk`)."""

from __future__ import annotations

import argparse
import json
from typing import Optional, Sequence

from .._config import tables as T
from .._files.model import fix_model
from .bulk import add_options, many_or_one, one_file
from .common import add_unknown_keys


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kerasopt-compat fix-model",
        description="Copy a model file (.h5, .keras, SavedModel directory, TF.js model.json), rewriting only its "
        "stored optimizer so TARGET's own load_model restores it. Imports no TensorFlow.",
        epilog="examples:\n"
        "  kerasopt-compat fix-model model.h5 model_tf29.h5 --to tf2.9\n"
        "  kerasopt-compat fix-model saved_dir/ fixed_dir/ --to tf_keras --force\n"
        "  kerasopt-compat fix-model model.keras out.keras --to keras3 --check\n"
        "  kerasopt-compat fix-model --to tf2.9 models/ more.h5 -o fixed/ --jobs 2 --report fixed.jsonl\n\n"
        "exit status: 0 written (or, with --check, nothing would change), "
        "1 with --check: the optimizer entry would change (with -o: or a file failed), 2 error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="IN OUT | IN...",
        help="a model file or SavedModel directory (never modified) and where to write its fixed copy (atomically); "
        "with -o: model files, SavedModel directories and folders to walk for them",
    )
    add_options(p)
    p.add_argument(
        "--to",
        required=True,
        metavar="TARGET",
        help="release whose load_model must read it: %s, or a generation (legacy, keras2, keras3)" % ", ".join(T.RELEASES),
    )
    p.add_argument(
        "--state",
        choices=("convert", "drop", "keep"),
        default="convert",
        help="the stored optimizer state (iterations, slots): lay it out for TARGET's loader (default; dropped with a "
        "warning where that cannot be exact), drop it, or keep it unchanged (TARGET's loader ties it by position)",
    )
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--check", action="store_true", help="write nothing; print what would change, exit 1 if anything would")
    p.add_argument(
        "--strict", action="store_true", help="a setting the target cannot hold, or a file format it cannot open, is an error"
    )
    p.add_argument("--custom", action="append", default=[], metavar="NAME", help="let your own class NAME through unchanged")
    add_unknown_keys(p)
    p.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")
    return p


#: How the summary line spells ``FixResult.state``.
_STATE_WORDS = {
    "kept": "copied unchanged",
    "converted": "laid out for the target",
    "dropped": "dropped",
    "none": "none stored",
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    status = many_or_one(p, args, "fix-model", "OUT")
    if status is not None:
        return status
    result, failed = one_file(
        args,
        "fix-model",
        lambda: fix_model(
            args.src,
            args.dst,
            args.to,
            force=args.force,
            check=args.check,
            strict=args.strict,
            custom_objects=args.custom,
            unknown_keys=args.unknown_keys,
            state=args.state,
        ),
    )
    if failed is not None:
        return failed
    if args.check:
        if not result.changed:
            print("%s: the stored optimizer already is %s's (%s); nothing would change" % (args.src, args.to, result.family))
            return 0
        print("%s: the stored optimizer would change for %s (%s):" % (args.src, args.to, result.family))
        print("- " + json.dumps(result.before))
        print("+ " + json.dumps(result.after))
        return 1
    entry = "rewritten" if result.changed else "already right, copied unchanged"
    print(
        "%s: written; stored optimizer %s for %s (%s); optimizer state %s"
        % (args.dst, entry, args.to, result.family, _STATE_WORDS.get(result.state, result.state))
    )
    return 0
