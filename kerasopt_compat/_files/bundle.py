"""The TF checkpoint bundle (a SavedModel's ``variables/``) and its object graph, read without TensorFlow or protobuf.

A bundle is ``PREFIX.index`` plus ``PREFIX.data-SSSSS-of-NNNNN`` shards
(``tensorflow/core/util/tensor_bundle``):

* ``.index`` is a LevelDB-style SSTable (``tensorflow/core/lib/io/table``):
  prefix-compressed key/value blocks with restart points, an index block of
  ``BlockHandle`` s to them and a 48-byte footer (metaindex and index handles,
  the magic number). Each block ends with a compression byte and a masked
  CRC32C. TensorFlow writes blocks uncompressed; a snappy-compressed block is
  refused with an error.
* Its values are ``BundleEntryProto`` (dtype, shape, shard, offset, size,
  crc32c); the entry with the empty key is the ``BundleHeaderProto``
  (number of shards, endianness).
* A tensor split into slices (``tf.train.CheckpointOptions`` with TF 2.16+'s
  ``MaxShardSizePolicy``, or a partitioned variable) has an entry that lists
  its slices (``TensorSliceProto`` extents) and holds no data; each slice is an
  entry of its own under an ordered-code key (``EncodeTensorNameSlice``: a NUL
  byte, the tensor's key, the rank, each dimension's start and length), read
  and checked like any tensor, and the tensor is put together from them.
* ``_CHECKPOINTABLE_OBJECT_GRAPH`` is a scalar string tensor holding a
  serialized ``TrackableObjectGraph``: the objects (model, layers, variables,
  optimizer), their named children, the checkpoint key of each variable and
  the optimizer's slot-variable edges.

:class:`Bundle` reads entries and tensors, :class:`ObjectGraph` the object
graph, and ``_StateReader`` the optimizer's state through it (slots tied by the
graph's edges); the SavedModel container (:mod:`.savedmodel`) builds
:func:`~kerasopt_compat._files.savedmodel.savedmodel_state` and
``savedmodel_weights`` on them. Everything read is untrusted: truncation, bad offsets, impossible
sizes and malformed protos raise :class:`ModelFileError` naming the file and
the part at fault; nothing is ever imported or executed.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from .._errors import (
    ModelFileError,
)
from .._optional import import_optional_dependency
from .._state.slots import (
    SLOTS,
    NoteTaker,
    StoredArray,
    VariableState,
)
from . import protowire as pw
from .safefs import open_regular

__all__ = ["Bundle", "BundleEntry", "ObjectGraph", "GraphNode"]

PathLike = Union[str, "os.PathLike[str]"]

# --------------------------------------------------------------------------- CRC32C

_CRC_TABLE: List[int] = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)
del _i, _c

#: Largest tensor whose CRC32C is checked. The checksum is computed in pure
#: Python (about 1.5 MB/s); bigger tensors get the size check only.
CRC_MAX_TENSOR_BYTES = 64 * 1024


def crc32c(data: Union[bytes, bytearray], crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc``.

    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    """LevelDB/TF's masked CRC (stored CRCs are masked so that a CRC of CRCs stays meaningful)."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------------------- SSTable

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48  # two BlockHandles padded to 40 bytes + 8-byte magic
_BLOCK_TRAILER_LEN = 5  # compression type byte + masked crc32c
_COMPRESSION = {0: None, 1: "snappy"}


def _handle(data: bytes, pos: int, where: str) -> Tuple[int, int, int]:
    offset, pos = pw.varint(data, pos, where, "BlockHandle")
    size, pos = pw.varint(data, pos, where, "BlockHandle")
    return offset, size, pos


def _table_entries(data: bytes, where: str) -> Iterator[Tuple[bytes, bytes]]:
    """Every (key, value) of an SSTable held in ``data``, in key order."""
    if len(data) < _FOOTER_LEN:
        raise ModelFileError("%s: %d bytes, too short for a table footer (%d): truncated?" % (where, len(data), _FOOTER_LEN))
    footer = data[-_FOOTER_LEN:]
    (magic,) = struct.unpack("<Q", footer[-8:])
    if magic != _TABLE_MAGIC:
        raise ModelFileError("%s: no table magic number at the end: truncated or not a checkpoint index" % where)
    meta_offset, meta_size, pos = _handle(footer, 0, where + " footer")
    index_offset, index_size, _ = _handle(footer, pos, where + " footer")
    _block(data, meta_offset, meta_size, where, "metaindex block")  # checked, not used (TF writes it empty)
    index = _block(data, index_offset, index_size, where, "index block")
    seen_blocks = set()
    for _key, value in _block_entries(index, where, "index block"):
        offset, size, _ = _handle(value, 0, where + " index block")
        if offset in seen_blocks:
            raise ModelFileError("%s: the index block lists the data block at offset %d twice" % (where, offset))
        seen_blocks.add(offset)
        part = "data block at offset %d" % offset
        yield from _block_entries(_block(data, offset, size, where, part), where, part)


def _block(data: bytes, offset: int, size: int, where: str, part: str) -> bytes:
    end = offset + size + _BLOCK_TRAILER_LEN
    if end > len(data) - _FOOTER_LEN:
        raise ModelFileError("%s: the %s (offset %d, %d bytes) lies outside the file: truncated?" % (where, part, offset, size))
    contents = data[offset : offset + size]
    kind = data[offset + size]
    (stored,) = struct.unpack("<I", data[offset + size + 1 : end])
    if _masked(crc32c(data[offset : offset + size + 1])) != stored:
        raise ModelFileError("%s: the %s fails its CRC32C check: the file is corrupt" % (where, part))
    if kind not in _COMPRESSION:
        raise ModelFileError("%s: the %s has an unknown compression type %d" % (where, part, kind))
    if _COMPRESSION[kind] is not None:
        raise ModelFileError(
            "%s: the %s is %s-compressed; kerasopt_compat reads uncompressed tables only (what TensorFlow writes)"
            % (where, part, _COMPRESSION[kind])
        )
    return contents


