"""Training-run events: the run and its host topology, each epoch, and the end of the run."""

from __future__ import annotations

from typing import Annotated, ClassVar, Optional

from pydantic import Field, model_validator

from esper.contracts.assets import Name, TrainingSession
from esper.contracts.base import FROZEN, STRIP_WHITESPACE, ContractModel, Detached
from esper.contracts.common import Event
from esper.contracts.enums import TrainingStatus
from esper.contracts.fields import Count, NonNegativeFloat, Shape, UnitInterval


class SystemStatePacket(ContractModel):
    """System-wide snapshot for the controller at the end of an epoch (upstream, mutable)."""

    model_config = STRIP_WHITESPACE
    avro_name: ClassVar[str] = "esper.training.SystemStatePacket"

    epoch: Count
    total_seeds: Count
    active_seeds: Count
    training_loss: NonNegativeFloat
    validation_loss: NonNegativeFloat
    system_load: UnitInterval
    memory_usage: UnitInterval

    @model_validator(mode="after")
    def _active_within_total(self) -> SystemStatePacket:
        if self.active_seeds > self.total_seeds:
            raise ValueError(
                f"active_seeds ({self.active_seeds}) exceeds total_seeds ({self.total_seeds})"
            )
        return self

    def system_health(self) -> str:
        """"Critical" if load or memory is above 0.9, "Warning" above 0.7, else "Normal"."""
        if self.system_load > 0.9 or self.memory_usage > 0.9:
            return "Critical"
        if self.system_load > 0.7 or self.memory_usage > 0.7:
            return "Warning"
        return "Normal"

    def is_overloaded(self) -> bool:
        return self.system_load > 0.8 or self.memory_usage > 0.8


class HostLayer(ContractModel):
    """One layer of the host model, addressed by a stable integer id for the whole run."""

    model_config = FROZEN
    avro_name: ClassVar[str] = "esper.training.HostLayer"

    layer_id: Count
    name: Name
    layer_type: Annotated[str, Field(min_length=1, max_length=100)]
    input_shape: Shape
    output_shape: Shape
    parameter_count: Count
    seed_slots: Count


class HostTopology(ContractModel):
    """The host model's layers, in execution order; their ids are what events call layer_id."""

    model_config = FROZEN
    avro_name: ClassVar[str] = "esper.training.HostTopology"

    model_name: Name
    layers: Annotated[list[HostLayer], Field(min_length=1)]

    @model_validator(mode="after")
    def _layers_unique(self) -> HostTopology:
        for field in ("layer_id", "name"):
            seen: set[object] = set()
            for layer in self.layers:
                value = getattr(layer, field)
                if value in seen:
                    raise ValueError(f"layers: two layers have {field} {value!r}")
                seen.add(value)
        return self

    def total_parameters(self) -> int:
        return sum(layer.parameter_count for layer in self.layers)


class TrainingRunStarted(Event):
    """A run starts: the upstream TrainingSession plus the host topology it trains.

    The run id is the session id, so ``meta.run_id`` must equal ``session.session_id``.
    """

    avro_name: ClassVar[str] = "esper.training.TrainingRunStarted"

    session: Annotated[TrainingSession, Detached]
    topology: HostTopology

    def _check_rules(self) -> None:
        if self.meta.run_id != self.session.session_id:
            raise ValueError(
                f"meta.run_id {self.meta.run_id!r} differs from session.session_id "
                f"{self.session.session_id!r}"
            )


class EpochCompleted(Event):
    """The heartbeat of a run (upstream EpochEvent): accuracies, size and the system state."""

    avro_name: ClassVar[str] = "esper.training.EpochCompleted"

    epoch: Count
    train_accuracy: UnitInterval
    val_accuracy: UnitInterval
    parameter_count: Count
    duration_seconds: NonNegativeFloat
    system_state: Annotated[SystemStatePacket, Detached]

    def _check_rules(self) -> None:
        if self.system_state.epoch != self.epoch:
            raise ValueError(
                f"system_state.epoch ({self.system_state.epoch}) differs from epoch ({self.epoch})"
            )


class TrainingRunCompleted(Event):
    """A run ends, completed or failed, with its final figures."""

    avro_name: ClassVar[str] = "esper.training.TrainingRunCompleted"

    status: TrainingStatus
    epochs_completed: Count
    final_val_accuracy: Optional[UnitInterval] = None
    final_val_loss: Optional[NonNegativeFloat] = None
    total_parameters: Count
    seeds_fossilized: Count
    seeds_culled: Count
    duration_seconds: NonNegativeFloat
    error: Optional[Annotated[str, Field(min_length=1)]] = None

    def _check_rules(self) -> None:
        if self.status not in (TrainingStatus.COMPLETED, TrainingStatus.FAILED):
            raise ValueError(f"status must be completed or failed, not {self.status}")
        if (self.status == TrainingStatus.FAILED) != (self.error is not None):
            raise ValueError("error is required when status is failed, and only then")
