"""Small helpers over Avro schema JSON, shared by the store, the checks and the Arrow builder."""

from __future__ import annotations

from typing import Any

Schema = Any  # Avro schema JSON: a type name (str), a union (list) or a dict

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})


def named_definitions(schema: Schema) -> dict[str, dict[str, Any]]:
    """The named types defined anywhere in ``schema``, by their (full) ``name``."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Schema) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch)
        elif isinstance(node, dict):
            if node.get("type") in NAMED_KINDS and node["name"] not in found:
                found[node["name"]] = node
                for field in node.get("fields", ()):
                    walk(field["type"])
            walk(node.get("items"))
            walk(node.get("values"))

    walk(schema)
    return found


def without_logical_types(schema: Schema, kinds: frozenset[str] | None = None) -> Schema:
    """A copy of ``schema`` without the logical types in ``kinds`` (all of them when None).

    Logical types are not part of the canonical form, so the copy has the same fingerprint
    and reads the same bytes; only the Python values it produces differ.
    """
    if isinstance(schema, list):
        return [without_logical_types(branch, kinds) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    copy: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "logicalType" and (kinds is None or value in kinds):
            continue
        if key == "fields":
            value = [{**f, "type": without_logical_types(f["type"], kinds)} for f in value]
        elif key in ("items", "values", "type"):
            value = without_logical_types(value, kinds)
        copy[key] = value
    return copy