def _block_entries(block: bytes, where: str, part: str) -> Iterator[Tuple[bytes, bytes]]:
    if len(block) < 4:
        raise ModelFileError("%s: the %s is too short for its restart count" % (where, part))
    (restarts,) = struct.unpack("<I", block[-4:])
    limit = len(block) - 4 - 4 * restarts
    if restarts == 0 or limit < 0:
        raise ModelFileError("%s: the %s has an impossible restart count %d" % (where, part, restarts))
    key = b""
    pos = 0
    message = "table block entry"
    while pos < limit:
        shared, pos = pw.varint(block, pos, where, message)
        unshared, pos = pw.varint(block, pos, where, message)
        value_len, pos = pw.varint(block, pos, where, message)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise ModelFileError("%s: the %s has an entry reaching past its end: corrupt" % (where, part))
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_len]
        pos += value_len


# --------------------------------------------------------------------------- bundle entries

# tensorflow/core/protobuf/tensor_bundle.proto
#   message BundleHeaderProto { int32 num_shards = 1; Endianness endianness = 2; VersionDef version = 3; }
#   message BundleEntryProto { DataType dtype = 1; TensorShapeProto shape = 2; int32 shard_id = 3;
#     int64 offset = 4; int64 size = 5; fixed32 crc32c = 6; repeated TensorSliceProto slices = 7; }
# tensorflow/core/framework/tensor_shape.proto
#   message TensorShapeProto { repeated Dim dim = 2; bool unknown_rank = 3; }  message Dim { int64 size = 1; ... }
# tensorflow/core/framework/tensor_slice.proto
#   message TensorSliceProto { repeated Extent extent = 1; }
#   message Extent { int64 start = 1; oneof has_length { int64 length = 2; } }  (no length: the whole dimension)

#: DataType enum (tensorflow/core/framework/types.proto) -> numpy dtype code (little endian added later)
DTYPES: Dict[int, str] = {
    1: "f4",  # DT_FLOAT
    2: "f8",  # DT_DOUBLE
    3: "i4",  # DT_INT32
    4: "u1",  # DT_UINT8
    5: "i2",  # DT_INT16
    6: "i1",  # DT_INT8
    8: "c8",  # DT_COMPLEX64
    9: "i8",  # DT_INT64
    10: "?",  # DT_BOOL
    14: "bfloat16",  # DT_BFLOAT16: read as float32 (exact)
    17: "u2",  # DT_UINT16
    18: "c16",  # DT_COMPLEX128
    19: "f2",  # DT_HALF
    22: "u4",  # DT_UINT32
    23: "u8",  # DT_UINT64
}
DT_STRING = 7
#: Largest tensor read into memory (a forged entry could claim any size).
MAX_TENSOR_BYTES = 1 << 34
#: Most strings in a string tensor read (each length is checked in pure Python).
MAX_STRINGS = 1 << 16
#: Largest ``.index`` file read (it is read whole; a real one is a few hundred bytes per variable).
MAX_INDEX_BYTES = 256 * 1024 * 1024
_MAX_SHARDS = 1 << 16
#: Largest rank and element count of a stored tensor (numpy's limits; TensorFlow's own are larger only on paper).
_MAX_RANK = 32
_MAX_ELEMENTS = 1 << 40
_INT64_SIGN = 1 << 63
#: Most slices of one sliced tensor (TensorFlow's sharding policies write a handful).
MAX_SLICES = 1 << 12

#: One slice of a sliced tensor: (start, length) per dimension, length -1 for the whole dimension
#: (``TensorSlice``'s ``kFullExtent``), as the slice's key spells it.
Extents = Tuple[Tuple[int, int], ...]


class BundleEntry(NamedTuple):
    """One ``BundleEntryProto``: where a tensor is and what it is."""

    key: str
    dtype: int
    shape: Tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: Optional[int]  # masked, as stored; None when absent
    sliced: bool
    #: the slices of a sliced tensor (``sliced``), each stored as an entry of its own (:func:`slice_key`)
    slices: Tuple[Extents, ...] = ()


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= _INT64_SIGN else value


def _scalar(values: Sequence[Union[int, bytes]], default: int) -> int:
    value = values[-1] if values else default
    assert isinstance(value, int)
    return _signed(value)


def _parse_entry(key: str, value: bytes, where: str) -> BundleEntry:
    part = "%s, entry %r" % (where, key)
    f = pw.by_number(
        value, part, "BundleEntryProto", {1: pw.VARINT, 2: pw.LEN, 3: pw.VARINT, 4: pw.VARINT, 5: pw.VARINT, 6: pw.I32, 7: pw.LEN}
    )
    shape: Tuple[int, ...] = ()
    if f[2]:
        s = pw.by_number(bytes(f[2][-1]), part + " shape", "TensorShapeProto", {2: pw.LEN, 3: pw.VARINT})
        if s[3] and s[3][-1]:
            raise ModelFileError("%s: a stored tensor of unknown rank" % part)
        dims = []
        for dim in s[2]:
            d = pw.by_number(bytes(dim), part + " shape", "TensorShapeProto.Dim", {1: pw.VARINT})
            size = _scalar(d[1], 0)
            if size < 0:
                raise ModelFileError("%s: a stored tensor with an unknown or negative dimension %d" % (part, size))
            dims.append(size)
        if len(dims) > _MAX_RANK:
            raise ModelFileError("%s: a stored tensor of rank %d (numpy holds at most %d)" % (part, len(dims), _MAX_RANK))
        count = 1
        for size in dims:
            count *= max(size, 1)
        if count > _MAX_ELEMENTS:  # also with a 0 dimension: numpy refuses a shape whose other dims overflow
            raise ModelFileError("%s: a stored tensor of shape %s: more elements than any file holds" % (part, dims))
        shape = tuple(dims)
    crc = struct.unpack("<I", bytes(f[6][-1]))[0] if f[6] else None
    if len(f[7]) > MAX_SLICES:
        raise ModelFileError("%s: a tensor in %d slices (more than %d)" % (part, len(f[7]), MAX_SLICES))
    slices = tuple(_parse_slice(bytes(raw), shape, part) for raw in f[7])
    entry = BundleEntry(
        key, _scalar(f[1], 0), shape, _scalar(f[3], 0), _scalar(f[4], 0), _scalar(f[5], 0), crc, bool(slices), slices
    )
    if entry.offset < 0 or entry.size < 0 or entry.shard_id < 0:
        raise ModelFileError("%s: negative offset, size or shard (%d, %d, %d)" % (part, entry.offset, entry.size, entry.shard_id))
    return entry


