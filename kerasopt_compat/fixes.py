"""Every TF/Keras version shim, in one place (modelled on scikit-learn's ``utils/fixes.py``).

Each shim says which versions need it and when it can go. Code elsewhere in
the package calls these helpers instead of testing versions itself.
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType
from typing import Any, Callable, FrozenSet, Optional


def optimizer_namespace(keras: ModuleType, path: str) -> Optional[Any]:
    """``keras.optimizers`` or ``keras.optimizers.experimental``; None if absent.

    Needed while TF 2.9/2.10 are supported: their AdamW (and the other "new"
    optimizers) live only in ``optimizers.experimental``, a namespace that does
    not exist before TF 2.9 and raises or is absent in Keras 3. Can go when the
    oldest supported TF is 2.11.
    """
    obj: Any = keras
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except (AttributeError, ImportError):
            return None
    return obj


def namespace_attr(namespace: Any, name: str) -> Optional[Any]:
    """``getattr`` that tolerates lazy namespaces raising on access.

    TF 2.11-2.15 and Keras 3 expose some optimizer names through lazy loaders
    or placeholders that raise ``ImportError``/``AttributeError`` when touched
    (Keras 3's ``optimizers.legacy``). Can go with Keras 2.
    """
    try:
        return getattr(namespace, name, None)
    except (ImportError, AttributeError):
        return None


def loss_scale_optimizer_class(keras: ModuleType, family: str) -> Any:
    """The public LossScaleOptimizer of the installed Keras.

    TF 2.4-2.15 and tf_keras: ``mixed_precision.LossScaleOptimizer`` (in 2.11+
    it dispatches to ``LossScaleOptimizerV3`` for new optimizers). Keras 3:
    ``optimizers.LossScaleOptimizer``. Can go when Keras 2 support ends.
    """
    if family == "keras3":
        return keras.optimizers.LossScaleOptimizer
    return keras.mixed_precision.LossScaleOptimizer


@functools.lru_cache(maxsize=256)
def named_parameters(cls: Any) -> FrozenSet[str]:
    """Keyword parameters that ``cls.__init__`` names explicitly.

    Keras 3 and the new Keras 2 optimizers name every argument they accept;
    legacy OptimizerV2 (TF <= 2.10, ``optimizers.legacy``) takes ``decay``,
    ``clipnorm``, ``clipvalue``, ``global_clipnorm`` through ``**kwargs``,
    which ``_tables.FAMILIES['legacy'].options`` lists instead.
    """
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return frozenset()
    return frozenset(
        name
        for name, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) and name != "self"
    )


def python_scalar(value: Any) -> Any:
    """Turn a TF/numpy scalar or variable into a Python number.

    Legacy OptimizerV2 ``get_config()`` (TF 2.4-2.10, ``optimizers.legacy``)
    returns ``numpy.float32`` for hyperparameters once they are variables,
    and TF 2.11's new optimizers do so from construction; the read edge unwraps
    numpy scalars itself, this covers tensors. Can go with Keras 2.
    """
    numpy_fn: Optional[Callable[[], Any]] = getattr(value, "numpy", None)
    if callable(numpy_fn):
        value = numpy_fn()
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return value


def complete_config(optimizer: Any, config: Any) -> Any:
    """``get_config()`` plus what some versions leave out.

    TF 2.9/2.10 ``optimizers.experimental`` classes omit ``name`` from their
    config although the constructor takes it; read it from the object. Can go
    when the oldest supported TF is 2.11.
    """
    if isinstance(config, dict) and "name" not in config and isinstance(getattr(optimizer, "name", None), str):
        config = dict(config, name=optimizer.name)
    return config
