"""The stored compile arguments (loss, metrics, loss weights) as the installed Keras' ``compile()`` takes them.

Only names and classes the installed Keras ships, or the caller passes in
``custom_objects``, are resolved; nothing named in a file is imported.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from .._keras.flavour import Flavour
from ..fixes import keras3_loss_config

#: compile() arguments read from a stored training/compile config.
_COMPILE_KEYS = ("loss", "metrics", "weighted_metrics", "loss_weights")


#: Metric names compile() resolves itself from the loss and output shape
#: (Keras 2 and Keras 3 ``compile_utils``): passed through as they are.
_COMPILE_METRIC_NAMES = frozenset(["accuracy", "acc", "crossentropy", "ce"])


def _compile_args(fl: Flavour, stored: Mapping[str, Any], custom_objects: Any) -> Dict[str, Any]:
    """compile() arguments from the stored ones; raises when a loss or metric
    does not resolve in the installed Keras (with ``custom_objects``)."""
    out: Dict[str, Any] = {}
    for key in _COMPILE_KEYS:
        value = stored.get(key)
        if value is None:
            continue
        if key == "loss":
            if fl.default_family == "keras3":
                value = _per_output(value, lambda v: keras3_loss_config(v, _keras3_loss_fn(fl)))  # Keras 2 keys
            out[key] = _per_output(value, lambda v: _object(fl.keras.losses, v, custom_objects))
        elif key == "loss_weights":
            out[key] = value
        else:
            out[key] = _metric_list(fl, value, custom_objects)
    return out


def _keras3_loss_fn(fl: Flavour) -> Any:
    """``class name -> name of the function the installed built-in loss class wraps`` (None: not one)."""

    def own_fn(class_name: str) -> Optional[str]:
        cls = getattr(fl.keras.losses, class_name, None)
        if not isinstance(cls, type):
            return None
        try:
            return getattr(getattr(cls(), "fn", None), "__name__", None)
        except Exception:  # noqa: BLE001 - a class that needs arguments: not a plain wrapper
            return None

    return own_fn


def _per_output(value: Any, convert: Any) -> Any:
    if isinstance(value, Mapping) and "class_name" not in value:
        return {k: convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [convert(v) for v in value]
    return convert(value)


def _metric_list(fl: Flavour, value: Any, custom_objects: Any) -> Any:
    """Keras 2 ``.h5`` stores metrics per output (``[[...]]``); one output: one flat list."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if isinstance(value, Mapping) and "class_name" not in value:
        return {k: _metric_list(fl, v, custom_objects) for k, v in value.items()}
    if isinstance(value, list):
        return [_metric(fl, v, custom_objects) for v in value]
    return _metric(fl, value, custom_objects)


def _metric(fl: Flavour, value: Any, custom_objects: Any) -> Any:
    if isinstance(value, Mapping) and value.get("class_name") == "MeanMetricWrapper":
        fn = (value.get("config") or {}).get("fn")
        if isinstance(fn, str):
            value = fn  # a metric function, by its name
    if isinstance(value, str) and value in _COMPILE_METRIC_NAMES:
        return value
    return _object(fl.keras.metrics, value, custom_objects)


def _object(namespace: Any, value: Any, custom_objects: Any) -> Any:
    """A stored loss/metric for compile(). A name in ``custom_objects`` becomes
    that object; one the installed Keras resolves on its own passes through
    (compile() names it as stored); serialized objects are
    rebuilt by the installed Keras' own ``deserialize``. Anything else raises."""
    if value is None:
        return value
    if isinstance(value, str):
        if isinstance(custom_objects, Mapping) and value in custom_objects:
            return _callable(custom_objects[value], value)  # compile() itself would not look there
        _callable(namespace.get(value), value)
        return value
    return _callable(namespace.deserialize(value, custom_objects=custom_objects), value)


def _callable(obj: Any, stored: Any) -> Any:
    """A resolved loss or metric must be callable: Keras 2.13+ and Keras 3 return
    an unknown name unchanged, as a string that fails at the first step."""
    if isinstance(obj, str) or not callable(obj):
        raise ValueError("Unknown loss or metric: %r" % (stored,))
    return obj
