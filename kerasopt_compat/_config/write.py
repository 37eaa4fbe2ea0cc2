"""The write edge: canonical dict -> the native dict of one Keras generation.

Pure Python. ``to_native(config, "legacy" | "keras2" | "keras3")`` returns the
dict that generation's own ``serialize()`` would produce for the same
optimizer, so it can be stored for an old reader; :func:`kerasopt_compat.deserialize`
builds the installed flavour's optimizer from exactly this dict.
"""

from __future__ import annotations

import warnings
from collections import abc
from typing import Any, Callable, Collection, Container, Dict, Mapping, Optional, Sequence, Tuple, TypeVar

from .._errors import (
    ConversionWarning,
    DecayConversionWarning,
    InvalidConfigError,
    LossyConversionError,
    LossyConversionWarning,
    UnknownKeyError,
    UnsupportedClassError,
)
from . import tables as T
from .normalize import CustomObjects, custom_names, emit_default, normalize

#: Keys of LossScaleOptimizer/MultiOptimizer that hold the wrapped optimizers.
_WRAPPED_KEYS = frozenset(spec.name for spec in T.LOSS_SCALE_KEYS + T.MULTI_KEYS if spec.kind in ("optimizer", "optimizer_map"))
#: Keys of a pass-through class (one the tables lack) that the tables do know.
_OPTION_NAMES = frozenset(spec.name for spec in T.OPTIONS) | {"learning_rate"}

#: ``accepts(class_name, key) -> bool``: whether the target constructor takes
#: ``key``. The live path passes one built from the installed classes'
#: signatures; the pure default trusts the tables.
Accepts = Callable[[str, str], bool]


C = TypeVar("C")


def first_release_note(cls: str, family: str) -> str:
    """``'first shipped in TF 2.13'``-style hint from ``_config.tables.FIRST_RELEASE``
    (for a Keras 2 target, the Keras 3 release when no Keras 2 release has it)."""
    since = T.FIRST_RELEASE.get(cls, {})
    first = since.get("keras2") if family != "keras3" else None
    first = first or since.get("keras3")
    return "first shipped in %s" % first if first else "no release kerasopt_compat knows has it"


def first_lossless(candidates: Sequence[C], attempt: Callable[[C], object]) -> C:
    """The first of ``candidates`` that ``attempt`` (a strict write) writes
    without losing a setting, else the first one.

    The one rule for choosing among the namespaces of one release: what
    :func:`kerasopt_compat.deserialize` builds among the installed classes
    (``optimizers``, then ``optimizers.experimental``/``optimizers.legacy``)
    and what :func:`to_native` writes for a release that has two (TF 2.9/2.10).
    """
    if len(candidates) > 1:
        for candidate in candidates:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConversionWarning)
                    attempt(candidate)
            except (LossyConversionError, UnsupportedClassError):
                continue
            return candidate
    return candidates[0]


def cannot_load(target: str, cls: str, family: str) -> UnsupportedClassError:
    """The refusal for a class release ``target`` cannot read (the message names the release)."""
    return UnsupportedClassError(
        "%s cannot load %s from a dict (its optimizers.deserialize does not know it); %s"
        % (target, cls, first_release_note(cls, family)),
        class_name=cls,
    )


def _accept_all(cls: str, key: str) -> bool:
    return True


