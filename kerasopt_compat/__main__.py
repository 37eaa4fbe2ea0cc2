"""``python -m kerasopt_compat``: the ``kerasopt-compat`` command line (see :mod:`._cli`)."""

from __future__ import annotations

import sys

from ._cli.main import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
