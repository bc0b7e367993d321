from __future__ import annotations

import pytest
import torch

from esper.karn import BlueprintIR
from esper.tezzeret.export import ExportRefused, export_artifact, module_from_artifact
from esper.tezzeret.modules import build_module


@pytest.fixture(scope="module")
def eager_and_loaded():
    eager = build_module(BlueprintIR.of("conv_small"), [4, 6, 6], [8, 6, 6])
    return eager, module_from_artifact(export_artifact(eager, [4, 6, 6]))


def test_the_loaded_kernel_takes_any_batch_size(eager_and_loaded):
    eager, loaded = eager_and_loaded
    for batch in (1, 2, 7):
        x = torch.randn(batch, 4, 6, 6)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), eager(x))


def test_the_loaded_kernel_refuses_other_non_batch_dimensions(eager_and_loaded):
    _, loaded = eager_and_loaded
    with pytest.raises(RuntimeError, match="shape"):
        loaded(torch.randn(2, 4, 7, 7))


def test_the_loaded_kernel_trains(eager_and_loaded):
    _, loaded = eager_and_loaded
    optimizer = torch.optim.SGD(loaded.parameters(), lr=0.1)
    x = torch.randn(3, 4, 6, 6)
    before = loaded(x).square().mean().item()

    for _ in range(5):
        optimizer.zero_grad()
        loaded(x).square().mean().backward()
        optimizer.step()

    assert loaded(x).square().mean().item() < before


def test_a_host_can_switch_the_loaded_kernel_between_training_and_evaluation(eager_and_loaded):
    _, loaded = eager_and_loaded
    host = torch.nn.Sequential(torch.nn.Identity(), loaded)

    host.eval()
    assert not loaded.training
    host.train()
    assert loaded.training


@pytest.mark.parametrize("module", [
    torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.1)),
    torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4)),
], ids=["dropout", "batchnorm"])
def test_modules_that_behave_differently_in_training_are_refused(module):
    with pytest.raises(ExportRefused, match="training and evaluation"):
        export_artifact(module, [4])


def test_the_artifact_of_a_module_is_the_same_bytes_every_time():
    module = build_module(BlueprintIR.of("mlp_small"), [8], [8])

    assert export_artifact(module, [8]) == export_artifact(module, [8])