class _Writer:
    def __init__(
        self,
        family: str,
        strict: bool,
        accepts: Optional[Accepts],
        custom: Collection[str] = (),
        passthrough: Container[str] = (),
        refuse_unknown: bool = False,
        spelling: Optional[T.Family] = None,
        release: Optional[str] = None,
    ) -> None:
        if family not in T.FAMILIES:
            raise InvalidConfigError("unknown target generation %r; use one of %s" % (family, ", ".join(sorted(T.FAMILIES))))
        self.name = family
        #: how the target spells a config (``spelling``: a release's other namespace, TF 2.9 optimizers.experimental)
        self.family = spelling or T.FAMILIES[family]
        #: the release asked for, named in messages instead of the generation
        self.release = release
        self.label = release or "Keras generation %r" % family
        self.strict = strict
        self.accepts = accepts or _accept_all
        #: the caller's classes (custom_objects), let through even when named like Keras' own
        self.custom = custom
        #: optimizer classes the tables lack that the installed Keras has
        self.passthrough = passthrough
        #: a key the tables lack that the target does not take either: UnknownKeyError
        #: (install() then hands the call to Keras) instead of a lossy conversion
        self.refuse_unknown = refuse_unknown

    def lossy(self, why: str, cls: str, key: str, value: Any) -> None:
        exc = LossyConversionError(
            "%s; the setting would be lost (%s)" % (why, self.label),
            class_name=cls,
            key=key,
            value=value,
            has_value=True,
        )
        if self.strict:
            raise exc
        warning = LossyConversionWarning(str(exc))
        warning.class_name, warning.key, warning.value = cls, key, value
        warnings.warn(warning, stacklevel=4)

    # ----------------------------------------------------------------- optimizers

    def optimizer(self, canonical: Mapping[str, Any]) -> Dict[str, Any]:
        cls = canonical["class_name"]
        cfg = canonical["config"]
        if cls == T.LOSS_SCALE_CLASS:
            return self.loss_scale(cfg)
        if cls in self.custom:  # the caller's class, let through unchanged
            return self._envelope(cls, dict(cfg), self.family.top_level)
        if cls == T.MULTI_CLASS:
            return self.multi(cfg)
        if cls not in T.OPTIMIZERS and cls in self.passthrough:
            return self.passthrough_optimizer(cls, cfg)
        if cls not in T.OPTIMIZERS:  # a custom class, let through unchanged
            return self._envelope(cls, dict(cfg), self.family.top_level)
        fam = self.family
        if cls not in fam.classes:
            raise self.no_class(cls)
        native: Dict[str, Any] = {"name": cfg["name"]}
        native.update(self._options(cls, cfg))
        native["learning_rate"] = self._learning_rate(cls, cfg)
        if fam.lr_decay:
            native["decay"] = cfg["decay"]
        for spec in T.OPTIMIZERS[cls][2:]:  # after learning_rate and decay
            value = cfg[spec.name]
            if spec.name in fam.zero_replaced and value == 0:
                self.lossy("this generation replaces %s=0 by its default" % spec.name, cls, spec.name, value)
            if self.accepts(cls, spec.name):
                native[spec.name] = value
            elif value != emit_default(spec):
                self.lossy("the target's %s has no %r" % (cls, spec.name), cls, spec.name, value)
        # OPTIMIZER_EXTRAS (present only when not default), then keys the
        # tables lack (unknown_keys="keep"): passed where the target takes them.
        known = {"name"} | {spec.name for spec in T.OPTIMIZERS[cls] + T.OPTIONS}
        extras = {spec.name for spec in T.OPTIMIZER_EXTRAS.get(cls, ())}
        for key, value in cfg.items():
            if key not in known:
                self._extra(cls, key, value, native, unknown=key not in extras)
        native.update(fam.config_extras)
        if any(c == cls for c, _ in fam.kwarg_renames):
            native = {fam.kwarg_renames.get((cls, key), key): value for key, value in native.items()}
        return self._envelope(fam.class_prefix + cls, native, fam.top_level)

    def no_class(self, cls: str) -> UnsupportedClassError:
        if self.release:
            return cannot_load(self.release, cls, self.name)
        return UnsupportedClassError(
            "Keras generation %r has no optimizer %s; %s" % (self.name, cls, first_release_note(cls, self.name)), class_name=cls
        )

    def _extra(self, cls: str, key: str, value: Any, native: Dict[str, Any], *, unknown: bool = True) -> None:
        """Pass a key TF 2.9 lacked (``unknown``: one the tables lack too) where the target takes it."""
        if self.accepts(cls, key):
            native[key] = value
        else:
            self._not_taken(cls, cls, key, value, unknown)

    def _not_taken(self, cls: str, owner: str, key: str, value: Any, unknown: bool) -> None:
        if unknown and self.refuse_unknown:
            raise UnknownKeyError(
                "neither kerasopt_compat nor the target's %s knows this key" % cls,
                class_name=owner,
                key=key,
                value=value,
                has_value=True,
            )
        self.lossy("the target's %s has no %r" % (cls, key), owner, key, value)

    def passthrough_optimizer(self, cls: str, cfg: Mapping[str, Any]) -> Dict[str, Any]:
        """An optimizer class the tables lack but the installed Keras has: each
        key where its constructor takes it (a schedule written natively)."""
        native: Dict[str, Any] = {}
        for key, value in cfg.items():
            if key == "learning_rate" and isinstance(value, abc.Mapping):
                value = self.schedule(value, cls)
            if key == "name":
                native[key] = value
            else:
                self._extra(cls, key, value, native, unknown=key not in _OPTION_NAMES)
        return self._envelope(cls, native, self.family.top_level)

    def _options(self, cls: str, cfg: Mapping[str, Any]) -> Dict[str, Any]:
        """The optimizer-wide options the target takes (all of them where its
        get_config() lists all); the others, when set, are lossy."""
        fam = self.family
        class_keys = {spec.name for spec in T.OPTIMIZERS[cls]}
        out: Dict[str, Any] = {}
        for spec in T.OPTIONS:
            if spec.name in class_keys or (spec.name not in cfg and not fam.all_options):
                continue
            value = cfg.get(spec.name, spec.default)
            if spec.name in fam.options and self.accepts(cls, spec.name):
                out[spec.name] = value
            elif spec.name in cfg:
                self.lossy("the target's %s has no optimizer option %r" % (cls, spec.name), cls, spec.name, value)
        return out

    def _learning_rate(self, cls: str, cfg: Mapping[str, Any]) -> Any:
        """Native learning rate; folds legacy learning-rate ``decay`` into an
        equivalent InverseTimeDecay where the target has no ``decay``."""
        fam = self.family
        lr, decay = cfg["learning_rate"], cfg["decay"]
        decay_default = T.OPTIMIZERS[cls][1].default
        if fam.lr_decay or decay == decay_default:
            pass
        elif cls in T.MOMENTUM_DECAY_CLASSES:
            why = "%s here has a fixed momentum schedule; legacy momentum 'decay' other than %r" % (cls, decay_default)
            self.lossy(why, cls, "decay", decay)
        elif isinstance(lr, abc.Mapping):
            self.lossy("legacy learning-rate 'decay' on top of a schedule has no equivalent", cls, "decay", decay)
        else:
            lr = {
                "class_name": "InverseTimeDecay",
                "config": {"initial_learning_rate": lr, "decay_steps": 1, "decay_rate": decay, "staircase": False, "name": None},
            }
            warnings.warn(
                "%s: legacy learning-rate decay=%r was converted to the equivalent "
                "InverseTimeDecay(initial_learning_rate=%r, decay_steps=1, decay_rate=%r)"
                % (cls, decay, cfg["learning_rate"], decay),
                DecayConversionWarning,
                stacklevel=4,
            )
        if not isinstance(lr, abc.Mapping):
            return lr
        if cls in fam.no_schedule:
            raise UnsupportedClassError("%s of %s does not accept a learning-rate schedule" % (cls, self.label), class_name=cls)
        return self.schedule(lr, cls)

    def loss_scale(self, cfg: Mapping[str, Any]) -> Dict[str, Any]:
        cls = T.LOSS_SCALE_CLASS
        fam = self.family
        native: Dict[str, Any] = {"inner_optimizer": self.optimizer(cfg["inner_optimizer"])}
        self._wrapper_keys(cls, cfg, native, fam.loss_scale_keys, T.LOSS_SCALE_KEYS + T.LOSS_SCALE_EXTRAS)
        return self._envelope(fam.loss_scale_class, native, fam.top_level)

    def _wrapper_keys(
        self, cls: str, cfg: Mapping[str, Any], native: Dict[str, Any], taken: Collection[str], specs: Tuple[T.Key, ...]
    ) -> None:
        """A wrapper's own keys (``specs``; the wrapped optimizers are written by
        the caller): those the generation has (``taken``) as they are; a key the
        tables lack (``unknown_keys="keep"``) where the target takes it; the
        others lossy when set."""
        defaults = {spec.name: spec.default for spec in specs + T.OPTIONS}
        for key, value in cfg.items():
            if key in _WRAPPED_KEYS:
                continue
            if key in taken:
                native[key] = value
            elif key not in defaults:
                self._extra(cls, key, value, native)
            elif value != defaults[key]:
                self.lossy("this generation's %s has no %r" % (cls, key), cls, key, value)

    def multi(self, cfg: Mapping[str, Any]) -> Dict[str, Any]:
        """MultiOptimizer: Keras 3.15's shape, the optimizers inside a serialized OptimizerMap."""
        cls = T.MULTI_CLASS
        fam = self.family
        if not fam.multi_optimizer_keys:
            raise self.no_class(cls)
        inner = {
            "default_optimizer": self.optimizer(cfg["default_optimizer"]),
            "optimizer_map": {pattern: self.optimizer(opt) for pattern, opt in cfg["optimizer_map"].items()},
        }
        native: Dict[str, Any] = {"optimizer_map": self._envelope(T.OPTIMIZER_MAP_CLASS, inner, fam.top_level)}
        self._wrapper_keys(cls, cfg, native, fam.multi_optimizer_keys, T.MULTI_KEYS + T.MULTI_EXTRAS)
        return self._envelope(cls, native, fam.top_level)

    @staticmethod
    def _envelope(cls: str, config: Dict[str, Any], top: Mapping[str, Any]) -> Dict[str, Any]:
        """``{[module], class_name, config, [registered_name]}`` in the order Keras writes them."""
        out: Dict[str, Any] = {}
        if "module" in top:
            out["module"] = top["module"]
        out["class_name"] = cls
        out["config"] = config
        if "registered_name" in top:
            out["registered_name"] = top["registered_name"]
        return out

    # ----------------------------------------------------------------- schedules

    def schedule(self, canonical: Mapping[str, Any], owner: str) -> Dict[str, Any]:
        cls = canonical["class_name"]
        cfg = dict(canonical["config"])
        spec = None if cls in self.custom else T.SCHEDULES.get(cls)
        if spec is not None:
            if self.family.schedule_name_required and cfg.get("name") is None:
                cfg["name"] = spec.keras3_name
            for key in spec.extras:
                if key.name in cfg and not self.accepts(cls, key.name):
                    self.lossy("the target's %s has no %r" % (cls, key.name), owner, key.name, cfg.pop(key.name))
            known = {key.name for key in spec.keys + spec.extras}
            for name in [k for k in cfg if k not in known]:  # kept by unknown_keys="keep"
                if not self.accepts(cls, name):
                    self._not_taken(cls, owner, name, cfg.pop(name), unknown=True)
        return self._envelope(cls, cfg, self.family.schedule_top_level)


