"""Schema evolution: released versions stay readable forever (BACKWARD_TRANSITIVE).

Shown end to end on a copy of ``schemas/``: a breaking change is refused, and a compatible one
(a new field with a default) is released and decodes both ways, old bytes into the new model
and new bytes into the old one.
"""

from __future__ import annotations

import json
import shutil
from typing import ClassVar

import pytest
from fastavro import parse_schema

from esper import codec
from esper.codec import Codec, SchemaStore, SchemaStoreError
from esper.codec.compatibility import read_problems
from esper.codec.evolution import backward_transitive_problems, release, unreleased
from esper.contracts import EVENT_MODELS, HealthSignal

from tests.contracts.builders import health_signal

HEALTH = "esper.telemetry.HealthSignal"
TEMPERATURE = {"name": "temperature", "type": "double", "default": 0.0, "doc": "Device temperature, degrees C."}


class HealthSignalWithTemperature(HealthSignal):
    """The model after the compatible change: one more field, with a default."""

    avro_name: ClassVar[str] = HEALTH
    temperature: float = 0.0


def load(directory, names=EVENT_MODELS) -> SchemaStore:
    return SchemaStore.load(names, directory)


def test_the_repository_schemas_are_released_and_backward_transitive():
    store = load(None)
    assert backward_transitive_problems(store) == []
    assert unreleased(store) == []
    assert all(store.released(name) for name in store.names())


def test_a_new_field_without_a_default_is_refused(schema_dir, edit_schema):
    edit_schema(HEALTH, lambda s: s["fields"].append({"name": "temperature", "type": "double", "doc": "C"}))
    store = load(schema_dir)
    assert [str(p) for p in backward_transitive_problems(store)] == [
        f"esper.telemetry.HealthSignal cannot read v{v.version}: esper.telemetry.HealthSignal.temperature: "
        "new field without a default; older data has no value for it"
        for v in store.released(HEALTH)
    ]
    with pytest.raises(SchemaStoreError, match="refusing to release incompatible schemas"):
        release(store)


def test_a_type_change_inside_a_nested_record_is_refused(schema_dir, edit_schema):
    def retype(schema):
        next(f for f in schema["fields"] if f["name"] == "run_id")["type"] = ["null", "long"]

    edit_schema("esper.common.EventMeta", retype)
    store = load(schema_dir)
    problems = backward_transitive_problems(store)
    # every event carries meta, so each of its released versions is unreadable
    assert len(problems) == sum(len(store.released(name)) for name in EVENT_MODELS)
    assert any(
        "esper.telemetry.HealthSignal.meta.run_id: the writer's string is not in the reader's union" in str(p)
        for p in problems
    )


def test_a_compatible_change_is_released_and_decodes_both_ways(schema_dir, edit_schema, tmp_path):
    old_dir = tmp_path / "old"
    shutil.copytree(schema_dir, old_dir)
    latest = len(load(schema_dir).released(HEALTH))
    edit_schema(HEALTH, lambda s: s["fields"].append(TEMPERATURE))
    new_store = load(schema_dir)
    assert backward_transitive_problems(new_store) == []
    assert [v.name for v in unreleased(new_store)] == [HEALTH]

    [written] = release(new_store)
    assert written.parent.name == HEALTH and written.name.startswith(f"v{latest + 1}-")
    new_store = load(schema_dir)
    assert [v.version for v in new_store.released(HEALTH)] == list(range(1, latest + 2))
    assert unreleased(new_store) == []
    *_, old_fingerprint, new_fingerprint = (v.fingerprint for v in new_store.released(HEALTH))
    assert new_store.by_fingerprint(old_fingerprint).version == latest
    assert new_store.by_fingerprint(new_fingerprint) == new_store.current(HEALTH)
    assert new_store.by_fingerprint(bytes(8)) is None

    new_codec = Codec(new_store, models={**EVENT_MODELS, HEALTH: HealthSignalWithTemperature})
    old_signal = health_signal(health_score=0.9)
    old_bytes = codec.encode(old_signal)  # the repository's codec writes the latest release

    upgraded = new_codec.decode(old_bytes)  # old bytes, read as new: the default fills the gap
    assert type(upgraded) is HealthSignalWithTemperature and upgraded.temperature == 0.0
    assert upgraded.model_dump(exclude={"temperature"}) == old_signal.model_dump()

    new_signal = HealthSignalWithTemperature(**old_signal.model_dump(), temperature=21.5)
    new_bytes = new_codec.encode(new_signal)
    assert new_bytes[2:10] != old_bytes[2:10]

    # An older consumer with the new release in its history reads the new bytes as its own.
    shutil.copy(written, old_dir / "history" / HEALTH / written.name)
    old_codec = Codec(load(old_dir))
    downgraded = old_codec.decode(new_bytes)
    assert type(downgraded) is HealthSignal and downgraded == old_signal
    assert old_codec.writer_schema_of(new_bytes).version == latest + 1


