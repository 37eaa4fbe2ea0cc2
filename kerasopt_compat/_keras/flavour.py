"""Which Keras is installed: detected on first use, in this one module, cached.

Nothing here runs at ``import kerasopt_compat``. :func:`flavour` imports
TensorFlow (or stand-alone Keras) the first time a live operation needs it.
"""

from __future__ import annotations

import os
import sys
import threading
from types import ModuleType
from typing import Any, Collection, Dict, List, NamedTuple, Optional, Tuple

from .. import fixes
from .._config import tables as T
from .._config.write import first_release_note
from .._errors import UnsupportedClassError, installed_versions
from .._optional import MIN_VERSIONS, import_optional_dependency, is_installed, parse_version

#: Namespaces searched for a class, in order of preference.
_SEARCH = ("optimizers", "optimizers.experimental", "optimizers.legacy")

#: Keras 3 backends (``keras.backend.backend()``): the name :meth:`Flavour.describe`
#: prints, and the module, else the distributions, whose version it prints. A
#: backend not listed here is described by its own name (its module's version).
KERAS3_BACKENDS: Dict[str, Tuple[str, str, Tuple[str, ...]]] = {
    "tensorflow": ("TensorFlow", "tensorflow", ("tensorflow", "tensorflow-cpu")),
    "jax": ("JAX", "jax", ("jax",)),
    "torch": ("PyTorch", "torch", ("torch",)),
    "numpy": ("NumPy", "numpy", ("numpy",)),
    "openvino": ("OpenVINO", "openvino", ("openvino",)),
}


class Target(NamedTuple):
    """One installed optimizer class and the family (write edge) it takes."""

    cls: Any
    family: str