def resolve_target(target: str) -> T.Release:
    """The :class:`~._tables.Release` row of a target name: a generation
    (``legacy``, ``keras2``, ``keras3``) or a release (``tf2.9``, ``tf_keras``...).

    >>> resolve_target("tf2.9").generation, resolve_target("tf_keras").generation
    ('legacy', 'keras2')
    """
    if target in T.FAMILIES:
        return T.Release(target)
    release = T.RELEASES.get(target.strip().lower().replace("-", "_")) if isinstance(target, str) else None
    if release is None:
        raise InvalidConfigError(
            "unknown target release %r; use a generation (%s) or a release (%s)"
            % (target, ", ".join(T.GENERATION_NAMES), ", ".join(T.RELEASES))
        )
    return release


def _release_accepts(release: T.Release) -> Accepts:
    def accepts(cls: str, key: str) -> bool:
        spec = T.SCHEDULES.get(cls)
        return release.schedule_extras or spec is None or key not in {k.name for k in spec.extras}

    return accepts


def write(
    canonical: Mapping[str, Any],
    family: str,
    *,
    strict: bool = False,
    accepts: Optional[Accepts] = None,
    custom: Collection[str] = (),
    passthrough: Container[str] = (),
    refuse_unknown: bool = False,
) -> Dict[str, Any]:
    """Write an already canonical dict for ``family`` (used by the live path).

    ``custom``: the caller's class names, passed through unchanged.
    ``passthrough``: optimizer classes the tables lack that the installed Keras
    has; their keys are checked with ``accepts`` like a table class's (other
    classes the tables lack are custom classes, written unchanged).
    ``refuse_unknown``: a key the tables lack that ``accepts`` refuses raises
    :class:`UnknownKeyError` instead of being lossy (``install()``).
    """
    return _Writer(family, strict, accepts, custom, passthrough, refuse_unknown).optimizer(canonical)


