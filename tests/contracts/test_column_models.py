"""Models built from Arrow columns (`esper.codec.column_models`) are the models pydantic
validates, and a row the column checks let through is one pydantic accepts as it is."""

from __future__ import annotations

import enum
import io
import math
from typing import Annotated, Any, Optional

import pyarrow as pa
import pytest
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from esper import codec
from esper.codec import column_models
from esper.codec.arrow import RecordBatchBuilder
from esper.codec.avro import named_definitions
from esper.codec.codec import HEADER_SIZE
from esper.contracts import EVENT_MODELS
from esper.contracts.fields import LONG_MAX, LONG_MIN

from tests.contracts.builders import health_signal
from tests.contracts.strategies import aware_datetimes, models

CODEC = codec.default_codec()
BY_COLUMNS = sorted(name for name in EVENT_MODELS
                    if CODEC._reader(CODEC.store.current(name)).column_plan is not None)
fuzz = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _arrow_schema(name: str) -> pa.Schema:
    return RecordBatchBuilder(CODEC.store.current(name).schema).schema


def test_every_event_read_by_columns_but_one_is_built_from_them():
    built = [name for name in BY_COLUMNS
             if column_models.plan(EVENT_MODELS[name], _arrow_schema(name)) is not None]
    # EpochCompleted copies its SystemStatePacket in a validator before the value: pydantic's.
    assert sorted(set(BY_COLUMNS) - set(built)) == ["esper.training.EpochCompleted"]


# --- events: Avro-valid values that may break the contract ------------------------------------

