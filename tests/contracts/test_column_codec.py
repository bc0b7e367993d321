"""Batches written and read with numpy (`esper.codec.column_writer`, `column_reader`) are what
fastavro writes and reads, byte for byte and value for value; a batch they cannot handle
exactly goes through fastavro record by record."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper import codec
from esper.codec import DecodeError, column_writer
from esper.codec.codec import _ARROW_COLUMNS_FROM as ARROW_COLUMNS_FROM
from esper.codec.codec import _MODEL_COLUMNS_FROM as MODEL_COLUMNS_FROM
from esper.codec.codec import HEADER_SIZE
from esper.contracts import EVENT_MODELS

from tests.contracts.builders import decision, health_signal
from tests.contracts.released import written_with
from tests.contracts.strategies import events, models

CODEC = codec.default_codec()
HEALTH = "esper.telemetry.HealthSignal"
COVERED = sorted(name for name in EVENT_MODELS
                 if CODEC._reader(CODEC.store.current(name)).column_plan is not None)
fuzz = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rows(batch) -> list:
    """The batch's rows, NaN made comparable."""
    def plain(value):
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return [plain(row) for row in batch.to_pylist()]


def test_the_high_rate_event_types_are_read_by_columns():
    # Arrays, maps and attribute unions (decisions, kernels, topologies) stay with fastavro.
    assert COVERED == [
        "esper.compilation.BlueprintStateChanged", "esper.compilation.CompilationFailed",
        "esper.control.KasminaControlCommand", "esper.innovation.FieldReport",
        "esper.lifecycle.SeedStateChanged", "esper.telemetry.HealthSignal",
        "esper.training.EpochCompleted", "esper.training.TrainingRunCompleted"]


@pytest.mark.parametrize("name", COVERED)
@fuzz
@given(data=st.data())
def test_columns_equal_records_for_every_covered_event(name, data):
    values = codec.encode_batch(data.draw(st.lists(models(EVENT_MODELS[name]), min_size=1,
                                                   max_size=30)))
    by_columns = CODEC._arrow_by_columns(values, name)
    assert by_columns is not None
    by_records = CODEC._arrow_by_records(values, name)
    assert by_columns.schema == by_records.schema
    assert rows(by_columns) == rows(by_records)


@pytest.mark.parametrize("name", COVERED)
@fuzz
@given(data=st.data())
def test_models_by_columns_equal_models_by_records(name, data):
    events = data.draw(st.lists(models(EVENT_MODELS[name]), min_size=1, max_size=30))
    values = codec.encode_batch(events)
    by_columns, error = CODEC._models_by_columns(values, None)
    assert error is None
    assert by_columns == CODEC._models_by_records(values, None)[0] == events
    assert [e.meta.occurred_at.tzinfo for e in by_columns] == [UTC] * len(events)


@pytest.mark.parametrize("name", COVERED)
@fuzz
@given(data=st.data())
def test_columns_write_the_bytes_fastavro_writes(name, data):
    events = data.draw(st.lists(models(EVENT_MODELS[name]), min_size=1, max_size=30))
    plan = CODEC._writers[EVENT_MODELS[name]].column_plan
    assert plan is not None
    header = codec.encode(events[0])[:HEADER_SIZE]
    assert plan.write(events, header) == [codec.encode(event) for event in events]


@fuzz
@given(st.lists(events(), min_size=1, max_size=8))
def test_a_batch_of_several_types_is_written_event_by_event(batch):
    assert codec.encode_batch(batch) == [codec.encode(event) for event in batch]


def test_a_value_the_columns_cannot_write_goes_to_fastavro():
    signals = [health_signal(chunk_id=i) for i in range(MODEL_COLUMNS_FROM)]
    naive = signals[1].meta.model_construct(**{**dict(signals[1].meta), "occurred_at": datetime(
        2026, 1, 1)})
    signals[1] = signals[1].model_construct(**{**dict(signals[1]), "meta": naive})
    plan = CODEC._writers[type(signals[0])].column_plan
    with pytest.raises(column_writer.Unwritable, match="naive"):
        plan.write(signals, b"")
    assert codec.encode_batch(signals) == [codec.encode(s) for s in signals]


def test_batches_are_read_and_written_by_columns_from_where_that_is_faster(monkeypatch):
    def refused(*args):
        raise AssertionError("the other path")

    small, large = [[health_signal(chunk_id=i) for i in range(n)]
                    for n in (ARROW_COLUMNS_FROM - 1, MODEL_COLUMNS_FROM)]
    values = {len(batch): [codec.encode(s) for s in batch] for batch in (small, large)}
    with monkeypatch.context() as patch:
        for method in ("_arrow_by_columns", "_models_by_columns"):
            patch.setattr(CODEC, method, refused)
        patch.setattr(CODEC._writers[type(small[0])].column_plan, "write", refused)
        assert codec.decode_batch(values[len(small)]) == small
        codec.decode_to_arrow(values[len(small)], HEALTH)
        assert codec.encode_batch(small) == values[len(small)]
    with monkeypatch.context() as patch:
        for method in ("_arrow_by_records", "_models_by_records"):
            patch.setattr(CODEC, method, refused)
        patch.setattr(codec.codec, "_write_body", refused)
        assert codec.decode_batch(values[len(large)]) == large
        codec.decode_to_arrow(values[len(large)], HEALTH)
        assert codec.encode_batch(large) == values[len(large)]


