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
from collections.abc import Iterable, Sequence

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
    runs on the training thread: outputs with as many samples are padded to one width and
    measured by the same operations, every gradient norm comes from one call, and one
    ``tolist`` brings every figure back.
    """
    with torch.inference_mode():  # figures only: no autograd bookkeeping on any operation
        units = [_units(output) for output, _, _, _ in measurements]
        gradients = [[p.grad for p in parameters if p.grad is not None]
                     for _, parameters, _, _ in measurements]
        groups: dict[int, list[int]] = {}
        for index, unit in enumerate(units):
            groups.setdefault(len(unit), []).append(index)
        flat_gradients = [gradient for own in gradients for gradient in own]
        parts = [_figures([units[i] for i in indexes]).flatten() for indexes in groups.values()]
        if flat_gradients:  # the kernel clip_grad_norm_ uses: one call for every tensor
            parts.append(torch.stack(torch._foreach_norm(flat_gradients)).double())
        values = torch.cat(parts).tolist()
    figures: dict[int, list[float]] = {}
    for indexes in groups.values():
        width = max(units[index].shape[1] for index in indexes)
        for index in indexes:
            figures[index], values = values[:_FIGURES], values[_FIGURES:]
            figures[index][2] -= width - units[index].shape[1]  # padding is never positive
    healths = []
    for index, (_, _, latency_ms, errors) in enumerate(measurements):
        norms, values = values[:len(gradients[index])], values[len(gradients[index]):]
        gradient_norm = math.sqrt(math.fsum(n * n for n in norms))
        variance, dead, correlation = _health_figures(units[index], figures[index])
        # Any NaN or infinity in the output makes its variance non-finite.
        if not math.isfinite(variance):
            errors += 1
            with torch.inference_mode():
                clean = torch.nan_to_num(units[index], nan=0.0, posinf=0.0, neginf=0.0)
                variance, dead, correlation = _health_figures(clean, _figures([clean]).tolist()[0])
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


_FIGURES = 5


def _figures(group: list[torch.Tensor]) -> torch.Tensor:
    """For outputs with as many samples, one row each: the sum and the sum of squares of the
    values, the units never positive (and the padding), and the sum of |correlation| and the
    number of non-constant units among the first MAX_UNITS."""
    width = max(units.shape[1] for units in group)
    padded = torch.stack([nn.functional.pad(units, (0, width - units.shape[1]))
                          if units.shape[1] < width else units for units in group])
    exact = padded.double()  # one-pass variance: exact enough only in float64
    stride = max(1, padded.shape[1] // MAX_ROWS)
    sample = padded[:, ::stride, :MAX_UNITS]
    # Centred columns scaled to unit length: their dot products are Pearson correlations, and
    # a constant column (padding too) scales to zero, so it correlates with nothing and adds
    # 0 to the trace.
    centred = sample - sample.mean(dim=1, keepdim=True)
    # centred / max(norm, 1e-12), with the norm from a plain sum: norm(dim=1) is 4x slower here
    z = centred * centred.square().sum(dim=1, keepdim=True).clamp_min(1e-24).rsqrt()
    correlation = z.transpose(1, 2) @ z
    return torch.stack([
        exact.sum(dim=(1, 2)),
        exact.square().sum(dim=(1, 2)),
        padded.amax(dim=1).le(0).sum(dim=1).double(),
        correlation.abs().sum(dim=(1, 2)).double(),
        correlation.diagonal(dim1=1, dim2=2).sum(dim=1).double(),
    ], dim=1)


def _health_figures(units: torch.Tensor, figures: list[float]) -> tuple[float, float, float]:
    """Variance, dead ratio and mean |correlation| of ``units`` from its row of `_figures`."""
    total, squares, dead, correlation_sum, live = figures
    count = units.numel()
    variance = (squares - total * total / count) / (count - 1) if count > 1 else 0.0
    if math.isfinite(variance):
        variance = max(variance, 0.0)  # rounding may leave a constant output a hair below 0
    live = round(live) if math.isfinite(live) else 0
    pairs = live * (live - 1)
    rows = -(-len(units) // max(1, len(units) // MAX_ROWS))  # those the correlation saw
    mean_correlation = (min(max((correlation_sum - live) / pairs, 0.0), 1.0)
                        if pairs and rows > 1 else 0.0)
    return variance, dead / units.shape[1], mean_correlation


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

