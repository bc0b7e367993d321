from __future__ import annotations

import pytest
import torch
from torch import nn

from esper.artifacts import LocalArtifactStore
from esper.kasmina import KernelLoadError, wrap
from esper.kasmina.kernels import load_for
from tests.kasmina.kernels import compiled, corrupt


def measured_mlp():
    model = wrap(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)), seeds_per_layer=1)
    model.measure(torch.zeros(2, 16))
    return model


def test_a_stored_kernel_loads_trainable_and_fitting_its_layer(store, kernels):
    layer = measured_mlp().layer(0)
    kernel = load_for(layer, store, kernels["hidden"].kernel_id)
    assert kernel(torch.randn(7, 16)).shape == (7, 8)
    assert all(p.requires_grad for p in kernel.parameters())
    assert kernel.training  # it follows the layer's mode


def test_a_corrupted_artifact_is_refused_by_its_checksum(tmp_path):
    own_store = LocalArtifactStore(tmp_path)
    kernel = compiled(own_store, "linear_adapter", [16], [8])
    corrupt(own_store, kernel)
    with pytest.raises(KernelLoadError, match=f"kernel {kernel.kernel_id} did not load: ChecksumMismatch"):
        load_for(measured_mlp().layer(0), own_store, kernel.kernel_id)


def test_an_unknown_kernel_is_refused(store):
    with pytest.raises(KernelLoadError, match="kernel kernel-nope did not load: ArtifactMissing"):
        load_for(measured_mlp().layer(0), store, "kernel-nope")


def test_a_kernel_for_other_shapes_is_refused(store, kernels):
    with pytest.raises(KernelLoadError, match=r"returns \(2, 5\) for a \(2, 16\) input; layer 0 \(0\) needs \(2, 8\)"):
        load_for(measured_mlp().layer(0), store, kernels["wrong_shape"].kernel_id)


def test_a_kernel_that_cannot_take_the_input_is_refused(store, kernels):
    # torch.export's shape guards reject a 8-wide input for a kernel built for 16
    with pytest.raises(KernelLoadError, match=r"fails on a \(2, 8\) input"):
        load_for(measured_mlp().layer(1), store, kernels["wrong_shape"].kernel_id)


class NotAModule:
    def load_kernel(self, kernel_id):
        return lambda x: x


class NanKernel(nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], 8), float("nan"))


class NonFinite:
    def load_kernel(self, kernel_id):
        return NanKernel()


def test_what_is_not_a_module_or_not_finite_is_refused():
    layer = measured_mlp().layer(0)
    with pytest.raises(KernelLoadError, match="loaded as a function, not a torch module"):
        load_for(layer, NotAModule(), "k")
    with pytest.raises(KernelLoadError, match="returns non-finite values"):
        load_for(layer, NonFinite(), "k")


def test_an_unmeasured_layer_cannot_be_checked(store, kernels):
    layer = wrap(nn.Linear(16, 8)).layer(0)
    with pytest.raises(KernelLoadError, match="has not been measured"):
        load_for(layer, store, kernels["hidden"].kernel_id)
