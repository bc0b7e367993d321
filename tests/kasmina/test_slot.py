from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from esper.contracts import InvalidTransition, SeedState
from esper.kasmina import wrap

WALK = {
    SeedState.TRAINING: [SeedState.GERMINATED, SeedState.TRAINING],
    SeedState.GRAFTING: [SeedState.GERMINATED, SeedState.TRAINING, SeedState.GRAFTING],
}


class CountingKernel(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.linear(x)


class FailingKernel(nn.Module):
    def forward(self, x):
        raise RuntimeError("shape mismatch inside the kernel")


def seeded(state: SeedState, kernel: nn.Module | None = None):
    """An MLP whose first layer's slot 0 holds ``kernel`` in ``state``, and its plain twin."""
    torch.manual_seed(0)
    host = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    model = wrap(host, seeds_per_layer=2)
    slot = model.slot(0, 0)
    slot.load(kernel or CountingKernel(6, 5), "kernel-a", "blueprint-a")
    for step in WALK[state]:
        slot.move_to(step)
    model.layer(0).refresh()
    return model, slot, host


def test_a_training_seed_changes_nothing_the_host_computes_but_learns():
    model, slot, host = seeded(SeedState.TRAINING)
    x, y = torch.randn(8, 6, requires_grad=True), torch.randint(0, 3, (8,))
    twin_x = x.detach().clone().requires_grad_(True)
    out = model(x)
    assert torch.equal(out, host(twin_x))
    nn.functional.cross_entropy(out, y).backward()
    nn.functional.cross_entropy(host(twin_x), y).backward()
    for wrapped, plain in zip(model.layers, (host[0], host[2])):
        assert torch.equal(wrapped.weight.grad, plain.weight.grad)
    assert torch.equal(x.grad, twin_x.grad)  # the detached input: no gradient into the host
    kernel_grad = slot.kernel.linear.weight.grad
    assert kernel_grad is not None and kernel_grad.abs().sum() > 0


def test_a_training_seed_is_skipped_in_evaluation_and_without_autograd():
    model, slot, host = seeded(SeedState.TRAINING)
    x = torch.randn(4, 6)
    model.eval()
    assert torch.equal(model(x), host(x))
    model.train()
    with torch.no_grad():
        model(x)
    assert slot.kernel.calls == 0


def test_a_grafting_seed_adds_its_branch_scaled_by_alpha():
    model, slot, host = seeded(SeedState.GRAFTING)
    slot.alpha = 0.25
    x = torch.randn(4, 6)
    with torch.no_grad():
        hidden = host[0](x) + 0.25 * slot.kernel(x)
        assert torch.allclose(model(x), host[2](torch.relu(hidden)))
        with slot.alpha_forced_to_zero():
            assert torch.equal(model(x), host(x))


def test_a_kernel_that_fails_is_left_out_and_its_error_kept():
    model, slot, host = seeded(SeedState.GRAFTING, FailingKernel())
    slot.alpha = 1.0
    x = torch.randn(4, 6)
    assert torch.equal(model(x), host(x))
    assert slot.kernel_error == "RuntimeError: shape mismatch inside the kernel"


def test_dormant_slots_are_not_in_the_forward_pass():
    model, slot, _ = seeded(SeedState.GRAFTING)
    assert model.layer(0).live_slots == (slot,)
    assert model.layer(1).live_slots == ()


def test_slots_refuse_transitions_the_lifecycle_does_not_allow():
    model = wrap(nn.Linear(2, 2), seeds_per_layer=1)
    slot = model.slot(0, 0)
    with pytest.raises(InvalidTransition, match="cannot go from dormant to training"):
        slot.move_to(SeedState.TRAINING)
    assert slot.state is SeedState.DORMANT


def test_a_copied_model_keeps_seed_state():
    model, slot, _ = seeded(SeedState.GRAFTING)
    slot.alpha = 0.5
    twin = copy.deepcopy(model)
    assert twin.slot(0, 0).state is SeedState.GRAFTING and twin.slot(0, 0).alpha == 0.5
