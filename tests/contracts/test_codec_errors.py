"""Decoding errors are typed and say what and where: magic, fingerprint, truncation, trailing
bytes, a body that does not parse, a constraint the event breaks (with the field)."""

from __future__ import annotations

import gc
import io

import pytest
from fastavro import parse_schema, schemaless_writer

from esper import codec
from esper.codec import (
    BadMagic,
    CodecError,
    DecodeError,
    EncodeError,
    InvalidEvent,
    MalformedBody,
    TrailingBytes,
    TruncatedValue,
    UnknownFingerprint,
)
from esper.contracts import HealthSignal, Seed

from tests.contracts.builders import decision, health_signal

HEALTH = "esper.telemetry.HealthSignal"


@pytest.fixture
def value() -> bytes:
    return codec.encode(health_signal())


def with_body(fields: dict) -> bytes:
    """A HealthSignal value whose body is written by fastavro alone, bypassing the model."""
    version = codec.default_codec().store.current(HEALTH)
    record = health_signal().model_dump() | fields
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(dict(version.schema)), record)
    return b"\xc3\x01" + version.fingerprint + body.getvalue()


def test_every_error_is_a_decode_error_and_a_codec_error():
    for error in (BadMagic, UnknownFingerprint, TruncatedValue, TrailingBytes, MalformedBody, InvalidEvent):
        assert issubclass(error, DecodeError) and issubclass(error, CodecError)


def test_wrong_magic(value):
    with pytest.raises(BadMagic, match="starts with 7b22, not c301") as raised:
        codec.decode(b'{"json": true}', where="telemetry.seed.health[3]@1042")
    assert str(raised.value).startswith("telemetry.seed.health[3]@1042: ")
    assert raised.value.where == "telemetry.seed.health[3]@1042" and raised.value.fingerprint is None


def test_confluent_framing_without_a_registry(value):
    with pytest.raises(BadMagic, match="no schema registry is configured"):
        codec.decode(b"\x00\x00\x00\x00\x01" + value[10:])


@pytest.mark.parametrize("cut", [0, 1, 5, 9])
def test_shorter_than_the_header(value, cut):
    with pytest.raises(TruncatedValue):
        codec.decode(value[:cut])


def test_unknown_fingerprint(value):
    forged = value[:2] + bytes(range(8)) + value[10:]
    with pytest.raises(UnknownFingerprint, match="neither current nor released") as raised:
        codec.decode(forged)
    assert raised.value.fingerprint == "0001020304050607"


def test_truncated_body(value):
    with pytest.raises(TruncatedValue, match="the esper.telemetry.HealthSignal body ends early") as raised:
        codec.decode(value[:-3])
    assert raised.value.fingerprint == value[2:10].hex()


def test_trailing_bytes(value):
    with pytest.raises(TrailingBytes, match="2 bytes left after the esper.telemetry.HealthSignal body"):
        codec.decode(value + b"\x00\x00")


def test_malformed_body(value):
    corrupt = bytearray(value)
    corrupt[11] = 0xFF  # first byte of meta.event_id's text: invalid UTF-8
    with pytest.raises(MalformedBody, match="body does not parse: UnicodeDecodeError"):
        codec.decode(bytes(corrupt))


@pytest.mark.parametrize("fields, field", [
    ({"health_score": 2.0}, "health_score"),
    ({"activation_variance": float("nan")}, "activation_variance"),
    ({"dead_neuron_ratio": float("inf")}, "dead_neuron_ratio"),
    ({"layer_id": -1}, "layer_id"),
    ({"meta": health_signal().meta.model_dump() | {"run_id": "bad id/with slash"}}, "meta.run_id"),
])  # fmt: skip
def test_a_valid_body_that_breaks_a_constraint_names_the_field(fields, field):
    with pytest.raises(InvalidEvent) as raised:
        codec.decode(with_body(fields), where="here")
    assert raised.value.field == field
    assert f"invalid HealthSignal: {field}: " in str(raised.value)
    assert str(raised.value).startswith("here: ")


def test_a_broken_cross_field_rule_names_its_fields():
    with pytest.raises(InvalidEvent, match=r"active_seeds \(5\) exceeds total_seeds \(2\)"):
        codec.decode(with_body({"active_seeds": 5, "total_seeds": 2}))


def test_batch_errors_name_the_position(value):
    values = [value, value[:-1], value]
    with pytest.raises(TruncatedValue) as raised:
        codec.decode_batch(values, where="topic[0]")
    assert raised.value.index == 1
    assert str(raised.value).startswith("topic[0], value 1: ")


def test_batch_errors_can_be_returned_in_place(value):
    good = health_signal()
    values = [codec.encode(good), value + b"\x01", b"nope", codec.encode(good)]
    decoded = codec.decode_batch(values, errors="return")
    assert decoded[0] == good and decoded[3] == good  # a bad neighbour shifts nothing
    assert isinstance(decoded[1], TrailingBytes) and decoded[1].index == 1
    assert isinstance(decoded[2], BadMagic) and decoded[2].index == 2


def test_a_truncated_value_in_a_batch_does_not_borrow_its_neighbours_bytes(value):
    decoded = codec.decode_batch([value[:-20], value], errors="return")
    assert isinstance(decoded[0], TruncatedValue)
    assert isinstance(decoded[1], HealthSignal)


def test_arrow_decoding_takes_one_event_type(value):
    other = codec.encode(decision())
    among = "a esper.control.AdaptationDecision value among esper.telemetry.HealthSignal values"
    with pytest.raises(DecodeError, match=among) as raised:
        codec.decode_to_arrow([value, other], HEALTH)
    assert raised.value.index == 1
    with pytest.raises(TrailingBytes):
        codec.decode_to_arrow([value + b"\x00"], "HealthSignal")


def test_fingerprint_of_reads_the_header(value):
    assert codec.fingerprint_of(value) == value[2:10].hex()
    assert codec.default_codec().writer_schema_of(value).name == HEALTH
    with pytest.raises(BadMagic):
        codec.fingerprint_of(b"\x01\x02")


def test_only_events_are_encoded():
    with pytest.raises(EncodeError, match="Seed is not an event with a schema"):
        codec.encode(Seed(layer_id=0, position=0))


def test_a_value_avro_cannot_carry_is_an_encode_error():
    broken = HealthSignal.model_construct(**(health_signal().__dict__ | {"layer_id": "three"}))
    with pytest.raises(EncodeError, match="cannot encode HealthSignal"):
        codec.encode(broken)


def test_batches_leave_the_garbage_collector_as_they_found_it(value):
    assert gc.isenabled()
    codec.decode_batch([value, value])
    assert gc.isenabled()
    with pytest.raises(TrailingBytes):
        codec.decode_batch([value + b"\x00"])
    assert gc.isenabled()
    gc.disable()
    try:
        codec.encode_batch([health_signal()])
        assert not gc.isenabled()  # off stays off
    finally:
        gc.enable()