class Flavour(NamedTuple):
    """The installed Keras, as kerasopt_compat uses it."""

    #: where ``tf.keras`` comes from: ``"tf.keras (in-tree)"`` (TF 2.4/2.5),
    #: ``"keras package"`` (the keras 2.6-2.15 package), ``"tf_keras"`` or
    #: ``"keras3"``. Not a generation: see ``default_family`` for that.
    kind: str
    #: the module users reach as ``tf.keras`` (or stand-alone ``keras``)
    keras: ModuleType
    tensorflow_version: Optional[str]
    keras_version: Optional[str]
    #: generation of ``keras.optimizers`` ("legacy", "keras2" or "keras3"),
    #: the names ``to_native``, ``--to`` and :meth:`describe` use
    default_family: str
    #: Keras 3 only: ``keras.backend.backend()`` ("tensorflow", "jax", "torch", ...)
    backend: Optional[str] = None
    #: Keras 3 only: the version of the backend's distribution, when known
    backend_version: Optional[str] = None

    def describe(self) -> str:
        """Versions, the Keras 3 backend, and the optimizer generation of
        ``optimizers`` (the names ``to_native`` and ``--to`` use: ``legacy``,
        ``keras2``, ``keras3``).

        e.g. ``'TensorFlow 2.9.3, Keras 2.9.0 (legacy)'``,
        ``'TensorFlow 2.21.0, tf_keras 2.21.0 (keras2)'``,
        ``'TensorFlow 2.21.0, Keras 3.15.1 on TensorFlow (keras3)'``,
        ``'Keras 3.15.1 on JAX 0.7.2 (keras3)'``.
        """
        parts = []
        if self.tensorflow_version:
            parts.append("TensorFlow %s" % self.tensorflow_version)
        if self.kind == "tf.keras (in-tree)":
            parts.append("in-tree tf.keras")
        elif self.keras_version:
            parts.append("%s %s" % ("tf_keras" if self.kind == "tf_keras" else "Keras", self.keras_version))
            if self.backend:
                parts[-1] += " on " + self._backend_text(self.backend)
        return ", ".join(parts) + " (%s)" % self.default_family

    def _backend_text(self, backend: str) -> str:
        """``'PyTorch 2.13.0'``; just ``'TensorFlow'`` when its version is said already."""
        entry = KERAS3_BACKENDS.get(backend)
        label = entry[0] if entry else backend
        if not self.backend_version or (backend == "tensorflow" and self.tensorflow_version):
            return label
        return "%s %s" % (label, self.backend_version)

    def release(self) -> Optional[str]:
        """The installed release's name among ``_config.tables.RELEASES`` (``'tf2.9'``,
        ``'tf_keras'``, ``'keras3.15'``), or None when the tables lack it."""
        if self.kind == "tf_keras":
            name = "tf_keras"
        elif self.kind == "keras3":
            name = "keras3.%s" % ".".join((self.keras_version or "").split(".")[1:2])
        else:
            name = "tf%s" % ".".join((self.tensorflow_version or "").split(".")[:2])
        return name if name in T.RELEASES else None

    # ------------------------------------------------------------ class lookup

    def optimizer_candidates(self, name: str) -> List[Target]:
        """Classes that can build canonical optimizer ``name``, preferred first.

        The default ``optimizers`` namespace comes first; then
        ``optimizers.experimental`` (TF 2.9/2.10) and ``optimizers.legacy``
        (TF 2.11-2.15, tf_keras), which :func:`deserialize` uses only when the
        default class would lose a setting. Raises UnsupportedClassError when
        the flavour has no such class.
        """
        found = _class_cache(self).get(name)
        if found:
            return found
        raise UnsupportedClassError(
            "the installed Keras has no optimizer %s; %s" % (name, first_release_note(name, self.default_family)),
            class_name=name,
            installed=self.describe(),
        )

    def optimizer_class(self, name: str) -> Target:
        """The preferred ``Target`` for a canonical optimizer name."""
        return self.optimizer_candidates(name)[0]

    def schedule_class(self, name: str) -> Any:
        cls = getattr(self.keras.optimizers.schedules, name, None)
        if cls is None:
            raise UnsupportedClassError(
                "the installed Keras has no learning-rate schedule %s" % name, class_name=name, installed=self.describe()
            )
        return cls

    def loss_scale_class(self, family: str) -> Any:
        return fixes.loss_scale_optimizer_class(self.keras, family)

    def multi_optimizer_classes(self) -> Tuple[Any, Any]:
        """``(MultiOptimizer, OptimizerMap)`` of the installed Keras, or
        UnsupportedClassError naming the first release that has them."""
        multi = fixes.namespace_attr(self.keras.optimizers, T.MULTI_CLASS)
        omap = fixes.namespace_attr(self.keras.optimizers, T.OPTIMIZER_MAP_CLASS)
        if not isinstance(multi, type) or not isinstance(omap, type):
            raise UnsupportedClassError(
                "the installed %s has no optimizer %s; %s"
                % (self.describe(), T.MULTI_CLASS, first_release_note(T.MULTI_CLASS, self.default_family)),
                class_name=T.MULTI_CLASS,
            )
        return multi, omap

    def public_optimizer_class(self, name: str) -> Optional[Target]:
        """The optimizer class the installed Keras exposes as ``optimizers.<name>``
        (or ``optimizers.experimental``/``optimizers.legacy``), or None.

        Only an exact class name among the public namespaces' subclasses of
        their ``Optimizer`` base (the bases themselves excluded) is found; a
        name from a config is a dict lookup here, never an attribute access
        or import. Finds table classes too; callers check the tables first.
        """
        found = _public_classes(self).get(name)
        return found[0] if found else None

    def public_optimizer_candidates(self, name: str) -> List[Target]:
        """The public classes named ``name``, default namespace first, one per
        family (see :meth:`optimizer_candidates`); empty when there is none."""
        out: List[Target] = []
        for target in _public_classes(self).get(name, ()):
            if not any(t.family == target.family for t in out):  # a re-export (TF 2.9/2.10 optimizers.legacy)
                out.append(target)
        return out

    def is_public_optimizer(self, cls: type) -> bool:
        """Whether ``cls`` itself is exposed under its own name by a public optimizer
        namespace, or is what the Keras 3 backend builds in place of such a class
        (:func:`fixes.backend_stand_in_for`: PyTorch's ``torch_adam.Adam``)."""
        found = [t.cls for t in _public_classes(self).get(cls.__name__, ())]
        return any(c is cls for c in found) or fixes.backend_stand_in_for(cls, found) is not None

    def passthrough_names(self, exclude: Collection[str] = ()) -> PassthroughNames:
        """The public optimizer classes the tables lack (minus ``exclude``), as a container."""
        return PassthroughNames(self, frozenset(exclude))

    def accepts(self, cls_name: str, key: str, target: Optional[Target] = None) -> bool:
        """Whether the installed class ``cls_name`` (or ``target``) takes constructor kwarg ``key``."""
        if cls_name in T.SCHEDULES:
            return key in fixes.named_parameters(self.schedule_class(cls_name))
        if cls_name == T.LOSS_SCALE_CLASS and target is None:
            return key in fixes.named_parameters(self.loss_scale_class(self.default_family))
        if target is None and cls_name not in T.OPTIMIZERS:
            target = self.public_optimizer_class(cls_name)
            if target is None:
                return False
        cls, family = target if target is not None else self.optimizer_class(cls_name)
        if key in fixes.named_parameters(cls):
            return True
        fam = T.FAMILIES[family]
        return family == "legacy" and (key in fam.options or key == "decay")

    def family_of(self, cls: type) -> str:
        return _family_of_class(cls, self.kind)


