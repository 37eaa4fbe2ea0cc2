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
    ModelFileError,
    NoOptimizerError,
    OptimizerStateWarning,
    SerializationError,
    UnknownClassError,
    UnknownKeyError,
    UnsupportedClassError,
)
from ._flavour import flavour
from ._install import install, installed, uninstall
from ._live import deserialize, serialize, to_keras
from ._load import load_model
from ._modelfile import FixResult, fix_model, read_optimizer
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
    "read_optimizer",
    "fix_model",
    "FixResult",
    "load_model",
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
    "ModelFileError",
    "NoOptimizerError",
    "ConversionWarning",
    "OptimizerStateWarning",
    "LossyConversionWarning",
    "DecayConversionWarning",
    "__version__",
]
