"""``tf.compat.v1.train`` optimizers: read their hyperparameters into the canonical dict.

They have no ``get_config()``; their hyperparameters sit in private attributes
(``_lr``, ``_beta1``, ...), listed per class in ``_config.tables.V1_TRAIN``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .._errors import SerializationError
from . import tables as T
from .normalize import normalize

_V1_MODULE_PREFIX = "tensorflow.python.training."


def v1_class_name(obj: Any) -> Optional[str]:
    """The v1 class name when ``obj`` is a ``tf.compat.v1.train`` optimizer, else None."""
    for cls in type(obj).__mro__:
        if cls.__name__ == "Optimizer" and cls.__module__ == _V1_MODULE_PREFIX + "optimizer":
            own = type(obj)
            return own.__name__ if own.__module__.startswith(_V1_MODULE_PREFIX) else "Optimizer subclass " + own.__name__
    return None


def _constant(value: Any, cls: str, key: str) -> Any:
    """Python value of a number, constant tensor or constant-returning callable."""
    if callable(value) and not hasattr(value, "dtype"):
        first, second = value(), value()
        first, second = _constant(first, cls, key), _constant(second, cls, key)
        if first != second:
            raise SerializationError(
                "the callable %s returned different values" % key, class_name=cls, key=key, value=first, has_value=True
            )
        return first
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if hasattr(value, "assign"):  # a variable can change under the optimizer's feet
        raise SerializationError(
            "%s is a variable, not a constant; pass its current value or use a Keras schedule" % key,
            class_name=cls,
            key=key,
            value=value,
            has_value=True,
        )
    import tensorflow as tf  # only reached for tensors, so TF is installed

    static = tf.get_static_value(value)
    if static is None or getattr(static, "shape", ()) != ():
        raise SerializationError("%s is not a constant scalar" % key, class_name=cls, key=key, value=value, has_value=True)
    return static.item() if hasattr(static, "item") else static


def serialize_v1(optimizer: Any, v1_name: str) -> Dict[str, Any]:
    """Canonical dict of a ``tf.compat.v1.train`` optimizer (see ``_config.tables.V1_TRAIN``)."""
    mapping = T.V1_TRAIN.get(v1_name)
    if mapping is None:
        why = T.V1_UNMAPPED.get(v1_name, "kerasopt_compat knows no Keras equivalent")
        raise SerializationError("cannot convert tf.compat.v1.train.%s: %s" % (v1_name, why), class_name=v1_name)
    config: Dict[str, Any] = {}
    name = getattr(optimizer, "_name", None)
    config["name"] = mapping.keras_class if name in (None, mapping.default_name) else name
    for attr, key in mapping.attrs:
        if not hasattr(optimizer, attr):
            raise SerializationError("this TensorFlow's %s has no attribute %s" % (v1_name, attr), class_name=v1_name, key=key)
        config[key] = _constant(getattr(optimizer, attr), v1_name, key)
    config.update(mapping.fixed)
    return normalize({"class_name": mapping.keras_class, "config": config})
