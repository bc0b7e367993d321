from __future__ import annotations

import pytest

from esper.artifacts import LocalArtifactStore
from esper.bus.admin import create_topics
from tests.kasmina.kernels import Scrambler, compiled, exported


@pytest.fixture(scope="session")
def catalogue(kafka_bootstrap):
    """The catalogue's topics on the test broker: `esper train` writes where production would."""
    create_topics(kafka_bootstrap)
    return kafka_bootstrap


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An artifact store of this test's own, which the process finds through ESPER_ARTIFACTS."""
    monkeypatch.setenv("ESPER_ARTIFACTS", str(tmp_path / "artifacts"))
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def kernels(store):
    """Kernels for the under-sized MLP on the synthetic task (16 -> 8 -> 4)."""
    return {
        "hidden": compiled(store, "mlp_small", [16], [8]),
        "head": compiled(store, "linear_adapter", [8], [4]),
        "scrambler": exported(store, Scrambler(8, 4), "scrambler-8-4", [8], [4]),
    }
