"""What Tamiyo knows about one run: its layers, its epochs, recent health, its own decisions.

A `RunWindow` is built only from events, so the same events in any process give the same
window: that is what lets a restarted or rebalanced Tamiyo rebuild it from the log. Health
is aggregated per (layer, epoch), which makes it independent of the order in which signals
from different partitions arrive, and bounded: only the last ``keep_epochs`` epochs are kept.
Decisions are read back from Tamiyo's own output, so cooldowns and the parameter budget
survive a restart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from esper.contracts import (
    AdaptationDecision,
    EpochCompleted,
    HealthSignal,
    HostLayer,
    HostTopology,
    SeedState,
    SeedStateChanged,
    TrainingRunStarted,
)

KEEP_EPOCHS = 8


@dataclasses.dataclass
class HealthStats:
    """The signals of one layer (all its slots) in one epoch, summed."""

    count: int = 0
    health: float = 0.0
    latency_ms: float = 0.0
    errors: float = 0.0
    variance: float = 0.0
    dead: float = 0.0
    correlation: float = 0.0

    def add(self, signal: HealthSignal) -> None:
        self.count += 1
        self.health += signal.health_score
        self.latency_ms += signal.execution_latency
        self.errors += signal.error_count
        self.variance += signal.activation_variance
        self.dead += signal.dead_neuron_ratio
        self.correlation += abs(signal.avg_correlation)

    def mean(self, field: str) -> float:
        return getattr(self, field) / self.count


class RunHealth:
    """One run's health by layer and epoch, and the latest lifecycle state of each slot."""

    def __init__(self, keep_epochs: int = KEEP_EPOCHS):
        self.keep_epochs = keep_epochs
        self.latest_epoch = -1
        self.backfilled = False  # whether history from before a live tail has been added
        self._stats: dict[int, dict[int, HealthStats]] = {}
        self._seeds: dict[tuple[int, int], tuple[datetime, SeedState]] = {}

    def apply(self, event: HealthSignal | SeedStateChanged) -> None:
        if isinstance(event, HealthSignal):
            self._add_signal(event)
        elif isinstance(event, SeedStateChanged):
            slot, moment = (event.layer_id, event.slot_index), event.meta.occurred_at
            # Replayed history and the live tail may arrive in either order: the latest wins.
            if slot not in self._seeds or self._seeds[slot][0] <= moment:
                self._seeds[slot] = (moment, SeedState(event.to_state))

    def _add_signal(self, signal: HealthSignal) -> None:
        if signal.epoch <= self.latest_epoch - self.keep_epochs:
            return
        epochs = self._stats.setdefault(signal.layer_id, {})
        epochs.setdefault(signal.epoch, HealthStats()).add(signal)
        if signal.epoch > self.latest_epoch:
            self.latest_epoch = signal.epoch
            oldest = self.latest_epoch - self.keep_epochs
            for by_epoch in self._stats.values():
                for epoch in [e for e in by_epoch if e <= oldest]:
                    del by_epoch[epoch]

    def history(self, layer_id: int, upto_epoch: int) -> list[HealthStats]:
        """The layer's stats for each epoch up to ``upto_epoch`` that has signals, oldest first."""
        by_epoch = self._stats.get(layer_id, {})
        return [by_epoch[e] for e in sorted(by_epoch) if e <= upto_epoch]

    def seed_state(self, layer_id: int, slot: int) -> tuple[datetime, SeedState] | None:
        return self._seeds.get((layer_id, slot))


