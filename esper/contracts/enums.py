"""Enumerations of the contract layer.

The seven upstream enums keep their members, values and declaration order exactly (tests
iterate SeedState in order). Every enum is a ``(str, Enum)``, so a member equals its value and
``str(member)`` is ``"SeedState.TRAINING"``, as upstream. The members added here say why.
"""

from __future__ import annotations

from enum import Enum


class SeedState(str, Enum):
    """Lifecycle of a morphogenetic seed; transitions are in ``esper.contracts.transitions``."""

    DORMANT = "dormant"
    GERMINATED = "germinated"
    TRAINING = "training"
    GRAFTING = "grafting"
    FOSSILIZED = "fossilized"
    CULLED = "culled"


class BlueprintState(str, Enum):
    """Lifecycle of a blueprint; the one vocabulary events use for blueprint progress."""

    PROPOSED = "proposed"
    COMPILING = "compiling"
    VALIDATING = "validating"
    CHARACTERIZED = "characterized"
    DEPLOYED = "deployed"
    FAILED = "failed"
    ARCHIVED = "archived"


class BlueprintStatus(str, Enum):
    """Upstream Urza/Tezzeret runtime status, kept for callers that import it.

    No event carries it: BlueprintState is the single blueprint vocabulary on the wire.
    """

    UNVALIDATED = "unvalidated"
    COMPILING = "compiling"
    VALIDATED = "validated"
    INVALID = "invalid"


class KernelStatus(str, Enum):
    """Status of a compiled kernel.

    Upstream had two vocabularies for this (this enum, and the ``CompiledKernel.status``
    pattern compiled/validated/deployed/deprecated). They are merged here: the four upstream
    members first, in their order, then the two only the pattern had.
    """

    VALIDATED = "validated"
    INVALID = "invalid"
    TESTING = "testing"
    DEPLOYED = "deployed"
    COMPILED = "compiled"
    DEPRECATED = "deprecated"


class SystemHealth(str, Enum):
    """Overall health of the system (upstream; no event carries it)."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"
    OFFLINE = "offline"


class ComponentType(str, Enum):
    """The subsystems; ``EventMeta.source`` says which one emitted an event."""

    TAMIYO = "tamiyo"  # Strategic Controller
    KARN = "karn"  # Generative Architect
    KASMINA = "kasmina"  # Execution Layer
    TEZZERET = "tezzeret"  # Compilation Forge
    URABRASK = "urabrask"  # Evaluation Engine
    TOLARIA = "tolaria"  # Training Orchestrator
    URZA = "urza"  # Central Library
    OONA = "oona"  # Message Bus
    NISSA = "nissa"  # Observability
    SIMIC = "simic"  # Policy Training Environment
    EMRAKUL = "emrakul"  # Architectural Sculptor


class TopicNames(str, Enum):
    """The seven upstream topic names.

    Not an Avro enum: the values contain dots, which Avro symbols cannot. The Kafka topic
    catalogue (``esper.bus``) is the authority on topics; this enum is the upstream contract.
    """

    TELEMETRY_SEED_HEALTH = "telemetry.seed.health"
    CONTROL_KASMINA_COMMANDS = "control.kasmina.commands"
    COMPILATION_BLUEPRINT_SUBMITTED = "compilation.blueprint.submitted"
    COMPILATION_KERNEL_READY = "compilation.kernel.ready"
    VALIDATION_KERNEL_CHARACTERIZED = "validation.kernel.characterized"
    SYSTEM_EVENTS_EPOCH = "system.events.epoch"
    INNOVATION_FIELD_REPORTS = "innovation.field_reports"


class AdaptationType(str, Enum):
    """What a Tamiyo decision does (upstream: a pattern on AdaptationDecision.adaptation_type)."""

    ADD_SEED = "add_seed"
    REMOVE_SEED = "remove_seed"
    MODIFY_ARCHITECTURE = "modify_architecture"
    OPTIMIZE_PARAMETERS = "optimize_parameters"


class KasminaCommand(str, Enum):
    """What a control command tells Kasmina to do with one seed slot."""

    GERMINATE = "germinate"
    SET_ALPHA = "set_alpha"
    CULL = "cull"
    FOSSILIZE = "fossilize"


class TrainingStatus(str, Enum):
    """Status of a training run (upstream: a pattern on ``TrainingSession.status``)."""

    INITIALIZED = "initialized"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
