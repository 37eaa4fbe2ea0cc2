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
import os
import sys
import threading
from typing import Any, Callable, Iterator, List, Mapping, Optional, Tuple

from ._errors import UnknownClassError

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
        import tensorflow as tf

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


def _replacement(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    from . import _live

    new: Callable[..., Any]
    if name == "serialize":

        def serialize(optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            if _live.known_name(optimizer) is None and _live.v1_class_name(optimizer) is None:
                # the caller's own (registered) classes: Keras' own way
                return original(optimizer, *args, **kwargs)
            return _live.serialize(optimizer)

        new = serialize
    elif name == "deserialize":

        def deserialize(config: Any, custom_objects: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Any:
            try:
                return _live.deserialize(config, custom_objects)
            except UnknownClassError:  # a class registered with Keras: its own lookup
                return original(config, custom_objects, **kwargs)

        new = deserialize
    else:

        def get(identifier: Any, **kwargs: Any) -> Any:
            if isinstance(identifier, Mapping):
                try:
                    return _live.deserialize(identifier)
                except UnknownClassError:
                    pass
            return original(identifier, **kwargs)

        new = get
    functools.update_wrapper(new, original)
    setattr(new, "__kerasopt_compat__", True)  # noqa: B010 - a marker attribute on a function
    return new


def install() -> None:
    """Route the public ``optimizers.serialize``/``deserialize``/``get`` through kerasopt_compat.

    Idempotent and thread-safe; undone exactly by :func:`uninstall`. Objects
    kerasopt_compat does not know (your own registered optimizer classes) still
    go to Keras' original functions.

    >>> import kerasopt_compat, tensorflow as tf               # doctest: +SKIP
    >>> kerasopt_compat.install()                              # doctest: +SKIP
    >>> tf.compat.v1.keras.optimizers.serialize(tf.keras.optimizers.SGD())  # doctest: +SKIP
    {'class_name': 'SGD', 'config': {'name': 'SGD', 'learning_rate': 0.01, 'decay': 0.0, 'momentum': 0.0, 'nesterov': False}}
    """
    from ._flavour import flavour

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
    import warnings

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
