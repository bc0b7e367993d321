"""Fixtures for the contract tests: a private copy of the schema directory to change freely."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from esper.codec.store import default_schemas_dir


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    """A copy of ``schemas/`` (current and history) that a test may edit."""
    return Path(shutil.copytree(default_schemas_dir(), tmp_path / "schemas"))


@pytest.fixture
def edit_schema(schema_dir: Path) -> Callable[[str, Callable[[dict[str, Any]], None]], None]:
    """``edit_schema(name, change)``: apply ``change`` to the JSON of one current schema file."""

    def edit(name: str, change: Callable[[dict[str, Any]], None]) -> None:
        path = schema_dir / f"{name}.avsc"
        schema = json.loads(path.read_text())
        change(schema)
        path.write_text(json.dumps(schema, indent=2))

    return edit
