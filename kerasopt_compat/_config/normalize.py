"""The read edge: any native optimizer dict -> the canonical dict.

Pure Python. Imports neither TensorFlow, Keras nor numpy, and never resolves
a name found in a config: ``module``/``registered_name`` are ignored,
``class_name`` is only looked up in the tables of :mod:`._tables` and in the
caller's ``custom_objects``.
"""

from __future__ import annotations

import functools
import json
import math
import re
import warnings
from collections import abc
from itertools import repeat
from typing import Any, Collection, Container, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple, Union

from .._errors import (
    NOTHING_INSTALLED,
    ConfigTypeError,
    InvalidConfigError,
    KerasOptCompatError,
    UnknownClassError,
    UnknownKeyError,
    UnknownKeyWarning,
    installed_versions,
)
from . import tables as T
from .values import MAX_INT, canonical_float, fits_float32, unwrap_numpy

CustomObjects = Optional[Union[Mapping[str, Any], Iterable[str]]]

#: ``unknown_keys`` values: ``"error"`` (the default: a config is untrusted
#: input) or ``"keep"`` (a dict written by a Keras newer than the tables).
UNKNOWN_KEYS_MODES = ("error", "keep")

#: Deepest nesting accepted in a pass-through (custom class) config.
MAX_DEPTH = 64
_CUSTOM_PREFIX = "Custom>"
#: What to do about an unknown class, from Python (the command line says ``--custom``).
CUSTOM_HINT = "if it is your own class, pass it in custom_objects"
#: What to do about an unknown key, from Python (the command line says ``--unknown-keys keep``).
UNKNOWN_KEYS_HINT = "if a Keras newer than kerasopt_compat wrote it, pass unknown_keys='keep' to keep it"
_AUTO_SUFFIX = re.compile(r"_\d+$")
#: What an optimizer class passed through under ``unknown_keys="keep"`` may be called.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LR = T.Key("learning_rate", None, "lr")
#: Kinds whose plain ``float`` value is read by :func:`_float` alone (the fast path of :func:`coerce`).
_FLOAT_KINDS = frozenset(["float", "opt_float", "lr", "number", "opt_number"])
_MISSING = object()


class Reading(NamedTuple):
    """How one read treats what the tables lack (built by :func:`reading`)."""

    #: class names the caller lets through unchanged (``custom_objects``)
    custom: Collection[str]
    #: keep keys the tables lack (after the known keys) instead of raising
    keep: bool = False
    #: optimizer classes the tables lack that may pass through when ``keep``:
    #: these exact names, or (None) any plain identifier
    classes: Optional[Container[str]] = None
    #: class name -> constructor defaults of the installed class; a kept key
    #: equal to its default is left out (the live ``serialize``)
    defaults: Optional[Mapping[str, Mapping[str, Any]]] = None


