"""The contract layer: every model and enum of the wire contract, by name.

Each record model matches one Avro record of ``schemas/`` (``Model.avro_name``); the events
among them are listed in ``EVENT_MODELS``. Encoding and decoding live in ``esper.codec``.
"""

from esper.contracts.assets import (
    Architecture,
    ArchitectureLayer,
    Blueprint,
    CompiledKernel,
    KernelMetadata,
    Seed,
    TrainingSession,
)
from esper.contracts.base import ContractModel
from esper.contracts.catalog import ENUM_TYPES, EVENT_MODELS, RECORD_MODELS
from esper.contracts.common import Event, EventMeta
from esper.contracts.compilation import (
    BlueprintStateChanged,
    BlueprintSubmitted,
    CompilationFailed,
    KernelReady,
    KernelShape,
)
from esper.contracts.control import AdaptationDecision, KasminaControlCommand, PolicyUpdated
from esper.contracts.enums import (
    AdaptationType,
    BlueprintState,
    BlueprintStatus,
    ComponentType,
    KasminaCommand,
    KernelStatus,
    SeedState,
    SystemHealth,
    TopicNames,
    TrainingStatus,
)
from esper.contracts.fields import AttributeValue, Attributes, Metrics
from esper.contracts.innovation import FieldReport
from esper.contracts.lifecycle import SeedStateChanged
from esper.contracts.telemetry import DroppedCount, HealthSignal, TelemetryDropped
from esper.contracts.training import (
    EpochCompleted,
    HostLayer,
    HostTopology,
    SystemStatePacket,
    TrainingRunCompleted,
    TrainingRunStarted,
)
from esper.contracts.transitions import (
    BLUEPRINT_TRANSITIONS,
    SEED_TRANSITIONS,
    InvalidTransition,
    check_transition,
)
from esper.contracts.validation import KernelCharacterized
from esper.contracts.validators import validate_seed_id

__all__ = [
    "BLUEPRINT_TRANSITIONS",
    "ENUM_TYPES",
    "EVENT_MODELS",
    "RECORD_MODELS",
    "SEED_TRANSITIONS",
    "AdaptationDecision",
    "AdaptationType",
    "Architecture",
    "ArchitectureLayer",
    "AttributeValue",
    "Attributes",
    "Blueprint",
    "BlueprintState",
    "BlueprintStateChanged",
    "BlueprintStatus",
    "BlueprintSubmitted",
    "CompilationFailed",
    "CompiledKernel",
    "ComponentType",
    "ContractModel",
    "DroppedCount",
    "EpochCompleted",
    "Event",
    "EventMeta",
    "FieldReport",
    "HealthSignal",
    "HostLayer",
    "HostTopology",
    "InvalidTransition",
    "KasminaCommand",
    "KasminaControlCommand",
    "KernelCharacterized",
    "KernelMetadata",
    "KernelReady",
    "KernelShape",
    "KernelStatus",
    "Metrics",
    "PolicyUpdated",
    "Seed",
    "SeedState",
    "SeedStateChanged",
    "SystemHealth",
    "SystemStatePacket",
    "TelemetryDropped",
    "TopicNames",
    "TrainingRunCompleted",
    "TrainingRunStarted",
    "TrainingSession",
    "TrainingStatus",
    "check_transition",
    "validate_seed_id",
]
