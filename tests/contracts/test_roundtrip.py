"""Every event survives model -> bytes -> model, and the bytes are plain Avro for any reader."""

from __future__ import annotations

import io
from datetime import UTC

import pytest
from fastavro import schemaless_reader
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper import codec
from esper.codec.store import default_schemas_dir
from esper.contracts import EVENT_MODELS

from tests.contracts.strategies import events, models

EVENTS = sorted(EVENT_MODELS.values(), key=lambda m: m.avro_name)
fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("model", EVENTS, ids=lambda m: m.__name__)
@fuzz
@given(data=st.data())
def test_every_event_round_trips_unchanged(model, data):
    event = data.draw(models(model))
    value = codec.encode(event)
    decoded = codec.decode(value)
    assert type(decoded) is model
    assert decoded == event
    assert decoded.model_dump() == event.model_dump()


@fuzz
@given(st.lists(events(), max_size=8))
def test_a_batch_of_mixed_events_round_trips_in_order(batch):
    values = codec.encode_batch(batch)
    assert values == [codec.encode(event) for event in batch]
    assert codec.decode_batch(values) == batch


def _schema_file_alone(name: str) -> dict:
    """The writer schema as a stranger gets it: fastavro reading the schema file, nothing of ours."""
    return load_schema(str(default_schemas_dir() / f"{name}.avsc"))


@pytest.mark.parametrize("model", EVENTS, ids=lambda m: m.__name__)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_plain_fastavro_reads_the_bytes_with_the_schema_files_alone(model, data):
    event = data.draw(models(model))
    value = codec.encode(event)
    schema = _schema_file_alone(model.avro_name)

    assert value[:2] == b"\xc3\x01"
    canonical = to_parsing_canonical_form(schema)
    assert value[2:10] == bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    record = schemaless_reader(io.BytesIO(value[10:]), schema, None)

    expected = event.model_dump()
    assert str(record["meta"]["event_id"]) == expected["meta"]["event_id"]  # a uuid.UUID there
    assert record["meta"]["occurred_at"] == expected["meta"]["occurred_at"].astimezone(UTC)
    for name in expected:
        if name != "meta":
            assert _plain(record[name]) == _plain(expected[name]), name


def _plain(value):
    """Values as fastavro and pydantic both give them: uuids as text, datetimes in UTC."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if hasattr(value, "astimezone"):
        return value.astimezone(UTC)
    if type(value).__name__ == "UUID":
        return str(value)
    return value


@settings(max_examples=30, deadline=None)
@given(st.lists(models(EVENT_MODELS["esper.telemetry.HealthSignal"]), min_size=1, max_size=20))
def test_arrow_columns_hold_what_the_models_hold(signals):
    batch = codec.decode_to_arrow(codec.encode_batch(signals), "HealthSignal")
    assert batch.num_rows == len(signals)
    rows = batch.to_pylist()
    for row, signal in zip(rows, signals):
        assert row == _plain(signal.model_dump())


@pytest.mark.parametrize("model", EVENTS, ids=lambda m: m.__name__)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_arrow_columns_exist_for_every_event(model, data):
    batch_events = data.draw(st.lists(models(model), min_size=1, max_size=4))
    batch = codec.decode_to_arrow(codec.encode_batch(batch_events), model.avro_name)
    assert batch.num_rows == len(batch_events)
    assert batch.schema.names == list(model.model_fields)
