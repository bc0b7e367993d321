"""Avro bodies decoded a column at a time, with numpy: no Python work per record.

fastavro reads a body in about 4.5 µs and makes a dict of it, which then has to be transposed
into Arrow columns. Here every body of a batch is read in lockstep instead: one numpy array
holds each body's read position, and each field is read for all bodies at once (a varint in a
few vectorized passes, a double as one 8-byte gather, strings as one gather into an Arrow data
buffer). A batch costs a few numpy calls per field, whatever its length.

A plan covers records, enums, fixed, the primitives and unions of null with one other type:
every event whose Arrow path is hot (HealthSignal above all). For other schemas ``plan`` returns
None and the caller reads with fastavro. Reading another version of a schema than the current
one is covered where resolution only adds fields with defaults, drops fields or keeps enum
symbols; anything else also returns None.

Bodies are not trusted: a read past a body's end, a union or enum index out of range, a varint
over ten bytes, an int beyond 32 bits, a boolean byte other than 0 or 1, invalid UTF-8 or a body
that does not end where its value ends raises ``Malformed``, and the caller re-reads the batch
record by record to say which value is wrong and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from esper.codec.arrow import _LOGICAL, _PRIMITIVES
from esper.codec.avro import Schema, named_definitions

PADDING = 16
"""Zero bytes after the last body: a varint or fixed-size read that starts at a body's end
stays inside the buffer, and the bounds check after it rejects the body."""

_U7 = np.uint64(0x7F)
_CONTINUES = np.uint64(0x80)


class Malformed(Exception):
    """Some body of the batch does not follow its schema; which one is for a slower reader."""


def concatenated(values: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One buffer holding ``values`` and then PADDING zero bytes, and where each value starts
    and ends in it."""
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    ends = np.cumsum(lengths)
    return np.frombuffer(b"".join(values) + bytes(PADDING), np.uint8), ends - lengths, ends


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def python_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The rows of a batch a plan read, as the dicts fastavro reads: records as dicts,
    timestamps as aware UTC datetimes. Raises OverflowError for a timestamp beyond datetime's
    years, as fastavro does."""
    names = batch.schema.names
    return [dict(zip(names, row))
            for row in zip(*(python_values(column) for column in batch.columns))]


def python_values(array: pa.Array) -> list[Any]:
    """A column's values as fastavro reads them (see ``python_rows``)."""
    kind = array.type
    if pa.types.is_struct(kind):
        names = [field.name for field in kind]
        rows = [dict(zip(names, row))
                for row in zip(*(python_values(array.field(i)) for i in range(kind.num_fields)))]
        if array.null_count:
            rows = [row if valid else None
                    for row, valid in zip(rows, array.is_valid().to_pylist())]
        return rows
    if pa.types.is_timestamp(kind):
        # Arrow's own conversion gives zoneinfo datetimes, and at five times the cost.
        if kind.tz != "UTC":
            raise TypeError(f"{kind}: only UTC timestamps")
        step = timedelta(microseconds=1) if kind.unit == "us" else timedelta(milliseconds=1)
        return [None if ticks is None else _EPOCH + step * ticks
                for ticks in array.cast(pa.int64()).to_pylist()]
    return array.to_pylist()


