"""``install()``: make the public ``serialize``/``deserialize``/``get`` names use kerasopt_compat.

In every TensorFlow, ``tf.keras.optimizers.serialize`` and
``tf.compat.v1.keras.optimizers.serialize`` are one function object, reached
through lazy module wrappers (``TFModuleWrapper``, ``LazyLoader``,
``KerasLazyLoader``). :func:`install` rebinds the name in every *public API
module* that holds that object (``tf.keras.optimizers``,
``tf.compat.v1.keras.optimizers``, ``tf.compat.v2.keras.optimizers``, the
``keras.api``/``tf_keras.api`` modules, Keras 3's ``keras.optimizers``); it never
touches the module that defines the function, which Keras' own code
(``model.compile``, saving) calls. Code that looks the name up at call time
(``tf.keras.optimizers.serialize(opt)``) sees the change; a reference taken
*before* ``install()`` (``from tensorflow.keras.optimizers import serialize``)
keeps the original function.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import threading
import warnings
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

from .._config.normalize import MAX_DEPTH, custom_names, legacy_hint
from .._errors import KerasOptCompatError, UnknownClassError

__all__ = ["install", "uninstall", "installed", "is_installed", "ENV_VAR"]

#: ``KERASOPT_COMPAT_INSTALL=1`` + ``import kerasopt_compat.autoinstall`` (e.g.
#: from ``sitecustomize``) installs without touching the program.
ENV_VAR = "KERASOPT_COMPAT_INSTALL"
_NAMES = ("serialize", "deserialize", "get")
_LOCK = threading.RLock()
#: (holder, attribute, original) for every rebinding install() made
_PATCHED: List[Tuple[Any, str, Any]] = []


def is_installed() -> bool:
    with _LOCK:
        return bool(_PATCHED)


def _public_paths(fl: Any) -> List[Any]:
    """Touch the public namespaces so lazy loaders import them; return what they resolve to."""
    found = [fl.keras.optimizers]
    if fl.tensorflow_version:
        import tensorflow as tf  # the installed TensorFlow, only when it is there

        for path in ("compat.v1.keras.optimizers", "compat.v2.keras.optimizers", "keras.optimizers"):
            obj: Any = tf
            try:
                for part in path.split("."):
                    obj = getattr(obj, part)
            except (AttributeError, ImportError):
                continue
            found.append(obj)
    for name in ("keras", "tf_keras"):
        module = sys.modules.get(name)
        if module is not None:
            try:
                found.append(module.optimizers)
            except (AttributeError, ImportError):
                pass
    return found


#: kerasopt_compat cannot handle some part of the object or dict (a class it
#: does not know or a user's registration at any depth, a key it does not know,
#: a value it refuses, a class the installed Keras lacks): the call goes to
#: Keras' original function, whose result or error the caller gets.
_NOT_OURS = (KerasOptCompatError,)

#: Keywords of Keras' originals that the replacements honour themselves. Any
#: other keyword the original accepts is passed on (the whole call goes to
#: the original); one it does not accept raises its own ``TypeError``.
#: ``use_legacy_format``: the canonical dict is the legacy format, and every
#: format is read. ``use_legacy_optimizer``: see :func:`_prefer_legacy`.
_HONOURED = {
    "serialize": frozenset(["use_legacy_format"]),
    "deserialize": frozenset(["custom_objects", "use_legacy_format", "use_legacy_optimizer"]),
    "get": frozenset(["use_legacy_optimizer"]),
}


#: Marker: "give this call to Keras' original function".
_ORIGINAL: Any = object()


@functools.lru_cache(maxsize=None)
def _signature(original: Callable[..., Any]) -> Optional[inspect.Signature]:
    try:
        return inspect.signature(original)
    except (TypeError, ValueError):  # pragma: no cover - Keras' functions are plain Python
        return None


def _split_call(
    name: str, original: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]
) -> Optional[Tuple[Any, Dict[str, Any]]]:
    """``(object, honoured keywords)`` of a call to the replacement of ``name``,
    or None when the call must go to ``original`` as it is: arguments its
    signature rejects (it raises its own ``TypeError``) or a keyword the
    replacement does not honour."""
    sig = _signature(original)
    if sig is None:
        return None
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return None
    params = list(sig.parameters.values())
    if not params or params[0].name not in bound.arguments:
        return None
    options: Dict[str, Any] = {}
    for param in params[1:]:
        if param.name not in bound.arguments:
            continue
        value = bound.arguments[param.name]
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            options.update(value)
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                return None
        else:
            options[param.name] = value
    if not set(options) <= _HONOURED[name]:
        return None
    return bound.arguments[params[0].name], options


def _prefer_legacy(options: Mapping[str, Any], config: Any) -> Optional[bool]:
    """``deserialize(prefer_legacy=...)`` for Keras' ``use_legacy_optimizer``, or None
    when the original must take the call.

    ``True`` asks for ``optimizers.legacy`` unless the dict says it is not a
    legacy optimizer (``is_legacy_optimizer: false``), as Keras 2.11+ itself
    reads it. ``False`` (or absent) is the default namespace, except where the
    default namespace *is* the legacy one and Keras would build another class
    (TF 2.9/2.10 ``optimizers.experimental``): then the original decides.
    """
    from .flavour import flavour  # lazy: install() may run at start-up (autoinstall); the live side loads on first use

    wanted = options.get("use_legacy_optimizer")
    if wanted is None:
        return False
    if wanted:
        return legacy_hint(config) is not False
    return None if flavour().default_family == "legacy" else False


def _class_names(config: Any, depth: int = 0) -> Set[str]:
    """Every ``class_name``/``registered_name`` string in a dict, at any depth."""
    found: Set[str] = set()
    if depth > MAX_DEPTH:
        return found
    if isinstance(config, Mapping):
        for key in ("class_name", "registered_name"):
            if isinstance(config.get(key), str):
                found.add(config[key])
        for value in config.values():
            found |= _class_names(value, depth + 1)
    elif isinstance(config, (list, tuple)):
        for value in config:
            found |= _class_names(value, depth + 1)
    return found


def _ours_or_original(config: Any, custom_objects: Any, options: Mapping[str, Any]) -> Any:
    """kerasopt_compat's optimizer for ``config``, or ``_ORIGINAL`` when the
    original must take the call: a user class anywhere in the dict (unknown to
    kerasopt_compat, or named in ``custom_objects``), anything else
    kerasopt_compat refuses (:data:`_NOT_OURS`), a keyword only the original
    honours."""
    from . import live as _live  # lazy: install() may run at start-up (autoinstall); the live side loads on first use

    prefer_legacy = _prefer_legacy(options, config)
    if prefer_legacy is None or not isinstance(config, Mapping):
        return _ORIGINAL
    try:
        if custom_objects and _class_names(config) & set(custom_names(custom_objects)):
            return _ORIGINAL
        # a key neither kerasopt_compat nor the installed class knows: Keras decides
        return _live._deserialize(config, None, prefer_legacy=prefer_legacy, refuse_unknown=True)
    except _NOT_OURS:  # custom_objects of a shape kerasopt_compat refuses, too
        return _ORIGINAL


def _optimizer(result: Any, config: Any) -> Any:
    """Keras' result, but never a string where an optimizer was asked for (tf_keras
    ``deserialize`` returns the class name of a class it lacks)."""
    if isinstance(result, str):
        raise UnknownClassError(
            "Keras' own deserialize() returned the string %r instead of an optimizer" % result,
            class_name=config.get("class_name") if isinstance(config, Mapping) else None,
            value=result,
            has_value=True,
        )
    return result


def _replacement(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    from . import live as _live  # lazy: install() may run at start-up (autoinstall); the live side loads on first use

    new: Callable[..., Any]
    if name == "serialize":

        def serialize(*args: Any, **kwargs: Any) -> Any:
            call = _split_call(name, original, args, kwargs)
            if call is not None:
                optimizer = call[0]
                if _live.known_name(optimizer) is not None or _live.v1_class_name(optimizer) is not None:
                    try:
                        return _live.serialize(optimizer)
                    except _NOT_OURS:
                        pass  # e.g. a user class or schedule inside a Keras one: Keras' own way
            return original(*args, **kwargs)

        new = serialize
    elif name == "deserialize":

        def deserialize(*args: Any, **kwargs: Any) -> Any:
            call = _split_call(name, original, args, kwargs)
            if call is not None:
                config, options = call
                out = _ours_or_original(config, options.get("custom_objects"), options)
                if out is not _ORIGINAL:
                    return out
            return _optimizer(original(*args, **kwargs), args[0] if args else kwargs.get("config"))

        new = deserialize
    else:

        def get(*args: Any, **kwargs: Any) -> Any:
            call = _split_call(name, original, args, kwargs)
            if call is not None and isinstance(call[0], Mapping):
                out = _ours_or_original(call[0], None, call[1])
                if out is not _ORIGINAL:
                    return out
            return _optimizer(original(*args, **kwargs), args[0] if args else None)

        new = get
    functools.update_wrapper(new, original)
    setattr(new, "__kerasopt_compat__", True)  # noqa: B010 - a marker attribute on a function
    return new


def install() -> None:
    """Route the public ``optimizers.serialize``/``deserialize``/``get`` through kerasopt_compat.

    Idempotent and thread-safe; undone exactly by :func:`uninstall`. Every
    call that kerasopt_compat cannot handle completely (your own classes or
    schedules at any depth, a ``p>Adam`` registration, anything it would
    refuse, an argument it does not honour) goes to Keras' original function
    with the caller's arguments; the replacements keep the originals'
    signatures. See README "Drop-in" for the documented differences.

    >>> import kerasopt_compat, tensorflow as tf               # doctest: +SKIP
    >>> kerasopt_compat.install()                              # doctest: +SKIP
    >>> tf.compat.v1.keras.optimizers.serialize(tf.keras.optimizers.SGD())  # doctest: +SKIP
    {'class_name': 'SGD', 'config': {'name': 'SGD', 'learning_rate': 0.01, 'decay': 0.0, 'momentum': 0.0, 'nesterov': False}}
    """
    from .flavour import flavour  # lazy: install() may run at start-up (autoinstall); the live side loads on first use

    with _LOCK:
        if _PATCHED:
            return
        fl = flavour()
        roots = _public_paths(fl)
        originals = {name: getattr(fl.keras.optimizers, name) for name in _NAMES}
        replacements = {name: _replacement(name, fn) for name, fn in originals.items()}
        holders: List[Any] = list(roots)
        for module in list(sys.modules.values()):
            if module is not None and getattr(module, "__name__", "").endswith("optimizers"):
                holders.append(module)
        seen = set()
        for holder in holders:
            if id(holder) in seen:
                continue
            seen.add(id(holder))
            for name, original in originals.items():
                if getattr(holder, "__name__", None) == getattr(original, "__module__", None):
                    continue  # the defining module: Keras internals call it
                try:
                    current = getattr(holder, name, None)
                except Exception:  # noqa: BLE001 - lazy loaders may fail to import on access
                    continue
                if current is original:
                    setattr(holder, name, replacements[name])
                    _PATCHED.append((holder, name, original))


def uninstall() -> None:
    """Put back the exact original functions (``is`` identity). Idempotent."""
    with _LOCK:
        while _PATCHED:
            holder, name, original = _PATCHED.pop()
            setattr(holder, name, original)


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Context manager: :func:`install` on entry; on exit, :func:`uninstall` unless it was
    already installed on entry (so nesting works).

    >>> with kerasopt_compat.installed():                       # doctest: +SKIP
    ...     tf.keras.optimizers.serialize(opt)
    """
    with _LOCK:
        was = bool(_PATCHED)
        install()
    try:
        yield
    finally:
        if not was:
            uninstall()