def _parse_slice(raw: bytes, shape: Tuple[int, ...], part: str) -> Extents:
    """One ``TensorSliceProto`` of a sliced tensor of ``shape``: its extents, checked to lie inside the tensor."""
    p = pw.by_number(raw, part + " slice", "TensorSliceProto", {1: pw.LEN})
    if len(p[1]) != len(shape):
        raise ModelFileError("%s: a slice of %d dimensions of a tensor of shape %s" % (part, len(p[1]), list(shape)))
    extents = []
    for dim, extent in zip(shape, p[1]):
        e = pw.by_number(bytes(extent), part + " slice", "TensorSliceProto.Extent", {1: pw.VARINT, 2: pw.VARINT})
        start = _scalar(e[1], 0)
        length = _scalar(e[2], -1)  # no length: the whole dimension (TensorSlice's kFullExtent, -1)
        whole = start == 0 and length == -1
        if not whole and (start < 0 or length <= 0 or start + length > dim):
            raise ModelFileError(
                "%s: a slice [%d, %d) of a dimension of size %d: out of range" % (part, start, start + length, dim)
            )
        extents.append((start, length))
    return tuple(extents)


def _ordered_unsigned(value: int) -> bytes:
    """OrderedCode's ``WriteNumIncreasing``: a length byte, then the value's big-endian bytes (none for 0)."""
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(body)]) + body


def _ordered_signed(value: int) -> bytes:
    """OrderedCode's ``WriteSignedNumIncreasing``: n bytes hold [-2**(7n-1), 2**(7n-1)); the first bits (one
    more than the extra bytes, the sign's opposite, then a delimiter) say how many bytes follow."""
    magnitude = ~value if value < 0 else value
    length = magnitude.bit_length() // 7 + 1  # 1..10 bytes for an int64
    body = bytearray((value & ((1 << 80) - 1)).to_bytes(10, "big")[-length:])
    header = ((1 << (length + 1)) - 2) << (16 - length - 1)  # `length` one-bits then a zero, over two bytes
    body[0] ^= header >> 8
    if length > 1:
        body[1] ^= header & 0xFF
    return bytes(body)


def _spec(box: Sequence[Tuple[int, int]]) -> str:
    """A slice as ``[0:2, 0:4]``."""
    return "[%s]" % ", ".join("%d:%d" % (lo, hi) for lo, hi in box)


def slice_key(key: str, extents: Extents) -> bytes:
    """The index key TensorFlow stores one slice of tensor ``key`` under (``EncodeTensorNameSlice``)."""
    # OrderedCode's WriteString: NUL and 0xff escaped (NUL 0xff, 0xff NUL), then NUL 0x01
    name = b"".join(b"\x00\xff" if b == 0 else b"\xff\x00" if b == 0xFF else bytes([b]) for b in key.encode("utf-8"))
    out = _ordered_unsigned(0) + name + b"\x00\x01" + _ordered_unsigned(len(extents))
    for start, length in extents:
        out += _ordered_signed(start) + _ordered_signed(length)
    return out


