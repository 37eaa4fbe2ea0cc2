"""Options more than one command shares."""

from __future__ import annotations

import argparse

from .._config.normalize import UNKNOWN_KEYS_MODES


def add_unknown_keys(parser: argparse.ArgumentParser) -> None:
    """``--unknown-keys error|keep`` (``unknown_keys`` of :func:`normalize`); fix-model has it too."""
    parser.add_argument(
        "--unknown-keys",
        choices=UNKNOWN_KEYS_MODES,
        default="error",
        help="a key or optimizer class kerasopt_compat does not know (written by a newer Keras): an error "
        "(default), or keep it as it is, after the known keys, with a warning",
    )
