"""Health telemetry: every layer and seed slot, measured from the tensors of one training step.

A `HealthProbe` hooks one step (forward and backward) of a MorphableModel. For each layer it
measures the layer's output, the gradients of its own weights and its forward time; for each
seed slot whose kernel ran, the same of the kernel's branch output and parameters. A slot with
no running kernel reports the health of its layer: the site a seed there would grow from.

The measurements, on a (samples x units) view of the output (a conv's units are its channels,
each pixel a sample; at most 1024 samples and 64 units are used for the correlation):

| measure             | definition                                                              |
|---------------------|-------------------------------------------------------------------------|
| activation variance | variance of all output values                                           |
| dead-neuron ratio   | share of units never positive in the batch: dead after a ReLU           |
| average correlation | mean absolute Pearson correlation between distinct non-constant units   |
| gradient norm       | L2 norm of the gradients of the layer's (or kernel's) parameters        |
| latency             | wall time of the forward call, in milliseconds                          |
| errors              | non-finite outputs, non-finite gradients, a kernel that failed: 1 each  |

Each HealthSignal carries these measures; its ``gradient_norm`` is None when the gradients were
not finite (an error), rather than a number that would read as a vanished gradient.

Health score, in [0, 1]: 0 with any error, else

    0.4 (1 - dead) + 0.2 (1 - correlation) + 0.2 v / (v + 0.01) + 0.2 g / (g + 1e-4)

for variance v and gradient norm g: live units weigh most, then diverse units, then a signal
that has not collapsed and gradients that have not vanished. A healthy layer scores near 1.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn

from esper.contracts import ComponentType, EventMeta, HealthSignal, SeedState
from esper.kasmina import MorphableLayer, MorphableModel, SeedSlot
from esper.kasmina.slot import ACTIVE_STATES, FORWARD_STATES

MAX_ROWS, MAX_UNITS = 1024, 64


@dataclasses.dataclass(frozen=True)
class Health:
    activation_variance: float
    dead_neuron_ratio: float
    avg_correlation: float
    gradient_norm: float | None  # None: not finite, and counted in error_count
    latency_ms: float
    error_count: int

    @property
    def score(self) -> float:
        if self.error_count or self.gradient_norm is None:
            return 0.0
        v, g = self.activation_variance, self.gradient_norm
        return (0.4 * (1.0 - self.dead_neuron_ratio) + 0.2 * (1.0 - self.avg_correlation)
                + 0.2 * v / (v + 0.01) + 0.2 * g / (g + 1e-4))


Measurement = tuple[torch.Tensor, Iterable[nn.Parameter], float, int]
"""What one health is measured from: an output, the parameters that made it, the forward time
in milliseconds and errors already counted."""


def measure(output: torch.Tensor, parameters: Iterable[nn.Parameter], latency_ms: float,
            errors: int = 0) -> Health:
    """The health of one output tensor and the parameters that produced it."""
    return measure_all([(output, parameters, latency_ms, errors)])[0]


def measure_all(measurements: Sequence[Measurement]) -> list[Health]:
    """The health of each measurement, computed together.

    On a small model each tensor operation costs about as much as its arithmetic, and this
    runs on the training thread: correlation samples with as many rows are padded to one width
    and measured by the same operations, every gradient norm comes from one call, and one
    ``tolist`` brings every figure back (one device sync on a GPU). Nothing is copied whole:
    fresh buffers the size of a conv's output cost more than the arithmetic.
    """
    with torch.inference_mode():  # figures only: no autograd bookkeeping on any operation
        units = [_units(output) for output, _, _, _ in measurements]
        gradients = [[p.grad for p in parameters if p.grad is not None]
                     for _, parameters, _, _ in measurements]
        flat_gradients = [gradient for own in gradients for gradient in own]
        tensors, groups = _figure_tensors(units)
        if flat_gradients:  # the kernel clip_grad_norm_ uses: one call for every tensor
            tensors.append(torch.stack(torch._foreach_norm(flat_gradients)).float())
        values = iter(torch.cat(tensors).tolist())
    figures = _unit_figures(units, groups, values)
    healths = []
    for (variance, dead, correlation), output, own, (_, _, latency_ms, errors) in zip(
            figures, units, gradients, measurements):
        gradient_norm = math.sqrt(math.fsum(next(values) ** 2 for _ in own))
        # Any NaN or infinity in the output makes its variance non-finite.
        if not math.isfinite(variance):
            errors += 1
            clean = measure(torch.nan_to_num(output, nan=0.0, posinf=0.0, neginf=0.0), (), 0.0)
            variance, dead, correlation = (clean.activation_variance, clean.dead_neuron_ratio,
                                           clean.avg_correlation)
        if not math.isfinite(gradient_norm):
            errors += 1
            healths.append(Health(variance, dead, correlation, None, latency_ms, errors))
        else:
            healths.append(Health(variance, dead, correlation, gradient_norm, latency_ms, errors))
    return healths


def _units(output: torch.Tensor) -> torch.Tensor:
    """The output as (samples x units): a conv's units are its channels, each pixel a sample."""
    units = output.detach()
    if units.dim() != 2:
        units = units.movedim(1, -1).reshape(-1, output.shape[1])
    return units if units.dtype == torch.float32 else units.float()


