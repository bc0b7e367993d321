"""The v2 release: HealthSignal.gradient_norm and BlueprintSubmitted.target_shapes.

Bytes that a v1 producer wrote (with the v1 schema of ``schemas/history``, through fastavro,
not through our models) decode into today's models with the new fields at their defaults;
today's bytes need nothing but fastavro and the schema files to read.
"""

from __future__ import annotations

import io

import pytest
from fastavro import schemaless_reader
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form
from pydantic import ValidationError

from esper import codec
from esper.codec.store import default_schemas_dir
from esper.contracts import BlueprintSubmitted, HealthSignal, KernelShape
from esper.karn import BlueprintIR

from tests.contracts.builders import health_signal
from tests.contracts.released import MAGIC, written_with

HEALTH = "esper.telemetry.HealthSignal"
SUBMITTED = "esper.compilation.BlueprintSubmitted"


def read_with_the_schema_file_alone(value: bytes, name: str) -> dict:
    schema = load_schema(str(default_schemas_dir() / f"{name}.avsc"))
    assert value[:2] == MAGIC
    assert value[2:10].hex() == fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
    return schemaless_reader(io.BytesIO(value[10:]), schema, None)


def submission(target_shapes=()) -> BlueprintSubmitted:
    return BlueprintIR.of("lora", {"rank": 2}).submission("karn", target_shapes)


def test_both_events_have_v1_and_v2_released_and_write_v2():
    store = codec.default_codec().store
    for name in (HEALTH, SUBMITTED):
        assert [v.version for v in store.released(name)] == [1, 2]
        assert store.current(name).version == 2


def test_a_v1_health_signal_decodes_with_no_gradient_norm():
    signal = health_signal(health_score=0.75)

    value = written_with(signal, 1)
    decoded = codec.decode(value)

    assert codec.default_codec().writer_schema_of(value).version == 1
    assert type(decoded) is HealthSignal and decoded.gradient_norm is None
    assert decoded == signal


def test_a_v1_submission_decodes_with_no_target_shapes():
    event = submission()

    value = written_with(event, 1)
    decoded = codec.decode(value)

    assert codec.default_codec().writer_schema_of(value).version == 1
    assert type(decoded) is BlueprintSubmitted and decoded.target_shapes == []
    assert decoded == event


def test_v2_bytes_read_with_fastavro_and_the_schema_file_alone():
    signal = health_signal(gradient_norm=0.125)
    event = submission([KernelShape(input_shape=[128], output_shape=[10]),
                        KernelShape(input_shape=[8, 8, 8], output_shape=[8, 8, 8])])

    health = read_with_the_schema_file_alone(codec.encode(signal), HEALTH)
    submitted = read_with_the_schema_file_alone(codec.encode(event), SUBMITTED)

    assert health["gradient_norm"] == 0.125 and health["layer_id"] == signal.layer_id
    assert submitted["target_shapes"] == [
        {"input_shape": [128], "output_shape": [10]},
        {"input_shape": [8, 8, 8], "output_shape": [8, 8, 8]},
    ]
    assert submitted["blueprint_id"] == event.blueprint_id


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf")])
def test_a_gradient_norm_is_finite_and_not_negative(value):
    with pytest.raises(ValidationError, match="gradient_norm"):
        health_signal(gradient_norm=value)


@pytest.mark.parametrize("shape, field", [
    ({"input_shape": [], "output_shape": [4]}, "input_shape"),
    ({"input_shape": [4], "output_shape": [0]}, "output_shape.0"),
])  # fmt: skip
def test_a_target_shape_has_positive_dimensions(shape, field):
    with pytest.raises(ValidationError, match=f"target_shapes.0.{field}"):
        BlueprintSubmitted(**{**submission().model_dump(), "target_shapes": [shape]})


def test_a_target_shape_is_named_once():
    shape = {"input_shape": [4], "output_shape": [4]}
    with pytest.raises(ValidationError, match=r"target_shapes\[1\] repeats target_shapes\[0\]"):
        BlueprintSubmitted(**{**submission().model_dump(), "target_shapes": [shape, shape]})