class Bundle:
    """A TF checkpoint bundle (``prefix.index`` + ``prefix.data-*``), read without TensorFlow.

    ``prefix`` is the path without extension, e.g. ``model_dir/variables/variables``.
    ``entries`` maps every key to its :class:`BundleEntry`; :meth:`tensor`
    reads one tensor (numpy array, or a list of bytes for strings).
    ``verify_crc`` checks each tensor's CRC32C up to
    :data:`CRC_MAX_TENSOR_BYTES` (``"auto"``), always (``True``) or never.
    """

    def __init__(self, prefix: PathLike, *, verify_crc: Union[bool, str] = "auto", root: Optional[str] = None) -> None:
        self.prefix = os.fspath(prefix)
        self.index_path = self.prefix + ".index"
        self.verify_crc = verify_crc
        #: :meth:`value` gives a ``StoredArray`` (read when asked) for every non-scalar numeric tensor
        self.lazy = False
        #: the folder (a SavedModel) every file of the bundle must really be in (``_files.safefs.inside``), or None
        self.root = root
        try:
            with open_regular(self.index_path, "the checkpoint index", root) as fh:
                data = fh.read(MAX_INDEX_BYTES + 1)
        except OSError as exc:
            raise ModelFileError("%s: cannot read the checkpoint index: %s" % (self.index_path, exc.strerror or exc)) from None
        if len(data) > MAX_INDEX_BYTES:
            raise ModelFileError("%s: the checkpoint index is larger than %d bytes" % (self.index_path, MAX_INDEX_BYTES))
        self.entries: Dict[str, BundleEntry] = {}
        #: the entries of the slices of sliced tensors, by their raw key (:func:`slice_key`); not in ``entries``,
        #: as TensorFlow's reader lists only the whole tensors
        self.slice_entries: Dict[bytes, BundleEntry] = {}
        header: Optional[bytes] = None
        for raw_key, value in _table_entries(data, self.index_path):
            if raw_key == b"":
                header = value
                continue
            if raw_key[:1] == b"\x00":  # a slice of a sliced tensor (EncodeTensorNameSlice starts with 0)
                label = raw_key.decode("utf-8", "backslashreplace")
                self.slice_entries[raw_key] = _parse_entry(label, value, self.index_path)
                continue
            try:
                key = raw_key.decode("utf-8")
            except UnicodeDecodeError:
                raise ModelFileError("%s: a key that is not UTF-8 text: %r" % (self.index_path, raw_key[:80])) from None
            self.entries[key] = _parse_entry(key, value, self.index_path)
        if header is None:
            raise ModelFileError("%s: no bundle header (the entry with the empty key)" % self.index_path)
        h = pw.by_number(header, self.index_path + " header", "BundleHeaderProto", {1: pw.VARINT, 2: pw.VARINT})
        self.num_shards = _scalar(h[1], 0)
        endianness = _scalar(h[2], 0)
        if not 0 < self.num_shards <= _MAX_SHARDS:
            raise ModelFileError("%s: the header says %d data shards" % (self.index_path, self.num_shards))
        if endianness == 1:  # as TensorFlow itself on every platform it ships for (little endian)
            raise ModelFileError(
                "%s: the header says the bundle was written big-endian; TensorFlow refuses a bundle whose byte order is "
                "not the reader's, and so does kerasopt_compat" % self.index_path
            )
        if endianness != 0:
            raise ModelFileError("%s: unknown endianness %d in the header" % (self.index_path, endianness))
        self.byteorder = "<"
        for entry in list(self.entries.values()) + list(self.slice_entries.values()):
            if entry.shard_id >= self.num_shards:
                raise ModelFileError(
                    "%s: entry %r is in shard %d of %d" % (self.index_path, entry.key, entry.shard_id, self.num_shards)
                )

    def shard_path(self, shard_id: int) -> str:
        return "%s.data-%05d-of-%05d" % (self.prefix, shard_id, self.num_shards)

    def keys(self) -> List[str]:
        return sorted(self.entries)

    def _bytes(self, entry: BundleEntry) -> bytearray:
        path = self.shard_path(entry.shard_id)
        where = "%s: tensor %r" % (path, entry.key)
        if entry.size > MAX_TENSOR_BYTES:
            raise ModelFileError("%s claims %d bytes" % (where, entry.size))
        try:
            with open_regular(path, "the checkpoint data file", self.root) as fh:  # a FIFO: ModelFileError, no hang
                fh.seek(0, os.SEEK_END)
                if entry.offset + entry.size > fh.tell():
                    raise ModelFileError(
                        "%s (offset %d, %d bytes) lies past the end of the data file (%d bytes): truncated?"
                        % (where, entry.offset, entry.size, fh.tell())
                    )
                fh.seek(entry.offset)
                # into a buffer numpy takes as it is (np.frombuffer of a bytearray is writable): no second copy
                data = bytearray(entry.size)
                view, got = memoryview(data), 0
                while got < entry.size:  # a read of 2 GiB or more returns less (Linux): go on until done or EOF
                    n = fh.readinto(view[got:])  # type: ignore[attr-defined]  # os.fdopen(fd, 'rb'): a BufferedReader
                    if not n:
                        break
                    got += n
                view.release()
        except OSError as exc:
            raise ModelFileError("%s: cannot read the data file: %s" % (path, exc.strerror or exc)) from None
        if got != entry.size:
            raise ModelFileError("%s: the data file ended after %d of %d bytes: truncated?" % (where, got, entry.size))
        return data

    def _check_crc(self, entry: BundleEntry, crc: int, where: str) -> None:
        if entry.crc32c is not None and _masked(crc) != entry.crc32c:
            raise ModelFileError("%s fails its CRC32C check: the data file is corrupt" % where)

    def _wants_crc(self, entry: BundleEntry) -> bool:
        if self.verify_crc == "auto":
            return entry.size <= CRC_MAX_TENSOR_BYTES
        return bool(self.verify_crc)

    def tensor(self, key: str) -> Any:
        """The tensor stored under ``key``: a numpy array, or a list of ``bytes`` for a string tensor."""
        entry = self.entries.get(key)
        if entry is None:
            raise ModelFileError("%s: no tensor %r in the checkpoint" % (self.index_path, key))
        if entry.sliced:
            return self._assemble(entry)
        return self._plain(entry)

    def value(self, key: str) -> Any:
        """:meth:`tensor`, or, when :attr:`lazy` and the entry holds a numeric array (not a scalar), a
        :class:`~kerasopt_compat._state.slots.StoredArray` of its shape and dtype that reads it when asked
        (its index entry already checked: dtype, shape, shard)."""
        entry = self.entries.get(key)
        code = None if entry is None else DTYPES.get(entry.dtype)
        if not self.lazy or entry is None or code is None or entry.shape == ():
            return self.tensor(key)
        np = import_optional_dependency("numpy")
        dtype = np.dtype("<f4" if code == "bfloat16" else self.byteorder + code)
        return StoredArray(entry.shape, dtype, None, lambda: self.tensor(key))

    def _plain(self, entry: BundleEntry) -> Any:
        """The tensor of an entry that holds its data itself (not a sliced one)."""
        key = entry.key
        where = "%s: tensor %r" % (self.shard_path(entry.shard_id), key)
        count = 1
        for dim in entry.shape:
            count *= dim
        if entry.dtype == DT_STRING:
            if count > entry.size:  # at least one length byte per string
                raise ModelFileError("%s: %d strings cannot fit in %d bytes" % (where, count, entry.size))
            if count > MAX_STRINGS:  # a Keras checkpoint stores scalar strings (the object graph) only
                raise ModelFileError("%s: a string tensor of %d strings (more than %d)" % (where, count, MAX_STRINGS))
            return self._strings(entry, count, where)
        code = DTYPES.get(entry.dtype)
        if code is None:
            raise ModelFileError("%s has dtype %d, which kerasopt_compat does not read" % (where, entry.dtype))
        np = import_optional_dependency("numpy")
        itemsize = 2 if code == "bfloat16" else np.dtype(code).itemsize
        if count * itemsize != entry.size:
            raise ModelFileError(
                "%s: shape %s needs %d bytes, the entry says %d" % (where, list(entry.shape), count * itemsize, entry.size)
            )
        data = self._bytes(entry)
        if self._wants_crc(entry):
            self._check_crc(entry, crc32c(data), where)
        if code == "bfloat16":
            halves = np.frombuffer(data, dtype=self.byteorder + "u2").astype(np.uint32) << 16
            return halves.astype("<u4").view("<f4").reshape(entry.shape)
        return np.frombuffer(data, dtype=self.byteorder + code).reshape(entry.shape)

    def _assemble(self, entry: BundleEntry) -> Any:
        """A sliced tensor put together from its slices, each read and checked as a tensor of its own
        (``BundleReader::GetSliceValue``). The slices must be in the index with the dtype and shape their
        extents give, their bytes must fit in their shards (so that the memory taken is what the files hold,
        whatever the entry claims), and they must cover the tensor exactly once."""
        where = "%s: sliced tensor %r" % (self.index_path, entry.key)
        code = DTYPES.get(entry.dtype)
        if code is None:  # strings included: TensorFlow slices only numeric tensors
            raise ModelFileError("%s has dtype %d, which kerasopt_compat does not read sliced" % (where, entry.dtype))
        np = import_optional_dependency("numpy")
        itemsize = 2 if code == "bfloat16" else np.dtype(code).itemsize
        boxes = [
            tuple((0, dim) if length == -1 else (start, start + length) for (start, length), dim in zip(extents, entry.shape))
            for extents in entry.slices
        ]
        parts = []
        per_shard: Dict[int, int] = {}
        for extents, box in zip(entry.slices, boxes):
            part = self.slice_entries.get(slice_key(entry.key, extents))
            if part is None:
                raise ModelFileError("%s: the index lacks its slice %s" % (where, _spec(box)))
            want = tuple(hi - lo for lo, hi in box)
            volume = 1
            for size in want:
                volume *= size
            if part.sliced or part.dtype != entry.dtype or part.shape != want or part.size != volume * itemsize:
                raise ModelFileError(
                    "%s: slice %s is stored as dtype %d, shape %s, %d bytes%s; the tensor is dtype %d, the slice shape %s"
                    % (
                        where,
                        _spec(box),
                        part.dtype,
                        list(part.shape),
                        part.size,
                        " (sliced)" if part.sliced else "",
                        entry.dtype,
                        list(want),
                    )
                )
            per_shard[part.shard_id] = per_shard.get(part.shard_id, 0) + part.size
            parts.append(part)
        for shard_id, claimed in sorted(per_shard.items()):
            held = self._shard_size(shard_id)
            if claimed > held:
                raise ModelFileError(
                    "%s: its slices in %s claim %d bytes, the file holds %d: truncated or forged"
                    % (where, self.shard_path(shard_id), claimed, held)
                )
        seen = np.zeros(entry.shape, dtype=bool)  # a byte per element: no more than the slices' bytes, checked above
        for box in boxes:
            region = tuple(slice(lo, hi) for lo, hi in box)
            if seen[region].any():
                raise ModelFileError("%s: slice %s overlaps another of its slices" % (where, _spec(box)))
            seen[region] = True
        if not seen.all():
            raise ModelFileError(
                "%s: its %d slices cover %d of its %d elements: a slice is missing"
                % (where, len(boxes), int(seen.sum()), seen.size)
            )
        out = np.empty(entry.shape, dtype="<f4" if code == "bfloat16" else self.byteorder + code)
        for part, box in zip(parts, boxes):
            out[tuple(slice(lo, hi) for lo, hi in box)] = self._plain(part._replace(key="%s%s" % (entry.key, _spec(box))))
        return out

    def _shard_size(self, shard_id: int) -> int:
        """The size of a data file (a FIFO or a file outside the bundle's folder: ModelFileError, as when read)."""
        path = self.shard_path(shard_id)
        try:
            with open_regular(path, "the checkpoint data file", self.root) as fh:
                return fh.seek(0, os.SEEK_END)
        except OSError as exc:
            raise ModelFileError("%s: cannot read the data file: %s" % (path, exc.strerror or exc)) from None

    def _strings(self, entry: BundleEntry, count: int, where: str) -> List[bytes]:
        # [varint64 length]*count, a masked crc32c of the lengths (as uint32, or uint64 past 4 GiB), then the bytes.
        data = bytes(self._bytes(entry))
        pos = 0
        lengths = []
        crc = 0
        for _ in range(count):
            length, pos = pw.varint(data, pos, where, "string tensor")
            lengths.append(length)
            crc = crc32c(struct.pack("<I" if length <= 0xFFFFFFFF else "<Q", length), crc)
        if pos + 4 + sum(lengths) != len(data):
            raise ModelFileError("%s: the string lengths do not add up to the entry size: corrupt" % where)
        (length_crc,) = struct.unpack("<I", data[pos : pos + 4])
        if _masked(crc) != length_crc:
            raise ModelFileError("%s: the string lengths fail their CRC32C check: corrupt" % where)
        pos += 4
        if self._wants_crc(entry):  # the lengths (as above), their checksum, then the string bytes
            self._check_crc(entry, crc32c(data[pos:], crc32c(data[pos - 4 : pos], crc)), where)
        out = []
        for length in lengths:
            out.append(data[pos : pos + length])
            pos += length
        return out

    def object_graph(self) -> ObjectGraph:
        """The ``TrackableObjectGraph`` stored in ``_CHECKPOINTABLE_OBJECT_GRAPH``."""
        if OBJECT_GRAPH_KEY not in self.entries:
            raise ModelFileError(
                "%s: no object graph (%s): not an object-based (TF2) checkpoint" % (self.index_path, OBJECT_GRAPH_KEY)
            )
        value = self.tensor(OBJECT_GRAPH_KEY)
        if len(value) != 1:
            raise ModelFileError("%s: %s is not a scalar string" % (self.index_path, OBJECT_GRAPH_KEY))
        return ObjectGraph.parse(value[0], "%s: %s" % (self.index_path, OBJECT_GRAPH_KEY))


