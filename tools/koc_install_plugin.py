"""pytest plugin: ``kerasopt_compat.install()`` active for a whole pytest session.

Used to run Keras' own test suites with the drop-in active
(``pytest -p koc_install_plugin --pyargs keras.src.optimizers ...``, with this
folder on ``PYTHONPATH``; see tox.ini). It fails the session at start if
install() could not patch anything.
"""

from __future__ import annotations

import kerasopt_compat


def pytest_configure(config):  # noqa: ARG001 - pytest hook signature
    kerasopt_compat.install()
    from kerasopt_compat._keras.install import is_installed

    if not is_installed():
        raise RuntimeError("kerasopt_compat.install() patched nothing")


def pytest_report_header(config):  # noqa: ARG001
    return "kerasopt_compat.install() is active for this session"


def pytest_unconfigure(config):  # noqa: ARG001
    kerasopt_compat.uninstall()
