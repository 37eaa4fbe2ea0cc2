"""Optional dependencies (modelled on pandas' ``compat/_optional.py``).

TensorFlow and Keras are never hard requirements. Code that needs them calls
:func:`import_optional_dependency`, which raises one clear
:class:`~kerasopt_compat.MissingDependencyError` naming the version found and
what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Optional, Tuple

from ._errors import MissingDependencyError, installed_versions

#: Oldest supported versions (the oldest tested in tox.ini).
MIN_VERSIONS = {
    "tensorflow": "2.4",
    "keras": "3.3",  # stand-alone Keras 3; Keras 2 comes with TF 2.6-2.15
    "tf_keras": "2.15",
}

#: pip extra that installs each module.
INSTALL_HINT = {
    "tensorflow": "pip install 'kerasopt_compat[tensorflow]'",
    "keras": "pip install 'kerasopt_compat[keras]' (plus a backend such as jax)",
    "tf_keras": "pip install 'kerasopt_compat[tf-keras]' and set TF_USE_LEGACY_KERAS=1",
}


def parse_version(text: str) -> Tuple[int, ...]:
    """Leading numeric release parts: ``'2.16.0rc1'`` -> ``(2, 16, 0)``.

    >>> parse_version("2.16.0rc1")
    (2, 16, 0)
    """
    parts = []
    for piece in text.split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def is_installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_optional_dependency(name: str, min_version: Optional[str] = None) -> ModuleType:
    """Import ``name`` or raise MissingDependencyError with what to install."""
    hint = INSTALL_HINT.get(name, "pip install %s" % name)
    minimum = min_version or MIN_VERSIONS.get(name)
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(
            "kerasopt_compat needs %s%s for this operation, but importing it failed (%s). Install it: %s"
            % (name, " >= %s" % minimum if minimum else "", exc, hint),
            installed=installed_versions(),
        ) from None
    version = getattr(module, "__version__", None) or getattr(getattr(module, "version", None), "VERSION", None)
    if minimum and version and parse_version(str(version)) < parse_version(minimum):
        raise MissingDependencyError(
            "kerasopt_compat needs %s >= %s, found %s %s. Upgrade it: %s" % (name, minimum, name, version, hint),
            installed=installed_versions(),
        )
    return module