def _family_of_class(cls: type, kind: str) -> str:
    """legacy (an OptimizerV2 subclass), keras3 (Keras 3) or keras2 (the new Keras 2 optimizers)."""
    if any(base.__name__ == "OptimizerV2" for base in cls.__mro__):
        return "legacy"
    return "keras3" if kind == "keras3" else "keras2"


_CLASS_CACHE: Dict[int, Dict[str, List[Target]]] = {}


def _class_cache(fl: Flavour) -> Dict[str, List[Target]]:
    cache = _CLASS_CACHE.get(id(fl.keras))
    if cache is None:
        cache = {name: [] for name in T.OPTIMIZERS}
        for path in _SEARCH:
            ns = fixes.optimizer_namespace(fl.keras, path)
            if ns is None:
                continue
            for name, found in cache.items():
                cls = fixes.namespace_attr(ns, name)
                if not isinstance(cls, type):
                    continue
                family = _family_of_class(cls, fl.kind)
                if any(t.family == family for t in found):
                    continue  # the same class, or a re-export (TF 2.9/2.10 optimizers.legacy)
                if path.endswith("legacy") and family != "legacy":
                    continue  # Keras 3's optimizers.legacy: placeholders that raise ImportError
                found.append(Target(cls, family))
        _CLASS_CACHE[id(fl.keras)] = cache
    return cache


class PassthroughNames:
    """``name in names``: a public optimizer class of the installed Keras that
    the tables (as they are now) lack, and not one of ``exclude``."""

    def __init__(self, fl: Flavour, exclude: Collection[str]) -> None:
        self.fl = fl
        self.exclude = exclude

    def __contains__(self, name: object) -> bool:
        return (
            isinstance(name, str)
            and name not in self.exclude
            and name not in T.OPTIMIZERS
            and name not in (T.LOSS_SCALE_CLASS, T.MULTI_CLASS)
            and self.fl.public_optimizer_class(name) is not None
        )


_PUBLIC_CACHE: Dict[int, Dict[str, List[Target]]] = {}


def _public_classes(fl: Flavour) -> Dict[str, List[Target]]:
    """Every optimizer class the public namespaces expose under its own name,
    found once per installed Keras, in ``_SEARCH`` order."""
    cached = _PUBLIC_CACHE.get(id(fl.keras))
    if cached is not None:
        return cached
    spaces = []
    for path in _SEARCH:
        ns = fixes.optimizer_namespace(fl.keras, path)
        if ns is not None:
            spaces.append((path, ns))
    bases = []
    for path, ns in spaces:
        base = fixes.namespace_attr(ns, "Optimizer")
        if isinstance(base, type) and not (path.endswith("legacy") and _family_of_class(base, fl.kind) != "legacy"):
            bases.append(base)
    found: Dict[str, List[Target]] = {}
    for path, ns in spaces:
        for name in fixes.public_names(ns):
            cls = fixes.namespace_attr(ns, name)
            if not isinstance(cls, type) or cls.__name__ != name or cls in bases or not issubclass(cls, tuple(bases)):
                continue
            family = _family_of_class(cls, fl.kind)
            if path.endswith("legacy") and family != "legacy":
                continue  # Keras 3's optimizers.legacy placeholders
            targets = found.setdefault(name, [])
            if not any(t.cls is cls for t in targets):
                targets.append(Target(cls, family))
    _PUBLIC_CACHE[id(fl.keras)] = found
    return found


