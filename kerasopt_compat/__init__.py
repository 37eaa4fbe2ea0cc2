"""kerasopt_compat: one stable, JSON-ready optimizer dict for every TF/Keras version.

``serialize(optimizer)`` returns the shape TensorFlow 2.9 documents for
``tf.keras.optimizers.serialize`` on any installed TF/Keras flavour, and
``deserialize(config)`` rebuilds a working optimizer from a dict written by any
of them. ``normalize``/``loads``/``dumps`` do the same for plain dicts and JSON
text without importing TensorFlow.

Importing this package imports neither TensorFlow, Keras nor numpy.
"""

from __future__ import annotations

from ._errors import (
    ConfigTypeError,
    ConversionWarning,
    DecayConversionWarning,
    InvalidConfigError,
    KerasOptCompatError,
    LossyConversionError,
    LossyConversionWarning,
    MissingDependencyError,
    SerializationError,
    UnknownClassError,
    UnknownKeyError,
    UnknownKeyWarning,
    UnsupportedClassError,
)
from ._flavour import flavour
from ._install import install, installed, uninstall
from ._live import deserialize, serialize, to_keras
from ._normalize import dumps, loads, normalize
from ._write import to_native

__version__ = "0.1.0"

__all__ = [
    "normalize",
    "loads",
    "dumps",
    "to_native",
    "serialize",
    "deserialize",
    "to_keras",
    "install",
    "uninstall",
    "installed",
    "flavour",
    "KerasOptCompatError",
    "InvalidConfigError",
    "UnknownClassError",
    "UnknownKeyError",
    "ConfigTypeError",
    "UnsupportedClassError",
    "LossyConversionError",
    "SerializationError",
    "MissingDependencyError",
    "ConversionWarning",
    "LossyConversionWarning",
    "DecayConversionWarning",
    "UnknownKeyWarning",
    "__version__",
]