def to_native(
    config: Mapping[str, Any],
    family: str = "keras3",
    *,
    strict: bool = False,
    custom_objects: CustomObjects = None,
    unknown_keys: str = "error",
) -> Dict[str, Any]:
    """Return the dict Keras generation (or release) ``family`` would serialize for ``config``.

    ``family`` is a release name (``"tf2.9"``, ``"tf2.15"``, ``"tf_keras"``,
    ``"keras3"``: see ``_config.tables.RELEASES``; classes and schedule keys that
    release lacks are refused or lossy) or a generation: ``"legacy"`` (OptimizerV2: TF 2.4-2.10 ``tf.keras.optimizers``,
    ``optimizers.legacy`` later), ``"keras2"`` (the new optimizers of
    TF 2.11-2.15 and tf_keras) or ``"keras3"``. ``config`` may be any dict
    :func:`normalize` reads. Settings the target cannot hold emit
    :class:`LossyConversionWarning` (or raise :class:`LossyConversionError`
    with ``strict=True``); legacy learning-rate ``decay`` becomes an exactly
    equivalent ``InverseTimeDecay`` schedule with a :class:`DecayConversionWarning`.
    ``unknown_keys="keep"`` reads as :func:`normalize` does and writes the kept
    keys and classes through unchanged (nothing here knows whether ``family``
    has them).

    >>> to_native({'class_name': 'SGD', 'config': {'name': 'SGD', 'learning_rate': 0.1}}, 'legacy')
    {'class_name': 'SGD', 'config': {'name': 'SGD', 'learning_rate': 0.1, 'decay': 0.0, 'momentum': 0.0, 'nesterov': False}}
    """
    custom = custom_names(custom_objects)
    canonical = normalize(config, custom_objects=custom, unknown_keys=unknown_keys)
    return write_target(canonical, family, strict=strict, custom=custom)[0]


