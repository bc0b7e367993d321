"""Every contract by its Avro full name: the models and enums that ``schemas/`` describes."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

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
    TrainingStatus,
)
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
from esper.contracts.validation import KernelCharacterized

_EVENTS: tuple[type[Event], ...] = (
    HealthSignal,
    TelemetryDropped,
    TrainingRunStarted,
    EpochCompleted,
    TrainingRunCompleted,
    AdaptationDecision,
    KasminaControlCommand,
    PolicyUpdated,
    SeedStateChanged,
    BlueprintSubmitted,
    BlueprintStateChanged,
    KernelReady,
    CompilationFailed,
    KernelCharacterized,
    FieldReport,
)
_RECORDS: tuple[type[ContractModel], ...] = (
    EventMeta,
    Seed,
    ArchitectureLayer,
    Architecture,
    Blueprint,
    KernelMetadata,
    CompiledKernel,
    TrainingSession,
    SystemStatePacket,
    HostLayer,
    HostTopology,
    DroppedCount,
    KernelShape,
)

EVENT_MODELS: Mapping[str, type[Event]] = MappingProxyType({m.avro_name: m for m in _EVENTS})
"""The events: records that are Kafka values on their own, each with ``meta``."""

RECORD_MODELS: Mapping[str, type[ContractModel]] = MappingProxyType(
    {m.avro_name: m for m in _RECORDS + _EVENTS}
)
"""Every record model, events included."""

ENUM_TYPES: Mapping[str, type[Enum]] = MappingProxyType(
    {
        "esper.common.ComponentType": ComponentType,
        "esper.assets.SeedState": SeedState,
        "esper.assets.BlueprintState": BlueprintState,
        "esper.assets.BlueprintStatus": BlueprintStatus,
        "esper.assets.KernelStatus": KernelStatus,
        "esper.assets.TrainingStatus": TrainingStatus,
        "esper.telemetry.SystemHealth": SystemHealth,
        "esper.control.AdaptationType": AdaptationType,
        "esper.control.KasminaCommand": KasminaCommand,
    }
)
"""Every enum that is an Avro enum (TopicNames is not: its values are not Avro symbols)."""
