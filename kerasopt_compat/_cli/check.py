"""``kerasopt-compat check``: does kerasopt_compat work with what is installed here?

The pure path (always): every canonical class with default and non-default
values goes through ``to_native`` for each generation and back through
``normalize`` unchanged. The live path (when TensorFlow or Keras imports):
every optimizer class of the installed flavour is built, ``serialize``\\ d,
``deserialize``\\ d and serialized again; with ``install()`` active the public
``optimizers.serialize``/``deserialize`` must give the same.
"""

from __future__ import annotations

import platform
import warnings
from typing import Any, Dict, Iterable, List, Set, Tuple

from .. import __version__, fixes
from .._config import normalize as _normalize
from .._config import tables as T
from .._config.normalize import normalize
from .._config.write import write
from .._errors import ConversionWarning, KerasOptCompatError, UnsupportedClassError, installed_versions
from .._keras import flavour as F
from .._keras.flavour import flavour
from .._keras.install import installed
from .._keras.live import deserialize, serialize
from .._optional import is_installed


def _canonical(cls: str) -> Dict[str, Any]:
    """A canonical dict of ``cls`` with every float hyperparameter moved off its default."""
    config: Dict[str, Any] = {"learning_rate": 0.125}
    for spec in T.OPTIMIZERS[cls][1:]:
        if spec.kind == "float" and spec.name != "decay" and isinstance(spec.default, float):
            config[spec.name] = spec.default / 2 if spec.default else 0.25
    return normalize({"class_name": cls, "config": config})


def _pure_row(cls: str) -> Dict[str, str]:
    row = {"class": cls}
    canonical = _canonical(cls)
    for family, fam in T.FAMILIES.items():
        if cls not in fam.classes:
            row[family] = "-"
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)
            back = normalize(write(canonical, family))
        row[family] = "ok" if back == canonical else "DIFFERS"
    return row


def _live_row(fl: Any, cls: str) -> Dict[str, str]:

    row = {"class": cls}
    try:
        target = fl.optimizer_class(cls)
    except UnsupportedClassError:
        row["serialize/deserialize"] = row["install()"] = "-"
        return row
    opt = target.cls()
    first = serialize(opt)
    again = serialize(deserialize(first))
    row["serialize/deserialize"] = "ok" if again == first else "DIFFERS"
    with installed():
        public = fl.keras.optimizers
        same = public.serialize(opt) == first and serialize(public.deserialize(first)) == first
    row["install()"] = "ok" if same else "DIFFERS"
    return row


#: Constructor parameters of installed classes that are not settings the
#: tables need, and why (``newer_than_tables`` skips them).
NOT_SETTINGS: Dict[Tuple[str, str], str] = {
    ("*", "name"): "the optimizer name (always the first canonical key)",
    # TF 2.9/2.10 optimizers.experimental.SGD names amsgrad, ignores it and
    # leaves it out of get_config() (a TF bug, fixed in 2.11)
    ("SGD", "amsgrad"): "ignored by TF 2.9/2.10 experimental SGD",
}


def _known_keys(cls: str, family: str) -> Set[str]:
    """The native keys ``normalize`` reads for ``cls`` (its own table), the dropped
    ones, and the kwargs ``family`` renames for it (read at call time: tests patch the table)."""
    keys = set(_normalize._RAW_KEYS[cls]) | set(T.DROPPED_KEYS)
    return keys | {kwarg for (c, _), kwarg in T.FAMILIES[family].kwarg_renames.items() if c == cls}


def _missing(cls: str, keys: Iterable[str], known: Set[str]) -> List[str]:
    return sorted(k for k in keys if k not in known and ("*", k) not in NOT_SETTINGS and (cls, k) not in NOT_SETTINGS)


