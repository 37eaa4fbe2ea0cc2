"""Bulk conversion of stored configs: JSON files, JSON arrays and JSON Lines streams.

Pure Python (no TensorFlow). Used by the command line's ``normalize`` and
``convert`` subcommands. Records are processed in batches, in order, with
memory bounded by the batch size (``--jobs N`` keeps at most ``2 * N``
batches in flight), so a stream of millions of records never sits in memory.
A JSON array or a single JSON document is read whole.
"""

from __future__ import annotations

import functools
import json
import warnings
from typing import Any, Iterable, Iterator, List, NamedTuple, Optional, Sequence, TextIO, Tuple

from .._errors import ConfigTypeError, InvalidConfigError, KerasOptCompatError, UnknownClassError, UnknownKeyError
from .normalize import normalize, parse_json
from .write import to_native

#: Records per batch handed to a worker.
BATCH = 2000

CONVERTED, UNCHANGED, FAILED = "converted", "unchanged", "failed"


class Options(NamedTuple):
    """What to do with each record (picklable: sent to ``--jobs`` workers)."""

    #: target generation for ``convert``; None for ``normalize``
    to: Optional[str]
    #: path of the optimizer inside each record (``("run", "optimizer")``), or () for the record itself
    field: Tuple[str, ...]
    custom: Tuple[str, ...]
    strict: bool
    #: ``"error"`` or ``"keep"`` (keys and classes a newer Keras wrote), as in :func:`normalize`
    unknown_keys: str = "error"


class Result(NamedTuple):
    """One record's outcome."""

    status: str  # CONVERTED, UNCHANGED or FAILED
    #: the record to write (JSON text without newline); the input record as it
    #: was when it failed (for ``--on-error keep``)
    text: Optional[str]
    #: why it failed
    error: Optional[str]
    #: conversion warnings, one message each
    warnings: Tuple[str, ...]


def error_message(exc: KerasOptCompatError) -> str:
    """A package error's message, with the command line's own hint for unknown classes."""
    if isinstance(exc, UnknownClassError) and exc.class_name:
        return exc.with_hint("if it is your own class, pass --custom %s to copy it through unchanged" % exc.class_name)
    if isinstance(exc, UnknownKeyError) and exc.hint:
        return exc.with_hint("if a Keras newer than kerasopt_compat wrote it, pass --unknown-keys keep to keep it")
    return str(exc)


def _lookup(record: Any, path: Sequence[str]) -> Any:
    node = record
    for depth, part in enumerate(path):
        if not isinstance(node, dict) or part not in node:
            raise InvalidConfigError("the record has no field %r" % ".".join(path[: depth + 1]))
        node = node[part]
    return node


def _replace(record: Any, path: Sequence[str], value: Any) -> Any:
    """A copy of ``record`` with ``path`` set to ``value`` (the other fields shared, untouched)."""
    if not path:
        return value
    out = dict(record)
    out[path[0]] = _replace(record[path[0]], path[1:], value)
    return out


def convert_value(value: Any, options: Options) -> Any:
    """The canonical (or ``options.to``) form of one stored optimizer value.

    A value stored as JSON *text* inside a record (a string column) comes back
    as JSON text.
    """
    if isinstance(value, str):
        try:
            parsed = parse_json(value)
        except ValueError:
            raise ConfigTypeError("the field holds a string that is not JSON text", value=value, has_value=True) from None
        return json.dumps(convert_value(parsed, options), allow_nan=False)
    if options.to is None:
        return normalize(value, custom_objects=options.custom, unknown_keys=options.unknown_keys)
    return to_native(value, options.to, strict=options.strict, custom_objects=options.custom, unknown_keys=options.unknown_keys)


#: Distinct optimizer values remembered per process. Stored configs repeat
#: (the same optimizer for many runs), and a value's result depends only on
#: its JSON text and the options, so it is converted once.
CACHE_SIZE = 1 << 14


@functools.lru_cache(maxsize=CACHE_SIZE)
def _convert_text(text: str, options: Options) -> Tuple[str, Any, Optional[str], Tuple[str, ...]]:
    """(status, new value, error, warnings) for one optimizer value given as JSON text."""
    caught: List[str] = []

    def show(message: Any, *args: Any, **kwargs: Any) -> None:
        caught.append(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        try:
            old = parse_json(text)
            new = convert_value(old, options)
        except KerasOptCompatError as exc:
            return FAILED, None, error_message(exc), tuple(caught)
        except ValueError as exc:  # JSONDecodeError
            return FAILED, None, "invalid JSON: %s" % exc, ()
    return (CONVERTED if new != old else UNCHANGED), new, None, tuple(caught)


def process_lines(lines: Sequence[str], options: Options) -> List[Result]:
    """Convert a batch of JSON Lines records (module-level: runs in ``--jobs`` workers)."""
    results = []
    for line in lines:
        original = line.rstrip("\r\n")
        if not options.field:
            status, new, error, caught = _convert_text(original.strip(), options)
            if status == CONVERTED:
                original_or_new = json.dumps(new, allow_nan=False)
            else:
                original_or_new = original
            results.append(Result(status, original_or_new, error, caught))
            continue
        try:
            record = parse_json(original)
            value = _lookup(record, options.field)
        except KerasOptCompatError as exc:
            results.append(Result(FAILED, original, error_message(exc), ()))
            continue
        except ValueError as exc:  # JSONDecodeError
            results.append(Result(FAILED, original, "invalid JSON: %s" % exc, ()))
            continue
        status, new, error, caught = _convert_text(json.dumps(value), options)
        if status == CONVERTED:
            results.append(Result(status, json.dumps(_replace(record, options.field, new), allow_nan=False), None, caught))
        else:
            results.append(Result(status, original, error, caught))
    return results


def process_values(values: Iterable[Any], options: Options, indent: Optional[int] = None) -> Iterator[Result]:
    """Convert already parsed records (a JSON array, a single document)."""
    for value in values:
        line = json.dumps(value, allow_nan=False)
        result = process_lines([line], options)[0]
        if indent is not None and result.text is not None and result.status != FAILED:
            result = result._replace(text=json.dumps(json.loads(result.text), indent=indent))
        yield result


def batches(fh: TextIO, first: str, size: int = BATCH) -> Iterator[Tuple[int, List[str]]]:
    """(number of the batch's first line, its non-blank lines) of a JSON Lines stream.

    Blank lines are skipped and end a batch, so the lines of a batch are
    consecutive and the first line's number numbers them all.
    """
    number = 1
    batch: List[str] = []
    start = 1
    for line in _chain(first, fh):
        if line.strip():
            if not batch:
                start = number
            batch.append(line)
            if len(batch) >= size:
                yield start, batch
                batch = []
        elif batch:
            yield start, batch
            batch = []
        number += 1
    if batch:
        yield start, batch


def _chain(first: str, fh: TextIO) -> Iterator[str]:
    yield first
    yield from fh
