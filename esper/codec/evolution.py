"""The evolution policy: BACKWARD_TRANSITIVE, and releasing new versions into the history.

Every current event schema must read data written with every released version of it, because
a replay reads the whole log. A release freezes the current schemas that changed as the next
version under ``history/``; released files are never edited again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fastavro import parse_schema

from esper.codec.compatibility import read_problems
from esper.codec.errors import SchemaStoreError
from esper.codec.store import HISTORY_DIR, SchemaStore, SchemaVersion


@dataclass(frozen=True)
class Incompatibility:
    """The current schema of ``name`` cannot read data written with released ``version``."""

    name: str
    version: int
    problem: str

    def __str__(self) -> str:
        return f"{self.name} cannot read v{self.version}: {self.problem}"


def backward_transitive_problems(store: SchemaStore) -> list[Incompatibility]:
    """Every way in which a current schema fails to read one of its released versions."""
    found: list[Incompatibility] = []
    for name in store.released_names():
        versions = store.released(name)
        if name not in store.names():
            found.append(Incompatibility(name, versions[-1].version or 0, "no current schema"))
            continue
        current = store.current(name)
        reader = parse_schema(current.schema)
        for old in versions:
            if old.fingerprint != current.fingerprint:
                writer = parse_schema(old.schema)
                problems = read_problems(reader, writer)
                found += [Incompatibility(name, old.version or 0, p) for p in problems]
    return found


def unreleased(store: SchemaStore) -> list[SchemaVersion]:
    """Current schemas that differ from every released version of their event."""
    return [store.current(name) for name in store.names() if store.current(name).version is None]


def release(store: SchemaStore) -> list[Path]:
    """Write each unreleased current schema as the next version; refuse if any is incompatible."""
    problems = backward_transitive_problems(store)
    if problems:
        raise SchemaStoreError(
            "refusing to release incompatible schemas:\n" + "\n".join(f"  {p}" for p in problems)
        )
    written = []
    for current in unreleased(store):
        number = len(store.released(current.name)) + 1
        path = store.root / HISTORY_DIR / current.name / f"v{number}-{current.fingerprint_hex}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(current.schema, indent=2, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