# --------------------------------------------------------------------------- object graph

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
#: Most characters of all object paths together (a real model's are well under 1 MB).
_MAX_PATH_CHARS = 32 * 1024 * 1024
_DECIMAL = re.compile(r"[0-9]+")
_VARIABLE_VALUE = "VARIABLE_VALUE"

# tensorflow/core/protobuf/trackable_object_graph.proto
#   message TrackableObjectGraph { repeated TrackableObject nodes = 1; }
#   message TrackableObject { repeated ObjectReference children = 1; repeated SerializedTensor attributes = 2;
#     repeated SlotVariableReference slot_variables = 3; RegisteredSaver registered_saver = 4; ... }
#   message ObjectReference { int32 node_id = 1; string local_name = 2; }
#   message SerializedTensor { string name = 1; string full_name = 2; string checkpoint_key = 3; }
#   message SlotVariableReference { int32 original_variable_node_id = 1; string slot_name = 2; int32 slot_variable_node_id = 3; }


class Attribute(NamedTuple):
    name: str  # "VARIABLE_VALUE" for a variable
    full_name: str  # the variable's own name ("dense/kernel"), "" when unknown
    checkpoint_key: str


class SlotRef(NamedTuple):
    original: int  # node id of the model variable
    slot_name: str  # the optimizer's own slot name ("m", "momentum", ...)
    slot: int  # node id of the slot variable


