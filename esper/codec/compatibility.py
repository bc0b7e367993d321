"""Avro schema resolution as a check: can data written with one schema be read with another?

The rules are those of the Avro specification's "Schema Resolution" section; on top of them a
change of logical type is refused, because the bytes would still resolve but mean something
else (micros read as millis). Schemas are given in fastavro's parsed form (full names).
"""

from __future__ import annotations

from typing import Any

from esper.codec.avro import NAMED_KINDS, Schema, named_definitions

# (writer type, reader type) pairs that Avro promotes.
_PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)


def read_problems(reader: Schema, writer: Schema) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; empty when it can.

    Each problem starts with the path of the value in the record, e.g.
    ``esper.telemetry.HealthSignal.health_score: ...``.
    """
    check = _Check(named_definitions(reader), named_definitions(writer))
    check.compare(reader, writer, _type_name(reader))
    return check.problems


class _Check:
    def __init__(self, reader_names: dict[str, Any], writer_names: dict[str, Any]):
        self.reader_names = reader_names
        self.writer_names = writer_names
        self.problems: list[str] = []
        self._seen: set[tuple[str, str]] = set()  # named pairs already compared (recursive types)

    def compare(self, reader: Schema, writer: Schema, path: str) -> None:
        reader = self._resolve(reader, self.reader_names)
        writer = self._resolve(writer, self.writer_names)
        if isinstance(writer, list):
            for branch in writer:
                self.compare(reader, branch, path)
            return
        if isinstance(reader, list):
            branch = self._matching_branch(reader, writer)
            if branch is None:
                written = _describe(writer)
                self._problem(path, f"the writer's {written} is not in the reader's union")
            else:
                self.compare(branch, writer, path)
            return
        reader_type, writer_type = _kind(reader), _kind(writer)
        if reader_type != writer_type:
            if (writer_type, reader_type) not in _PROMOTIONS:
                self._problem(
                    path, f"the writer's {_describe(writer)} cannot be read as {_describe(reader)}"
                )
            return
        if _logical(reader) != _logical(writer):
            before, after = _logical(writer), _logical(reader)
            self._problem(path, f"logical type changed from {before} to {after}")
        if reader_type in NAMED_KINDS:
            if not self._same_name(reader, writer, path):
                return
            key = (reader["name"], writer["name"])
            if key in self._seen:
                return
            self._seen.add(key)
        if reader_type in ("record", "error"):
            self._compare_records(reader, writer, path)
        elif reader_type == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                self._problem(path, f"enum symbols {missing} were removed; the enum has no default")
        elif reader_type == "fixed" and reader["size"] != writer["size"]:
            self._problem(path, f"fixed size changed from {writer['size']} to {reader['size']}")
        elif reader_type == "array":
            self.compare(reader["items"], writer["items"], f"{path}[]")
        elif reader_type == "map":
            self.compare(reader["values"], writer["values"], f"{path}{{}}")

    def _compare_records(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        written = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            source = next((written[n] for n in names if n in written), None)
            where = f"{path}.{field['name']}"
            if source is not None:
                self.compare(field["type"], source["type"], where)
            elif "default" not in field:
                self._problem(where, "new field without a default; older data has no value for it")

    def _same_name(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> bool:
        if writer["name"] == reader["name"] or writer["name"] in reader.get("aliases", ()):
            return True
        self._problem(path, f"{writer['name']} was renamed to {reader['name']} without an alias")
        return False

    def _problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path}: {text}")

    def _matching_branch(self, union: list[Schema], writer: Schema) -> Schema | None:
        writer_type = _kind(writer)
        branches = [self._resolve(b, self.reader_names) for b in union]
        for branch in branches:  # the spec picks the first exact match...
            if _kind(branch) == writer_type and (
                writer_type not in NAMED_KINDS or branch["name"] == writer["name"]
            ):
                return branch
        for branch in branches:  # ...else the first that the writer's type promotes to
            if (writer_type, _kind(branch)) in _PROMOTIONS:
                return branch
        return None

    @staticmethod
    def _resolve(schema: Schema, names: dict[str, Any]) -> Schema:
        return names.get(schema, schema) if isinstance(schema, str) else schema


def _kind(schema: Schema) -> str:
    return schema if isinstance(schema, str) else schema["type"]


def _logical(schema: Schema) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


def _type_name(schema: Schema) -> str:
    return schema["name"] if isinstance(schema, dict) and "name" in schema else _kind(schema)


def _describe(schema: Schema) -> str:
    if isinstance(schema, dict) and "name" in schema:
        return f"{schema['type']} {schema['name']}"
    if _logical(schema):
        return f"{_kind(schema)} ({_logical(schema)})"
    return _kind(schema)
