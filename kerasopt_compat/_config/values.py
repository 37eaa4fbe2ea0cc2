"""Pure-Python value coercion: numpy scalars, float32 shortening, finiteness.

Nothing here imports numpy; numpy scalars are recognised by duck typing
(``type(x).__module__ == "numpy"`` and a 0-d ``shape``) and unwrapped with
``.item()``.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Any

#: Largest integer accepted anywhere in a config. Larger values are never
#: meaningful hyperparameters and would overflow float32/int64 in Keras.
MAX_INT = 2**53

_F32 = struct.Struct("<f")
_PLAIN = frozenset([float, int, str, bool, type(None), dict, list])


def unwrap_numpy(value: Any) -> Any:
    """Return the Python scalar held by a numpy scalar or 0-d array, else ``value``.

    >>> unwrap_numpy(3)
    3
    """
    tp = type(value)
    if tp in _PLAIN:
        return value
    if getattr(tp, "__module__", None) == "numpy" and getattr(value, "shape", None) == ():
        return value.item()
    return value


def _to_float32(value: float) -> float:
    return _F32.unpack(_F32.pack(value))[0]


def is_float32_exact(value: float) -> bool:
    """True when ``value`` is exactly representable as an IEEE float32.

    >>> is_float32_exact(0.5), is_float32_exact(0.1)
    (True, False)
    """
    try:
        return _to_float32(value) == value
    except (OverflowError, struct.error):
        return False


@functools.lru_cache(maxsize=4096)  # hyperparameter values repeat across configs
def shorten_float(value: float) -> float:
    """Write a float32-exact float as the shortest decimal that rounds to it.

    Floats that are not exact float32 values (``0.1`` typed in Python) are
    returned unchanged.

    >>> shorten_float(0.009999999776482582)
    0.01
    >>> shorten_float(0.1)
    0.1
    """
    if value == 0.0:
        return value
    pack = _F32.pack
    try:
        packed = pack(value)
    except (OverflowError, struct.error):
        return value
    if _F32.unpack(packed)[0] != value:  # not float32-exact (or NaN)
        return value
    # The loop of _rounds_to(), inlined (this runs for every float a config has not
    # held before): a candidate rounds to ``value`` when it packs to the same bytes
    # (``value`` is float32-exact and not zero, so the bytes compare as the numbers do).
    for digits in range(1, 10):
        candidate = float("%.*g" % (digits, value))
        try:
            if pack(candidate) == packed:
                return candidate
        except (OverflowError, struct.error):  # rounds past float32's largest value
            continue
    return value  # pragma: no cover - 9 significant digits always suffice


def fits_float32(value: float) -> bool:
    """True when ``value`` does not round to infinity as a float32."""
    try:
        _to_float32(value)
    except (OverflowError, struct.error):
        return False
    return True


def _rounds_to(candidate: float, value: float) -> bool:
    try:
        return _to_float32(candidate) == value
    except (OverflowError, struct.error):  # rounds past float32's largest value
        return False


def canonical_float(value: float) -> float:
    """Finite check + float32 shortening; raises ValueError on NaN/inf."""
    if not math.isfinite(value):
        raise ValueError("non-finite number")
    return shorten_float(value)