_LOCK = threading.Lock()
_FLAVOUR: Optional[Flavour] = None


def flavour() -> Flavour:
    """Detect the installed Keras once and cache it.

    TensorFlow wins when installed (``tf.keras`` is what TF code uses; it is
    tf_keras under ``TF_USE_LEGACY_KERAS=1``); otherwise stand-alone Keras 3.
    """
    global _FLAVOUR
    if _FLAVOUR is None:
        with _LOCK:
            if _FLAVOUR is None:
                _FLAVOUR = _detect()
    return _FLAVOUR


def _version(module: ModuleType) -> Optional[str]:
    return getattr(module, "__version__", None)


def keras3_backend(keras: ModuleType) -> Tuple[Optional[str], Optional[str]]:
    """``(backend name, its version)`` of a Keras 3 module (``keras`` or TF's ``tf.keras``).

    Imports nothing: the name comes from ``keras.backend.backend()`` (the
    backend Keras has already imported), the version from the backend module
    in ``sys.modules`` or, failing that, its distribution's metadata.
    """
    try:
        name = keras.backend.backend()
    except Exception:  # noqa: BLE001 - a Keras without it is described without a backend
        return None, None
    if not isinstance(name, str):
        return None, None
    _label, module_name, dists = KERAS3_BACKENDS.get(name, (name, name, ()))
    module = sys.modules.get(module_name)
    version = _version(module) if module is not None else None
    if isinstance(version, str):
        return name, version
    from importlib import metadata  # lazy: import-time speed (importlib.metadata is slow to import)

    for dist in dists:
        try:
            return name, metadata.version(dist)
        except Exception:  # noqa: BLE001 - any metadata problem means "not this distribution"
            continue
    return name, None


def _detect() -> Flavour:
    if is_installed("tensorflow"):
        tf = import_optional_dependency("tensorflow", MIN_VERSIONS["tensorflow"])
        keras = tf.keras
        sgd_module = keras.optimizers.SGD.__module__
        tf_version = _version(tf)
        if sgd_module.startswith("tensorflow."):
            return Flavour("tf.keras (in-tree)", keras, tf_version, tf_version, "legacy")
        if sgd_module.startswith("tf_keras"):
            import tf_keras  # noqa: F401 - already imported by tf.keras

            return Flavour("tf_keras", keras, tf_version, _version(tf_keras), _family_of_class(keras.optimizers.SGD, "tf_keras"))
        import keras as keras_pkg  # the installed Keras, found on first use

        kv = _version(keras_pkg)
        if kv and parse_version(kv) >= (3,):
            import_optional_dependency("keras", MIN_VERSIONS["keras"])
            return Flavour("keras3", keras, tf_version, kv, "keras3", *keras3_backend(keras))
        return Flavour("keras package", keras, tf_version, kv, _family_of_class(keras.optimizers.SGD, "keras package"))
    if os.environ.get("TF_USE_LEGACY_KERAS") and is_installed("tf_keras"):
        # tf_keras without TensorFlow cannot run; report it like a missing TF.
        import_optional_dependency("tensorflow")
    keras = import_optional_dependency("keras", MIN_VERSIONS["keras"])
    return Flavour("keras3", keras, None, _version(keras), "keras3", *keras3_backend(keras))


def detected_description() -> str:
    """The detected flavour's :meth:`Flavour.describe`, or the installed
    distributions' versions when detection has not run or failed."""
    detected = _FLAVOUR
    return detected.describe() if detected is not None else installed_versions()


def reset() -> None:
    """Forget the detected flavour (for tests that change the environment)."""
    global _FLAVOUR
    with _LOCK:
        _FLAVOUR = None
        _CLASS_CACHE.clear()
        _PUBLIC_CACHE.clear()