def reading(
    custom_objects: CustomObjects = None,
    unknown_keys: str = "error",
    *,
    classes: Optional[Container[str]] = None,
    defaults: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> Reading:
    """Check ``unknown_keys`` and build the :class:`Reading` for one read."""
    if unknown_keys not in UNKNOWN_KEYS_MODES:
        raise InvalidConfigError(
            "unknown_keys must be one of %s" % ", ".join(repr(m) for m in UNKNOWN_KEYS_MODES),
            value=unknown_keys,
            has_value=True,
        )
    return Reading(custom_names(custom_objects), unknown_keys == "keep", classes, defaults)


#: The default read: no custom classes, unknown keys rejected.
_PLAIN = Reading(frozenset())


def read(config: Mapping[str, Any], how: Reading) -> Dict[str, Any]:
    """:func:`normalize` with a prepared :class:`Reading` (the live path's entry)."""
    return _read_optimizer(config, how, nested=False)


#: class -> its keys: TF 2.9's (OPTIMIZERS) and later ones (OPTIMIZER_EXTRAS)
_OPTIMIZER_KEYS: Dict[str, Dict[str, T.Key]] = {
    cls: {k.name: k for k in keys + T.OPTIMIZER_EXTRAS.get(cls, ())} for cls, keys in T.OPTIMIZERS.items()
}
_OPTION_KEYS: Dict[str, T.Key] = {k.name: k for k in T.OPTIONS}


def _raw_key_table() -> Dict[str, Dict[str, Tuple[str, T.Key, bool]]]:
    """class -> native key -> (canonical key, its row, whether a plain float value
    is read by :func:`_canonical_number` alone): the class's keys, the options and
    their aliases in one lookup (built from the tables above)."""
    out: Dict[str, Dict[str, Tuple[str, T.Key, bool]]] = {}
    for cls, keys in _OPTIMIZER_KEYS.items():
        table = {
            name: (name, spec, spec.kind in _FLOAT_KINDS and not spec.neutral) for name, spec in {**_OPTION_KEYS, **keys}.items()
        }
        aliases = dict(T.KEY_ALIASES, **{raw: key for (c, raw), key in T.CLASS_KEY_ALIASES.items() if c == cls})
        table.update((raw, table[key]) for raw, key in aliases.items() if key in table)
        out[cls] = table
    return out


_RAW_KEYS = _raw_key_table()
_LOSS_SCALE_KEYS: Dict[str, T.Key] = {k.name: k for k in T.LOSS_SCALE_KEYS + T.LOSS_SCALE_EXTRAS + T.OPTIONS}
_OPTIMIZER_BY_LOWER: Dict[str, str] = {
    name.lower(): name for name in list(T.OPTIMIZERS) + [T.LOSS_SCALE_CLASS, T.MULTI_CLASS] + list(T.CLASS_ALIASES)
}


def custom_names(custom_objects: CustomObjects) -> Collection[str]:
    """The class names a caller lets through (keys of a mapping, or names)."""
    if custom_objects is None:
        return frozenset()
    if isinstance(custom_objects, str):
        raise ConfigTypeError("custom_objects must be a mapping or a collection of names, not a string")
    names = list(custom_objects.keys() if isinstance(custom_objects, abc.Mapping) else custom_objects)
    for name in names:
        if not isinstance(name, str):
            raise ConfigTypeError("custom_objects names must be strings", value=name, has_value=True)
    return frozenset(names)


def normalize(config: Mapping[str, Any], *, custom_objects: CustomObjects = None, unknown_keys: str = "error") -> Dict[str, Any]:
    """Return the canonical (TF 2.9 documented) form of a serialized optimizer.

    Reads the dicts of every TF/Keras version (TF 1.15-2.10 legacy, the
    ``Custom>`` dicts of 2.9-2.11, 2.13-2.15/tf_keras dicts with ``module``,
    ``registered_name``, ``is_legacy_optimizer``, ``jit_compile``, Keras 3
    dicts with auto-numbered names, LossScaleOptimizer dicts of each
    generation). Never mutates ``config``; the result is JSON-native, has a
    deterministic key order and ``normalize(normalize(c)) == normalize(c)``.

    Classes named in ``custom_objects`` (a mapping such as Keras'
    ``custom_objects``, or just a collection of names) are let through with
    their config made JSON-native but otherwise unchanged.

    ``unknown_keys="keep"`` reads a dict written by a Keras newer than
    kerasopt_compat: a key the tables lack (a JSON scalar or a list of them)
    is kept after the known keys, in input order, and an optimizer class they
    lack passes through (bare name, options by the usual rule, the other keys
    in input order), each with an :class:`~kerasopt_compat.UnknownKeyWarning`.
    The default ``"error"`` raises :class:`~kerasopt_compat.UnknownKeyError` /
    :class:`~kerasopt_compat.UnknownClassError`.

    >>> normalize({'class_name': 'Custom>SGD',
    ...            'config': {'name': 'sgd_3', 'learning_rate': 0.009999999776482582,
    ...                       'is_legacy_optimizer': False}})
    {'class_name': 'SGD', 'config': {'name': 'SGD', 'learning_rate': 0.01, 'decay': 0.0, 'momentum': 0.0, 'nesterov': False}}

    Raises :class:`~kerasopt_compat.InvalidConfigError` (a ``ValueError``) or
    :class:`~kerasopt_compat.ConfigTypeError` (a ``TypeError``) naming the
    class, key and value at fault.
    """
    how = _PLAIN if custom_objects is None and unknown_keys == "error" else reading(custom_objects, unknown_keys)
    return read(config, how)


#: Deepest JSON nesting read. json's C scanner recurses once per level; where the
#: recursion limit was raised (hypothesis does, inside its tests; so can an
#: application) a deeply nested text can overflow the C stack and abort the
#: interpreter instead of raising RecursionError. Keras configs nest a few dozen levels.
MAX_JSON_DEPTH = 500
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_too_deep(text: str) -> bool:
    """Whether JSON ``text`` nests deeper than :data:`MAX_JSON_DEPTH` (strings are not counted).

    >>> json_too_deep("[" * 600 + "]" * 600), json_too_deep('{"a": "[[[["}')
    (True, False)
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def parse_json(text: str) -> Any:
    """``json.loads`` for untrusted text, refusing (``ValueError``) JSON nested deeper than :data:`MAX_JSON_DEPTH`
    (the C scanner recurses per level: a deep document would exhaust the stack).

    >>> parse_json("[" * 600 + "]" * 600)
    Traceback (most recent call last):
    ...
    ValueError: JSON nested deeper than 500 levels
    """
    if json_too_deep(text):
        raise ValueError("JSON nested deeper than %d levels" % MAX_JSON_DEPTH)
    return json.loads(text)


def loads(text: Union[str, bytes], *, custom_objects: CustomObjects = None, unknown_keys: str = "error") -> Dict[str, Any]:
    """Parse stored JSON text and return the canonical dict (``unknown_keys`` as in :func:`normalize`).

    >>> loads('{"class_name": "SGD", "config": {"name": "SGD", "lr": 0.1}}')["config"]["learning_rate"]
    0.1
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidConfigError("config text is not UTF-8: %s" % exc) from None
    if not isinstance(text, str):
        raise ConfigTypeError("loads() takes JSON text (str or bytes)", value=text, has_value=True)
    if json_too_deep(text):
        raise InvalidConfigError("JSON text is nested too deeply (more than %d levels)" % MAX_JSON_DEPTH)
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except KerasOptCompatError:
        raise
    except RecursionError:
        raise InvalidConfigError("JSON text is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, int-digit limits
        raise InvalidConfigError("invalid JSON text: %s" % exc) from None
    return normalize(obj, custom_objects=custom_objects, unknown_keys=unknown_keys)


def dumps(
    config: Mapping[str, Any], *, custom_objects: CustomObjects = None, unknown_keys: str = "error", **json_kwargs: Any
) -> str:
    """Normalize ``config`` and return it as JSON text (``json.dumps`` kwargs allowed;
    ``unknown_keys`` as in :func:`normalize`).

    >>> dumps({'class_name': 'sgd', 'config': {'learning_rate': 0.1}})
    '{"class_name": "SGD", "config": {"name": "SGD", "learning_rate": 0.1, "decay": 0.0, "momentum": 0.0, "nesterov": false}}'
    """
    json_kwargs.setdefault("allow_nan", False)
    return json.dumps(normalize(config, custom_objects=custom_objects, unknown_keys=unknown_keys), **json_kwargs)


def _reject_constant(name: str) -> Any:
    raise InvalidConfigError("non-finite number in JSON text", value=name, has_value=True)


# --------------------------------------------------------------------------- envelopes


def _envelope(obj: Any, what: str) -> Tuple[str, Mapping[str, Any]]:
    """Check ``{'class_name': str, 'config': mapping, [module, registered_name]}``."""
    if not isinstance(obj, abc.Mapping):
        raise ConfigTypeError(
            "a serialized %s must be a dict with 'class_name' and 'config'" % what,
            value=obj,
            has_value=True,
        )
    raw = obj.get("class_name")
    if raw is None:
        raise InvalidConfigError("serialized %s has no 'class_name'" % what, key="class_name")
    if not isinstance(raw, str):
        raise ConfigTypeError("'class_name' must be a string", key="class_name", value=raw, has_value=True)
    _reject_model(obj, raw)
    for key in obj:
        if key not in ("class_name", "config") and key not in T.IGNORED_TOP_LEVEL:
            raise UnknownKeyError("unexpected top-level key in serialized %s" % what, class_name=raw, key=_key_repr(key))
    if "config" not in obj:
        raise InvalidConfigError("serialized %s has no 'config'" % what, class_name=raw, key="config")
    config = obj["config"]
    if not isinstance(config, abc.Mapping):
        raise ConfigTypeError("'config' must be a dict", class_name=raw, key="config", value=config, has_value=True)
    for key in config:
        if not isinstance(key, str):
            raise ConfigTypeError("config keys must be strings", class_name=raw, value=key, has_value=True)
    return raw, config


def _reject_model(obj: Mapping[str, Any], raw: str) -> None:
    """A whole model's config fed where an optimizer belongs: say so."""
    config = obj.get("config")
    if not (set(obj) & T.MODEL_TOP_LEVEL or (isinstance(config, abc.Mapping) and T.MODEL_CONFIG_KEY in config)):
        return
    raise InvalidConfigError(
        "this is a model config (class %r), not an optimizer" % raw,
        hint="its optimizer is stored under 'compile_config' -> 'optimizer' (.keras config.json) "
        "or 'training_config' -> 'optimizer_config' (.h5, TF.js model.json)",
    )


def _key_repr(key: Any) -> str:
    return key if isinstance(key, str) else repr(key)


def _strip_prefix(raw: str) -> str:
    return raw[len(_CUSTOM_PREFIX) :] if raw.startswith(_CUSTOM_PREFIX) else raw


def user_registration(obj: Mapping[str, Any]) -> Optional[str]:
    """The ``package>Name`` under which a user registered the class of a serialized
    object, or None when it names (or claims to name) a Keras class.

    ``registered_name: 'p>Adam'`` (Keras 2.13+, Keras 3) or ``class_name: 'p>Adam'``
    (TF <= 2.12) is a user class even though ``Adam`` is a Keras name; Keras' own
    ``Custom>SGD`` class names (:data:`._tables.KERAS_CLASS_PACKAGES`) are not.
    Pure: the strings are compared, never resolved.

    >>> user_registration({'class_name': 'Adam', 'registered_name': 'p>Adam', 'config': {}})
    'p>Adam'
    >>> user_registration({'class_name': 'Custom>Adam', 'config': {}}) is None
    True
    """
    for key in ("registered_name", "class_name"):
        value = obj.get(key)
        if isinstance(value, str) and ">" in value:
            if key == "registered_name" or value.split(">", 1)[0] not in T.KERAS_CLASS_PACKAGES:
                return value
    return None


def _custom_class_name(obj: Mapping[str, Any], raw: str, custom: Collection[str], what: str) -> Optional[str]:
    """The canonical name of a caller's class, or None for a Keras class.

    A class is the caller's when ``custom_objects`` names it by its registered
    name (kept as the canonical ``class_name``, so the user's class is never
    mistaken for Keras' own later) or by its class name. A user registration
    that ``custom_objects`` does not name raises :class:`UnknownClassError`.
    """
    user = user_registration(obj)
    if user is None:
        bare = _strip_prefix(raw)
        return bare if raw in custom or bare in custom else None
    if user in custom:
        return user
    short = user.split(">", 1)[1]
    if raw in custom or short in custom:
        return short
    raise UnknownClassError(
        "a user-registered %s class, not Keras' own %s: kerasopt_compat never resolves registrations; "
        "pass the class in custom_objects under its registered or class name" % (what, short),
        class_name=raw,
        key="registered_name",
        value=user,
        has_value=True,
    )


def legacy_hint(config: Any) -> Optional[bool]:
    """Which namespace a native dict says it was written from: True for
    ``optimizers.legacy`` (``is_legacy_optimizer: true`` or a ``module`` ending in
    ``.legacy``), False when it names another (``is_legacy_optimizer: false``, another
    ``module``), None when it does not say. For a LossScaleOptimizer: its inner
    optimizer's. Only a hint for choosing among the installed classes; the module is
    never imported and the canonical dict does not keep it.

    >>> legacy_hint({'module': 'keras.optimizers.legacy', 'class_name': 'Adam', 'config': {}})
    True
    >>> legacy_hint({'class_name': 'Adam', 'config': {'is_legacy_optimizer': False}})
    False
    >>> legacy_hint({'class_name': 'Adam', 'config': {}}) is None
    True
    """
    if not isinstance(config, abc.Mapping):
        return None
    inner = config.get("config")
    inner = inner if isinstance(inner, abc.Mapping) else {}
    raw = config.get("class_name")
    name = _OPTIMIZER_BY_LOWER.get(_strip_prefix(raw).lower()) if isinstance(raw, str) else None
    if T.CLASS_ALIASES.get(name or "", name) == T.LOSS_SCALE_CLASS:
        return legacy_hint(inner.get("inner_optimizer"))
    flag = unwrap_numpy(inner.get(T.LEGACY_FLAG))
    if isinstance(flag, bool):
        return flag
    module = config.get("module")
    if isinstance(module, str):
        return module.endswith(T.LEGACY_MODULE_SUFFIX)
    return None


def _resolve_optimizer_class(obj: Mapping[str, Any], raw: str, how: Reading) -> Tuple[str, str]:
    """Return (canonical class name, "table" | "custom" | "passthrough")."""
    custom_name = _custom_class_name(obj, raw, how.custom, "optimizer")
    if custom_name is not None:
        return custom_name, "custom"
    bare = _strip_prefix(raw)
    name = _OPTIMIZER_BY_LOWER.get(bare.lower())
    if name is None:
        if how.keep and (bare in how.classes if how.classes is not None else _IDENTIFIER.match(bare)):
            return bare, "passthrough"
        raise UnknownClassError(
            "unknown optimizer class; known classes are %s"
            % ", ".join(sorted(T.OPTIMIZERS) + [T.LOSS_SCALE_CLASS, T.MULTI_CLASS]),
            class_name=raw,
            hint=CUSTOM_HINT,
        )
    return T.CLASS_ALIASES.get(name, name), "table"


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


@functools.lru_cache(maxsize=1024)
def _is_auto_name(name: Any, cls: str) -> bool:
    if name is None:
        return True
    bare = _AUTO_SUFFIX.sub("", _strip_prefix(name))
    return _squash(bare) == _squash(cls)


def _read_name(value: Any, cls: str) -> str:
    value = unwrap_numpy(value)
    if value is not None and not isinstance(value, str):
        raise ConfigTypeError("'name' must be a string", class_name=cls, key="name", value=value, has_value=True)
    return cls if value is None or _is_auto_name(value, cls) else value


# --------------------------------------------------------------------------- optimizers


def _read_optimizer(obj: Any, how: Reading, *, nested: bool) -> Dict[str, Any]:
    raw, config = _envelope(obj, "optimizer")
    cls, kind = _resolve_optimizer_class(obj, raw, how)
    if kind == "custom":
        return {"class_name": cls, "config": plain(config, cls)}
    if kind == "passthrough":
        return _read_passthrough(cls, config, how)
    if cls in (T.LOSS_SCALE_CLASS, T.MULTI_CLASS):
        if nested:
            raise InvalidConfigError("a %s cannot be wrapped by LossScaleOptimizer or MultiOptimizer" % cls, class_name=raw)
        return _read_loss_scale(config, how) if cls == T.LOSS_SCALE_CLASS else _read_multi(config, how)
    return _read_table_class(cls, config, how)


def read_known(
    cls: str, config: Mapping[str, Any], how: Reading, memo: Optional[Dict[Any, Dict[str, Any]]] = None
) -> Dict[str, Any]:
    """:func:`read` of ``{"class_name": cls, "config": config}``, built by the caller
    (the live ``serialize``) from a class name it already resolved.

    For a class of the tables that ``how.custom`` does not name, and a ``dict``
    config with string keys and no model key, what :func:`read` would check about
    the envelope and the class name holds by construction: go straight to the
    class's keys. Anything else goes through :func:`read`. Same result either way.

    ``memo`` (the caller's, for this ``how`` only): canonical configs by the exact
    input (every key, value and value type), for configs of plain scalars whose read
    kept nothing the tables lack (so warned about nothing) and gave plain scalars;
    a config seen before is then copied, not read again.
    """
    if not (
        type(config) is dict
        and cls in _OPTIMIZER_KEYS
        and cls not in how.custom
        and T.MODEL_CONFIG_KEY not in config
        and all(map(isinstance, config, repeat(str)))
    ):
        return read({"class_name": cls, "config": config}, how)
    if memo is None:
        return _read_table_class(cls, config, how)
    types = tuple(map(type, config.values()))
    if not _SCALAR_TYPES.issuperset(types):
        return _read_table_class(cls, config, how)
    key = (cls, tuple(config.items()), types)  # the types: 1, 1.0 and True are equal keys
    known = memo.get(key)
    if known is not None:
        return {"class_name": cls, "config": dict(known)}
    out, kept = _table_config(cls, config, how)
    if not kept and _SCALAR_TYPES.issuperset(map(type, out.values())):
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[key] = dict(out)
    out.update(kept)
    return {"class_name": cls, "config": out}


#: Types of the values :func:`read_known` remembers (immutable, compared exactly with their type).
_SCALAR_TYPES = frozenset([type(None), bool, int, float, str])
#: Configs :func:`read_known` remembers per ``memo``.
_MEMO_SIZE = 64


def _read_table_class(cls: str, config: Mapping[str, Any], how: Reading) -> Dict[str, Any]:
    """An optimizer of a class of the tables (``cls``: its canonical name)."""
    out, kept = _table_config(cls, config, how)
    out.update(kept)
    return {"class_name": cls, "config": out}


def _table_config(cls: str, config: Mapping[str, Any], how: Reading) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(the canonical config of a class of the tables but for the keys the tables lack,
    those keys: kept, each with a warning)."""
    keys = _OPTIMIZER_KEYS[cls]
    lookup = _RAW_KEYS[cls]
    values: Dict[str, Any] = {}
    given_as: Dict[str, str] = {}  # canonical key -> the native key that gave it
    kept: Dict[str, Any] = {}
    name: Any = None
    for raw_key, raw_value in config.items():
        found = lookup.get(raw_key)
        if found is None:
            if raw_key == "name":
                name = raw_value
            elif raw_key not in T.DROPPED_KEYS:
                _keep(kept, cls, raw_key, raw_value, how, "unknown key for this optimizer")
            continue
        key, spec, plain_float = found
        if key in given_as:
            raise InvalidConfigError(
                "config gives %r twice (as %r and %r)" % (key, given_as[key], raw_key), class_name=cls, key=raw_key
            )
        given_as[key] = raw_key
        if plain_float and type(raw_value) is float:
            number = _canonical_number(raw_value)  # coerce()'s fast path, without the call
            if number is not None:
                values[key] = number
                continue
        values[key] = coerce(spec, raw_value, cls, how)
    out: Dict[str, Any] = {"name": _read_name(name, cls)}
    out.update(_set_options(values, skip=keys))  # skip: AdamW's weight_decay is a class key
    for spec in T.OPTIMIZERS[cls]:
        key = spec.name
        out[key] = values[key] if key in values else emit_default(spec)
    for spec in T.OPTIMIZER_EXTRAS.get(cls, ()):
        if values.get(spec.name, spec.default) != spec.default:
            out[spec.name] = values[spec.name]
    return out, kept


def _read_passthrough(cls: str, config: Mapping[str, Any], how: Reading) -> Dict[str, Any]:
    """An optimizer class the tables lack: bare name, the OPTIONS by the usual
    rule, the learning rate read as usual, every other key kept in input order."""
    _warn_unknown(cls, None)
    values: Dict[str, Any] = {}
    rest: Dict[str, Any] = {}
    name, entries = _name_and_entries(config)
    for raw_key, raw_value in entries:
        key = T.KEY_ALIASES.get(raw_key, raw_key)
        if key in values or key in rest:
            raise InvalidConfigError("config gives %r twice (as 'lr' and 'learning_rate')" % key, class_name=cls, key=raw_key)
        spec = _OPTION_KEYS.get(key)
        if spec is not None:
            values[key] = coerce(spec, raw_value, cls, how)
        elif key == _LR.name:
            rest[key] = coerce(_LR, raw_value, cls, how)
        else:
            rest[key] = _kept_value(raw_value, cls, key)
    out: Dict[str, Any] = {"name": _read_name(name, cls)}
    out.update(_set_options(values))
    out.update(rest)
    return {"class_name": cls, "config": out}


def _name_and_entries(config: Mapping[str, Any]) -> Tuple[Any, List[Tuple[str, Any]]]:
    """(the config's ``name`` or None, its other entries in input order, DROPPED_KEYS left out)."""
    entries = [(key, value) for key, value in config.items() if key != "name" and key not in T.DROPPED_KEYS]
    return config.get("name"), entries


def _keep(kept: Dict[str, Any], cls: str, key: str, value: Any, how: Reading, why: str) -> None:
    """Add a key the tables lack to ``kept`` (or raise UnknownKeyError unless keeping).

    With ``how.defaults`` (the live ``serialize``), a key equal to the
    installed constructor's default is left out: the dict rebuilds the same
    optimizer without it.
    """
    if not how.keep:
        raise UnknownKeyError(why, class_name=cls, key=key, value=value, has_value=True, hint=UNKNOWN_KEYS_HINT)
    out = _kept_value(value, cls, key)
    default = (how.defaults or {}).get(cls, {}).get(key, _MISSING)
    if default is not _MISSING and _same_value(out, default, cls, key):
        return
    _warn_unknown(cls, key)
    kept[key] = out


def _same_value(value: Any, default: Any, cls: str, key: str) -> bool:
    try:
        other = _kept_value(default, cls, key)
    except KerasOptCompatError:
        return False
    return value == other and isinstance(value, bool) == isinstance(other, bool)


def _kept_value(value: Any, cls: str, key: str) -> Any:
    """A key the tables lack must hold a JSON scalar or a list of them."""
    value = unwrap_numpy(value)
    if isinstance(value, (list, tuple)):
        return [_kept_scalar(unwrap_numpy(v), cls, key) for v in value]
    return _kept_scalar(value, cls, key)


def _kept_scalar(value: Any, cls: str, key: str) -> Any:
    out = _json_scalar(value, cls, key)
    if out is _MISSING:
        raise _type_error(cls, key, value, "a JSON scalar or a list of them (a key kerasopt_compat does not know)")
    return out


def _json_scalar(value: Any, cls: str, key: str) -> Any:
    """A JSON scalar (ints and floats checked as everywhere), or ``_MISSING`` for anything else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return _int(value, cls, key)
    if isinstance(value, float):
        return _float(value, cls, key)
    return _MISSING


def _warn_unknown(cls: str, key: Optional[str]) -> None:
    version = installed_versions()
    what = "optimizer class %r" % cls if key is None else "key %r of %s" % (key, cls)
    warning = UnknownKeyWarning(
        "kerasopt_compat does not know %s (%s): passed through as is; a newer kerasopt_compat may know it"
        % (what, version if version == NOTHING_INSTALLED else "installed: " + version)
    )
    warning.class_name, warning.key, warning.version = cls, key, version
    warnings.warn(warning, stacklevel=5)


def _read_loss_scale(config: Mapping[str, Any], how: Reading) -> Dict[str, Any]:
    cls = T.LOSS_SCALE_CLASS
    values: Dict[str, Any] = {}
    kept: Dict[str, Any] = {}
    for raw_key, raw_value in config.items():
        if raw_key in T.DROPPED_KEYS:
            continue
        spec = _LOSS_SCALE_KEYS.get(raw_key)
        if spec is None:
            _keep(kept, cls, raw_key, raw_value, how, "unknown key for LossScaleOptimizer")
            continue
        if raw_key == "name":
            name = _read_name(raw_value, cls)
            values["name"] = None if name == cls or _is_loss_scale_auto_name(raw_value) else name
            continue
        values[raw_key] = coerce(spec, raw_value, cls, how)
    if "inner_optimizer" not in values:
        raise InvalidConfigError("LossScaleOptimizer config has no 'inner_optimizer'", class_name=cls, key="inner_optimizer")
    out = {spec.name: values.get(spec.name, spec.default) for spec in T.LOSS_SCALE_KEYS}
    for spec in T.LOSS_SCALE_EXTRAS:
        if values.get(spec.name, spec.default) != spec.default:
            out[spec.name] = values[spec.name]
    out.update(_set_options(values))
    out.update(kept)
    return {"class_name": cls, "config": out}


def _read_multi(config: Mapping[str, Any], how: Reading) -> Dict[str, Any]:
    """MultiOptimizer: canonical (``default_optimizer`` + ``optimizer_map``) or
    Keras 3.15's native shape (both inside a serialized ``OptimizerMap``)."""
    cls = T.MULTI_CLASS
    values: Dict[str, Any] = {}
    kept: Dict[str, Any] = {}
    parts: Mapping[str, Any] = {}
    name, entries = _name_and_entries(config)
    for raw_key, raw_value in entries:
        if raw_key in ("default_optimizer", "optimizer_map"):
            parts = dict(parts, **{raw_key: raw_value})
        elif raw_key in _OPTION_KEYS:
            values[raw_key] = coerce(_OPTION_KEYS[raw_key], raw_value, cls, how)
        else:
            _keep(kept, cls, raw_key, raw_value, how, "unknown key for MultiOptimizer")
    if "default_optimizer" not in parts:  # Keras' own shape
        if "optimizer_map" not in parts:
            raise InvalidConfigError("MultiOptimizer config has no 'optimizer_map'", class_name=cls, key="optimizer_map")
        raw_map, parts = _envelope(parts["optimizer_map"], "OptimizerMap")
        if _strip_prefix(raw_map) != T.OPTIMIZER_MAP_CLASS:
            raise InvalidConfigError(
                "MultiOptimizer's optimizer_map must be a serialized OptimizerMap (a callable cannot be stored)",
                class_name=cls,
                key="optimizer_map",
                value=raw_map,
                has_value=True,
            )
        for key in parts:
            if key not in ("default_optimizer", "optimizer_map"):
                raise UnknownKeyError("unknown key for OptimizerMap", class_name=raw_map, key=key)
        if "default_optimizer" not in parts:
            raise InvalidConfigError("OptimizerMap has no 'default_optimizer'", class_name=raw_map, key="default_optimizer")
    patterns = parts.get("optimizer_map")
    patterns = {} if patterns is None else patterns
    if not isinstance(patterns, abc.Mapping):
        raise ConfigTypeError("'optimizer_map' must map patterns to optimizers", class_name=cls, key="optimizer_map")
    mapped: Dict[str, Any] = {}
    for pattern, optimizer in patterns.items():
        if not isinstance(pattern, str):
            raise ConfigTypeError("optimizer_map patterns must be strings", class_name=cls, value=pattern, has_value=True)
        mapped[pattern] = _read_optimizer(optimizer, how, nested=True)
    out: Dict[str, Any] = {"default_optimizer": _read_optimizer(parts["default_optimizer"], how, nested=True)}
    out["optimizer_map"] = mapped
    if _read_name(name, cls) != cls:
        out["name"] = _read_name(name, cls)
    out.update(_set_options(values))
    out.update(kept)
    return {"class_name": cls, "config": out}


def _set_options(values: Mapping[str, Any], skip: Collection[str] = ()) -> Dict[str, Any]:
    """The OPTIONS that differ from their default (and whose prerequisite is set), in table order."""
    out = {}
    for spec in T.OPTIONS:
        if spec.name in skip:
            continue
        value = values.get(spec.name, spec.default)
        needs = T.OPTION_REQUIRES.get(spec.name)
        if value != spec.default and (needs is None or values.get(needs)):
            out[spec.name] = value
    return out


def _is_loss_scale_auto_name(value: Any) -> bool:
    value = unwrap_numpy(value)
    if value is None:
        return True
    return isinstance(value, str) and _AUTO_SUFFIX.sub("", value) in T.LOSS_SCALE_AUTO_NAMES


# --------------------------------------------------------------------------- schedules


def _read_schedule(obj: Any, owner: str, how: Reading) -> Dict[str, Any]:
    raw, config = _envelope(obj, "learning-rate schedule")
    custom_name = _custom_class_name(obj, raw, how.custom, "learning-rate schedule")
    if custom_name is not None:
        return {"class_name": custom_name, "config": plain(config, custom_name)}
    cls = _strip_prefix(raw)
    spec = T.SCHEDULES.get(cls)
    if spec is None:
        raise UnknownClassError(
            "unknown learning-rate schedule of %s; known schedules are %s" % (owner, ", ".join(sorted(T.SCHEDULES))),
            class_name=raw,
            hint=CUSTOM_HINT,
        )
    keys = {k.name: k for k in spec.keys + spec.extras}
    values: Dict[str, Any] = {}
    kept: Dict[str, Any] = {}
    for key, raw_value in config.items():
        k = keys.get(key)
        if k is None:
            _keep(kept, cls, key, raw_value, how, "unknown key for this schedule")
            continue
        values[key] = coerce(k, raw_value, cls, how)
    if values.get("name") in spec.auto_names:
        values["name"] = None
    out: Dict[str, Any] = {}
    for k in spec.keys:
        if k.name in values:
            out[k.name] = values[k.name]
        elif k.default is T.REQUIRED:
            raise InvalidConfigError("schedule config lacks a required key", class_name=cls, key=k.name)
        else:
            out[k.name] = emit_default(k)
    for k in spec.extras:
        if k.name in values and values[k.name] != k.default:
            out[k.name] = values[k.name]
    out.update(kept)
    return {"class_name": cls, "config": out}


# --------------------------------------------------------------------------- values


def emit_default(spec: T.Key) -> Any:
    """The JSON-native form of a key's default."""
    return list(spec.default) if isinstance(spec.default, tuple) else spec.default


def _type_error(cls: str, key: str, value: Any, expected: str) -> ConfigTypeError:
    return ConfigTypeError("expected %s" % expected, class_name=cls, key=key, value=value, has_value=True)


def _float(value: Any, cls: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(cls, key, value, "a number")
    number = _canonical_number(value)
    if number is None:
        raise InvalidConfigError(
            "number is not finite or out of float32 range", class_name=cls, key=key, value=value, has_value=True
        )
    return number


@functools.lru_cache(maxsize=4096)  # hyperparameter values repeat across configs
def _canonical_number(value: Union[int, float]) -> Optional[float]:
    """The canonical float of a number, or None when it is not finite or beyond float32."""
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number) or not fits_float32(number):
        return None
    return canonical_float(number)


def _int(value: Any, cls: str, key: str) -> int:
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_INT:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(cls, key, value, "an integer")
    if abs(value) > MAX_INT:
        raise InvalidConfigError("integer out of range", class_name=cls, key=key, value=value, has_value=True)
    return value


def _number(value: Any, cls: str, key: str) -> Union[int, float]:
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value, cls, key)
    return _float(value, cls, key)


def _list(value: Any, cls: str, key: str, item: Any) -> list:
    if not isinstance(value, (list, tuple)):
        raise _type_error(cls, key, value, "a list")
    return [item(unwrap_numpy(v), cls, key) for v in value]


def _str(value: Any, cls: str, key: str) -> str:
    if not isinstance(value, str):
        raise _type_error(cls, key, value, "a string")
    return value


def coerce(spec: T.Key, value: Any, cls: str, how: Reading) -> Any:
    """Check one value against its table row and return its canonical form."""
    tp = type(value)
    kind = spec.kind
    # Fast paths for the values most configs hold, with the same result as the general path below:
    # a plain float for a float key, None for an optional key, a bool for a bool key.
    if tp is float and kind in _FLOAT_KINDS:
        number = _canonical_number(value)
        if number is None:
            number = _float(value, cls, spec.name)  # raises, naming the key
        return emit_default(spec) if spec.neutral and number in spec.neutral else number
    if value is None and kind.startswith("opt_"):
        return None
    if tp is bool and kind == "bool":
        return value
    value = unwrap_numpy(value)
    key = spec.name
    if kind.startswith("opt_") and value is None:
        return None
    if value is None and None in spec.neutral:
        return emit_default(spec)
    if kind in ("opt_float", "float"):
        out: Any = _float(value, cls, key)
    elif kind == "lr":
        out = _read_schedule(value, cls, how) if isinstance(value, abc.Mapping) else _float(value, cls, key)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(cls, key, value, "true or false")
        out = value
    elif kind in ("int", "opt_int"):
        out = _int(value, cls, key)
    elif kind in ("number", "opt_number"):
        out = _number(value, cls, key)
    elif kind == "number_list":
        out = _list(value, cls, key, _number)
    elif kind == "str_list":
        out = [] if value is None else _list(value, cls, key, _str)
    elif kind == "opt_name":
        out = _str(value, cls, key)
    elif kind == "optimizer":
        out = _read_optimizer(value, how, nested=True)
    else:  # pragma: no cover - a table row with a kind this module lacks
        raise AssertionError("unknown kind %r" % kind)
    if out in spec.neutral and not isinstance(out, bool):
        return emit_default(spec)
    return out


def plain(value: Any, cls: str, key: str = "config", depth: int = 0) -> Any:
    """Deep-copy JSON-like data into JSON-native types (custom pass-through)."""
    if depth > MAX_DEPTH:
        raise InvalidConfigError("config nested deeper than %d levels" % MAX_DEPTH, class_name=cls, key=key)
    value = unwrap_numpy(value)
    scalar = _json_scalar(value, cls, key)
    if scalar is not _MISSING:
        return scalar
    if isinstance(value, abc.Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigTypeError("config keys must be strings", class_name=cls, value=k, has_value=True)
            out[k] = plain(v, cls, k, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [plain(v, cls, key, depth + 1) for v in value]
    raise _type_error(cls, key, value, "a JSON value (dict, list, string, number, bool or null)")
