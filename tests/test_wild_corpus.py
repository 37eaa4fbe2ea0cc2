"""Optimizer dicts that Keras itself wrote into public projects' model files.

The corpus is third-party data and is not part of this repository: set
``KOC_WILD_CORPUS`` to a JSON Lines file with one record per line (``repo``,
``path``, ``commit``, ``keras_version``, ``source``, ``optimizer`` as stored).
``.ci/run`` sets it when the reference data sits beside the checkout; without
it the test skips, saying so.

Every record must normalize, and every setting of the input must reappear in
the canonical dict with the same value (float32-equal), read with its meaning:
``lr`` is ``learning_rate``, Nadam's ``schedule_decay`` is its ``decay``;
names and the routing flags ``is_legacy_optimizer``/``jit_compile`` aside, and
an option left at its default may be omitted.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any, Dict, Iterator, Mapping, Tuple

import pytest

from kerasopt_compat import normalize
from kerasopt_compat._config import tables as T

ENV_VAR = "KOC_WILD_CORPUS"
_NAMELESS = {"name"} | set(T.DROPPED_KEYS)
_OPTION_DEFAULTS = {k.name: k.default for k in T.OPTIONS}


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or _f32(float(a)) == _f32(float(b)) or math.isclose(a, b, rel_tol=1e-7)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return all(k in b and _same(v, b[k]) for k, v in a.items())
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _settings(cls: str, config: Mapping[str, Any]) -> Iterator[Tuple[str, Any]]:
    """(canonical key, value) for every setting the native config states."""
    for key, value in config.items():
        if key in _NAMELESS:
            continue
        key = T.CLASS_KEY_ALIASES.get((cls, key)) or T.KEY_ALIASES.get(key, key)
        yield key, value


def _schedule_default(cls: str, key: str) -> Any:
    spec = T.SCHEDULES[cls]
    return {k.name: k.default for k in spec.keys + spec.extras}[key]


def _check(native: Mapping[str, Any], canonical: Mapping[str, Any], where: str) -> Iterator[str]:
    """Yield one line per input setting that does not reappear with its value."""
    cls = canonical["class_name"]
    out = canonical["config"]
    for key, value in _settings(cls, native["config"]):
        if key == "inner_optimizer":
            yield from _check(value, out[key], where + "/inner_optimizer")
        elif isinstance(value, Mapping) and "class_name" in value:  # a learning-rate schedule
            sched = out[key]["class_name"]
            got = out[key]["config"]
            for sk, sv in value["config"].items():
                if sk != "name" and not _same(sv, got[sk] if sk in got else _schedule_default(sched, sk)):
                    yield "%s: %s.%s=%r became %r" % (where, key, sk, sv, got.get(sk))
        elif key in out:
            if not _same(value, out[key]):
                yield "%s: %s=%r became %r" % (where, key, value, out[key])
        elif key not in _OPTION_DEFAULTS:
            yield "%s: %s=%r is missing" % (where, key, value)
        elif not _same(value, _OPTION_DEFAULTS[key]):
            # left out: only an option that acts with another one unset (ema_* without use_ema)
            needs = T.OPTION_REQUIRES.get(key)
            if not (needs and not native["config"].get(needs)):
                yield "%s: option %s=%r was dropped" % (where, key, value)


def _records() -> Iterator[Dict[str, Any]]:
    path = os.environ.get(ENV_VAR)
    if not path:
        pytest.skip("%s is not set: the third-party corpus of real-world optimizer dicts is not in this repository" % ENV_VAR)
    if not os.path.exists(path):
        pytest.skip("%s=%s does not exist" % (ENV_VAR, path))
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def test_every_real_world_record_normalizes_faithfully():
    count = 0
    problems = []
    for record in _records():
        where = "%s:%s (Keras %s, %s)" % (record["repo"], record["path"], record["keras_version"], record["source"])
        native = record["optimizer"]
        before = json.dumps(native, sort_keys=True)
        try:
            canonical = normalize(native)
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        if json.dumps(native, sort_keys=True) != before:
            problems.append("%s: the input was mutated" % where)
        if normalize(canonical) != canonical:
            problems.append("%s: normalize is not idempotent" % where)
        problems.extend(_check(native, canonical, where))
        count += 1
    assert not problems, "\n".join(problems)
    assert count > 0
