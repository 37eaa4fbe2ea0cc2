"""kerasopt_compat: one stable, JSON-ready optimizer dict for every TF/Keras version.

``serialize(optimizer)`` returns the shape TensorFlow 2.9 documents for
``tf.keras.optimizers.serialize`` on any installed TF/Keras flavour, and
``deserialize(config)`` rebuilds a working optimizer from a dict written by any
of them. ``normalize``/``loads``/``dumps`` do the same for plain dicts and JSON
text without importing TensorFlow.

Importing this package imports neither TensorFlow, Keras nor numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List

from ._errors import *  # noqa: F403 - the package's errors and warnings (_errors.__all__)
from ._errors import __all__ as _ERROR_NAMES
from ._normalize import dumps, loads, normalize
from ._write import to_native

if TYPE_CHECKING:  # imported on first use (below), to keep ``import kerasopt_compat`` fast
    from ._flavour import flavour
    from ._install import install, installed, uninstall
    from ._live import deserialize, serialize, to_keras
    from ._load import load_model
    from ._modelfile import FixResult, fix_model, read_optimizer
    from ._restore import RestoreReport, restore_state, state_of
    from ._state import OptimizerState
    from ._stateread import read_state
    from ._upgrade import upgrade_model

__version__ = "0.1.0"

#: Public names whose modules (inspect, threading, the live path) load on first access.
_LAZY = {
    "flavour": "._flavour",
    "install": "._install",
    "installed": "._install",
    "uninstall": "._install",
    "serialize": "._live",
    "deserialize": "._live",
    "to_keras": "._live",
    "load_model": "._load",
    "upgrade_model": "._upgrade",
    "read_optimizer": "._modelfile",
    "fix_model": "._modelfile",
    "FixResult": "._modelfile",
    "read_state": "._stateread",
    "OptimizerState": "._state",
    "restore_state": "._restore",
    "state_of": "._restore",
    "RestoreReport": "._restore",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'kerasopt_compat' has no attribute %r" % name)
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "normalize",
    "loads",
    "dumps",
    "to_native",
    "serialize",
    "deserialize",
    "to_keras",
    "read_optimizer",
    "fix_model",
    "FixResult",
    "read_state",
    "OptimizerState",
    "load_model",
    "upgrade_model",
    "restore_state",
    "state_of",
    "RestoreReport",
    "install",
    "uninstall",
    "installed",
    "flavour",
    *_ERROR_NAMES,
    "__version__",
]
