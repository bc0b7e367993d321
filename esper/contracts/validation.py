"""Kernel characterization events: what a kernel measured like on a device."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from esper.contracts.common import Event
from esper.contracts.fields import Count, Identifier, Metrics, NonNegativeFloat


class KernelCharacterized(Event):
    """A kernel was benchmarked on a device: its latency and memory at a batch size."""

    run_scoped: ClassVar[bool] = False
    avro_name: ClassVar[str] = "esper.validation.KernelCharacterized"

    kernel_id: Identifier
    blueprint_id: Identifier
    device: Annotated[str, Field(min_length=1, max_length=100)]
    batch_size: Annotated[Count, Field(ge=1)]
    latency_ms: NonNegativeFloat
    memory_mb: NonNegativeFloat
    metrics: Metrics = Field(default_factory=dict)