#: Values of ``KERASOPT_COMPAT_INSTALL`` that turn the drop-in on / leave it off.
_ENV_ON = ("1", "true", "yes", "on")
_ENV_OFF = ("", "0", "false", "no", "off")


def install_from_environment() -> bool:
    """Install when ``KERASOPT_COMPAT_INSTALL`` is ``1``/``true``/``yes``/``on``; return whether it did.

    Runs at interpreter start-up (from ``sitecustomize`` or a ``.pth`` file),
    so it never raises: an unrecognised value, or no TensorFlow/Keras to patch,
    gives one :class:`RuntimeWarning` and the program starts as usual.
    """

    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in _ENV_OFF:
        return False
    if value not in _ENV_ON:
        warnings.warn(
            "kerasopt_compat: %s=%r is not understood, so install() was not called; use one of %s to turn it on, "
            "or unset it" % (ENV_VAR, os.environ.get(ENV_VAR), "/".join(_ENV_ON)),
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    try:
        install()
    except ImportError as exc:  # MissingDependencyError: no TensorFlow or Keras here
        warnings.warn(
            "kerasopt_compat: %s is set, but install() found no TensorFlow or Keras to patch (%s). Install "
            "TensorFlow (pip install 'kerasopt_compat[tensorflow]') or Keras 3 (pip install 'kerasopt_compat[keras]'), "
            "or unset %s" % (ENV_VAR, exc, ENV_VAR),
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True
