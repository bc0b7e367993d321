"""Each model and its Avro schema agree: field names and order, types, optionality, defaults,
enum symbols; and every schema is documented and named ``esper.<area>.<Name>``."""

from __future__ import annotations

import enum
import re
import types
import typing
from typing import Any

import pytest
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from esper.codec.store import SchemaStore
from esper.contracts import ENUM_TYPES, EVENT_MODELS, RECORD_MODELS, Event
from esper.contracts.fields import AttributeValue, EventId

STORE = SchemaStore.load(EVENT_MODELS)
ENUM_NAMES = {enum_type: name for name, enum_type in ENUM_TYPES.items()}
UUID_PATTERN = typing.get_args(EventId)[1].pattern
ATTRIBUTE_UNION = ["null", "boolean", "long", "double", "string"]
NAME = re.compile(r"^esper\.[a-z]+\.[A-Z][A-Za-z]+$")


def expected_avro_type(annotation: Any, metadata: list[Any]) -> Any:
    """The Avro type a model field must have, written as in the schema files."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = list(metadata)
        for extra in args[1:]:
            inner.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        return expected_avro_type(args[0], inner)
    if origin in (typing.Union, types.UnionType):
        branches = [a for a in args if a is not type(None)]
        assert len(branches) == 1, annotation
        return ["null", expected_avro_type(branches[0], metadata)]
    if origin is list:
        return {"type": "array", "items": expected_avro_type(args[0], [])}
    if origin is dict:
        values = ATTRIBUTE_UNION if args[1] == AttributeValue else expected_avro_type(args[1], [])
        return {"type": "map", "values": values}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.avro_name
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return ENUM_NAMES[annotation]
    if annotation is AwareDatetime:
        return {"type": "long", "logicalType": "timestamp-micros"}
    if annotation is str and any(getattr(m, "pattern", None) == UUID_PATTERN for m in metadata):
        return {"type": "string", "logicalType": "uuid"}
    return {bool: "boolean", int: "long", float: "double", str: "string"}[annotation]


def expected_default(info: FieldInfo) -> Any:
    """The Avro default a model field implies, or PydanticUndefined for none."""
    if info.default_factory in (list, dict):
        return info.default_factory()
    if info.default_factory is not None:  # uuid, now, time.time: no fixed value to write down
        return PydanticUndefined
    if isinstance(info.default, enum.Enum):
        return info.default.value
    return info.default


@pytest.mark.parametrize("model", RECORD_MODELS.values(), ids=lambda m: m.__name__)
def test_record_model_and_schema_agree(model):
    schema = STORE.named_type(model.avro_name)
    assert schema["type"] == "record"
    assert f"{schema['namespace']}.{schema['name']}" == model.avro_name
    fields = schema["fields"]
    assert [f["name"] for f in fields] == list(model.model_fields), "names and order"
    for avro_field, (name, info) in zip(fields, model.model_fields.items()):
        assert avro_field["type"] == expected_avro_type(info.annotation, list(info.metadata)), name
        assert avro_field.get("default", PydanticUndefined) == expected_default(info), name
        if isinstance(avro_field["type"], list):  # optional: null first, defaulting to null
            assert avro_field["type"][0] == "null" and avro_field.get("default", 0) is None, name


@pytest.mark.parametrize("name", ENUM_TYPES, ids=lambda n: n.rsplit(".", 1)[-1])
def test_enum_and_schema_agree(name):
    schema = STORE.named_type(name)
    assert schema["type"] == "enum"
    assert schema["symbols"] == [member.value for member in ENUM_TYPES[name]]


def test_every_schema_file_has_a_model_or_an_enum_and_back():
    assert set(STORE.named_types()) == set(RECORD_MODELS) | set(ENUM_TYPES)


@pytest.mark.parametrize("name", sorted(set(RECORD_MODELS) | set(ENUM_TYPES)), ids=lambda n: n)
def test_schemas_are_named_by_area_and_documented(name):
    schema = STORE.named_type(name)
    assert NAME.match(name)
    python_name = (RECORD_MODELS.get(name) or ENUM_TYPES[name]).__name__
    assert name.rsplit(".", 1)[-1] == python_name
    assert schema.get("doc", "").strip(), f"{name} has no doc"
    for field in schema.get("fields", ()):
        assert field.get("doc", "").strip(), f"{name}.{field['name']} has no doc"


def test_events_are_the_records_that_start_with_meta():
    with_meta = {
        name for name, model in RECORD_MODELS.items() if next(iter(model.model_fields)) == "meta"
    }
    assert with_meta == set(EVENT_MODELS)
    assert all(issubclass(model, Event) for model in EVENT_MODELS.values())


def test_the_event_topics_of_design_are_all_there():
    short = {name.rsplit(".", 1)[-1] for name in EVENT_MODELS}
    assert short == {
        "HealthSignal", "TrainingRunStarted", "EpochCompleted", "TrainingRunCompleted",
        "AdaptationDecision", "KasminaControlCommand", "SeedStateChanged", "BlueprintSubmitted",
        "BlueprintStateChanged", "KernelReady", "CompilationFailed", "KernelCharacterized",
        "FieldReport", "PolicyUpdated", "TelemetryDropped",
    }  # fmt: skip