class Bodies:
    """The batch: one byte buffer, each body's end, and each body's next read position."""

    def __init__(self, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray):
        self.buffer = buffer
        self.position = starts.astype(np.int64)
        self.ends = ends.astype(np.int64)

    def check(self, rows: Any) -> None:
        if np.any(self.position[rows] > self.ends[rows]):
            raise Malformed("a body ends early")

    def varints(self, rows: Any) -> np.ndarray:
        """The unsigned varint at each row's position, as uint64; positions move past it."""
        at = self.position[rows]
        byte = self.buffer[at].astype(np.uint64)
        value = byte & _U7
        length = np.ones(len(at), np.int64)
        going = np.flatnonzero(byte & _CONTINUES)
        shift = np.uint64(7)
        while going.size:
            if shift > 63:
                raise Malformed("a varint longer than ten bytes")
            byte = self.buffer[at[going] + length[going]].astype(np.uint64)
            value[going] |= (byte & _U7) << shift
            length[going] += 1
            going = going[(byte & _CONTINUES) != 0]
            shift += np.uint64(7)
        self.position[rows] = at + length
        self.check(rows)
        return value

    def longs(self, rows: Any) -> np.ndarray:
        raw = self.varints(rows)
        return (raw >> np.uint64(1)).astype(np.int64) ^ -(raw & np.uint64(1)).astype(np.int64)

    def fixed(self, rows: Any, size: int) -> np.ndarray:
        """``size`` bytes per row, as a (rows, size) uint8 array."""
        at = self.position[rows]
        if np.any(at + size > self.ends[rows]):
            raise Malformed("a body ends early")
        taken = self.buffer[at[:, None] + np.arange(size)]
        self.position[rows] = at + size  # last: with a slice for rows, ``at`` is a view
        return taken

    def sized(self, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        """Length-prefixed bytes (Avro bytes and string): Arrow offsets and data."""
        lengths = self.longs(rows)
        at = self.position[rows]
        if np.any(lengths < 0) or np.any(at + lengths > self.ends[rows]):
            raise Malformed("a length beyond its body")
        offsets = np.zeros(len(at) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if offsets[-1] >= 2**31:
            raise Malformed("more than 2 GiB of text in one column")
        if len(at) and np.all(lengths == lengths[0]):  # UUIDs, names: one gather
            data = self.buffer[at[:, None] + np.arange(lengths[0])].ravel()
        else:
            data = self.buffer[np.repeat(at - offsets[:-1], lengths) + np.arange(offsets[-1])]
        self.position[rows] = at + lengths
        return offsets.astype(np.int32), data


class _Column:
    type: pa.DataType

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        """This column for ``count`` rows (``rows`` selects them in ``bodies``)."""
        raise NotImplementedError


class _Long(_Column):
    def __init__(self, arrow_type: pa.DataType, bits: int = 64):
        self.type, self.bits = arrow_type, bits

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        values = bodies.longs(rows)
        if self.bits == 32:
            if np.any((values < -(2**31)) | (values >= 2**31)):
                raise Malformed("an int beyond 32 bits")
            values = values.astype(np.int32)
        return pa.array(values, self.type)


class _Floating(_Column):
    def __init__(self, arrow_type: pa.DataType, dtype: str):
        self.type, self.dtype = arrow_type, np.dtype(dtype)

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        return pa.array(bodies.fixed(rows, self.dtype.itemsize).view(self.dtype).ravel(),
                        self.type)


class _Boolean(_Column):
    type = pa.bool_()

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        byte = bodies.fixed(rows, 1).ravel()
        if np.any(byte > 1):
            raise Malformed("a boolean byte other than 0 or 1")
        return pa.array(byte.astype(bool))


class _Sized(_Column):
    def __init__(self, arrow_type: pa.DataType):
        self.type = arrow_type

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        offsets, data = bodies.sized(rows)
        array = pa.Array.from_buffers(self.type, count,
                                      [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        try:
            array.validate(full=True)  # UTF-8, for strings
        except pa.ArrowInvalid as error:
            raise Malformed(str(error)) from None
        return array


class _Fixed(_Column):
    def __init__(self, size: int):
        self.type, self.size = pa.binary(size), size

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        data = bodies.fixed(rows, self.size)
        return pa.Array.from_buffers(self.type, count, [None, pa.py_buffer(data.ravel())])


class _Null(_Column):
    type = pa.null()

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        return pa.nulls(count)


class _Enum(_Column):
    type = pa.string()

    def __init__(self, symbols: list[str]):
        self.symbols = pa.array(symbols, pa.string())

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        index = bodies.longs(rows)
        if np.any((index < 0) | (index >= len(self.symbols))):
            raise Malformed("an enum index out of range")
        return self.symbols.take(pa.array(index))


class _Optional(_Column):
    """A union of null and one type: a branch index, then the value on the non-null rows."""

    def __init__(self, null_branch: int, value: _Column):
        self.null_branch, self.value, self.type = null_branch, value, value.type

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        branch = bodies.longs(rows)
        if np.any((branch != 0) & (branch != 1)):
            raise Malformed("a union index out of range")
        present = branch != self.null_branch
        selected = np.arange(len(bodies.position))[rows][present]
        values = self.value.read(bodies, selected, len(selected))
        if len(selected) == count:
            return values
        slots = np.cumsum(present) - 1
        return values.take(pa.array(slots, mask=~present))


class _Record(_Column):
    """A record read in writer order, given out as a struct in reader order."""

    def __init__(self, fields: list[tuple[str, _Column]], output: list[tuple[str, Any]]):
        # output: (name, "read") for a writer field the reader keeps, else (name, (type, default))
        self.fields, self.output = fields, output
        types = dict((name, column.type) for name, column in fields)
        self.type = pa.struct([
            pa.field(name, types[name] if how == "read" else how[0]) for name, how in output])

    def arrays(self, bodies: Bodies, rows: Any, count: int) -> list[pa.Array]:
        read = {name: column.read(bodies, rows, count) for name, column in self.fields}
        return [read[name] if how == "read" else _constant(how[1], how[0], count)
                for name, how in self.output]

    def read(self, bodies: Bodies, rows: Any, count: int) -> pa.Array:
        return pa.StructArray.from_arrays(self.arrays(bodies, rows, count),
                                          fields=list(self.type))


def _constant(value: Any, arrow_type: pa.DataType, count: int) -> pa.Array:
    return pa.array([value], arrow_type).take(pa.array(np.zeros(count, np.int64)))


class Plan:
    """How to read bodies of one writer schema as Arrow columns of the reader schema."""

    def __init__(self, record: _Record):
        self._record = record
        self.schema = pa.schema(list(record.type))

    def read(self, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.RecordBatch:
        """The bodies at ``starts:ends`` of ``buffer`` (followed by PADDING zero bytes)."""
        bodies = Bodies(buffer, starts, ends)
        count = len(starts)
        arrays = self._record.arrays(bodies, slice(None), count)
        if not np.array_equal(bodies.position, bodies.ends):
            raise Malformed("a body does not end where its value ends")
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


class _Unsupported(Exception):
    pass


def plan(writer: Schema, reader: Schema | None = None) -> Plan | None:
    """A plan for bodies written with ``writer`` and read as ``reader`` (default: the same),
    or None where this module does not cover the schemas (see the module docstring)."""
    writer_names = named_definitions(writer)
    reader_names = named_definitions(reader if reader is not None else writer)
    try:
        record = _column(writer, reader if reader is not None else writer,
                         writer_names, reader_names)
    except _Unsupported:
        return None
    if not isinstance(record, _Record):
        return None
    return Plan(record)


def _named(schema: Schema, names: dict[str, Any]) -> Schema:
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        return names[schema]
    return schema


def _kind(schema: Schema) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    return schema["type"]


def _column(writer: Schema, reader: Schema, wn: dict, rn: dict) -> _Column:
    writer, reader = _named(writer, wn), _named(reader, rn)
    kind = _kind(writer)
    if kind != _kind(reader):
        raise _Unsupported
    if kind == "union":
        return _optional(writer, reader, wn, rn)
    if kind in ("record", "error"):
        return _record(writer, reader, wn, rn)
    if kind == "enum":
        if not set(writer["symbols"]) <= set(reader["symbols"]):
            raise _Unsupported
        return _Enum(writer["symbols"])
    if kind == "fixed":
        if writer["size"] != reader["size"]:
            raise _Unsupported
        return _Fixed(writer["size"])
    base = kind if isinstance(writer, str) else writer["type"]
    logical = None if isinstance(reader, str) else reader.get("logicalType")
    arrow_type = _LOGICAL.get(logical, _PRIMITIVES.get(base))
    if base in ("long", "int"):
        return _Long(arrow_type, 64 if base == "long" else 32)
    if base in ("double", "float"):
        return _Floating(arrow_type, "<f8" if base == "double" else "<f4")
    if base == "boolean":
        return _Boolean()
    if base in ("string", "bytes"):
        return _Sized(arrow_type)
    if base == "null":
        return _Null()
    raise _Unsupported  # arrays, maps


def _optional(writer: list, reader: list, wn: dict, rn: dict) -> _Optional:
    if len(writer) != 2 or "null" not in writer or writer != reader:
        raise _Unsupported
    null_branch = writer.index("null")
    other = writer[1 - null_branch]
    return _Optional(null_branch, _column(other, other, wn, rn))


def _record(writer: dict, reader: dict, wn: dict, rn: dict) -> _Record:
    reader_fields = {f["name"]: f for f in reader["fields"]}
    if any(f.get("aliases") for f in reader["fields"]):
        raise _Unsupported
    fields = []
    for field in writer["fields"]:
        kept = reader_fields.get(field["name"])
        fields.append((field["name"], _column(field["type"],
                                              kept["type"] if kept else field["type"], wn, rn)))
    written = {name for name, _ in fields}
    output: list[tuple[str, Any]] = []
    for field in reader["fields"]:
        if field["name"] in written:
            output.append((field["name"], "read"))
        elif "default" in field:
            output.append((field["name"], (_default_type(field["type"], rn), field["default"])))
        else:
            raise _Unsupported
    return _Record(fields, output)


def _default_type(schema: Schema, names: dict) -> pa.DataType:
    """The Arrow type of a field the writer lacks; only scalar defaults are covered."""
    column = _column(schema, schema, names, names)
    if isinstance(column, (_Record, _Fixed)):
        raise _Unsupported
    return column.type