class GraphNode(NamedTuple):
    children: Tuple[Tuple[str, int], ...]  # (local_name, node_id) in stored order
    attributes: Tuple[Attribute, ...]
    slot_variables: Tuple[SlotRef, ...]

    def child(self, name: str) -> Optional[int]:
        return next((node for local, node in self.children if local == name), None)

    def variable(self) -> Optional[Attribute]:
        return next((a for a in self.attributes if a.name == _VARIABLE_VALUE), None)


def _text(value: Union[int, bytes], where: str) -> str:
    assert isinstance(value, bytes)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError("%s: a name that is not UTF-8 text" % where) from None


class ObjectGraph:
    """A parsed ``TrackableObjectGraph``: ``nodes[0]`` is the root (the Keras model)."""

    def __init__(self, nodes: Sequence[GraphNode], where: str) -> None:
        self.nodes = tuple(nodes)
        self.where = where
        if not self.nodes:
            raise ModelFileError("%s: an object graph without nodes" % where)
        count = len(self.nodes)
        for i, node in enumerate(self.nodes):
            ids = [n for _, n in node.children] + [n for s in node.slot_variables for n in (s.original, s.slot)]
            bad = [n for n in ids if not 0 <= n < count]
            if bad:
                raise ModelFileError("%s: node %d refers to node %d, outside the %d nodes" % (where, i, bad[0], count))
        self._paths: Optional[Dict[int, str]] = None

    @classmethod
    def parse(cls, data: bytes, where: str) -> ObjectGraph:
        nodes = []
        top = pw.by_number(data, where, "TrackableObjectGraph", {1: pw.LEN})
        for raw in top[1]:
            f = pw.by_number(bytes(raw), where, "TrackableObject", {1: pw.LEN, 2: pw.LEN, 3: pw.LEN})
            children = []
            for ref in f[1]:
                r = pw.by_number(bytes(ref), where, "ObjectReference", {1: pw.VARINT, 2: pw.LEN})
                children.append((_text(r[2][-1], where) if r[2] else "", _scalar(r[1], 0)))
            attributes = []
            for att in f[2]:
                a = pw.by_number(bytes(att), where, "SerializedTensor", {1: pw.LEN, 2: pw.LEN, 3: pw.LEN})
                name, full, key = (_text(a[n][-1], where) if a[n] else "" for n in (1, 2, 3))
                attributes.append(Attribute(name, full, key))
            slots = []
            for slot in f[3]:
                s = pw.by_number(bytes(slot), where, "SlotVariableReference", {1: pw.VARINT, 2: pw.LEN, 3: pw.VARINT})
                slots.append(SlotRef(_scalar(s[1], 0), _text(s[2][-1], where) if s[2] else "", _scalar(s[3], 0)))
            nodes.append(GraphNode(tuple(children), tuple(attributes), tuple(slots)))
        return cls(nodes, where)

    def paths(self) -> Dict[int, str]:
        """The object path of every node reachable from the root (breadth first, first path wins, as TF names them)."""
        if self._paths is None:
            paths = {0: ""}
            queue = [0]
            total = 0
            for node_id in queue:  # grows while iterating; each node enters once, so cycles end
                prefix = paths[node_id]
                for local, child in self.nodes[node_id].children:
                    if child not in paths:
                        paths[child] = local if not prefix else prefix + "/" + local
                        total += len(paths[child])
                        if total > _MAX_PATH_CHARS:  # a deep chain of long names: quadratic in the graph's size
                            raise ModelFileError(
                                "%s: the object paths exceed %d characters in all (node %d at depth %d)"
                                % (self.where, _MAX_PATH_CHARS, child, paths[child].count("/") + 1)
                            )
                        queue.append(child)
            self._paths = paths
        return self._paths

    def follow(self, *names: str) -> Optional[int]:
        """The node reached from the root through the children ``names``, or None."""
        node: Optional[int] = 0
        for name in names:
            if node is None:
                return None
            node = self.nodes[node].child(name)
        return node

    def list_items(self, node_id: Optional[int]) -> List[int]:
        """The node ids of a tracked list (children named ``0``, ``1``, ...), in index order."""
        if node_id is None:
            return []
        # ASCII digits only: str.isdigit() is true for "²", which int() refuses
        items = [(int(local), child) for local, child in self.nodes[node_id].children if _DECIMAL.fullmatch(local)]
        return [child for _, child in sorted(items)]

    def variable(self, node_id: int) -> Attribute:
        attr = self.nodes[node_id].variable()
        if attr is None or not attr.checkpoint_key:
            raise ModelFileError("%s: node %d is not a variable (no %s attribute)" % (self.where, node_id, _VARIABLE_VALUE))
        return attr


