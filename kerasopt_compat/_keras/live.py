"""``serialize``/``deserialize`` on the installed Keras flavour.

Both reuse the pure edges: ``serialize`` = the optimizer's own ``get_config()``
then the read edge (:func:`normalize`); ``deserialize`` = the read edge, the
write edge for the installed flavour (:func:`._write.write`, the same code that
:func:`to_native` runs), then the flavour's own class constructors, looked up
by canonical name only.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import abc
from typing import Any, Callable, Collection, Container, Dict, List, Mapping, Optional, Tuple, TypeVar, cast

from .. import fixes
from .._config import tables as T
from .._config.normalize import CustomObjects, Reading, custom_names, legacy_hint, normalize, read, read_known, reading
from .._config.v1train import serialize_v1, v1_class_name
from .._config.write import first_lossless, write
from .._errors import (
    ConfigTypeError,
    ConversionWarning,
    InvalidConfigError,
    KerasOptCompatError,
    SerializationError,
    UnknownClassError,
)
from .flavour import Flavour, Target, detected_description, flavour

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

    A Keras newer than kerasopt_compat: a ``get_config()`` key the tables
    lack is left out at its constructor default, else kept after the known
    keys; a public ``optimizers`` class the tables lack is written as a
    pass-through dict (bare class name, options by the usual rule, its other
    keys in ``get_config()`` order). Both with :class:`UnknownKeyWarning`.

    Raises :class:`SerializationError` for a class that is neither a Keras
    optimizer nor named in ``custom_objects``.
    """
    if isinstance(optimizer, (abc.Mapping, str, bytes)):
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
    custom = custom_names(custom_objects)
    if name not in custom:
        known = known_name(optimizer)
        if known is None:
            raise SerializationError(
                "cannot serialize %s.%s: an optimizer class kerasopt_compat does not know" % (cls.__module__, name),
                class_name=name,
                hint="if it is your own class, pass custom_objects={%r: %s} to let its config through unchanged" % (name, name),
            )
        name = known
    extras = [spec.name for spec in T.OPTIMIZER_EXTRAS.get(name, ())]
    config = _python_scalars(fixes.complete_config(optimizer, get_config(), extras))
    how, memo = _live_reading(optimizer, custom)
    return read_known(name, config, how, memo)


#: (id of the flavour, custom names, classes of the optimizer and of those it wraps)
#: -> (the flavour, the Reading of serialize(), its memo for read_known): built from class-level facts only.
_LIVE_READINGS: Dict[Any, Tuple[Flavour, Reading, Dict[Any, Dict[str, Any]]]] = {}


def _live_reading(optimizer: Any, custom: Collection[str]) -> Tuple[Reading, Dict[Any, Dict[str, Any]]]:
    """How ``serialize`` reads the optimizer's config: keep what the tables lack, the
    installed public classes may pass through, keys at their constructor default are
    left out. Depends only on the flavour, ``custom`` and the classes involved, so it
    is built once per those (at most a few hundred kept), with a memo of the configs
    read that way (:func:`read_known`)."""
    fl = flavour()
    objects = _wrapped(optimizer)
    key = (id(fl), custom, tuple(map(type, objects)))
    cached = _LIVE_READINGS.get(key)
    if cached is not None and cached[0] is fl:
        return cached[1], cached[2]
    how = reading(custom, "keep", classes=fl.passthrough_names(custom), defaults=_defaults(objects))
    if len(_LIVE_READINGS) >= 256:
        _LIVE_READINGS.clear()
    memo: Dict[Any, Dict[str, Any]] = {}
    _LIVE_READINGS[key] = (fl, how, memo)
    return how, memo


def _wrapped(optimizer: Any) -> List[Any]:
    """The optimizer, then the optimizers it wraps (LossScaleOptimizer, MultiOptimizer), or None."""
    inner = [optimizer, getattr(optimizer, "inner_optimizer", None)]
    if type(optimizer).__name__ == T.MULTI_CLASS:
        inner += list(getattr(optimizer, "optimizers", None) or ())
    return inner


def _defaults(objects: List[Any]) -> Dict[str, Dict[str, Any]]:
    """Constructor defaults of the objects' classes (:func:`_wrapped`), by canonical name."""
    out: Dict[str, Dict[str, Any]] = {}
    for obj in objects:
        name = known_name(obj) if obj is not None else None
        if name is not None:
            cls: Any = type(obj)
            out[name] = fixes.constructor_defaults(cls)
    return out