def _any_value(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any value Avro can carry for ``schema``, leaning on the edges of the contracts."""
    if isinstance(schema, list):
        return st.one_of([_any_value(branch, named) for branch in schema])
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if logical == "timestamp-micros":
        return aware_datetimes
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "long":
        return st.sampled_from([0, 1, -1, LONG_MAX, LONG_MIN]) | st.integers(LONG_MIN, LONG_MAX)
    if kind == "double":
        return st.sampled_from([0.0, -0.0, 1.0, -1.0, 1.0000000000000002, math.nan, math.inf,
                                -math.inf, 5e-324]) | st.floats()
    if kind == "string":
        return st.sampled_from(["", " ", "x", " run-1", "run-1\u3000", "\u0085a", "a/b",
                                "x" * 129, "1fc08ad2-6e6f-4b8c-9f0d-2b7e0d1e4c5a",
                                "1FC08AD2-6E6F-4B8C-9F0D-2B7E0D1E4C5A",
                                "1fc08ad2-6e6f-4b8c-9f0d-2b7e0d1e4c5a\n"]) | st.text(max_size=40)
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "record":
        return st.fixed_dictionaries({field["name"]: _any_value(field["type"], named)
                                      for field in schema["fields"]})
    raise AssertionError(f"no strategy for {schema}")


def _mutated(name: str, data: st.DataObject) -> bytes:
    """A valid event of ``name``, encoded, with some of its Avro values replaced by any."""
    event = data.draw(models(EVENT_MODELS[name]))
    value = codec.encode(event)
    writer = CODEC._writers[type(event)].schema
    record = schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), writer, None)
    schema = CODEC.store.current(name).schema
    named = named_definitions(schema)
    for _ in range(data.draw(st.integers(0, 3))):
        node, fields = record, schema["fields"]
        field = data.draw(st.sampled_from(fields))
        while isinstance(field["type"], dict) and field["type"]["type"] == "record" and (
                data.draw(st.booleans())):  # into a nested record, such as meta
            node, fields = node[field["name"]], field["type"]["fields"]
            field = data.draw(st.sampled_from(fields))
        node[field["name"]] = data.draw(_any_value(field["type"], named))
    body = io.BytesIO()
    schemaless_writer(body, writer, record)
    return value[:HEADER_SIZE] + body.getvalue()


def _outcome(decoded: list[Any]) -> list[Any]:
    return [(type(item).__name__, item.index, item.field, str(item))
            if isinstance(item, codec.DecodeError) else
            (type(item), item.model_dump(), item.model_fields_set) for item in decoded]


@pytest.mark.parametrize("name", BY_COLUMNS)
@fuzz
@given(data=st.data())
def test_events_from_columns_equal_events_validated_one_by_one(name, data):
    values = [_mutated(name, data) for _ in range(data.draw(st.integers(1, 6)))]
    by_columns = CODEC._models_by_columns(values, "here")
    if by_columns is None:  # e.g. a timestamp beyond datetime's years: fastavro names it
        return
    by_records = CODEC._models_by_records(values, "here")
    assert _outcome(by_columns[0]) == _outcome(by_records[0])
    assert _outcome([by_columns[1]] if by_columns[1] else []) == _outcome(
        [by_records[1]] if by_records[1] else [])


@pytest.mark.parametrize("name", sorted(set(BY_COLUMNS) - {"esper.training.EpochCompleted"}))
@fuzz
@given(data=st.data())
def test_valid_events_are_all_built_from_columns(name, data):
    events = data.draw(st.lists(models(EVENT_MODELS[name]), min_size=1, max_size=20))
    batch = CODEC._arrow_by_columns(codec.encode_batch(events), name)
    built, left = column_models.plan(EVENT_MODELS[name], batch.schema).models(batch)
    assert left == [] and built == events


def test_a_built_event_behaves_as_a_validated_one():
    value = codec.encode(health_signal(gradient_norm=0.25))
    signal = codec.decode(value)  # validated by pydantic
    batch = CODEC._arrow_by_columns([value], "esper.telemetry.HealthSignal")
    [built], _ = column_models.plan(type(signal), batch.schema).models(batch)
    assert built == signal and hash(built.meta) == hash(signal.meta)
    assert built.model_fields_set == signal.model_fields_set
    assert built.model_dump_json() == signal.model_dump_json() and repr(built) == repr(signal)
    with pytest.raises(Exception, match="frozen"):
        built.health_score = 0.5
    copy = built.model_copy(update={"health_score": 0.5})
    assert copy.health_score == 0.5 and built.health_score == signal.health_score
    assert built.model_fields_set == signal.model_fields_set  # the copy has its own set


# --- models: each construct the plan knows, against pydantic ----------------------------------

class Colour(str, enum.Enum):
    RED = "red"
    GREEN = "green"


def _not_thirteen(value: int) -> int:
    if value == 13:
        raise ValueError("unlucky")
    return value


class Inner(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
    weight: Annotated[float, Field(gt=0.0, lt=10.0)]


class Sample(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, allow_inf_nan=False)

    name: Annotated[str, Field(min_length=1, max_length=5)]
    count: Annotated[int, Field(ge=-3, le=100), AfterValidator(_not_thirteen)]
    ratio: Optional[Annotated[float, Field(ge=0.0, le=1.0)]] = None
    colour: Colour
    colour_value: Optional[Colour] = None
    flag: bool
    inner: Optional[Inner] = None

    @model_validator(mode="after")
    def _flag_needs_inner(self) -> "Sample":
        if self.flag and self.inner is None:
            raise ValueError("flag without inner")
        return self


class Values(Sample):
    model_config = ConfigDict(use_enum_values=True)


_strings = st.sampled_from(["", "a", " a", "a ", "\u3000a", "a\u0085", "abcdef", "ab", "AB",
                            "ab\n"]) | st.text(max_size=7)
_rows = st.fixed_dictionaries({
    "name": _strings,
    "count": st.sampled_from([-4, -3, 13, 100, 101]) | st.integers(-10, 110),
    "ratio": st.none() | st.sampled_from([0.0, 1.0, -0.0, math.nan, math.inf, 1.5]) | st.floats(),
    "colour": st.sampled_from(["red", "green", "blue"]),
    "colour_value": st.none() | st.sampled_from(["red", "green", "blue"]),
    "flag": st.booleans(),
    "inner": st.none() | st.fixed_dictionaries({
        "code": _strings, "weight": st.sampled_from([0.0, 10.0, 5.0]) | st.floats()}),
})
_arrow = pa.schema([("name", pa.string()), ("count", pa.int64()), ("ratio", pa.float64()),
                    ("colour", pa.string()), ("colour_value", pa.string()),
                    ("flag", pa.bool_()),
                    ("inner", pa.struct([("code", pa.string()), ("weight", pa.float64())]))])


@pytest.mark.parametrize("model", [Sample, Values])
@fuzz
@given(rows=st.lists(_rows, min_size=1, max_size=12))
def test_a_row_built_from_columns_is_the_row_pydantic_accepts(model, rows):
    plan = column_models.plan(model, _arrow)
    assert plan is not None
    built, left = plan.models(pa.RecordBatch.from_pylist(rows, schema=_arrow))
    assert left == [index for index, instance in enumerate(built) if instance is None]
    for row, instance in zip(rows, built):
        if instance is not None:
            validated = model.model_validate(row)
            assert instance == validated and type(instance) is model
            assert instance.model_dump() == validated.model_dump()
            assert [type(v) for v in instance.__dict__.values()] == [
                type(v) for v in validated.__dict__.values()]
            assert instance.model_fields_set == validated.model_fields_set


def test_rows_pydantic_accepts_are_built_from_columns():
    rows = [{"name": "a", "count": 5, "ratio": 0.5, "colour": "red", "colour_value": None,
             "flag": True, "inner": {"code": "ab", "weight": 1.0}},
            {"name": "bc", "count": -3, "ratio": None, "colour": "green", "colour_value": "red",
             "flag": False, "inner": None}]
    built, left = column_models.plan(Values, _arrow).models(
        pa.RecordBatch.from_pylist(rows, schema=_arrow))
    assert left == [] and built == [Values.model_validate(row) for row in rows]
    assert built[1].colour == "green" and type(built[1].colour) is str


def test_rows_the_checks_may_not_judge_are_left_to_pydantic():
    row = {"name": " a", "count": 13, "ratio": math.nan, "colour": "blue", "colour_value": None,
           "flag": True, "inner": None}
    rows = [row, {**row, "name": "a "}, {**row, "name": "a"}]
    built, left = column_models.plan(Sample, _arrow).models(
        pa.RecordBatch.from_pylist(rows, schema=_arrow))
    assert built == [None] * 3 and left == [0, 1, 2]


class Before(BaseModel):
    value: int

    @field_validator("value", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return value


class Portable(BaseModel):
    code: Annotated[str, Field(pattern=r"^\d+$")]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True)
    colour: Colour


@pytest.mark.parametrize("model, schema", [
    (Before, pa.schema([("value", pa.int64())])),
    (Portable, pa.schema([("code", pa.string())])),  # \d: ASCII in RE2, Unicode in Rust
    (Strict, pa.schema([("colour", pa.string())])),  # a strict enum refuses its values
    (Inner, pa.schema([("code", pa.string())])),  # a field missing from the columns
    (Inner, pa.schema([("code", pa.string()), ("weight", pa.string())])),  # another type
])
def test_models_the_plan_does_not_know_are_left_to_pydantic(model, schema):
    assert column_models.plan(model, schema) is None
