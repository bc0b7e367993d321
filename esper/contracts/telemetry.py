"""Telemetry events: layer health, and the account of telemetry that was not delivered."""

from __future__ import annotations

import time
from typing import Annotated, ClassVar, Optional

from pydantic import Field, StringConstraints

from esper.contracts.base import FROZEN, STRIP_WHITESPACE, ContractModel
from esper.contracts.common import Event
from esper.contracts.fields import Count, NonNegativeFloat, UnitInterval, UtcDatetime

Correlation = Annotated[float, Field(ge=-1.0, le=1.0)]
TopicName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
AvroFullName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
]


class HealthSignal(Event):
    """High-frequency health of one seed slot of one host layer, from Kasmina.

    Upstream fields are kept: ``seed_id`` is the slot index inside the layer (``Seed.position``),
    not a ``Seed.seed_id``; ``layer_id`` is the stable id from the run's topology
    (``TrainingRunStarted``); ``timestamp`` is the measurement time in epoch seconds, while
    ``meta.occurred_at`` is when the event was emitted. ``gradient_norm`` (since v2) is None
    in events written before it existed, and when the gradients were not finite.
    """

    model_config = STRIP_WHITESPACE
    avro_name: ClassVar[str] = "esper.telemetry.HealthSignal"

    layer_id: Count
    seed_id: Count
    chunk_id: Count
    epoch: Count
    activation_variance: NonNegativeFloat
    dead_neuron_ratio: UnitInterval
    avg_correlation: Correlation
    is_ready_for_transition: bool = False
    health_score: UnitInterval = 1.0
    execution_latency: NonNegativeFloat = 0.0
    error_count: Count = 0
    active_seeds: Count = 1
    total_seeds: Annotated[Count, Field(ge=1)] = 1
    timestamp: float = Field(default_factory=time.time)
    gradient_norm: Optional[NonNegativeFloat] = None

    def _check_rules(self) -> None:
        if self.active_seeds > self.total_seeds:
            raise ValueError(
                f"active_seeds ({self.active_seeds}) exceeds total_seeds ({self.total_seeds})"
            )

    def health_status(self) -> str:
        """"Healthy" from 0.8, "Warning" from 0.6, else "Critical" (thresholds as upstream)."""
        if self.health_score >= 0.8:
            return "Healthy"
        if self.health_score >= 0.6:
            return "Warning"
        return "Critical"

    def is_healthy(self) -> bool:
        """Health score from 0.7 and under 5 errors (as upstream: 0.75 is a healthy "Warning")."""
        return self.health_score >= 0.7 and self.error_count < 5


class DroppedCount(ContractModel):
    """How many events of one type, bound for one topic, were dropped in a window."""

    model_config = FROZEN
    avro_name: ClassVar[str] = "esper.telemetry.DroppedCount"

    topic: TopicName
    event_type: AvroFullName
    count: Annotated[Count, Field(ge=1)]


class TelemetryDropped(Event):
    """Telemetry the trainer did not deliver, so that training never waits on the bus."""

    avro_name: ClassVar[str] = "esper.telemetry.TelemetryDropped"

    window_start: UtcDatetime
    window_end: UtcDatetime
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    drops: Annotated[list[DroppedCount], Field(min_length=1)]

    def _check_rules(self) -> None:
        if self.window_end < self.window_start:
            raise ValueError(
                f"window_end ({self.window_end.isoformat()}) is before window_start "
                f"({self.window_start.isoformat()})"
            )