def test_an_edited_released_schema_is_refused(schema_dir):
    [path] = (schema_dir / "history" / HEALTH).glob("v1-*.avsc")
    schema = json.loads(path.read_text())
    schema["fields"][1]["type"] = "int"
    path.write_text(json.dumps(schema))
    with pytest.raises(SchemaStoreError, match="a released schema was edited"):
        load(schema_dir)


def test_released_versions_have_no_gaps(schema_dir):
    [path] = (schema_dir / "history" / HEALTH).glob("v1-*.avsc")
    path.unlink()
    with pytest.raises(SchemaStoreError, match=r"versions must be 1..N without gaps, found \[2\]"):
        load(schema_dir)


def test_an_event_with_released_versions_keeps_a_current_schema(schema_dir):
    names = [name for name in EVENT_MODELS if name != HEALTH]
    store = load(schema_dir, names)
    latest = store.released(HEALTH)[-1].version
    problems = backward_transitive_problems(store)
    assert [str(p) for p in problems] == [f"{HEALTH} cannot read v{latest}: no current schema"]


def test_schema_files_are_named_by_the_type_they_define(schema_dir):
    (schema_dir / f"{HEALTH}.avsc").rename(schema_dir / "esper.telemetry.Health.avsc")
    with pytest.raises(SchemaStoreError, match="defines esper.telemetry.HealthSignal, which belongs in"):
        load(schema_dir)


def test_named_types_are_defined_in_their_own_files(schema_dir, edit_schema):
    def inline_enum(schema):
        schema["fields"][0]["type"] = {"type": "enum", "name": "Inline", "symbols": ["a"]}

    edit_schema("esper.telemetry.DroppedCount", inline_enum)
    with pytest.raises(SchemaStoreError, match="defines 'Inline' inline; give it its own file"):
        load(schema_dir)


def test_references_use_full_names(schema_dir, edit_schema):
    edit_schema(HEALTH, lambda s: s["fields"][0].update(type="EventMeta"))
    with pytest.raises(SchemaStoreError, match="unknown type 'EventMeta' \\(use full names\\)"):
        load(schema_dir)


def record(*fields, name="esper.test.R", **extra):
    return parse_schema({"type": "record", "name": name, "fields": list(fields), **extra})


def field(name, type_, **extra):
    return {"name": name, "type": type_, **extra}


@pytest.mark.parametrize("writer, reader, problem", [
    (record(field("a", "long")), record(field("a", "long"), field("b", "long", default=0)), None),
    (record(field("a", "long")), record(field("a", "long"), field("b", "long")), "esper.test.R.b: new field without a default"),
    (record(field("a", "long"), field("b", "long")), record(field("a", "long")), None),
    (record(field("a", "int")), record(field("a", "long")), None),
    (record(field("a", "long")), record(field("a", "double")), None),
    (record(field("a", "long")), record(field("a", "int")), "esper.test.R.a: the writer's long cannot be read as int"),
    (record(field("a", "string")), record(field("a", "bytes")), None),
    (record(field("a", "string")), record(field("a", ["null", "string"], default=None)), None),
    (record(field("a", ["null", "string"])), record(field("a", "string")), "esper.test.R.a: the writer's null cannot be read as string"),
    (record(field("a", {"type": "enum", "name": "esper.test.E", "symbols": ["x"]})),
     record(field("a", {"type": "enum", "name": "esper.test.E", "symbols": ["x", "y"]})), None),
    (record(field("a", {"type": "enum", "name": "esper.test.E", "symbols": ["x", "y"]})),
     record(field("a", {"type": "enum", "name": "esper.test.E", "symbols": ["x"]})), "enum symbols ['y'] were removed; the enum has no default"),
    (record(field("a", {"type": "enum", "name": "esper.test.E", "symbols": ["x", "y"]})),
     record(field("a", {"type": "enum", "name": "esper.test.E", "symbols": ["x"], "default": "x"})), None),
    (record(field("a", "long")), record(field("b", "long", aliases=["a"])), None),
    (record(field("a", "long")), record(field("a", "long"), name="esper.test.S"), "esper.test.R was renamed to esper.test.S without an alias"),
    (record(field("a", "long")), record(field("a", "long"), name="esper.test.S", aliases=["esper.test.R"]), None),
    (record(field("a", {"type": "long", "logicalType": "timestamp-micros"})),
     record(field("a", {"type": "long", "logicalType": "timestamp-millis"})), "logical type changed from timestamp-micros to timestamp-millis"),
    (record(field("a", {"type": "array", "items": "long"})), record(field("a", {"type": "array", "items": "string"})), "esper.test.R.a[]: the writer's long cannot be read as string"),
    (record(field("a", {"type": "map", "values": "int"})), record(field("a", {"type": "map", "values": "double"})), None),
])  # fmt: skip
def test_resolution_rules(writer, reader, problem):
    problems = read_problems(reader, writer)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]
