"""``serialize``/``deserialize`` on the installed Keras flavour.

Both reuse the pure edges: ``serialize`` = the optimizer's own ``get_config()``
then the read edge (:func:`normalize`); ``deserialize`` = the read edge, the
write edge for the installed flavour (:func:`._write.write`, the same code that
:func:`to_native` runs), then the flavour's own class constructors, looked up
by canonical name only.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Collection, Dict, Mapping, Optional, TypeVar, cast

from . import _tables as T
from . import fixes
from ._errors import (
    ConfigTypeError,
    ConversionWarning,
    InvalidConfigError,
    KerasOptCompatError,
    LossyConversionError,
    SerializationError,
    UnsupportedClassError,
)
from ._flavour import Flavour, Target, detected_description, flavour
from ._normalize import CustomObjects, custom_names, legacy_hint, normalize
from ._v1train import serialize_v1, v1_class_name
from ._write import write

__all__ = ["serialize", "deserialize", "to_keras", "flavour"]

_KERAS_MODULES = ("keras.", "tf_keras.", "tensorflow.python.keras.", "tensorflow.keras.")


F = TypeVar("F", bound=Callable[..., Any])


def _reports_installed(fn: F) -> F:
    """Errors of a live call end with the installed versions ``[installed: ...]``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KerasOptCompatError as exc:
            exc.note_installed(detected_description())
            raise

    return cast(F, wrapper)


@_reports_installed
def serialize(optimizer: Any, *, custom_objects: CustomObjects = None) -> Dict[str, Any]:
    """Return the canonical (TF 2.9 documented) dict of a live optimizer.

    Works on every optimizer of the installed flavour: ``optimizers``,
    ``optimizers.legacy``, ``optimizers.experimental`` and LossScaleOptimizer,
    before and after training steps, and on the ``tf.compat.v1.train``
    optimizers that have a Keras equivalent (``AdamOptimizer`` -> ``Adam``,
    ...; see README). The result is JSON-native.

    >>> import tensorflow as tf                                     # doctest: +SKIP
    >>> serialize(tf.keras.optimizers.SGD())                        # doctest: +SKIP
    {'class_name': 'SGD', 'config': {'name': 'SGD', 'learning_rate': 0.01, 'decay': 0.0, 'momentum': 0.0, 'nesterov': False}}

    Raises :class:`SerializationError` for a class that is neither a Keras
    optimizer nor named in ``custom_objects``.
    """
    if isinstance(optimizer, (Mapping, str, bytes)):
        raise ConfigTypeError(
            "serialize() takes an optimizer object; use normalize() for dicts and loads() for JSON text",
            value=optimizer,
            has_value=True,
        )
    v1_name = v1_class_name(optimizer)
    if v1_name is not None:
        return serialize_v1(optimizer, v1_name)
    cls = type(optimizer)
    name = cls.__name__
    get_config = getattr(optimizer, "get_config", None)
    if not (callable(get_config) and callable(getattr(optimizer, "apply_gradients", None))):
        raise SerializationError(
            "cannot serialize %s.%s: it is not an optimizer (no get_config() and apply_gradients()); "
            "serialize() takes a Keras optimizer or a tf.compat.v1.train optimizer" % (cls.__module__, name),
            class_name=name,
        )
    if name not in custom_names(custom_objects):
        known = known_name(optimizer)
        if known is None:
            raise SerializationError(
                "cannot serialize %s.%s: an optimizer class kerasopt_compat does not know" % (cls.__module__, name),
                class_name=name,
                hint="if it is your own class, pass custom_objects={%r: %s} to let its config through unchanged" % (name, name),
            )
        name = known
    config = _python_scalars(fixes.complete_config(optimizer, get_config()))
    return normalize({"class_name": name, "config": config}, custom_objects=custom_objects)


def known_name(optimizer: Any) -> Optional[str]:
    """Canonical class name of a Keras optimizer kerasopt_compat knows, or None
    (a user's own class, a ``tf.compat.v1.train`` optimizer, any other object)."""
    cls = type(optimizer)
    name = T.CLASS_ALIASES.get(cls.__name__, cls.__name__)
    if (name in T.OPTIMIZERS or name == T.LOSS_SCALE_CLASS) and cls.__module__.startswith(_KERAS_MODULES):
        return name
    return None


