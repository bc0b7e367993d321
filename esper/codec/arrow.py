"""Avro records to Arrow columns, for consumers that want column batches rather than models.

The input records are what fastavro reads with every logical type dropped, so timestamps
arrive as integers and become Arrow timestamps without a detour through ``datetime``.

| Avro                                   | Arrow                                  |
|----------------------------------------|----------------------------------------|
| record                                 | struct                                 |
| enum, string, string/uuid              | string                                 |
| long/timestamp-micros                  | timestamp[us, tz=UTC]                  |
| array, map                             | list, map<string, ...>                 |
| ["null", T]                            | T, nullable                            |
| union of other primitives (Attributes) | sparse union (DuckDB reads it as UNION) |
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import pyarrow as pa

from esper.codec.avro import Schema, named_definitions

_PRIMITIVES = {
    "null": pa.null(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
    "string": pa.string(),
}
_LOGICAL = {
    "timestamp-micros": pa.timestamp("us", tz="UTC"),
    "timestamp-millis": pa.timestamp("ms", tz="UTC"),
    "local-timestamp-micros": pa.timestamp("us"),
    "local-timestamp-millis": pa.timestamp("ms"),
    "date": pa.date32(),
    "time-micros": pa.time64("us"),
    "time-millis": pa.time32("ms"),
}
# The union branch a Python value read by fastavro belongs to, by Avro type name.
_BRANCH_OF = {
    type(None): ("null",),
    bool: ("boolean",),
    int: ("long", "int"),
    float: ("double", "float"),
    str: ("string",),
    bytes: ("bytes",),
}


class RecordBatchBuilder:
    """Builds Arrow record batches for one self-contained Avro record schema."""

    def __init__(self, schema: Schema):
        self._names = named_definitions(schema)
        record = self._column(schema)
        if not isinstance(record, _Struct):
            raise TypeError(f"record batches need a record schema, not {schema!r}")
        self._record = record
        self.schema = pa.schema(list(record.type))

    def build(self, records: list[dict[str, Any]]) -> pa.RecordBatch:
        columns = self._record.columns(records)
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def _column(self, schema: Schema) -> _Column:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _Scalar(_PRIMITIVES[schema])
            return self._column(self._names[schema])
        if isinstance(schema, list):
            branches = [b for b in schema if b != "null"]
            if len(branches) == 1:
                return self._column(branches[0])
            return _Union(schema)
        kind = schema["type"]
        if kind in ("record", "error"):
            return _Struct([(f["name"], self._column(f["type"])) for f in schema["fields"]])
        if kind == "enum":
            return _Scalar(pa.string())
        if kind == "fixed":
            return _Scalar(pa.binary(schema["size"]))
        if kind == "array":
            return _List(self._column(schema["items"]))
        if kind == "map":
            return _Map(self._column(schema["values"]))
        return _Scalar(_LOGICAL.get(schema.get("logicalType"), _PRIMITIVES[kind]))


class _Column:
    type: pa.DataType

    def build(self, values: list[Any]) -> pa.Array:
        raise NotImplementedError


class _Scalar(_Column):
    def __init__(self, arrow_type: pa.DataType):
        self.type = arrow_type

    def build(self, values: list[Any]) -> pa.Array:
        return pa.array(values, type=self.type)


class _Struct(_Column):
    def __init__(self, fields: list[tuple[str, _Column]]):
        self._children = [column for _, column in fields]
        self._names = [name for name, _ in fields]
        # itemgetter returns a tuple for several names but a bare value for one: keep tuples.
        only = self._names[0]
        self._row = itemgetter(*self._names) if len(fields) > 1 else (lambda r: (r[only],))
        self._empty = dict.fromkeys(self._names)
        self.type = pa.struct([pa.field(name, column.type) for name, column in fields])

    def columns(self, records: list[dict[str, Any]]) -> list[pa.Array]:
        if not records:
            return [child.build([]) for child in self._children]
        transposed = zip(*map(self._row, records))
        return [child.build(list(values)) for child, values in zip(self._children, transposed)]

    def build(self, values: list[Any]) -> pa.Array:
        mask = _null_mask(values)
        rows = values if mask is None else [self._empty if v is None else v for v in values]
        return pa.StructArray.from_arrays(self.columns(rows), fields=list(self.type), mask=mask)


class _List(_Column):
    def __init__(self, items: _Column):
        self._items = items
        self.type = pa.list_(items.type)

    def build(self, values: list[Any]) -> pa.Array:
        mask = _null_mask(values)
        offsets, flat = [0], []
        for value in values:
            if value:
                flat.extend(value)
            offsets.append(len(flat))
        offsets_array = pa.array(offsets, pa.int32())
        return pa.ListArray.from_arrays(offsets_array, self._items.build(flat), mask=mask)


class _Map(_Column):
    def __init__(self, values: _Column):
        self._values = values
        self.type = pa.map_(pa.string(), values.type)

    def build(self, values: list[Any]) -> pa.Array:
        mask = _null_mask(values)
        offsets, keys, items = [0], [], []
        for value in values:
            if value:
                keys.extend(value.keys())
                items.extend(value.values())
            offsets.append(len(keys))
        return pa.MapArray.from_arrays(
            pa.array(offsets, pa.int32()),
            pa.array(keys, pa.string()),
            self._values.build(items),
            mask=mask,
        )


class _Union(_Column):
    """A union of primitives as a sparse union: one child per branch, one type code per row."""

    def __init__(self, branches: list[Schema]):
        if not all(isinstance(b, str) and b in _PRIMITIVES for b in branches):
            raise NotImplementedError(
                f"Arrow columns for the union {branches}: only unions of primitives"
            )
        self._branches = branches
        self._code = {
            python: branches.index(name)
            for python, names in _BRANCH_OF.items()
            for name in names
            if name in branches
        }
        self.type = pa.sparse_union(
            [pa.field(b, _PRIMITIVES[b]) for b in branches], list(range(len(branches)))
        )

    def build(self, values: list[Any]) -> pa.Array:
        codes = [self._code[type(value)] for value in values]
        children: list[list[Any]] = [[None] * len(values) for _ in self._branches]
        for row, (code, value) in enumerate(zip(codes, values)):
            children[code][row] = value
        arrays = [pa.array(column, _PRIMITIVES[b]) for b, column in zip(self._branches, children)]
        return pa.UnionArray.from_sparse(pa.array(codes, pa.int8()), arrays, self._branches)


def _null_mask(values: list[Any]) -> pa.Array | None:
    if all(v is not None for v in values):
        return None
    return pa.array([v is None for v in values], pa.bool_())