@dataclasses.dataclass(frozen=True, slots=True)
class EpochPoint:
    epoch: int
    val_loss: float
    val_accuracy: float


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What the gates need to remember of a decision Tamiyo made."""

    decision_id: str
    cause_id: str | None
    occurred_at: datetime
    epoch: int
    layer_id: int
    slot_index: int | None
    parameter_cost: int

    @classmethod
    def of(cls, decision: AdaptationDecision) -> DecisionRecord:
        # Tamiyo's decisions carry their epoch (metadata) and cost (features); one made by
        # hand without them counts as made in epoch 0 and as adding no parameters.
        return cls(decision.decision_id, decision.meta.causation_id, decision.meta.occurred_at,
                   int(decision.metadata.get("epoch", 0)), decision.layer_id,
                   decision.slot_index, int(decision.features.get("parameter_cost", 0.0)))


class RunWindow:
    """One run as Tamiyo sees it; feed it the run's events with `apply`."""

    def __init__(self, run_id: str, health: RunHealth | None = None):
        self.run_id = run_id
        self.topology: HostTopology | None = None
        self.adaptation = True  # the run's own say: a baseline run declares it takes no commands
        self.health = health if health is not None else RunHealth()
        self.epochs: dict[int, EpochPoint] = {}
        self.decisions: dict[str, DecisionRecord] = {}
        self.started_at: datetime | None = None
        self.epoch_times: dict[int, datetime] = {}

    # --- events ---------------------------------------------------------------------------

    def apply(self, event: object) -> None:
        if isinstance(event, (HealthSignal, SeedStateChanged)):
            self.health.apply(event)
        elif isinstance(event, EpochCompleted):
            self.epochs[event.epoch] = EpochPoint(event.epoch, event.system_state.validation_loss,
                                                  event.val_accuracy)
            self.epoch_times[event.epoch] = event.meta.occurred_at
        elif isinstance(event, AdaptationDecision):
            self.decisions[event.decision_id] = DecisionRecord.of(event)
        elif isinstance(event, TrainingRunStarted):
            self.topology = event.topology
            self.adaptation = event.session.training_config.get("adaptation") is not False
            self.started_at = event.meta.occurred_at

    def apply_all(self, events: Iterable[object]) -> RunWindow:
        for event in events:
            self.apply(event)
        return self

    def forget_decisions_caused_by(self, cause_id: str) -> None:
        """Drop the decisions of one trigger: deciding on it again (an aborted transaction is
        processed twice) must not see its own first answer."""
        for decision_id in [d for d, r in self.decisions.items() if r.cause_id == cause_id]:
            del self.decisions[decision_id]

    # --- questions ------------------------------------------------------------------------

    @property
    def latest_epoch(self) -> int:
        return max(self.epochs, default=0)

    @property
    def layers(self) -> list[HostLayer]:
        return list(self.topology.layers) if self.topology else []

    def host_parameters(self) -> int:
        return self.topology.total_parameters() if self.topology else 0

    def parameters_committed(self) -> int:
        """Parameters that Tamiyo's decisions so far add to the host (granted or pending)."""
        return sum(record.parameter_cost for record in self.decisions.values())

    def last_decision_epoch(self, layer_id: int) -> int | None:
        return max((r.epoch for r in self.decisions.values() if r.layer_id == layer_id),
                   default=None)

    def decisions_in_epoch(self, epoch: int) -> int:
        return sum(1 for record in self.decisions.values() if record.epoch == epoch)

    def slots_taken(self, layer: HostLayer) -> list[bool]:
        """For each slot: does it hold a seed, or is it promised to one by a decision made
        since it last became dormant?"""
        claims = [r for r in self.decisions.values() if r.layer_id == layer.layer_id]
        taken = []
        for slot in range(layer.seed_slots):
            seed = self.health.seed_state(layer.layer_id, slot)
            if seed is not None and seed[1] != SeedState.DORMANT:
                taken.append(True)
                continue
            freed_at = seed[0] if seed is not None else None
            taken.append(any(r.slot_index == slot and (freed_at is None or r.occurred_at > freed_at)
                             for r in claims))
        return taken

    def free_slot(self, layer: HostLayer) -> int | None:
        return next((slot for slot, taken in enumerate(self.slots_taken(layer)) if not taken),
                    None)