def known_name(optimizer: Any) -> Optional[str]:
    """Canonical class name of a Keras optimizer kerasopt_compat can serialize, or None
    (a user's own class, a ``tf.compat.v1.train`` optimizer, any other object).

    Besides the tables' classes, a class the installed Keras exposes in its
    public ``optimizers`` namespace under its own name (a Keras release newer
    than the tables) counts: it is written as a pass-through dict.
    """
    cls = type(optimizer)
    if not cls.__module__.startswith(_KERAS_MODULES):
        return None
    name = T.CLASS_ALIASES.get(cls.__name__, cls.__name__)
    if name in T.OPTIMIZERS or name in (T.LOSS_SCALE_CLASS, T.MULTI_CLASS):
        return name
    return cls.__name__ if flavour().is_public_optimizer(cls) else None


_SCALAR_TYPES = frozenset([type(None), bool, int, float, str])


def _python_scalars(value: Any) -> Any:
    if type(value) is dict:  # get_config()'s dict: its plain scalars as they are, without a call each
        if _SCALAR_TYPES.issuperset(map(type, value.values())):
            return dict(value)
        return {k: v if type(v) in _SCALAR_TYPES else _python_scalars(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, abc.Mapping):
        return {k: _python_scalars(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_python_scalars(v) for v in value]
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

    A dict written by a Keras newer than kerasopt_compat: keys the tables lack
    are kept and passed to the installed constructor where it takes them
    (else lossy, as above); a class the tables lack is found only by its exact
    name among the public ``optimizers`` classes of the installed Keras
    (:class:`UnknownClassError` elsewhere). Both with :class:`UnknownKeyWarning`.

    >>> opt = deserialize({'class_name': 'SGD', 'config': {'learning_rate': 0.1}})  # doctest: +SKIP
    """
    return _deserialize(config, custom_objects, strict=strict, prefer_legacy=prefer_legacy)


def _deserialize(
    config: Mapping[str, Any],
    custom_objects: Optional[Mapping[str, Any]],
    *,
    strict: bool = False,
    prefer_legacy: bool = False,
    refuse_unknown: bool = False,
    family: Optional[str] = None,
) -> Any:
    """:func:`deserialize`; ``refuse_unknown`` (``install()``): a key neither the
    tables nor the installed class know raises UnknownKeyError, not lossy;
    ``family`` (``"legacy"``, ``"keras2"``, ``"keras3"``): build that
    generation's class where the installed Keras has one for the class
    (``restore_state`` continuing a saver's generation)."""
    if isinstance(config, (str, bytes)):
        raise ConfigTypeError("deserialize() takes a dict; use loads() to read JSON text first", value=config, has_value=True)
    fl = flavour()
    custom = custom_names(custom_objects)
    passthrough = fl.passthrough_names(custom)
    canonical = read(config, reading(custom, "keep", classes=passthrough))
    if family is None and (prefer_legacy or legacy_hint(config) is True):
        family = "legacy"
    target = _choose_target(fl, canonical, custom, passthrough, family)
    accepts = functools.partial(_accepts, fl, target)
    native = write(
        canonical,
        target.family,
        strict=strict,
        accepts=accepts,
        custom=custom,
        passthrough=passthrough,
        refuse_unknown=refuse_unknown,
    )
    return _Builder(fl, custom_objects or {}, target).optimizer(native)


def _accepts(fl: Flavour, target: Target, cls_name: str, key: str) -> bool:
    # the target is for the class being built, not for one inside it (MultiOptimizer)
    own = cls_name == getattr(target.cls, "__name__", None)
    return fl.accepts(cls_name, key, target if own else None)


def _choose_target(
    fl: Flavour, canonical: Mapping[str, Any], custom: Collection[str], passthrough: Container[str], family: Optional[str]
) -> Target:
    """The installed class to build: the one of generation ``family`` (e.g. the
    ``optimizers.legacy`` OptimizerV2 one for ``"legacy"``) when the flavour
    has it; else the default namespace's,
    unless it would lose a setting that another namespace of the same flavour
    keeps (e.g. ``weight_decay`` on TF 2.9 -> ``optimizers.experimental``;
    Nadam's momentum ``decay`` on TF 2.11+ -> ``optimizers.legacy``). A class
    the tables lack is looked up by exact name among the installed public
    ``optimizers`` classes (``passthrough``)."""
    name = canonical["class_name"]
    if name in custom:
        return Target(None, fl.default_family)
    if name == T.MULTI_CLASS:
        return Target(fl.multi_optimizer_classes()[0], fl.default_family)
    if name == T.LOSS_SCALE_CLASS:
        name = canonical["config"]["inner_optimizer"]["class_name"]
        if name in custom:
            return Target(None, fl.default_family)
    if name in T.OPTIMIZERS:
        candidates = fl.optimizer_candidates(name)
    elif name in passthrough:
        candidates = fl.public_optimizer_candidates(name)
    else:
        return Target(None, fl.default_family)
    preferred = [t for t in candidates if t.family == family]
    if preferred:
        return preferred[0]
    return first_lossless(
        candidates,
        lambda target: write(
            canonical,
            target.family,
            strict=True,
            accepts=functools.partial(_accepts, fl, target),
            custom=custom,
            passthrough=passthrough,
        ),
    )


class _Builder:
    def __init__(self, fl: Flavour, custom_objects: Mapping[str, Any], target: Target) -> None:
        self.fl = fl
        self.custom = custom_objects
        self.target = target

    def _custom_class(self, name: str) -> Any:
        obj = self.custom.get(name) if isinstance(self.custom, abc.Mapping) else None
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
        if name in self.custom:
            return self._from_config(self._custom_class(name), name, cfg)
        if name == T.MULTI_CLASS and name not in T.OPTIMIZERS:
            multi, optimizer_map = self.fl.multi_optimizer_classes()
            parts = cfg.pop("optimizer_map")["config"]
            mapping = {pattern: self._inner(opt) for pattern, opt in parts["optimizer_map"].items()}
            return self._call(multi, name, cfg, optimizer_map(self._inner(parts["default_optimizer"]), mapping))
        if name not in T.OPTIMIZERS:
            if self.fl.public_optimizer_class(name) is None:
                return self._from_config(self._custom_class(name), name, cfg)
            return self._passthrough(name, cfg)
        target = self.target.cls
        for key in fam.config_extras:
            cfg.pop(key, None)
        lr = cfg.get("learning_rate")
        if isinstance(lr, abc.Mapping):
            cfg["learning_rate"] = self.schedule(lr)
        return self._call(target, name, cfg)

    def _inner(self, native: Mapping[str, Any]) -> Any:
        """An optimizer inside a MultiOptimizer, built with its own class's target."""
        name = native["class_name"]
        if name in T.OPTIMIZERS:
            target = self.fl.optimizer_class(name)
        else:
            target = self.fl.public_optimizer_class(name) or Target(None, self.target.family)
        return _Builder(self.fl, self.custom, target).optimizer(native)

    def _passthrough(self, name: str, cfg: Dict[str, Any]) -> Any:
        """A public optimizer class the tables lack, found by exact name only
        (``_choose_target`` picked the namespace)."""
        cls = self.target.cls
        if cls is None or cls.__name__ != name:  # pragma: no cover - normalize lets only these through
            raise UnknownClassError("the installed %s has no optimizer %s" % (self.fl.describe(), name), class_name=name)
        lr = cfg.get("learning_rate")
        if isinstance(lr, abc.Mapping):
            cfg["learning_rate"] = self.schedule(lr)
        return self._call(cls, name, cfg)

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


def _custom_names(custom_objects: Optional[Mapping[str, Any]]) -> CustomObjects:
    return list(custom_objects) if isinstance(custom_objects, Mapping) else None


def optimizer_matches(fl: Flavour, optimizer: Any, wanted: Mapping[str, Any], custom_objects: Any = None) -> bool:
    """Whether a live optimizer holds the hyperparameters of canonical ``wanted``.

    ``wanted`` is first written for the loaded optimizer's own generation
    (``to_native``: legacy ``decay`` becomes ``InverseTimeDecay`` for the new
    optimizers) and read back, then compared key by key, floats within
    float32 precision; optimizer names are not compared.
    """

    try:
        got = serialize(optimizer, custom_objects=_custom_names(custom_objects))
        family = fl.family_of(type(getattr(optimizer, "inner_optimizer", optimizer)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)
            expected = normalize(write(normalize(wanted), family))
    except KerasOptCompatError:
        return False
    return _close(_unnamed(got), _unnamed(expected))


def _unnamed(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _unnamed(v) for k, v in obj.items() if k != "name"}
    if isinstance(obj, list):
        return [_unnamed(v) for v in obj]
    return obj


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return bool(a == b)
