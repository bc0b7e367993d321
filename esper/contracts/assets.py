"""Assets: seeds, blueprints, kernels and training sessions (upstream ``contracts/assets.py``).

Field docs live in the Avro schemas, ``schemas/esper.assets.*.avsc``. These models are mutable, as
upstream: assignments are validated, a refused one changes nothing, ``state`` moves only along
its lifecycle table and every accepted assignment refreshes ``updated_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Optional

from pydantic import Field, model_validator

from esper.contracts.base import STRIP_WHITESPACE, ContractModel
from esper.contracts.enums import BlueprintState, KernelStatus, SeedState, TrainingStatus
from esper.contracts.fields import (
    Attributes,
    Count,
    Identifier,
    Metrics,
    NonNegativeFloat,
    Sha256Hex,
    Shape,
    UtcDatetime,
    new_uuid,
    utc_now,
)
from esper.contracts.transitions import InvalidTransition, check_transition

Name = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(min_length=1, max_length=1000)]


class TrackedAsset(ContractModel):
    """An asset with ``updated_at``, and a lifecycle where it has a ``state`` field."""

    def __setattr__(self, name: str, value: Any) -> None:
        previous = self.__dict__.get(name)
        super().__setattr__(name, value)
        if name == "state":
            try:
                check_transition(previous, self.state)
            except InvalidTransition:
                self.__dict__[name] = previous
                raise
        if name != "updated_at":
            self.__dict__["updated_at"] = utc_now()


class Seed(TrackedAsset):
    """A morphogenetic seed at slot ``position`` of host layer ``layer_id``."""

    model_config = STRIP_WHITESPACE
    avro_name: ClassVar[str] = "esper.assets.Seed"

    seed_id: Identifier = Field(default_factory=new_uuid)
    layer_id: Count
    position: Count
    state: SeedState = SeedState.DORMANT
    blueprint_id: Optional[Identifier] = None
    created_at: UtcDatetime = Field(default_factory=utc_now)
    updated_at: UtcDatetime = Field(default_factory=utc_now)
    metadata: Attributes = Field(default_factory=dict)

    def state_display(self) -> str:
        return self.state.title()

    def is_active(self) -> bool:
        return self.state in (SeedState.TRAINING, SeedState.GRAFTING)


class ArchitectureLayer(ContractModel):
    """One layer of a blueprint's architecture: its kind and scalar parameters."""

    model_config = STRIP_WHITESPACE
    avro_name: ClassVar[str] = "esper.assets.ArchitectureLayer"

    kind: Annotated[str, Field(min_length=1, max_length=100)]
    params: Attributes = Field(default_factory=dict)


class Architecture(ContractModel):
    """A blueprint's architecture: an ordered list of layers plus scalar attributes.

    Upstream kept a free-form nested dict; a record with a layer list keeps the structure that
    the compiler needs while every value stays a typed Avro scalar.
    """

    model_config = STRIP_WHITESPACE
    avro_name: ClassVar[str] = "esper.assets.Architecture"

    layers: list[ArchitectureLayer] = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)


class Blueprint(TrackedAsset):
    """An architectural design for a module that a seed can grow into."""

    model_config = STRIP_WHITESPACE
    avro_name: ClassVar[str] = "esper.assets.Blueprint"

    blueprint_id: Identifier = Field(default_factory=new_uuid)
    name: Name
    description: Description
    state: BlueprintState = BlueprintState.PROPOSED
    architecture: Architecture
    hyperparameters: Attributes = Field(default_factory=dict)
    performance_metrics: Metrics = Field(default_factory=dict)
    created_at: UtcDatetime = Field(default_factory=utc_now)
    updated_at: UtcDatetime = Field(default_factory=utc_now)
    created_by: Annotated[str, Field(min_length=1, max_length=100)]

    def state_display(self) -> str:
        return self.state.title()

    def is_ready_for_deployment(self) -> bool:
        return self.state == BlueprintState.CHARACTERIZED

    def get_performance_summary(self) -> str:
        if not self.performance_metrics:
            return "No metrics available"
        pairs = ", ".join(f"{key}: {value:.3f}" for key, value in self.performance_metrics.items())
        return f"Performance: {pairs}"