def _sample(units: torch.Tensor) -> torch.Tensor:
    """What the correlation is measured on: at most MAX_ROWS rows and MAX_UNITS units."""
    return units[::max(1, len(units) // MAX_ROWS), :MAX_UNITS]


def _figure_tensors(units: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[list[int]]]:
    """Flat float tensors holding, in order: each output's variance; each output's units'
    maxima; for each group of samples with as many rows (the groups returned), the sum of
    |correlation| and the number of non-constant units of each."""
    tensors = [torch.stack([u.var() if u.numel() > 1 else u.new_zeros(()) for u in units]),
               torch.cat([u.amax(dim=0) for u in units])]
    samples = [_sample(u) for u in units]
    by_rows: dict[int, list[int]] = {}
    for index, sample in enumerate(samples):
        by_rows.setdefault(len(sample), []).append(index)
    for group in by_rows.values():
        width = max(samples[i].shape[1] for i in group)
        padded = torch.stack([nn.functional.pad(samples[i], (0, width - samples[i].shape[1]))
                              for i in group])
        # Centred columns scaled to unit length: their dot products are Pearson correlations,
        # and a constant column (padding too) scales to zero, so it correlates with nothing
        # and adds 0 to the trace. (The norm from a plain sum: norm(dim=1) is 4x slower.)
        centred = padded - padded.mean(dim=1, keepdim=True)
        z = centred * centred.square().sum(dim=1, keepdim=True).clamp_min(1e-24).rsqrt()
        correlation = z.transpose(1, 2) @ z
        tensors.append(torch.stack([correlation.abs().sum(dim=(1, 2)),
                                    correlation.diagonal(dim1=1, dim2=2).sum(dim=1)],
                                   dim=1).flatten())
    return tensors, list(by_rows.values())


def _unit_figures(units: list[torch.Tensor], groups: list[list[int]], values: Iterator[float]
                  ) -> list[tuple[float, float, float]]:
    """Variance, dead ratio and mean |correlation| of each output, read from the values of
    `_figure_tensors` (and no further)."""
    variances = [next(values) for _ in units]
    dead = [sum(next(values) <= 0 for _ in range(u.shape[1])) / u.shape[1] for u in units]
    correlations = [0.0] * len(units)
    for group in groups:
        for index in group:
            total, live = next(values), next(values)
            live = round(live) if math.isfinite(live) else 0
            pairs, rows = live * (live - 1), len(_sample(units[index]))
            correlations[index] = (min(max((total - live) / pairs, 0.0), 1.0)
                                   if pairs and rows > 1 else 0.0)
    return list(zip(variances, dead, correlations))


def ready_for_transition(slot: SeedSlot) -> bool:
    """A dormant slot is free to germinate; a grafting seed at alpha 1 is due for judgement."""
    return slot.state is SeedState.DORMANT or (slot.state is SeedState.GRAFTING and slot.alpha >= 1.0)


class HealthProbe:
    """Hooks around one training step of ``model``; `signals` after the backward pass.

    Use it as a context manager around the forward pass only; hooks cost nothing on the
    steps it is not used.
    """

    def __init__(self, model: MorphableModel):
        self.model = model
        self._started: dict[nn.Module, float] = {}
        self._seen: dict[nn.Module, tuple[torch.Tensor, float]] = {}
        self._handles: list = []

    def __enter__(self) -> HealthProbe:
        for layer in self.model.layers:
            for module in (layer, *layer.live_slots):  # dormant slots never run
                self._handles.append(module.register_forward_pre_hook(self._start))
                self._handles.append(module.register_forward_hook(self._stop))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _start(self, module: nn.Module, inputs) -> None:
        _synchronize(inputs[0])
        self._started[module] = time.perf_counter()

    def _stop(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        _synchronize(output)
        self._seen[module] = (output.detach(), (time.perf_counter() - self._started[module]) * 1e3)

    def signals(self, run_id: str, epoch: int) -> list[HealthSignal]:
        """One HealthSignal per layer and slot of the step just taken."""
        sites = [(layer, None) for layer in self.model.layers] + [
            (layer, slot) for layer in self.model.layers for slot in layer.slots
            if slot.state in FORWARD_STATES and slot in self._seen]
        healths = dict(zip(sites, measure_all([self._measurement(*site) for site in sites])))
        signals, now = [], time.time()
        for layer in self.model.layers:
            host = self._signal(layer, layer.slots[0], healths[(layer, None)], run_id, epoch, now)
            for slot in layer.slots:
                health = healths.get((layer, slot))
                if health is not None:
                    signals.append(self._signal(layer, slot, health, run_id, epoch, now))
                else:
                    # The layer's own signal, readdressed: its values are already validated.
                    signals.append(host.model_copy(update={
                        "meta": EventMeta.new(ComponentType.KASMINA, run_id=run_id), "seed_id": slot.index,
                        "is_ready_for_transition": ready_for_transition(slot)}))
        return signals

    @staticmethod
    def _signal(layer: MorphableLayer, slot: SeedSlot, health: Health, run_id: str, epoch: int,
                now: float) -> HealthSignal:
        return HealthSignal(
            meta=EventMeta.new(ComponentType.KASMINA, run_id=run_id),
            layer_id=layer.layer_id,
            seed_id=slot.index,
            chunk_id=0,
            epoch=epoch,
            activation_variance=health.activation_variance,
            dead_neuron_ratio=health.dead_neuron_ratio,
            avg_correlation=health.avg_correlation,
            is_ready_for_transition=ready_for_transition(slot),
            health_score=health.score,
            execution_latency=health.latency_ms,
            error_count=health.error_count,
            active_seeds=sum(s.state in ACTIVE_STATES for s in layer.slots),
            total_seeds=len(layer.slots),
            timestamp=now,
            gradient_norm=health.gradient_norm,
        )

    def _measurement(self, layer: MorphableLayer, slot: SeedSlot | None) -> Measurement:
        """What the health of a layer (``slot`` None) or of a running slot is measured from."""
        if slot is None:
            output, latency_ms = self._seen[layer]
            own = [p for name, p in layer.named_parameters() if not name.startswith("slots.")]
            return output, own, latency_ms, 0
        output, latency_ms = self._seen[slot]
        return output, slot.parameters(), latency_ms, int(slot.kernel_error is not None)


def _synchronize(tensor: torch.Tensor) -> None:
    # CUDA runs asynchronously: without a sync the timer would measure the kernel launch only.
    if tensor.is_cuda:
        torch.cuda.synchronize(tensor.device)