def write_target(
    canonical: Mapping[str, Any], target: str, *, strict: bool = False, custom: Collection[str] = ()
) -> Tuple[Dict[str, Any], str]:
    """:func:`to_native` of an already canonical dict, and the generation written.

    For a release with a second namespace (``Release.also``: TF 2.9-2.12
    ``optimizers.experimental``) that namespace's dict is written where the
    generation's own class would lose a setting (:func:`first_lossless`).
    Refusals and lossy warnings name the release asked for.
    """
    if target in T.FAMILIES:
        return write(canonical, target, strict=strict, custom=custom), target
    release = resolve_target(target)
    name = target.strip().lower().replace("-", "_")
    _check_release_classes(canonical, name, release, custom)
    accepts = _release_accepts(release)
    own = release.spelling or T.FAMILIES[release.generation]
    spellings = [(release.generation, own)] + ([release.also] if release.also else [])

    def writer(spelling: Tuple[str, T.Family], strict: bool) -> _Writer:
        return _Writer(spelling[0], strict, accepts, custom, spelling=spelling[1], release=name)

    chosen = first_lossless(spellings, lambda spelling: writer(spelling, True).optimizer(canonical))
    return writer(chosen, strict).optimizer(canonical), chosen[0]


def _check_release_classes(canonical: Mapping[str, Any], name: str, release: T.Release, custom: Collection[str]) -> None:
    """UnsupportedClassError for an optimizer or schedule the release lacks (not the caller's own classes)."""
    inner = canonical["config"].get("inner_optimizer", canonical) if canonical["class_name"] == T.LOSS_SCALE_CLASS else canonical
    lr = inner["config"].get("learning_rate")
    for cls in (inner["class_name"], lr.get("class_name") if isinstance(lr, abc.Mapping) else None):
        if cls in release.lacks and cls not in custom:
            raise cannot_load(name, cls, release.generation)
