"""A minimal protobuf wire-format reader (and the two encoders ``fix_model`` needs); no protobuf package.

Shared by the ``keras_metadata.pb`` reader (``_files.model``) and the TF
checkpoint bundle reader (``_files.bundle``). Every input is untrusted: a truncated
or malformed message raises :class:`ModelFileError` naming ``where`` (the
file and the part being read) and the message type expected.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Tuple, Union

from .._errors import ModelFileError

__all__ = ["VARINT", "I64", "LEN", "I32", "Field", "varint", "fields", "encode_varint", "len_field", "by_number"]

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class Field(NamedTuple):
    number: int
    wire_type: int
    #: the value: an int (varint) or the payload bytes
    value: Union[int, bytes]
    #: the field's raw bytes (tag, length and payload), copied through unchanged
    raw: bytes


def varint(data: bytes, pos: int, where: str, message: str = "protobuf") -> Tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ModelFileError("%s is truncated or not a %s" % (where, message))
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes, where: str, message: str = "protobuf") -> List[Field]:
    """Every top-level field of one serialized message, in order."""
    out = []
    pos = 0
    end = len(data)
    while pos < end:
        start = pos
        tag, pos = varint(data, pos, where, message)
        number, wire_type = tag >> 3, tag & 7
        value: Union[int, bytes]
        if wire_type == VARINT:
            value, pos = varint(data, pos, where, message)
        elif wire_type in (I64, I32):
            size = 8 if wire_type == I64 else 4
            value, pos = data[pos : pos + size], pos + size
        elif wire_type == LEN:
            size, pos = varint(data, pos, where, message)
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ModelFileError("%s uses protobuf wire type %d (not a %s)" % (where, wire_type, message))
        if pos > end or number == 0:
            raise ModelFileError("%s is truncated or not a %s" % (where, message))
        out.append(Field(number, wire_type, value, data[start:pos]))
    return out


def by_number(data: bytes, where: str, message: str, kinds: Dict[int, int]) -> Dict[int, List[Union[int, bytes]]]:
    """The values of the fields listed in ``kinds`` (number -> expected wire type), grouped by number.

    Other field numbers are skipped (a newer writer may add fields); a listed
    field with another wire type is an error.
    """
    out: Dict[int, List[Union[int, bytes]]] = {number: [] for number in kinds}
    for field in fields(data, where, message):
        kind = kinds.get(field.number)
        if kind is None:
            continue
        if field.wire_type != kind:
            raise ModelFileError(
                "%s: field %d of the %s has wire type %d, not %d" % (where, field.number, message, field.wire_type, kind)
            )
        out[field.number].append(field.value)
    return out


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def len_field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | LEN) + encode_varint(len(payload)) + payload