def _errors(decoded) -> list:
    return [(type(e), e.index, getattr(e, "field", None), str(e)) if isinstance(e, DecodeError)
            else e for e in decoded]


def test_an_event_that_breaks_its_contract_gets_the_same_error_either_way():
    signals = [health_signal(chunk_id=i) for i in range(4)]
    values = [codec.encode(s) for s in signals]
    values[2] = codec.encode(signals[2]).replace(
        struct.pack("<d", signals[2].dead_neuron_ratio), struct.pack("<d", 1.5))
    by_columns, error = CODEC._models_by_columns(values, "here")
    assert _errors(by_columns) == _errors(CODEC._models_by_records(values, "here")[0])
    assert error is by_columns[2] and error.field == "dead_neuron_ratio" and error.index == 2
    with pytest.raises(codec.InvalidEvent, match="dead_neuron_ratio"):
        codec.decode_batch(values)


def test_several_versions_of_one_event_are_read_by_columns_and_other_types_by_records():
    signals = [health_signal(chunk_id=1), health_signal(chunk_id=2), health_signal(chunk_id=3)]
    values = [codec.encode(signals[0]), written_with(signals[1], 1), written_with(signals[2], 1)]
    values[2] = values[2].replace(struct.pack("<d", signals[2].dead_neuron_ratio),
                                  struct.pack("<d", 1.5))
    by_columns, error = CODEC._models_by_columns(values, None)
    assert by_columns[:2] == signals[:2]
    assert _errors(by_columns) == _errors(CODEC._models_by_records(values, None)[0])
    assert error.fingerprint == values[2][2:HEADER_SIZE].hex()  # its own writer, v1
    mixed = [codec.encode(signals[0]), codec.encode(decision())]
    assert CODEC._models_by_columns(mixed, None) is None
    assert codec.decode_batch(mixed) == [signals[0], codec.decode(mixed[1])]


def test_values_of_an_older_version_are_read_as_the_current_schema():
    signals = [health_signal(chunk_id=i, gradient_norm=0.5) for i in range(6)]
    values = [written_with(s, 1) if i % 2 else codec.encode(s) for i, s in enumerate(signals)]
    by_columns = CODEC._arrow_by_columns(values, HEALTH)
    assert by_columns is not None
    assert rows(by_columns) == rows(CODEC._arrow_by_records(values, HEALTH))
    assert by_columns.column("gradient_norm").to_pylist() == [0.5, None] * 3  # v1 had none
    assert by_columns.column("chunk_id").to_pylist() == list(range(6))  # in the given order


def _outcome(read):
    try:
        return rows(read())
    except DecodeError as error:
        return type(error), error.index


@fuzz
@given(data=st.data())
def test_a_corrupt_value_gets_the_record_readers_answer(data):
    values = [codec.encode(health_signal(chunk_id=i, gradient_norm=i or None)) for i in range(4)]
    index = data.draw(st.integers(0, len(values) - 1))
    value = bytearray(values[index])
    edit = data.draw(st.sampled_from(["bytes", "cut", "extend"]))
    if edit == "bytes":
        for _ in range(data.draw(st.integers(1, 4))):
            value[data.draw(st.integers(HEADER_SIZE, len(value) - 1))] = data.draw(
                st.integers(0, 255))
    elif edit == "cut":
        del value[data.draw(st.integers(HEADER_SIZE, len(value) - 1)):]
    else:
        value += data.draw(st.binary(min_size=1, max_size=12))
    values[index] = bytes(value)

    expected = _outcome(lambda: CODEC._arrow_by_records(values, HEALTH))
    by_columns = CODEC._arrow_by_columns(values, HEALTH)
    if by_columns is not None:  # never accepts what the record reader refuses or reads otherwise
        assert rows(by_columns) == expected
    assert _outcome(lambda: codec.decode_to_arrow(values, HEALTH)) == expected
    assert _errors(codec.decode_batch(values, errors="return")) == _errors(
        CODEC._models_by_records(values, None)[0])


def test_a_bad_value_is_still_named_by_its_index():
    values = [codec.encode(health_signal()) for _ in range(3)]
    values[1] = values[1][:-3]
    with pytest.raises(codec.TruncatedValue) as raised:
        codec.decode_to_arrow(values, HEALTH)
    assert raised.value.index == 1