def _object_path(attr: Attribute) -> str:
    suffix = "/.ATTRIBUTES/" + _VARIABLE_VALUE
    key = attr.checkpoint_key
    return key[: -len(suffix)] if key.endswith(suffix) else key


def _optimizer_node(graph: ObjectGraph) -> Optional[int]:
    return graph.follow("optimizer")


def _var_name(attr: Attribute) -> str:
    """The variable's name as stored slot names spell it (``dense/kernel``, no ``:0``), as for ``.h5`` files."""
    return attr.full_name[:-2] if attr.full_name.endswith(":0") else attr.full_name


#: Children of the optimizer node, per generation: the iteration counter, the
#: learning-rate variable, Nadam's momentum product.
_OPT_CHILDREN = {
    "legacy": {"iterations": "iter", "learning_rate": "learning_rate", "momentum_cache": "momentum_cache"},
    "keras2": {"iterations": "_iterations", "learning_rate": "_learning_rate", "momentum_cache": "_u_product"},
}
#: The wrapper class whose checkpoint node also holds its inner optimizer's state, and its own values:
#: extra key -> path below the optimizer node.
_LOSS_SCALE = "LossScaleOptimizer"
_LOSS_SCALE_VALUES = {"loss_scale": ("loss_scale", "current_loss_scale"), "loss_scale_counter": ("loss_scale", "good_steps")}
#: Keras 2 slot kinds outside the slot table: the EMA copies of the model variables.
_KERAS2_EXTRA_SLOTS = ("average",)