class KernelMetadata(ContractModel):
    """What a kernel needs and provides; checked before a kernel is loaded into a slot."""

    avro_name: ClassVar[str] = "esper.assets.KernelMetadata"

    kernel_id: Identifier
    blueprint_id: Identifier
    name: Name
    input_shape: Shape
    output_shape: Shape
    parameter_count: Count
    device_requirements: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    memory_footprint_mb: NonNegativeFloat
    compilation_target: Annotated[str, Field(min_length=1)] = "torchscript"
    optimization_flags: Attributes = Field(default_factory=dict)
    performance_profile: Metrics = Field(default_factory=dict)
    compatibility_version: Annotated[str, Field(min_length=1)] = "1.0"
    created_at: UtcDatetime = Field(default_factory=utc_now)
    checksum: Optional[Sha256Hex] = None

    def is_compatible_with_shape(self, shape: Sequence[int]) -> bool:
        """True when ``shape`` (without the batch dimension) equals ``input_shape`` exactly."""
        return len(shape) == len(self.input_shape) and all(
            given == expected for given, expected in zip(shape, self.input_shape)
        )

    def get_memory_estimate(self, batch_size: int) -> float:
        """Memory in MB for ``batch_size``, scaling the footprint measured at batch 32."""
        return self.memory_footprint_mb * batch_size / 32.0


class CompiledKernel(ContractModel):
    """A compiled, executable kernel artifact and its metadata.

    ``kernel_id`` has no default (upstream: a random uuid): a kernel id is the content hash
    that ``metadata.kernel_id`` also carries, and the two must agree, as must the blueprint ids.
    """

    avro_name: ClassVar[str] = "esper.assets.CompiledKernel"

    kernel_id: Identifier
    blueprint_id: Identifier
    binary_ref: Annotated[str, Field(min_length=1)]
    metadata: KernelMetadata
    status: KernelStatus = KernelStatus.COMPILED
    validation_results: Attributes = Field(default_factory=dict)
    deployment_stats: Metrics = Field(default_factory=dict)
    created_at: UtcDatetime = Field(default_factory=utc_now)
    last_used_at: Optional[UtcDatetime] = None

    @model_validator(mode="after")
    def _ids_agree_with_metadata(self) -> CompiledKernel:
        for field in ("kernel_id", "blueprint_id"):
            own, described = getattr(self, field), getattr(self.metadata, field)
            if own != described:
                raise ValueError(f"{field} {own!r} differs from metadata.{field} {described!r}")
        return self

    def is_ready_for_deployment(self) -> bool:
        return self.status in (KernelStatus.VALIDATED, KernelStatus.DEPLOYED)

    def update_usage_stats(self) -> None:
        self.last_used_at = utc_now()


class TrainingSession(TrackedAsset):
    """One morphogenetic training run with its seeds and blueprints."""

    model_config = STRIP_WHITESPACE
    avro_name: ClassVar[str] = "esper.assets.TrainingSession"

    session_id: Identifier = Field(default_factory=new_uuid)
    name: Name
    description: Description
    training_model_config: Attributes
    training_config: Attributes
    seeds: list[Seed] = Field(default_factory=list)
    blueprints: list[Blueprint] = Field(default_factory=list)
    status: TrainingStatus = TrainingStatus.INITIALIZED
    created_at: UtcDatetime = Field(default_factory=utc_now)
    updated_at: UtcDatetime = Field(default_factory=utc_now)

    def get_active_seed_count(self) -> int:
        return sum(1 for seed in self.seeds if seed.is_active())

    def get_session_summary(self) -> str:
        active = self.get_active_seed_count()
        return (
            f"Session '{self.name}': {len(self.seeds)} seeds ({active} active), "
            f"{len(self.blueprints)} blueprints, status: {self.status}"
        )
