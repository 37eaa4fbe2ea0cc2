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
from typing import Any, Dict, List

from . import _tables as T
from ._errors import ConversionWarning, KerasOptCompatError, UnsupportedClassError, installed_versions
from ._normalize import normalize
from ._optional import is_installed
from ._write import write


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
    from ._install import installed
    from ._live import deserialize, serialize

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


def run_check() -> Dict[str, Any]:
    """The report that ``kerasopt-compat check`` prints (``--json``: as is)."""
    from . import __version__

    problems: List[str] = []
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
        from ._flavour import flavour

        try:
            fl = flavour()
        except KerasOptCompatError as exc:
            problems.append("cannot use the installed TensorFlow/Keras: %s" % exc)
        else:
            flavour_text = fl.describe()
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
        "problems": problems,
        "ok": not problems,
    }