class _StateReader(NoteTaker):
    def __init__(self, bundle: Bundle, graph: ObjectGraph, opt: int, canonical: Optional[Dict[str, Any]], path: str) -> None:
        self.bundle = bundle
        self.graph = graph
        self.opt = opt
        self.node = graph.nodes[opt]
        self.canonical = canonical
        self.path = path
        self.notes: List[str] = []
        self.untied = False  # stored slot values left untied (OptimizerState.untied)
        self.class_name = canonical.get("class_name") if canonical else None
        if self.class_name == _LOSS_SCALE and canonical is not None:
            # the wrapper's checkpoint node holds the inner optimizer's variables and slots itself
            inner = canonical.get("config", {}).get("inner_optimizer")
            self.class_name = inner.get("class_name") if isinstance(inner, Mapping) else None
        self.table = SLOTS.get(self.class_name) if isinstance(self.class_name, str) else None
        if canonical is not None and self.table is None:
            self.notes.append("class %r has no slot table: slots are kept under the saver's own names" % self.class_name)
        listed = graph.follow("trainable_variables")
        # Keras 2.13+ model.save writes no trainable_variables list at the root: then the model's variables
        # are those reached from the root (not through the optimizer), in graph order; the order of the
        # trainable ones is not known, so no slot is tied by position and index is the rank among the
        # variables that have slots.
        self.order_known = listed is not None
        self.trainable = graph.list_items(listed) if self.order_known else self._model_variables()
        self.paths: Dict[str, str] = {}
        self._generation: Optional[str] = None

    def _model_variables(self) -> List[int]:
        out: List[int] = []
        seen = {0}
        stack = [node for local, node in reversed(self.graph.nodes[0].children) if local not in ("optimizer", "signatures")]
        while stack:
            node = stack.pop()
            if node in seen or not 0 <= node < len(self.graph.nodes):
                continue
            seen.add(node)
            attr = self.graph.nodes[node].variable()
            if attr is not None and attr.checkpoint_key:
                out.append(node)
            stack.extend(child for local, child in reversed(self.graph.nodes[node].children) if local != "optimizer")
        return out

    def generation(self) -> str:
        if self._generation is None:
            self._generation = self._find_generation()
        return self._generation

    def _find_generation(self) -> str:
        names = {local for local, _ in self.node.children}
        if "_iterations" in names or "_variables" in names:
            return "keras2"
        if "iter" in names or self.node.slot_variables:
            return "legacy"
        raise ModelFileError(
            "%s: the checkpoint's optimizer node has neither 'iter' (legacy optimizers) nor '_iterations' (Keras 2 ones); "
            "children: %s" % (self.bundle.index_path, sorted(names)[:20])
        )

    def _value(self, node_id: int, what: Optional[str] = None) -> Any:
        """A variable's value: a real-number array (a string or complex tensor is malformed here)."""
        key = self.graph.variable(node_id).checkpoint_key
        value = self.bundle.value(key)
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        if kind not in ("b", "i", "u", "f"):
            held = "a string tensor" if isinstance(value, list) else "dtype %s" % getattr(value, "dtype", None)
            raise ModelFileError(
                "%s: %s (%s) holds %s, not numbers" % (self.bundle.index_path, what or "variable %r" % key, key, held)
            )
        return value

    def _shape(self, key: str) -> Tuple[int, ...]:
        entry = self.bundle.entries.get(key)
        if entry is None:
            raise ModelFileError(
                "%s: the object graph names %r, which the checkpoint index lacks" % (self.bundle.index_path, key)
            )
        return tuple(entry.shape)

    def _child_value(self, what: str) -> Any:
        child = self.node.child(_OPT_CHILDREN[self.generation()][what])
        return None if child is None else self._value(child, "the optimizer's %s" % what)

    def iterations(self) -> Optional[int]:
        value = self._child_value("iterations")
        if value is None:
            self.notes.append("the optimizer stores no iteration count")
            return None
        if value.shape != () or value.dtype.kind not in "iu":
            raise ModelFileError("%s: the optimizer's iteration count is not an integer scalar" % self.bundle.index_path)
        return int(value)

    def extra(self) -> Dict[str, Any]:
        out = {}
        for what in ("learning_rate", "momentum_cache"):
            if what == "momentum_cache" and self.class_name != "Nadam":
                continue
            value = self._child_value(what)
            if value is not None and value.shape == ():
                out[what] = float(value)
        for what, (first, second) in _LOSS_SCALE_VALUES.items():
            holder = self.node.child(first)
            node = None if holder is None else self.graph.nodes[holder].child(second)
            if node is not None and self.graph.nodes[node].variable() is not None:
                value = self._value(node, "the loss scale's %s" % second)
                if value.shape == ():
                    out[what] = value.item()
        return out

    def _canonical_slot(self, generation: str, own: str) -> str:
        if self.table is None:
            return own
        for slot in self.table:
            if getattr(slot, generation) == own:
                return slot.canonical
        if own not in _KERAS2_EXTRA_SLOTS:
            self.notes.append("slot %r is not in the slot table of %s: kept under its own name" % (own, self.class_name))
        return own

    def _state(self, var_node: int, slots: Dict[str, Any], tie: str) -> VariableState:
        attr = self.graph.variable(var_node)
        name = _var_name(attr) if attr.full_name else _object_path(attr)
        self.paths[name] = _object_path(attr)
        index = self.trainable.index(var_node) if var_node in self.trainable else -1
        shape = self._shape(attr.checkpoint_key)
        for slot, value in slots.items():
            if tuple(value.shape) != shape:
                raise ModelFileError(
                    "%s: slot %r of %s has shape %s, the variable %s"
                    % (self.bundle.index_path, slot, name, list(value.shape), list(shape))
                )
        return VariableState(name, index, shape, slots, tie)

    def _ordered(self, states: List[VariableState]) -> Tuple[VariableState, ...]:
        ordered = sorted(states, key=lambda s: (s.index < 0, s.index))
        if not self.order_known:  # graph order of the variables with slots: their rank is their index
            ordered = [state._replace(index=k) if state.index >= 0 else state for k, state in enumerate(ordered)]
        return tuple(ordered)

    def legacy_slots(self) -> Tuple[VariableState, ...]:
        per_var: Dict[int, Dict[str, Any]] = {}
        for ref in self.node.slot_variables:
            self.graph.variable(ref.original)  # the edge must end at a variable
            slot = self._canonical_slot("legacy", ref.slot_name)
            slots = per_var.setdefault(ref.original, {})
            if slot in slots:
                raise ModelFileError("%s: two %r slots for one variable (node %d)" % (self.bundle.index_path, slot, ref.original))
            slots[slot] = self._value(ref.slot)
        return self._ordered([self._state(var, slots, "object-graph") for var, slots in per_var.items()])

    def keras2_slots(self) -> Tuple[VariableState, ...]:
        items = self.graph.list_items(self.node.child("_variables"))
        skip = {self.node.child(name) for name in _OPT_CHILDREN["keras2"].values()}
        own_names = [s.keras2 for s in self.table if s.keras2] if self.table else []
        kinds = list(dict.fromkeys(own_names + list(_KERAS2_EXTRA_SLOTS)))
        var_names = {n: self.graph.variable(n).full_name for n in self.trainable}
        # (kind, candidate model variables) per slot variable, in list order
        parsed: List[Tuple[int, str, List[int]]] = []
        for item in items:
            if item in skip:
                continue
            full = self.graph.variable(item).full_name
            # "{optimizer name scope}/{slot}/{variable}"; the scope is empty under a Keras 2.15 LossScaleOptimizer
            found = [(k, n) for k in kinds for n, v in var_names.items() if v and ("/" + full).endswith("/%s/%s" % (k, v))]
            found_kinds = {k for k, _ in found}
            if len(found_kinds) != 1:
                self._untie("optimizer variable %r: no single slot kind and variable match its name; left out" % full)
                continue
            parsed.append((item, found_kinds.pop(), [n for _, n in found]))
        per_var: Dict[int, Dict[str, Any]] = {}
        ties: Dict[int, str] = {}
        by_kind: Dict[str, List[Tuple[int, List[int]]]] = {}
        for item, kind, candidates in parsed:
            by_kind.setdefault(kind, []).append((item, candidates))
        for kind, entries in by_kind.items():
            slot = self._canonical_slot("keras2", kind)
            if all(len(c) == 1 for _, c in entries) and len({c[0] for _, c in entries}) == len(entries):
                pairs = [(item, c[0], "name") for item, c in entries]
            elif self._position_determined(entries):
                pairs = [(item, var, "position") for (item, _), var in zip(entries, self.trainable)]
            else:
                self._untie("slot %r: variable names are ambiguous and the layout is not determined; left out" % kind)
                continue
            for item, var, tie in pairs:
                per_var.setdefault(var, {})[slot] = self._value(item)
                ties[var] = "position" if tie == "position" or ties.get(var) == "position" else "name"
        return self._ordered([self._state(var, slots, ties[var]) for var, slots in per_var.items()])

    def _position_determined(self, entries: List[Tuple[int, List[int]]]) -> bool:
        """The k-th slot of a kind belongs to the k-th trainable variable (the optimizer builds its lists in
        training-variable order): only when the counts agree and every candidate and shape fits."""
        if not self.order_known or len(entries) != len(self.trainable):
            return False
        for (item, candidates), var in zip(entries, self.trainable):
            if var not in candidates:
                return False
            slot_key = self.graph.variable(item).checkpoint_key
            var_key = self.graph.variable(var).checkpoint_key
            if self._shape(slot_key) != self._shape(var_key):
                return False
        return True
