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

    from ._flavour import flavour
    from ._install import install, installed, uninstall
    from ._live import deserialize, serialize, to_keras
    from ._load import load_model
    from ._modelfile import FixResult, fix_model, read_optimizer
    from ._normalize import dumps, loads, normalize
    from ._restore import RestoreReport, restore_state, state_of
    from ._state import OptimizerState
    from ._stateread import read_state
    from ._upgrade import upgrade_model
    from ._write import to_native

__version__ = "0.2.0"

#: Public names whose modules load on first access.
_LAZY = {
    "normalize": "._normalize",
    "loads": "._normalize",
    "dumps": "._normalize",
    "to_native": "._write",
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

#: The package's modules, also loaded on first access as attributes
#: (``kerasopt_compat._tables`` without importing it first).
_SUBMODULES = frozenset(
    [
        "autoinstall",
        "fixes",
        "_atomic",
        "_check",
        "_ckpt",
        "_cli",
        "_errors",
        "_fixbulk",
        "_fixcli",
        "_flavour",
        "_install",
        "_live",
        "_load",
        "_modelfile",
        "_normalize",
        "_optional",
        "_protowire",
        "_restore",
        "_smload",
        "_state",
        "_statecli",
        "_stateread",
        "_statewrite",
        "_stream",
        "_tables",
        "_upgrade",
        "_v1train",
        "_values",
        "_write",
    ]
)


def __getattr__(name: str) -> Any:
    import importlib

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
    "state_of",
    "RestoreReport",
    "install",
    "uninstall",
    "installed",
    "flavour",
    *_ERROR_NAMES,
    "__version__",
]
