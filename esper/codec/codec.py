"""The codec: events to Kafka record values and back, one at a time or in batches.

Values use Avro single-object encoding: 0xC3 0x01, the writer schema's 8-byte CRC-64-AVRO
fingerprint (little-endian), then the Avro binary body. The fingerprint finds the writer schema
in the store (any released version), and Avro schema resolution reads it as the current schema,
so that every value ever written decodes into today's model. With a Schema Registry configured,
values are written in the Confluent wire format instead (0x00, a 4-byte schema id, the body),
and both framings are read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Literal

import pyarrow as pa
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from pydantic import ValidationError

from esper.codec.arrow import RecordBatchBuilder
from esper.codec.confluent import CONFLUENT_MAGIC, ConfluentRegistry
from esper.codec.errors import (
    BadMagic,
    DecodeError,
    EncodeError,
    InvalidEvent,
    MalformedBody,
    TrailingBytes,
    TruncatedValue,
    UnknownFingerprint,
)
from esper.codec.records import record_converter
from esper.codec.avro import without_logical_types
from esper.codec.store import SchemaStore, SchemaVersion, fingerprint_of_schema
from esper.contracts import EVENT_MODELS, Event

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
_CONFLUENT_HEADER_SIZE = 5
_UUID = frozenset({"uuid"})


@dataclass(frozen=True)
class _Writer:
    header: bytes
    schema: dict[str, Any]
    to_record: Callable[[Event], dict[str, Any]]


class _Reader:
    """Reads the values of one writer schema as the current model.

    Bodies are read with a copy of the schemas whose ``uuid`` logical types are dropped: the
    bytes are the same (logical types are not part of the fingerprint), and the model wants
    the UUID as the string it was written from, not a ``uuid.UUID`` to convert back.
    """

    def __init__(self, version: SchemaVersion, model: type[Event] | None, current: SchemaVersion | None):
        self.version = version
        self.model = model
        self.fingerprint_hex = version.fingerprint_hex
        self.writer = parse_schema(without_logical_types(version.schema, _UUID))
        same = current is None or current.fingerprint == version.fingerprint
        self.reader = None if same else parse_schema(without_logical_types(current.schema, _UUID))
        self._current = current
        # The validator itself: model_validate adds a Python layer that costs ~0.5 us per event.
        self._validate = None if model is None else model.__pydantic_validator__.validate_python
        self._arrow: tuple[dict[str, Any], dict[str, Any] | None, RecordBatchBuilder] | None = None

    def read(self, stream: io.BytesIO) -> dict[str, Any]:
        try:
            return schemaless_reader(stream, self.writer, self.reader)
        except EOFError:
            raise TruncatedValue(
                f"the {self.version.name} body ends early", fingerprint=self.fingerprint_hex
            ) from None
        except Exception as error:  # fastavro signals a corrupt body with many exception types
            raise MalformedBody(
                f"the {self.version.name} body does not parse: {type(error).__name__}: {error}",
                fingerprint=self.fingerprint_hex,
            ) from None

    def validate(self, record: dict[str, Any]) -> Event:
        if self.model is None:
            raise UnknownFingerprint(
                f"{self.version.name} {self.version.label} has no model to decode into",
                fingerprint=self.fingerprint_hex,
            )
        try:
            return self._validate(record)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(record)"
            raise InvalidEvent(
                f"invalid {self.model.__name__}: {field}: {first['msg']}",
                field=field,
                fingerprint=self.fingerprint_hex,
            ) from None

    def arrow(self) -> tuple[dict[str, Any], dict[str, Any] | None, RecordBatchBuilder]:
        """Schemas without any logical type (timestamps stay integers) and the column builder."""
        if self._arrow is None:
            target = self._current or self.version
            writer = parse_schema(without_logical_types(self.version.schema))
            reader = None if target is self.version else parse_schema(without_logical_types(target.schema))
            self._arrow = (writer, reader, RecordBatchBuilder(target.schema))
        return self._arrow


class Codec:
    """Encodes events to record values and decodes them back; see the module docstring."""

    def __init__(
        self,
        store: SchemaStore | None = None,
        *,
        models: Mapping[str, type[Event]] = EVENT_MODELS,
        registry: ConfluentRegistry | None = None,
    ):
        self.store = store if store is not None else SchemaStore.load(models)
        self.registry = registry
        self._models = dict(models)
        self._writers: dict[type[Event], _Writer] = {}
        self._readers: dict[bytes, _Reader] = {}
        self._registry_readers: dict[int, _Reader] = {}
        for name, model in self._models.items():
            current = self.store.current(name)
            schema = parse_schema(dict(current.schema))
            self._writers[model] = _Writer(MAGIC + current.fingerprint, schema, record_converter(model))
        for version in self.store.versions():
            self._readers[version.fingerprint] = self._reader(version)

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, event: Event) -> bytes:
        """One event as a record value."""
        writer = self._writer(type(event))
        stream = io.BytesIO()
        stream.write(self._header(type(event), writer))
        self._write_body(stream, writer, event)
        return stream.getvalue()

    def encode_batch(self, events: Iterable[Event]) -> list[bytes]:
        """Many events as record values, written through one buffer."""
        stream = io.BytesIO()
        ends = []
        for event in events:
            writer = self._writer(type(event))
            stream.write(self._header(type(event), writer))
            self._write_body(stream, writer, event)
            ends.append(stream.tell())
        data = stream.getbuffer()
        values, start = [], 0
        for end in ends:
            values.append(bytes(data[start:end]))
            start = end
        return values

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, value: bytes, *, where: str | None = None) -> Event:
        """One record value as its event, in the current model; raises a DecodeError."""
        try:
            reader, start = self._reader_for(value)
            stream = io.BytesIO(value)
            stream.seek(start)
            record = reader.read(stream)
            _check_end(stream.tell(), len(value), reader)
            return reader.validate(record)
        except DecodeError as error:
            raise error.at(where) if where is not None else error from None

    def decode_batch(
        self,
        values: Sequence[bytes],
        *,
        where: str | None = None,
        errors: Literal["raise", "return"] = "raise",
    ) -> list[Any]:
        """Many record values as events, in order.

        With ``errors="raise"`` the first bad value raises its DecodeError (``index`` says
        which); with ``errors="return"`` it takes the event's place in the result instead, so
        that a consumer can dead-letter it and go on.
        """
        stream = io.BytesIO(b"".join(values))
        decoded: list[Any] = []
        end = 0
        for index, value in enumerate(values):
            start, end = end, end + len(value)
            try:
                reader, header = self._reader_for(value)
                stream.seek(start + header)
                record = reader.read(stream)
                _check_end(stream.tell() - start, len(value), reader)
                decoded.append(reader.validate(record))
            except DecodeError as error:
                located = error.at(where, index)
                if errors == "raise":
                    raise located from None
                decoded.append(located)
        return decoded

    def decode_to_arrow(self, values: Sequence[bytes], name: str) -> pa.RecordBatch:
        """Values of one event type (any version) as Arrow columns, without building models.

        Columns follow the current schema: records become structs, arrays lists, maps maps,
        attribute values sparse unions, timestamps ``timestamp[us, UTC]``. Framing, fingerprints,
        the Avro types and schema resolution are checked; the models' constraints (ranges,
        patterns, cross-field rules) are not: use ``decode_batch`` where they must be.
        """
        name = self.store.resolve_name(name)
        builder = self._arrow_target(name)
        stream = io.BytesIO(b"".join(values))
        records = []
        end = 0
        for index, value in enumerate(values):
            start, end = end, end + len(value)
            try:
                reader, header = self._reader_for(value)
                if reader.version.name != name:
                    raise DecodeError(
                        f"a {reader.version.name} value among {name} values",
                        fingerprint=reader.fingerprint_hex,
                    )
                writer_schema, reader_schema, _ = reader.arrow()
                stream.seek(start + header)
                try:
                    records.append(schemaless_reader(stream, writer_schema, reader_schema))
                except EOFError:
                    raise TruncatedValue(f"the {name} body ends early", fingerprint=reader.fingerprint_hex) from None
                except Exception as error:
                    raise MalformedBody(
                        f"the {name} body does not parse: {type(error).__name__}: {error}",
                        fingerprint=reader.fingerprint_hex,
                    ) from None
                _check_end(stream.tell() - start, len(value), reader)
            except DecodeError as error:
                raise error.at(index=index) from None
        return builder.build(records)

    def fingerprint_of(self, value: bytes) -> str:
        """Hex fingerprint of a value's writer schema, from its header (for headers and errors)."""
        reader, _ = self._reader_for(value)
        return reader.fingerprint_hex

    def writer_schema_of(self, value: bytes) -> SchemaVersion:
        """The writer schema (name, version, JSON) a value was encoded with."""
        reader, _ = self._reader_for(value)
        return reader.version

    # -- internals --------------------------------------------------------------------------

    def _writer(self, model: type[Event]) -> _Writer:
        try:
            return self._writers[model]
        except KeyError:
            raise EncodeError(
                f"{model.__name__} is not an event with a schema; events are: "
                f"{', '.join(sorted(m.__name__ for m in self._writers))}"
            ) from None

    def _header(self, model: type[Event], writer: _Writer) -> bytes:
        if self.registry is None:
            return writer.header
        current = self.store.current(model.avro_name)
        return CONFLUENT_MAGIC + self.registry.schema_id(current).to_bytes(4, "big")

    @staticmethod
    def _write_body(stream: io.BytesIO, writer: _Writer, event: Event) -> None:
        try:
            schemaless_writer(stream, writer.schema, writer.to_record(event))
        except Exception as error:  # fastavro refuses values with several exception types
            raise EncodeError(
                f"cannot encode {type(event).__name__}: {type(error).__name__}: {error}"
            ) from None

    def _reader_for(self, value: bytes) -> tuple[_Reader, int]:
        """The reader for a value's writer schema, and where its body starts."""
        if value[:2] == MAGIC:
            if len(value) < HEADER_SIZE:
                raise TruncatedValue(f"{len(value)} bytes, shorter than the {HEADER_SIZE}-byte header")
            fingerprint = bytes(value[2:HEADER_SIZE])
            reader = self._readers.get(fingerprint)
            if reader is None:
                raise UnknownFingerprint(
                    "no known schema has this fingerprint (neither current nor released)",
                    fingerprint=fingerprint.hex(),
                )
            return reader, HEADER_SIZE
        if value[:1] == CONFLUENT_MAGIC:
            return self._registry_reader(value), _CONFLUENT_HEADER_SIZE
        if MAGIC.startswith(bytes(value[:2])):  # empty, or the first magic byte alone
            raise TruncatedValue(f"{len(value)} bytes, shorter than the {HEADER_SIZE}-byte header")
        raise BadMagic(
            f"starts with {bytes(value[:2]).hex()}, not c301 (Avro single-object encoding)"
            + ("" if self.registry else " or 00 (Confluent framing, with a registry configured)")
        )

    def _registry_reader(self, value: bytes) -> _Reader:
        if self.registry is None:
            raise BadMagic("Confluent framing (magic 0) but no schema registry is configured")
        if len(value) < _CONFLUENT_HEADER_SIZE:
            raise TruncatedValue(f"{len(value)} bytes, shorter than the 5-byte Confluent header")
        schema_id = int.from_bytes(value[1:_CONFLUENT_HEADER_SIZE], "big")
        reader = self._registry_readers.get(schema_id)
        if reader is None:
            schema = self.registry.schema(schema_id)
            fingerprint = fingerprint_of_schema(schema)
            reader = self._readers.get(fingerprint)
            if reader is None:  # a writer version we never released: resolve from the registry's copy
                name = parse_schema(schema)["name"]
                reader = self._reader(SchemaVersion(name, schema, fingerprint, version=None))
            self._registry_readers[schema_id] = reader
        return reader

    def _reader(self, version: SchemaVersion) -> _Reader:
        model = self._models.get(version.name)
        current = self.store.current(version.name) if model is not None else None
        return _Reader(version, model, current)

    def _arrow_target(self, name: str) -> RecordBatchBuilder:
        current = self.store.current(name)
        return self._readers[current.fingerprint].arrow()[2]


def _check_end(consumed: int, size: int, reader: _Reader) -> None:
    if consumed < size:
        raise TrailingBytes(
            f"{size - consumed} bytes left after the {reader.version.name} body",
            fingerprint=reader.fingerprint_hex,
        )
    if consumed > size:
        raise TruncatedValue(
            f"the {reader.version.name} body ends early: it needs more than the {size} bytes given",
            fingerprint=reader.fingerprint_hex,
        )
