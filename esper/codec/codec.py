"""The codec: events to Kafka record values and back, one at a time or in batches.

Values use Avro single-object encoding: 0xC3 0x01, the writer schema's 8-byte CRC-64-AVRO
fingerprint (little-endian), then the Avro binary body. The fingerprint finds the writer schema
in the store (any released version), and Avro schema resolution reads it as the current schema,
so that every value ever written decodes into today's model. With a Schema Registry configured,
values are written in the Confluent wire format instead (0x00, a 4-byte schema id, the body),
and both framings are read.

Batches are read a column at a time with numpy (``column_reader``) where their writer's schema
allows: straight to Arrow, or to the dicts each model is validated from. Everything else is read
record by record by fastavro, written for speed: one buffer for all values (a BytesIO per value
costs more than decoding a small body), schemas parsed once, pydantic's validator called
directly, and the cyclic garbage collector paused while a batch builds its objects.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from pydantic import ValidationError

from esper.codec import column_models, column_reader, column_writer
from esper.codec.arrow import RecordBatchBuilder
from esper.codec.avro import without_logical_types
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
from esper.codec.store import SchemaStore, SchemaVersion, fingerprint_of_schema
from esper.contracts import EVENT_MODELS, Event
from esper.gc_pause import gc_paused

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
_CONFLUENT_HEADER_SIZE = 5
_UUID = frozenset({"uuid"})

# Reading or writing a batch a column at a time costs a few hundred numpy and Arrow calls
# whatever its length (and compiling the models' patterns): below these sizes (the crossovers
# measured on HealthSignal) one record at a time is faster. A consumer at a low rate gets
# batches of a few records: read by columns, one record cost a millisecond.
_ARROW_COLUMNS_FROM = 64
_MODEL_COLUMNS_FROM = 200


@dataclass(frozen=True)
class _Writer:
    schema: dict[str, Any]
    to_record: Callable[[Event], dict[str, Any]]
    version: SchemaVersion
    column_plan: column_writer.Plan | None


class _Reader:
    """Reads the values of one writer schema, as the current schema of their event.

    Bodies for models are read (and written) with copies of the schemas without ``uuid``
    logical types: the bytes are the same (logical types are not part of the fingerprint), the
    model holds a UUID as the text it was written from, not a ``uuid.UUID`` to turn back into
    text, and fastavro skips a Python call per UUID. Bodies for Arrow are read without any
    logical type, so timestamps stay integers.
    """

    def __init__(
        self, version: SchemaVersion, model: type[Event] | None, current: SchemaVersion | None
    ):
        self.version = version
        self.name = version.name
        self.model = model
        self.fingerprint_hex = version.fingerprint_hex
        target = current or version
        resolve = target.fingerprint != version.fingerprint
        self.writer = parse_schema(without_logical_types(version.schema, _UUID))
        self.reader = parse_schema(without_logical_types(target.schema, _UUID)) if resolve else None
        self.arrow_writer = parse_schema(without_logical_types(version.schema))
        self.arrow_reader = parse_schema(without_logical_types(target.schema)) if resolve else None
        # pydantic's validator itself: model_validate adds a Python layer costing ~0.5 us.
        self.validate = model.__pydantic_validator__.validate_python if model else self._no_model
        self._target = target

    @functools.cached_property
    def column_plan(self) -> column_reader.Plan | None:
        """How to read this writer's bodies as Arrow columns with numpy, if it can be done."""
        return column_reader.plan(self.version.schema, self._target.schema)

    def _no_model(self, record: dict[str, Any]) -> Event:
        raise UnknownFingerprint(
            f"{self.name} {self.version.label} has no model to decode into",
            fingerprint=self.fingerprint_hex,
        )

    def body_error(self, error: Exception, read_past_end: bool) -> DecodeError:
        """The error for a body fastavro could not read; ``read_past_end`` says it had read
        beyond its value when it failed."""
        # In a batch, a body cut short reads on into the next value and fails on those bytes
        # (an impossible union index, a bad length) instead of at the end of the stream.
        if isinstance(error, EOFError) or read_past_end:
            return TruncatedValue(
                f"the {self.name} body ends early", fingerprint=self.fingerprint_hex
            )
        return MalformedBody(
            f"the {self.name} body does not parse: {type(error).__name__}: {error}",
            fingerprint=self.fingerprint_hex,
        )

    def end_error(self, consumed: int, size: int) -> DecodeError:
        """The error for a body that ended after ``consumed`` bytes of a ``size``-byte value."""
        if consumed < size:
            return TrailingBytes(
                f"{size - consumed} bytes left after the {self.name} body",
                fingerprint=self.fingerprint_hex,
            )
        return TruncatedValue(
            f"the {self.name} body ends early: it needs more than the {size} bytes given",
            fingerprint=self.fingerprint_hex,
        )

    def invalid(self, error: ValidationError) -> InvalidEvent:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(record)"
        return InvalidEvent(
            f"invalid {error.title}: {field}: {first['msg']}",
            field=field,
            fingerprint=self.fingerprint_hex,
        )


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
        self._headers: dict[type[Event], bytes] = {}  # with a registry: filled on first use
        self._readers: dict[bytes, _Reader] = {}
        self._registry_readers: dict[int, _Reader] = {}
        self._arrow_builders: dict[str, RecordBatchBuilder] = {}
        for name, model in self._models.items():
            current = self.store.current(name)
            schema = parse_schema(without_logical_types(current.schema, _UUID))  # see _Reader
            self._writers[model] = _Writer(schema, record_converter(model), current,
                                           column_writer.plan(current.schema))
            if registry is None:
                self._headers[model] = MAGIC + current.fingerprint
        for version in self.store.versions():
            self._readers[version.fingerprint] = self._reader(version)

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, event: Event) -> bytes:
        """One event as a record value."""
        model = type(event)
        writer = self._writers.get(model) or self._refuse_to_encode(model)
        stream = io.BytesIO()
        stream.write(self._headers.get(model) or self._registry_header(model))
        _write_body(stream, writer, event)
        return stream.getvalue()

    def encode_batch(self, events: Iterable[Event]) -> list[bytes]:
        """Many events as record values: column by column where there are enough of them and
        they are all of one type that ``column_writer`` covers, else one by one through one
        buffer."""
        events = events if isinstance(events, list) else list(events)
        if events:
            model = type(events[0])
            writer = self._writers.get(model)
            header = self._headers.get(model)
            if (len(events) >= _MODEL_COLUMNS_FROM and writer is not None and header is not None
                    and writer.column_plan is not None
                    and all(type(event) is model for event in events)):
                try:
                    return writer.column_plan.write(events, header)
                except column_writer.Unwritable:
                    pass  # fastavro's loop below says what is wrong
        writers, headers = self._writers, self._headers
        stream = io.BytesIO()
        write, tell = stream.write, stream.tell
        ends = []
        with gc_paused():
            for event in events:
                model = type(event)
                writer = writers.get(model) or self._refuse_to_encode(model)
                write(headers.get(model) or self._registry_header(model))
                _write_body(stream, writer, event)
                ends.append(tell())
        data = stream.getvalue()
        return [data[start:end] for start, end in zip([0, *ends], ends)]

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, value: bytes, *, where: str | None = None) -> Event:
        """One record value as its event, in the current model; raises a DecodeError."""
        try:
            reader, header = self._reader_for(value)
            stream = io.BytesIO(value)
            stream.seek(header)
            return _read_event(reader, stream, 0, len(value))
        except DecodeError as error:
            raise (error if where is None else error.at(where)) from None

    def decode_batch(
        self,
        values: Sequence[bytes],
        *,
        where: str | None = None,
        errors: Literal["raise", "return"] = "raise",
    ) -> list[Any]:
        """Many record values as events, in order.

        With ``errors="raise"`` the first bad value raises its DecodeError (``index`` says
        which, ``where`` is the caller's context); with ``errors="return"`` the error takes the
        event's place in the result instead, so that a consumer can dead-letter it and go on.
        """
        with gc_paused():
            decoded = (self._models_by_columns(values, where)
                       if len(values) >= _MODEL_COLUMNS_FROM else None)
            if decoded is None:
                decoded = self._models_by_records(values, where)
        events, first_error = decoded
        if first_error is not None and errors == "raise":
            raise first_error
        return events

    def _models_by_records(self, values: Sequence[bytes], where: str | None
                           ) -> tuple[list[Any], DecodeError | None]:
        """Each value as its event or its DecodeError, read by fastavro; and the first error."""
        decoded: list[Any] = []
        append, first_error = decoded.append, None
        for index, (reader, stream, start, end) in enumerate(self._bodies(values)):
            try:
                if type(reader) is not _Reader:
                    raise reader  # the DecodeError of the value's header
                append(_read_event(reader, stream, start, end))
            except DecodeError as error:
                append(error.at(where, index))
                first_error = first_error or decoded[-1]
        return decoded, first_error

    def _models_by_columns(self, values: Sequence[bytes], where: str | None
                           ) -> tuple[list[Any], DecodeError | None] | None:
        """Values of one event type read as Arrow columns (``_arrow_by_columns``) and made into
        models by ``column_models`` where its plan applies; pydantic validates the other rows.
        Events or InvalidEvents, and the first error; None where the columns do not apply."""
        if not values:
            return None
        first = self._readers.get(values[0][len(MAGIC):HEADER_SIZE])
        if first is None or first.model is None:
            return None
        batch = self._arrow_by_columns(values, first.name)
        if batch is None:
            return None
        plan = column_models.plan(first.model, batch.schema)
        try:
            if plan is None:
                decoded, left = [None] * batch.num_rows, list(range(batch.num_rows))
                records = column_reader.python_rows(batch)
            else:
                decoded, left = plan.models(batch)
                records = column_reader.python_rows(batch.take(pa.array(left, pa.int64()))
                                                    ) if left else []
        except OverflowError:  # a timestamp beyond datetime's years: fastavro says which
            return None
        validate, first_error = first.validate, None
        for index, record in zip(left, records):
            try:
                decoded[index] = validate(record)
            except ValidationError as error:  # named with the writer of its own value
                decoded[index] = self._reader_for(values[index])[0].invalid(error).at(where, index)
                first_error = first_error or decoded[index]
        return decoded, first_error

    def decode_to_arrow(self, values: Sequence[bytes], name: str) -> pa.RecordBatch:
        """Values of one event type (any version) as Arrow columns, without building models.

        Columns follow the current schema: records become structs, arrays lists, maps maps,
        attribute values sparse unions, timestamps ``timestamp[us, UTC]``. Framing, fingerprints,
        the Avro types and schema resolution are checked; the models' constraints (ranges,
        patterns, cross-field rules) are not: use ``decode_batch`` where they must be.

        Batches of 64 values or more are read column by column with numpy where
        ``column_reader`` covers their schemas, others (and to name a bad value) record by record
        with fastavro; both give equal batches.
        """
        name = self.store.resolve_name(name)
        batch = self._arrow_by_columns(values, name) if len(values) >= _ARROW_COLUMNS_FROM else None
        return batch if batch is not None else self._arrow_by_records(values, name)

    def _arrow_by_records(self, values: Sequence[bytes], name: str) -> pa.RecordBatch:
        builder = self._arrow_builders.get(name)
        if builder is None:
            builder = RecordBatchBuilder(self.store.current(name).schema)
            self._arrow_builders[name] = builder
        records: list[dict[str, Any]] = []
        append = records.append
        with gc_paused():
            for index, (reader, stream, start, end) in enumerate(self._bodies(values)):
                try:
                    if type(reader) is not _Reader:
                        raise reader  # the DecodeError of the value's header
                    if reader.name != name:
                        raise DecodeError(
                            f"a {reader.name} value among {name} values",
                            fingerprint=reader.fingerprint_hex,
                        )
                    try:
                        append(schemaless_reader(stream, reader.arrow_writer, reader.arrow_reader))
                    except Exception as error:
                        raise reader.body_error(error, stream.tell() > end) from None
                    if stream.tell() != end:
                        raise reader.end_error(stream.tell() - start, end - start)
                except DecodeError as error:
                    raise error.at(index=index) from None
            return builder.build(records)

    def _arrow_by_columns(self, values: Sequence[bytes], name: str) -> pa.RecordBatch | None:
        """``values`` read column by column (see ``column_reader``), or None where that does not
        apply: other framings, unknown or foreign writers, schemas it does not cover, or some
        value that is wrong (the record-by-record reader then says which, and why)."""
        if not values:
            return None
        buffer, starts, ends = column_reader.concatenated(values)
        if np.min(ends - starts) < HEADER_SIZE:
            return None
        if not (np.all(buffer[starts] == MAGIC[0]) and np.all(buffer[starts + 1] == MAGIC[1])):
            return None
        fingerprints = buffer[(starts + len(MAGIC))[:, None] + np.arange(8)].view("<u8").ravel()
        writers, which = np.unique(fingerprints, return_inverse=True)
        plans = []
        for fingerprint in writers:
            reader = self._readers.get(int(fingerprint).to_bytes(8, "little"))
            if reader is None or reader.name != name or reader.column_plan is None:
                return None
            plans.append(reader.column_plan)
        try:
            if len(plans) == 1:
                return plans[0].read(buffer, starts + HEADER_SIZE, ends)
            parts, order = [], []
            for index, plan in enumerate(plans):
                rows = np.flatnonzero(which == index)
                parts.append(plan.read(buffer, starts[rows] + HEADER_SIZE, ends[rows]))
                order.append(rows)
        except column_reader.Malformed:
            return None
        table = pa.Table.from_batches(parts).combine_chunks()
        return table.take(np.argsort(np.concatenate(order))).to_batches()[0]

    def fingerprint_of(self, value: bytes) -> str:
        """Hex fingerprint of a value's writer schema, from its header (for headers and errors)."""
        return self._reader_for(value)[0].fingerprint_hex

    def writer_schema_of(self, value: bytes) -> SchemaVersion:
        """The writer schema (name, version, JSON) a value was encoded with."""
        return self._reader_for(value)[0].version

    # -- internals --------------------------------------------------------------------------

    def _bodies(self, values: Sequence[bytes]) -> Iterator[tuple[Any, io.BytesIO, int, int]]:
        """For each value: its reader (or, if its header is unreadable, the DecodeError saying
        why), the stream positioned at its body, and where the value starts and ends in it.

        A body must end exactly where its value ends: one that reads on into the next value is
        reported as truncated, never decoded from its neighbour's bytes.
        """
        stream = io.BytesIO(b"".join(values))
        seek, readers = stream.seek, self._readers
        end = 0
        for value in values:
            start = end
            end += len(value)
            reader = readers.get(value[2:HEADER_SIZE]) if value.startswith(MAGIC) else None
            if reader is not None:
                seek(start + HEADER_SIZE)
                yield reader, stream, start, end
                continue
            try:
                reader, header = self._reader_for(value)
            except DecodeError as error:
                yield error, stream, start, end
                continue
            seek(start + header)
            yield reader, stream, start, end

    def _reader_for(self, value: bytes) -> tuple[_Reader, int]:
        """The reader for a value's writer schema, and where its body starts."""
        if value[:2] == MAGIC:
            if len(value) < HEADER_SIZE:
                raise TruncatedValue(
                    f"{len(value)} bytes, shorter than the {HEADER_SIZE}-byte header"
                )
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
            raise TruncatedValue(
                f"{len(value)} bytes, shorter than the {HEADER_SIZE}-byte header"
            )
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
            if reader is None:  # a version we never released: resolve the registry's copy
                name = parse_schema(schema)["name"]
                reader = self._reader(SchemaVersion(name, schema, fingerprint, version=None))
            self._registry_readers[schema_id] = reader
        return reader

    def _reader(self, version: SchemaVersion) -> _Reader:
        model = self._models.get(version.name)
        current = self.store.current(version.name) if model is not None else None
        return _Reader(version, model, current)

    def _refuse_to_encode(self, model: type) -> _Writer:
        raise EncodeError(
            f"{model.__name__} is not an event with a schema; events are: "
            f"{', '.join(sorted(m.__name__ for m in self._writers))}"
        )

    def _registry_header(self, model: type[Event]) -> bytes:
        assert self.registry is not None  # without one, every header is known up front
        schema_id = self.registry.schema_id(self._writers[model].version)
        header = self._headers[model] = CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")
        return header


def _write_body(stream: io.BytesIO, writer: _Writer, event: Event) -> None:
    try:
        schemaless_writer(stream, writer.schema, writer.to_record(event))
    except Exception as error:  # fastavro refuses values with several exception types
        raise EncodeError(
            f"cannot encode {type(event).__name__}: {type(error).__name__}: {error}"
        ) from None


def _read_event(reader: _Reader, stream: io.BytesIO, start: int, end: int) -> Event:
    """The event whose body is at ``stream``'s position; its value spans ``start:end``."""
    try:
        record = schemaless_reader(stream, reader.writer, reader.reader)
    except Exception as error:  # fastavro signals a corrupt body with many exception types
        raise reader.body_error(error, stream.tell() > end) from None
    if stream.tell() != end:
        raise reader.end_error(stream.tell() - start, end - start)
    try:
        return reader.validate(record)
    except ValidationError as error:
        raise reader.invalid(error) from None
