"""kerasopt_compat: one stable, JSON-ready optimizer dict for every TF/Keras version.

``serialize(optimizer)`` returns the shape TensorFlow 2.9 documents for
``tf.keras.optimizers.serialize`` on any installed TF/Keras flavour, and
``deserialize(config)`` rebuilds a working optimizer from a dict written by any
of them. ``normalize``/``loads``/``dumps`` do the same for plain dicts and JSON
text without importing TensorFlow.

Importing this package imports neither TensorFlow, Keras nor numpy.
"""

from __future__ import annotations

from ._errors import *  # noqa: F403 - the package's errors and warnings (_errors.__all__)
from ._errors import __all__ as _ERROR_NAMES

# Every other public name is imported on first use (``__getattr__`` below, PEP 562):
# ``import kerasopt_compat`` then costs a few milliseconds, not the ~20 ms of
# ``typing``, ``re`` and ``json`` that the modules behind the names import.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List

    from ._config.normalize import dumps, loads, normalize
    from ._config.write import to_native
    from ._files.model import FixResult, fix_model, read_optimizer
    from ._files.state import read_state
    from ._keras.flavour import flavour
    from ._keras.install import install, installed, uninstall
    from ._keras.live import deserialize, serialize, to_keras
    from ._keras.restore import RestoreReport, restore_state, state_of
    from ._models.backup import BackupAndRestore
    from ._models.checkpoint import restore_checkpoint
    from ._models.load import load_model
    from ._models.upgrade import upgrade_model
    from ._state.slots import OptimizerState

__version__ = "0.2.0"

#: Public names whose modules load on first access.
_LAZY = {
    "normalize": "._config.normalize",
    "loads": "._config.normalize",
    "dumps": "._config.normalize",
    "to_native": "._config.write",
    "flavour": "._keras.flavour",
    "install": "._keras.install",
    "installed": "._keras.install",
    "uninstall": "._keras.install",
    "serialize": "._keras.live",
    "deserialize": "._keras.live",
    "to_keras": "._keras.live",
    "load_model": "._models.load",
    "restore_checkpoint": "._models.checkpoint",
    "BackupAndRestore": "._models.backup",
    "upgrade_model": "._models.upgrade",
    "read_optimizer": "._files.model",
    "fix_model": "._files.model",
    "FixResult": "._files.model",
    "read_state": "._files.state",
    "OptimizerState": "._state.slots",
    "restore_state": "._keras.restore",
    "state_of": "._keras.restore",
    "RestoreReport": "._keras.restore",
}

#: The package's modules, also loaded on first access as attributes
#: (``kerasopt_compat._config`` without importing it first).
_SUBMODULES = frozenset(
    ["autoinstall", "fixes", "_errors", "_optional", "_config", "_state", "_files", "_keras", "_models", "_cli"]
)


def __getattr__(name: str) -> Any:
    import importlib  # lazy: import-time speed (the public names load on first use)

    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)  # the import sets the attribute
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'kerasopt_compat' has no attribute %r" % name)
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
    "restore_checkpoint",
    "BackupAndRestore",
    "state_of",
    "RestoreReport",
    "install",
    "uninstall",
    "installed",
    "flavour",
    *_ERROR_NAMES,
    "__version__",
]
