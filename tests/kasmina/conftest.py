from __future__ import annotations

import pytest

from esper.artifacts import LocalArtifactStore
from tests.kasmina.kernels import Scrambler, compiled, exported


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return LocalArtifactStore(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="session")
def kernels(store):
    """Kernels for the 16 -> 8 -> 4 MLP of these tests, by the role they play."""
    return {
        "hidden": compiled(store, "mlp_small", [16], [8]),
        "head": compiled(store, "linear_adapter", [8], [4]),
        "scrambler": exported(store, Scrambler(8, 4), "scrambler-8-4", [8], [4]),
        "wrong_shape": compiled(store, "linear_adapter", [16], [5]),
    }
