"""Opt-in without code changes: ``import kerasopt_compat.autoinstall``.

Does nothing unless the environment variable ``KERASOPT_COMPAT_INSTALL`` is
``1`` (or ``true``/``yes``/``on``); then it imports TensorFlow/Keras and calls
:func:`kerasopt_compat.install`. Put the import in a ``sitecustomize.py`` on
the interpreter's path (README: "install() without code changes"), so every
program in that environment opts in through the variable alone.
"""

from __future__ import annotations

from ._keras.install import install_from_environment

INSTALLED = install_from_environment()
