from __future__ import annotations

import pytest

from esper.artifacts import LocalArtifactStore
from esper.tezzeret.compiler import Compiler


@pytest.fixture
def store(tmp_path):
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def compiler(store):
    """A compiler into a fresh folder, timing each kernel briefly (5 runs at least)."""
    return Compiler(store, timing_budget_s=0.02)