def _python_scalars(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _python_scalars(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_python_scalars(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return fixes.python_scalar(value)


@_reports_installed
def deserialize(
    config: Mapping[str, Any],
    custom_objects: Optional[Mapping[str, Any]] = None,
    *,
    strict: bool = False,
    prefer_legacy: bool = False,
) -> Any:
    """Build an optimizer of the installed flavour from a dict written by any version.

    ``config`` goes through :func:`normalize` (so every shape it reads is
    accepted), then the installed flavour's write edge, then the flavour's own
    class. Legacy learning-rate ``decay`` becomes an equivalent
    ``InverseTimeDecay`` where the flavour lacks ``decay``
    (:class:`DecayConversionWarning`); a setting the flavour cannot hold gives
    :class:`LossyConversionWarning`, or :class:`LossyConversionError` when
    ``strict=True``. A class the flavour lacks raises
    :class:`UnsupportedClassError`. ``custom_objects`` maps class names to the
    caller's own optimizer/schedule classes (by class name, or by registered
    name such as ``'p>Adam'``, which is then always the caller's class, never
    Keras' ``Adam``); nothing else is ever looked up.

    The canonical dict is namespace-neutral: the default namespace's class is
    built unless a setting needs another one. ``prefer_legacy=True``, or a
    native dict that says it came from ``optimizers.legacy``
    (``is_legacy_optimizer: true`` or a ``module`` ending in ``.legacy``), asks
    for the installed ``optimizers.legacy`` (OptimizerV2) class where the
    installed Keras has one for that class; elsewhere it is ignored.

    >>> opt = deserialize({'class_name': 'SGD', 'config': {'learning_rate': 0.1}})  # doctest: +SKIP
    """
    if isinstance(config, (str, bytes)):
        raise ConfigTypeError("deserialize() takes a dict; use loads() to read JSON text first", value=config, has_value=True)
    custom = custom_names(custom_objects)
    canonical = normalize(config, custom_objects=custom)
    fl = flavour()
    target = _choose_target(fl, canonical, custom, prefer_legacy or legacy_hint(config) is True)
    accepts = functools.partial(_accepts, fl, target)
    native = write(canonical, target.family, strict=strict, accepts=accepts, custom=custom)
    return _Builder(fl, custom_objects or {}, target).optimizer(native)


def _accepts(fl: Flavour, target: Target, cls_name: str, key: str) -> bool:
    return fl.accepts(cls_name, key, target if cls_name in T.OPTIMIZERS else None)


def _choose_target(fl: Flavour, canonical: Mapping[str, Any], custom: Collection[str], prefer_legacy: bool) -> Target:
    """The installed class to build: the ``optimizers.legacy`` (OptimizerV2) one
    when ``prefer_legacy`` and the flavour has it; else the default namespace's,
    unless it would lose a setting that another namespace of the same flavour
    keeps (e.g. ``weight_decay`` on TF 2.9 -> ``optimizers.experimental``;
    Nadam's momentum ``decay`` on TF 2.11+ -> ``optimizers.legacy``)."""
    inner = canonical["config"]["inner_optimizer"] if canonical["class_name"] == T.LOSS_SCALE_CLASS else canonical
    name = inner["class_name"]
    if name not in T.OPTIMIZERS or name in custom:
        return Target(None, fl.default_family)
    candidates = fl.optimizer_candidates(name)
    legacy = [t for t in candidates if t.family == "legacy"]
    if prefer_legacy and legacy:
        return legacy[0]
    if len(candidates) == 1:
        return candidates[0]
    for target in candidates:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConversionWarning)
                write(canonical, target.family, strict=True, accepts=functools.partial(_accepts, fl, target))
        except (LossyConversionError, UnsupportedClassError):
            continue
        return target
    return candidates[0]


class _Builder:
    def __init__(self, fl: Flavour, custom_objects: Mapping[str, Any], target: Target) -> None:
        self.fl = fl
        self.custom = custom_objects
        self.target = target

    def _custom_class(self, name: str) -> Any:
        obj = self.custom.get(name) if isinstance(self.custom, Mapping) else None
        if not isinstance(obj, type) or not callable(getattr(obj, "from_config", None)):
            raise ConfigTypeError(
                "custom_objects must map %r to a class with from_config() to deserialize it" % name,
                class_name=name,
                value=obj,
                has_value=True,
            )
        return obj

    def optimizer(self, native: Mapping[str, Any]) -> Any:
        name = native["class_name"]
        cfg = dict(native["config"])
        family = self.target.family
        fam = T.FAMILIES[family]
        if name == fam.loss_scale_class and name not in T.OPTIMIZERS:
            inner = self.optimizer(cfg.pop("inner_optimizer"))
            return self._call(self.fl.loss_scale_class(family), T.LOSS_SCALE_CLASS, cfg, inner)
        if name not in T.OPTIMIZERS or name in self.custom:
            return self._from_config(self._custom_class(name), name, cfg)
        target = self.target.cls
        for key in fam.config_extras:
            cfg.pop(key, None)
        lr = cfg.get("learning_rate")
        if isinstance(lr, Mapping):
            cfg["learning_rate"] = self.schedule(lr)
        return self._call(target, name, cfg)

    def schedule(self, native: Mapping[str, Any]) -> Any:
        name = native["class_name"]
        cfg = dict(native["config"])
        if name in T.SCHEDULES and name not in self.custom:
            return self._call(self.fl.schedule_class(name), name, cfg)
        return self._from_config(self._custom_class(name), name, cfg)

    def _from_config(self, cls: Any, name: str, cfg: Dict[str, Any]) -> Any:
        try:
            return cls.from_config(cfg)
        except (TypeError, ValueError) as exc:
            raise InvalidConfigError("%s.from_config() rejected the config: %s" % (name, exc), class_name=name) from exc

    def _call(self, cls: Any, name: str, kwargs: Dict[str, Any], *args: Any) -> Any:
        try:
            return cls(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidConfigError(
                "the installed Keras rejected the arguments %r: %s" % (sorted(kwargs), exc), class_name=name
            ) from exc


@_reports_installed
def to_keras(v1_optimizer: Any, *, strict: bool = False) -> Any:
    """The installed Keras flavour's equivalent of a ``tf.compat.v1.train`` optimizer.

    >>> opt = to_keras(tf.compat.v1.train.AdamOptimizer(0.1))   # doctest: +SKIP
    >>> serialize(opt)["config"]["epsilon"]                     # doctest: +SKIP
    1e-08

    Equivalent to ``deserialize(serialize(v1_optimizer))``; raises
    :class:`SerializationError` for v1 classes with no Keras equivalent.
    """
    if v1_class_name(v1_optimizer) is None:
        raise ConfigTypeError("to_keras() takes a tf.compat.v1.train optimizer", value=v1_optimizer, has_value=True)
    return deserialize(serialize(v1_optimizer), strict=strict)
