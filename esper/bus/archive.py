"""Replayed events as one Avro object container file, for analysis tools that read Avro.

Each record is an ``esper.archive.Record``: where the event was in the log (topic, partition,
offset, timestamp, key) and the event itself, a union of every event schema. The container
embeds that schema, so a reader needs nothing of Esper's code.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from functools import cache
from typing import Any, BinaryIO

from fastavro import parse_schema, writer

from esper.codec import default_codec
from esper.codec.records import record_converter
from esper.bus.records import Delivered
from esper.contracts import EVENT_MODELS

NAMED = ("record", "enum", "fixed")


def _define_once(schema: Any, defined: set[str]) -> Any:
    """``schema`` with every named type already in ``defined`` replaced by its name, so that
    several self-contained schemas can sit in one union."""
    if isinstance(schema, list):
        return [_define_once(branch, defined) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema["type"]
    if kind in NAMED:
        if schema["name"] in defined:
            return schema["name"]
        defined.add(schema["name"])
        if kind == "record":
            return {**schema, "fields": [{**field, "type": _define_once(field["type"], defined)}
                                         for field in schema["fields"]]}
        return schema
    if kind == "array":
        return {**schema, "items": _define_once(schema["items"], defined)}
    if kind == "map":
        return {**schema, "values": _define_once(schema["values"], defined)}
    if isinstance(kind, (dict, list)):
        return {**schema, "type": _define_once(kind, defined)}
    return schema


@cache
def archive_schema() -> dict[str, Any]:
    store = default_codec().store
    defined: set[str] = set()
    events = [_define_once(copy.deepcopy(dict(store.current(name).schema)), defined)
              for name in sorted(EVENT_MODELS)]
    return parse_schema({
        "type": "record",
        "name": "esper.archive.Record",
        "doc": "One event of the Esper log and where it was.",
        "fields": [
            {"name": "topic", "type": "string"},
            {"name": "partition", "type": "int"},
            {"name": "offset", "type": "long"},
            {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"},
             "doc": "The record's Kafka timestamp."},
            {"name": "key", "type": ["null", "string"], "default": None},
            {"name": "event", "type": events},
        ],
    })


@cache
def _converter(model: type):
    return record_converter(model)


def write_avro_archive(out: BinaryIO, records: Iterable[Delivered]) -> int:
    """Write records to ``out`` as an Avro container file; returns how many."""
    count = 0

    def rows():
        nonlocal count
        for record in records:
            count += 1
            event = record.event
            yield {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "timestamp": record.timestamp_ms,
                "key": record.key.decode(errors="replace") if record.key is not None else None,
                # The tuple names the union branch: several event types share field shapes.
                "event": (event.avro_name, _converter(type(event))(event)),
            }

    writer(out, archive_schema(), rows(), codec="deflate")
    return count
