"""The topic catalogue: every topic's name, key, partitions, retention and allowed events.

This module is the one place that says which event goes where. The producer refuses an event
type that its topic does not allow, and `esper topics create` applies the catalogue to a
cluster idempotently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

# The log is the source of truth and any projection may be rebuilt from it: keep it all.
FOREVER = -1


def _run(event) -> str:
    return event.meta.run_id or ""


@dataclasses.dataclass(frozen=True)
class TopicSpec:
    name: str
    key_doc: str
    key_of: Callable[[object], str]
    event_types: tuple[str, ...]
    partitions: int = 3
    retention_ms: int = FOREVER
    cleanup_policy: str = "delete"
    doc: str = ""

    def config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


HEALTH = TopicSpec(
    "telemetry.seed.health", "run_id/layer_id",
    lambda e: f"{_run(e)}/{e.layer_id}",
    ("HealthSignal",),
    doc="per-layer and per-slot health telemetry from Kasmina, sampled under pressure",
)
EPOCHS = TopicSpec(
    "system.events.epoch", "run_id", _run,
    ("TrainingRunStarted", "EpochCompleted", "TrainingRunCompleted", "TelemetryDropped"),
    doc="a training run's heartbeat: start with topology, each epoch, completion, drop counts",
)
DECISIONS = TopicSpec(
    "control.tamiyo.decisions", "run_id", _run, ("AdaptationDecision",),
    doc="Tamiyo's adaptation decisions",
)
COMMANDS = TopicSpec(
    "control.kasmina.commands", "run_id", _run, ("KasminaControlCommand",),
    doc="commands to a run's seed slots: germinate, set alpha, cull, fossilize",
)
SEED_STATES = TopicSpec(
    "lifecycle.seed.state", "run_id/layer_id/seed_id",
    lambda e: f"{_run(e)}/{e.layer_id}/{e.seed_id}",
    ("SeedStateChanged",),
    doc="every seed lifecycle transition",
)
BLUEPRINTS = TopicSpec(
    "compilation.blueprint.submitted", "blueprint_id", lambda e: e.blueprint_id,
    ("BlueprintSubmitted", "BlueprintStateChanged"),
    doc="blueprints submitted by Karn and their lifecycle",
)
KERNELS = TopicSpec(
    "compilation.kernel.ready", "blueprint_id",
    lambda e: e.kernel.blueprint_id if type(e).__name__ == "KernelReady" else e.blueprint_id,
    ("KernelReady", "CompilationFailed"),
    doc="Tezzeret's compiled kernels, or why a compilation failed",
)
CHARACTERIZATIONS = TopicSpec(
    "validation.kernel.characterized", "kernel_id", lambda e: e.kernel_id,
    ("KernelCharacterized",),
    doc="measured latency, memory and parameters of each kernel",
)
FIELD_REPORTS = TopicSpec(
    "innovation.field_reports", "blueprint_id", lambda e: e.blueprint_id, ("FieldReport",),
    doc="the measured effect of each seed when it ends",
)
POLICIES = TopicSpec(
    "control.tamiyo.policy", "policy name", lambda e: e.policy_name, ("PolicyUpdated",),
    partitions=1,
    doc="new versions of Tamiyo's policy",
)
DEAD_LETTERS = TopicSpec(
    "esper.deadletter", "the original record's key", lambda e: "", (),
    doc="records that could not be decoded or processed, with error headers",
)

CATALOGUE: tuple[TopicSpec, ...] = (
    HEALTH, EPOCHS, DECISIONS, COMMANDS, SEED_STATES, BLUEPRINTS, KERNELS, CHARACTERIZATIONS,
    FIELD_REPORTS, POLICIES, DEAD_LETTERS,
)
BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in CATALOGUE}
TOPIC_OF_EVENT: dict[str, TopicSpec] = {
    event_type: spec for spec in CATALOGUE for event_type in spec.event_types
}


class UnknownTopic(KeyError):
    def __str__(self) -> str:
        return f"no topic {self.args[0]!r} in the catalogue; known: {', '.join(BY_NAME)}"


def spec(name: str) -> TopicSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownTopic(name) from None


def topic_for(event) -> TopicSpec:
    """The topic an event belongs on."""
    event_type = type(event).__name__
    try:
        return TOPIC_OF_EVENT[event_type]
    except KeyError:
        raise TypeError(f"{event_type} is not an event of any topic in the catalogue") from None
