from __future__ import annotations

import pytest

from esper.artifacts import LocalArtifactStore
from tests.kasmina.kernels import Scrambler, compiled, exported


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return LocalArtifactStore(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="session")
def kernels(store):
    """Kernels for the under-sized MLP on the synthetic task (16 -> 8 -> 4) and on digits
    (64 -> 8 -> 10), and for the under-sized CNN's second convolution on the synthetic task
    (2 -> 4 channels of 4 x 4), by the role they play."""
    return {
        "hidden": compiled(store, "mlp_small", [16], [8]),
        "head": compiled(store, "linear_adapter", [8], [4]),
        "scrambler": exported(store, Scrambler(8, 4), "scrambler-8-4", [8], [4]),
        "digits_hidden": compiled(store, "mlp_small", [64], [8]),
        "conv": compiled(store, "conv_light", [2, 4, 4], [4, 4, 4]),
    }
