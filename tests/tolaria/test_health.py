from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from esper.contracts import SeedState
from esper.kasmina import wrap
from esper.tolaria import HealthProbe
from esper.tolaria.health import measure, measure_all
from esper.tolaria.system import ProcessMonitor


def weight_with_grad(*values: float) -> nn.Parameter:
    parameter = nn.Parameter(torch.zeros(len(values)))
    parameter.grad = torch.tensor(values)
    return parameter


def test_dead_units_are_those_never_positive_in_the_batch():
    output = torch.tensor([[1.0, -1.0, 0.0, 2.0], [3.0, -2.0, 0.0, -1.0]])
    assert measure(output, [], 0.0).dead_neuron_ratio == 0.5


def test_correlation_is_the_mean_absolute_correlation_of_distinct_units():
    base = torch.randn(4096, 1, generator=torch.Generator().manual_seed(0))
    duplicated = torch.cat([base, -base, 2 * base], dim=1)
    assert measure(duplicated, [], 0.0).avg_correlation == pytest.approx(1.0, abs=1e-5)
    independent = torch.randn(4096, 8, generator=torch.Generator().manual_seed(1))
    assert measure(independent, [], 0.0).avg_correlation < 0.05
    with_constant = torch.cat([base, torch.ones(4096, 1)], dim=1)  # a constant unit is ignored
    assert measure(with_constant, [], 0.0).avg_correlation == 0.0


def test_conv_channels_are_the_units_and_pixels_the_samples():
    output = torch.zeros(2, 3, 4, 4)
    output[:, 0] = 1.0
    output[:, 1, 0, 0] = 5.0
    health = measure(output, [], 0.0)
    assert health.dead_neuron_ratio == pytest.approx(1 / 3)
    assert health.activation_variance == pytest.approx(output.var().item())


def test_gradient_norm_latency_and_the_score_formula():
    health = measure(torch.tensor([[1.0, -1.0], [2.0, 1.0]]), [weight_with_grad(3.0, 4.0)], 1.5)
    assert health.gradient_norm == pytest.approx(5.0) and health.latency_ms == 1.5
    v, c = health.activation_variance, health.avg_correlation
    expected = 0.4 * (1 - 0.0) + 0.2 * (1 - c) + 0.2 * v / (v + 0.01) + 0.2 * 5.0 / (5.0 + 1e-4)
    assert health.score == pytest.approx(expected)


def test_outputs_measured_together_are_measured_as_alone():
    generator = torch.Generator().manual_seed(2)
    outputs = [torch.randn(32, 7, generator=generator), torch.randn(32, 3, generator=generator) - 1,
               torch.randn(5, 4, 2, 2, generator=generator), torch.randn(32, 80, generator=generator),
               torch.full((32, 2), -1.0)]
    parameters = [[weight_with_grad(3.0, 4.0)], [], [weight_with_grad(1.0), weight_with_grad(2.0)],
                  [weight_with_grad(0.5)], []]
    together = measure_all([(o, p, 0.5, 0) for o, p in zip(outputs, parameters)])
    for health, output, own in zip(together, outputs, parameters):
        alone = measure(output, own, 0.5)
        assert health.dead_neuron_ratio == alone.dead_neuron_ratio
        assert health.activation_variance == pytest.approx(output.var().item(), rel=1e-6)
        assert health.avg_correlation == pytest.approx(alone.avg_correlation, abs=1e-6)
        assert health.gradient_norm == pytest.approx(alone.gradient_norm)
    assert together[-1].dead_neuron_ratio == 1.0  # of its 2 units, not of the 80 padded to


def test_a_collapsed_layer_scores_low_and_any_error_scores_zero():
    dead = measure(torch.full((8, 4), -1.0), [weight_with_grad(0.0)], 0.0)
    assert dead.score == pytest.approx(0.2)  # only "no correlation" is left
    broken = measure(torch.tensor([[float("nan"), 1.0]]), [weight_with_grad(1.0)], 0.0)
    assert broken.error_count == 1 and broken.score == 0.0
    exploding = measure(torch.ones(2, 2), [weight_with_grad(float("inf"))], 0.0)
    assert exploding.error_count == 1 and exploding.gradient_norm is None
    assert exploding.score == 0.0


class Doubler(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 5)

    def forward(self, x):
        return self.linear(x) * 2


def probed_step():
    torch.manual_seed(0)
    model = wrap(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)), seeds_per_layer=2)
    model.measure(torch.zeros(2, 6))
    slot = model.slot(0, 1)
    slot.load(Doubler(), "kernel-a", "blueprint-a")
    for state in (SeedState.GERMINATED, SeedState.TRAINING, SeedState.GRAFTING):
        slot.move_to(state)
    slot.alpha = 0.5
    model.layer(0).refresh()
    probe = HealthProbe(model)
    with probe:
        model(torch.randn(16, 6)).sum().backward()
    return model, probe


def test_the_probe_reports_every_layer_and_slot_and_running_seeds_on_their_own():
    model, probe = probed_step()
    signals = {(s.layer_id, s.seed_id): s for s in probe.signals("run-1", epoch=3)}
    assert set(signals) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    dormant, seed, head = signals[(0, 0)], signals[(0, 1)], signals[(1, 0)]
    assert (seed.active_seeds, seed.total_seeds, dormant.epoch) == (1, 2, 3)
    assert seed.activation_variance != dormant.activation_variance
    assert dormant.is_ready_for_transition and not seed.is_ready_for_transition
    assert all(0.0 < s.health_score <= 1.0 and s.execution_latency > 0 for s in signals.values())
    assert signals[(1, 1)].activation_variance == head.activation_variance  # both: the head's own


def test_each_signal_carries_the_gradient_norm_of_what_it_measures():
    model, probe = probed_step()
    for parameter in model.slot(0, 1).parameters():  # in this step they equal the layer's own
        parameter.grad.mul_(3.0)
    signals = {(s.layer_id, s.seed_id): s for s in probe.signals("run-1", epoch=0)}

    def norm(parameters):
        return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters])).item()

    layer = model.layer(0)
    own = [p for name, p in layer.named_parameters() if not name.startswith("slots.")]
    assert signals[(0, 0)].gradient_norm == pytest.approx(norm(own), rel=1e-5)
    assert signals[(0, 1)].gradient_norm == pytest.approx(norm(model.slot(0, 1).parameters()), rel=1e-5)
    assert signals[(0, 1)].gradient_norm == pytest.approx(3 * signals[(0, 0)].gradient_norm, rel=1e-5)
    assert signals[(1, 1)].gradient_norm == signals[(1, 0)].gradient_norm > 0  # the head's own


def test_non_finite_gradients_are_an_error_and_no_gradient_norm():
    model, probe = probed_step()
    for parameter in model.layer(1).parameters():
        parameter.grad.fill_(float("nan"))
    head = next(s for s in probe.signals("run-1", epoch=0) if s.layer_id == 1)
    assert head.gradient_norm is None and head.error_count == 1 and head.health_score == 0.0


def test_hooks_are_gone_after_the_probed_step():
    model, _ = probed_step()
    assert all(not module._forward_hooks and not module._forward_pre_hooks for module in model.modules())


def test_the_process_monitor_sees_cpu_work_and_resident_memory():
    monitor = ProcessMonitor()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    load, memory = monitor.sample()
    assert 0.0 < load <= 1.0 and 0.0 < memory < 1.0

