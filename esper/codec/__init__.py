"""Events to Kafka record values and back: Avro single-object encoding with fastavro.

The one-event entry points are ``encode(event) -> bytes`` and ``decode(value) -> event``;
``encode_batch``, ``decode_batch`` and ``decode_to_arrow`` serve hot paths. They use a default
``Codec`` built on first use from ``schemas/`` (or ``$ESPER_SCHEMAS_DIR``), writing the
Confluent wire format instead when ``$ESPER_SCHEMA_REGISTRY_URL`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Literal

import pyarrow as pa

from esper.codec.codec import HEADER_SIZE, MAGIC, Codec
from esper.codec.confluent import ConfluentRegistry, RegistryError
from esper.codec.errors import (
    BadMagic,
    CodecError,
    DecodeError,
    EncodeError,
    InvalidEvent,
    MalformedBody,
    SchemaStoreError,
    TrailingBytes,
    TruncatedValue,
    UnknownFingerprint,
)
from esper.codec.store import SchemaStore, SchemaVersion
from esper.contracts import Event

SCHEMA_REGISTRY_URL_ENV = "ESPER_SCHEMA_REGISTRY_URL"


@cache
def default_codec() -> Codec:
    """The process-wide codec (built once, on first use)."""
    url = os.environ.get(SCHEMA_REGISTRY_URL_ENV)
    return Codec(registry=ConfluentRegistry(url) if url else None)


def encode(event: Event) -> bytes:
    return default_codec().encode(event)


def decode(value: bytes, *, where: str | None = None) -> Event:
    return default_codec().decode(value, where=where)


def encode_batch(events: Iterable[Event]) -> list[bytes]:
    return default_codec().encode_batch(events)


def decode_batch(
    values: Sequence[bytes],
    *,
    where: str | None = None,
    errors: Literal["raise", "return"] = "raise",
) -> list[Any]:
    return default_codec().decode_batch(values, where=where, errors=errors)


def decode_to_arrow(values: Sequence[bytes], name: str) -> pa.RecordBatch:
    return default_codec().decode_to_arrow(values, name)


def fingerprint_of(value: bytes) -> str:
    return default_codec().fingerprint_of(value)


__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "SCHEMA_REGISTRY_URL_ENV",
    "BadMagic",
    "Codec",
    "CodecError",
    "ConfluentRegistry",
    "RegistryError",
    "DecodeError",
    "EncodeError",
    "InvalidEvent",
    "MalformedBody",
    "SchemaStore",
    "SchemaStoreError",
    "SchemaVersion",
    "TrailingBytes",
    "TruncatedValue",
    "UnknownFingerprint",
    "decode",
    "decode_batch",
    "decode_to_arrow",
    "default_codec",
    "encode",
    "encode_batch",
    "fingerprint_of",
]
