"""Characterization: what a kernel costs on this machine's CPU, measured on the loaded artifact.

Latency is timed per forward pass at batch 32 (the batch KernelMetadata's memory figure
refers to), after warm-up, within a time budget. Memory is the parameters and buffers plus
every tensor one forward pass creates, counted at the ATen level: an upper bound, since it
assumes no buffer is freed or reused during the pass.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

BATCH_SIZE = 32
WARMUP_RUNS = 3
MIN_RUNS, MAX_RUNS = 5, 50
BUDGET_S = 0.5
MIB = 2**20


@dataclasses.dataclass(frozen=True)
class Profile:
    device: str
    batch_size: int
    threads: int
    runs: int
    latency_p50_ms: float
    latency_p95_ms: float
    memory_mb: float
    parameters: int

    def metrics(self) -> dict[str, float]:
        return {"latency_p50_ms": self.latency_p50_ms, "latency_p95_ms": self.latency_p95_ms,
                "memory_mb": self.memory_mb, "parameters": float(self.parameters),
                "batch_size": float(self.batch_size), "threads": float(self.threads),
                "runs": float(self.runs)}


class _AllocatedBytes(TorchDispatchMode):
    """Adds up the storage of every tensor an operator returns."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for value in tree_leaves(result):
            if isinstance(value, torch.Tensor):
                self.total += value.untyped_storage().nbytes()
        return result


def _percentile(samples: Sequence[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[round(q) - 1]


def characterize(module: nn.Module, input_shape: Sequence[int],
                 batch_size: int = BATCH_SIZE, budget_s: float = BUDGET_S) -> Profile:
    """Time and size ``module`` on inputs of ``(batch_size, *input_shape)``."""
    x = torch.randn(batch_size, *input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for _ in range(WARMUP_RUNS):
            module(x)
        samples: list[float] = []
        deadline = time.perf_counter() + budget_s
        while len(samples) < MIN_RUNS or (len(samples) < MAX_RUNS and
                                          time.perf_counter() < deadline):
            started = time.perf_counter()
            module(x)
            samples.append((time.perf_counter() - started) * 1000)
        counter = _AllocatedBytes()
        with counter:
            module(x)
    static = sum(t.numel() * t.element_size()
                 for t in [*module.parameters(), *module.buffers()])
    return Profile(device="cpu", batch_size=batch_size, threads=torch.get_num_threads(),
                   runs=len(samples), latency_p50_ms=statistics.median(samples),
                   latency_p95_ms=_percentile(samples, 95),
                   memory_mb=(static + counter.total) / MIB,
                   parameters=sum(p.numel() for p in module.parameters()))
