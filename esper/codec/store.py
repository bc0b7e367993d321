"""The schema store: the Avro schemas of ``schemas/``, current and released, by name and
fingerprint.

Layout of the schema directory:

- ``<full name>.avsc``, e.g. ``esper.telemetry.HealthSignal.avsc``: the current definition of
  one named record or enum, referring to other named types by full name. This is fastavro's
  own convention, so ``fastavro.schema.load_schema(path)`` reads a schema with what it uses;
- ``history/<full name>/v<N>-<fingerprint>.avsc``: released version N of an event schema,
  self-contained, never edited (the fingerprint in the file name is checked).

The fingerprint of a schema is the CRC-64-AVRO of its Parsing Canonical Form, as 8 bytes in
the order the single-object encoding writes them (little-endian).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint as _fingerprint_hex
from fastavro.schema import parse_schema, to_parsing_canonical_form

from esper.codec.avro import NAMED_KINDS, PRIMITIVES, Schema
from esper.codec.errors import SchemaStoreError

SCHEMAS_DIR_ENV = "ESPER_SCHEMAS_DIR"
HISTORY_DIR = "history"
_RELEASED_FILE = re.compile(r"^v(?P<version>[1-9][0-9]*)-(?P<fingerprint>[0-9a-f]{16})\.avsc$")


def default_schemas_dir() -> Path:
    """``$ESPER_SCHEMAS_DIR``, else the ``schemas/`` directory of this checkout."""
    configured = os.environ.get(SCHEMAS_DIR_ENV)
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "schemas"


def fingerprint_of_schema(schema: Schema) -> bytes:
    """CRC-64-AVRO fingerprint of ``schema``'s canonical form, in single-object byte order."""
    return bytes.fromhex(_fingerprint_hex(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one event schema: self-contained JSON and its fingerprint.

    ``version`` is the released version number, or None for a current schema not yet released.
    """

    name: str
    schema: Mapping[str, Any] = field(repr=False)
    fingerprint: bytes
    version: int | None

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()

    @property
    def label(self) -> str:
        return f"v{self.version}" if self.version is not None else "unreleased"


class SchemaStore:
    """Current and released schemas of the events; see the module docstring for the layout."""

    def __init__(
        self,
        root: Path,
        named: Mapping[str, Mapping[str, Any]],
        current: Mapping[str, SchemaVersion],
        released: Mapping[str, tuple[SchemaVersion, ...]],
    ):
        self.root = root
        self._named = dict(named)
        self._current = dict(current)
        self._released = dict(released)
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for versions in self._released.values():
            for version in versions:
                self._by_fingerprint[version.fingerprint] = version
        for version in self._current.values():
            self._by_fingerprint.setdefault(version.fingerprint, version)

    @classmethod
    def load(cls, event_names: Iterable[str], root: Path | None = None) -> SchemaStore:
        """Read and check the schemas under ``root`` for the events named ``event_names``."""
        root = Path(root) if root is not None else default_schemas_dir()
        if not root.is_dir():
            raise SchemaStoreError(f"{root}: no schema directory")
        named = _load_named_types(root)
        expanded = {name: self_contained(name, named) for name in named}
        for name, schema in expanded.items():  # every named type must parse, events or not
            _check_parses(schema, where=str(_named_path(root, name)))
        released = _load_released(root)
        current: dict[str, SchemaVersion] = {}
        for name in event_names:
            if name not in named:
                path = _named_path(root, name)
                raise SchemaStoreError(f"{path}: missing schema for event {name}")
            schema = expanded[name]
            fingerprint = fingerprint_of_schema(schema)
            releases = released.get(name, ())
            release = next((v for v in releases if v.fingerprint == fingerprint), None)
            current[name] = release or SchemaVersion(name, schema, fingerprint, version=None)
        return cls(root, named, current, released)

    def names(self) -> list[str]:
        """Full names of the events, sorted."""
        return sorted(self._current)

    def named_types(self) -> list[str]:
        """Full names of every record and enum under the schema directory, sorted."""
        return sorted(self._named)

    def named_type(self, name: str) -> Mapping[str, Any]:
        """The file content of one named type (references to others by name)."""
        try:
            return self._named[name]
        except KeyError:
            raise SchemaStoreError(f"no schema named {name}") from None

    def current(self, name: str) -> SchemaVersion:
        try:
            return self._current[name]
        except KeyError:
            raise SchemaStoreError(f"no event schema named {name}") from None

    def released(self, name: str) -> tuple[SchemaVersion, ...]:
        """Released versions of an event, oldest first."""
        return self._released.get(name, ())

    def released_names(self) -> list[str]:
        """Names with released versions, including any no longer current."""
        return sorted(self._released)

    def by_fingerprint(self, fingerprint: bytes) -> SchemaVersion | None:
        """The writer schema with this fingerprint, released or current; None if unknown."""
        return self._by_fingerprint.get(fingerprint)

    def versions(self) -> list[SchemaVersion]:
        """Every distinct writer schema the store can read: released ones and current ones."""
        return list(self._by_fingerprint.values())

    def resolve_name(self, name: str) -> str:
        """The full name for ``name``, which may be a short name such as ``HealthSignal``."""
        if name in self._named:
            return name
        matches = [full for full in self._named if full.rsplit(".", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SchemaStoreError(f"no schema named {name}")
        raise SchemaStoreError(f"{name} is ambiguous: {', '.join(sorted(matches))}")


def self_contained(name: str, named: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The schema of ``name`` with every named type it uses defined inline at first use.

    Names are written as full names, so the result reads the same in any namespace context.
    """
    defined: set[str] = set()

    def inline(schema: Schema, where: str) -> Schema:
        if isinstance(schema, list):
            return [inline(branch, where) for branch in schema]
        if isinstance(schema, str):
            if schema in PRIMITIVES or schema in defined:
                return schema
            if schema not in named:
                raise SchemaStoreError(f"{where}: unknown type {schema!r} (use full names)")
            return definition(schema)
        kind = schema.get("type")
        if kind == "array":
            return {**schema, "items": inline(schema["items"], where)}
        if kind == "map":
            return {**schema, "values": inline(schema["values"], where)}
        return dict(schema)

    def definition(full_name: str) -> dict[str, Any]:
        defined.add(full_name)
        source = named[full_name]
        out = {key: value for key, value in source.items() if key != "namespace"}
        out["name"] = full_name
        if source["type"] in ("record", "error"):
            out["fields"] = [
                {**f, "type": inline(f["type"], f"{full_name}.{f['name']}")}
                for f in source["fields"]
            ]
        return out

    if name not in named:
        raise SchemaStoreError(f"no schema named {name}")
    return definition(name)


def _named_path(root: Path, full_name: str) -> Path:
    return root / f"{full_name}.avsc"


def _load_named_types(root: Path) -> dict[str, dict[str, Any]]:
    named: dict[str, dict[str, Any]] = {}
    for path in sorted(root.glob("*.avsc")):
        schema = _read_json(path)
        if not isinstance(schema, dict) or schema.get("type") not in NAMED_KINDS:
            raise SchemaStoreError(f"{path}: must define one named record or enum")
        full_name = _full_name(schema)
        if _named_path(root, full_name) != path:
            raise SchemaStoreError(
                f"{path}: defines {full_name}, which belongs in {_named_path(root, full_name)}"
            )
        _refuse_nested_definitions(schema, path)
        named[full_name] = schema
    return named


def _refuse_nested_definitions(schema: dict[str, Any], path: Path) -> None:
    def walk(node: Schema, where: str) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, where)
        elif isinstance(node, dict):
            if node.get("type") in NAMED_KINDS:
                raise SchemaStoreError(
                    f"{path}: {where} defines {node.get('name')!r} inline; give it its own file"
                )
            walk(node.get("items"), where)
            walk(node.get("values"), where)

    for f in schema.get("fields", ()):
        walk(f["type"], f["name"])


def _load_released(root: Path) -> dict[str, tuple[SchemaVersion, ...]]:
    released: dict[str, tuple[SchemaVersion, ...]] = {}
    history = root / HISTORY_DIR
    if not history.is_dir():
        return released
    for folder in sorted(p for p in history.iterdir() if p.is_dir()):
        versions = []
        for path in folder.glob("*.avsc"):
            match = _RELEASED_FILE.match(path.name)
            if not match:
                raise SchemaStoreError(
                    f"{path}: released schemas are named v<N>-<fingerprint>.avsc"
                )
            schema = _read_json(path)
            if _full_name(schema) != folder.name:
                raise SchemaStoreError(f"{path}: defines {_full_name(schema)}, not {folder.name}")
            _check_parses(schema, where=str(path))
            fingerprint = fingerprint_of_schema(schema)
            if fingerprint.hex() != match["fingerprint"]:
                raise SchemaStoreError(
                    f"{path}: a released schema was edited: its fingerprint is now "
                    f"{fingerprint.hex()}; restore it and put changes in the current schema"
                )
            number = int(match["version"])
            versions.append(SchemaVersion(folder.name, schema, fingerprint, number))
        versions.sort(key=lambda v: v.version or 0)
        numbers = [v.version for v in versions]
        if numbers != list(range(1, len(versions) + 1)):
            raise SchemaStoreError(f"{folder}: versions must be 1..N without gaps, found {numbers}")
        fingerprints = {v.fingerprint for v in versions}
        if len(fingerprints) != len(versions):
            raise SchemaStoreError(f"{folder}: two released versions have the same fingerprint")
        released[folder.name] = tuple(versions)
    return released


def _full_name(schema: Mapping[str, Any]) -> str:
    name = schema.get("name")
    if not isinstance(name, str):
        raise SchemaStoreError(f"schema without a name: {json.dumps(schema)[:80]}")
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SchemaStoreError(f"{path}: {error}") from None


def _check_parses(schema: Schema, where: str) -> None:
    try:
        parse_schema(schema)
    except Exception as error:  # fastavro raises several types for one cause: an invalid schema
        raise SchemaStoreError(f"{where}: invalid Avro schema: {error}") from None