def newer_than_tables(fl: Any) -> List[str]:
    """What the installed Keras has that kerasopt_compat's tables lack, one line each.

    Public optimizer classes the tables do not list (passed through by
    ``serialize``/``deserialize``), and keys that the constructors (and
    default ``get_config()``) of the optimizer classes, schedules and
    LossScaleOptimizer take but the tables do not know (kept, with
    :class:`UnknownKeyWarning`). Empty when the tables cover the installed
    release; CI runs this in every tox env (tests/test_forward_compat.py).
    """

    found: List[str] = []
    for name in sorted(F._public_classes(fl)):
        if name in fl.passthrough_names():
            found.append("optimizer class %s" % name)
    families = set()
    for name in T.OPTIMIZERS:
        try:
            targets = fl.optimizer_candidates(name)
        except UnsupportedClassError:
            continue
        for target in targets:
            families.add(target.family)
            where = "%s.%s" % (target.cls.__module__, target.cls.__name__)
            keys = set(fixes.named_parameters(target.cls)) | set(target.cls().get_config())
            for key in _missing(name, keys, _known_keys(name, target.family)):
                found.append("%s: key %r" % (where, key))
    schedules = fl.keras.optimizers.schedules
    for name, spec in T.SCHEDULES.items():
        cls = fixes.namespace_attr(schedules, name)
        if isinstance(cls, type):
            for key in _missing(name, fixes.named_parameters(cls), {k.name for k in spec.keys + spec.extras}):
                found.append("schedules.%s: key %r" % (name, key))
    known = {k.name for k in T.LOSS_SCALE_KEYS + T.LOSS_SCALE_EXTRAS + T.OPTIONS} | set(T.DROPPED_KEYS)
    for family in sorted(families):
        sgd = next(t.cls for t in fl.optimizer_candidates("SGD") if t.family == family)
        lso = fl.loss_scale_class(family)(sgd())
        lso_class: Any = type(lso)  # TF <= 2.10: a metaclass may pick another class
        keys = set(fixes.named_parameters(lso_class)) | set(lso.get_config())
        for key in _missing(T.LOSS_SCALE_CLASS, keys, known):
            found.append("%s.%s: key %r" % (lso_class.__module__, lso_class.__name__, key))
    return found


def run_check() -> Dict[str, Any]:
    """The report that ``kerasopt-compat check`` prints (``--json``: as is)."""

    problems: List[str] = []
    newer: List[str] = []
    rows: Dict[str, Dict[str, str]] = {cls: {"class": cls} for cls in T.OPTIMIZERS}
    columns = list(T.FAMILIES)
    for cls in T.OPTIMIZERS:
        rows[cls].update(_pure_row(cls))
    note = "pure path (normalize/to_native for %s): checked" % ", ".join(T.FAMILIES)
    live = is_installed("tensorflow") or is_installed("keras")
    flavour_text = None
    if not live:
        note += "; no TensorFlow or Keras installed, so serialize/deserialize/install() were not checked"
    else:
        try:
            fl = flavour()
        except KerasOptCompatError as exc:
            problems.append("cannot use the installed TensorFlow/Keras: %s" % exc)
        else:
            flavour_text = fl.describe()
            try:
                newer = newer_than_tables(fl)
            except Exception as exc:  # noqa: BLE001 - a check reports every failure, whatever it is
                problems.append("comparing the installed classes with the tables: %s: %s" % (type(exc).__name__, exc))
            columns += ["serialize/deserialize", "install()"]
            for cls in T.OPTIMIZERS:
                try:
                    rows[cls].update(_live_row(fl, cls))
                except Exception as exc:  # noqa: BLE001 - a check reports every failure, whatever it is
                    rows[cls].update({"serialize/deserialize": "ERROR", "install()": "ERROR"})
                    problems.append("%s: %s: %s" % (cls, type(exc).__name__, exc))
            note += "; live path on %s: checked" % flavour_text
    for row in rows.values():
        for col in columns:
            row.setdefault(col, "-")
            if row[col] in ("DIFFERS", "ERROR") and not any(p.startswith(row["class"] + ":") for p in problems):
                problems.append("%s: %s round trip %s" % (row["class"], col, row[col].lower()))
    return {
        "kerasopt_compat": __version__,
        "python": platform.python_version(),
        "installed": installed_versions(),
        "flavour": flavour_text,
        "note": note,
        "columns": columns,
        "rows": list(rows.values()),
        "newer_than_tables": newer,
        "problems": problems,
        "ok": not problems,
    }
