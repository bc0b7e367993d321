"""Upstream contract tests, reference section 5.1: the enums, value for value."""

from __future__ import annotations

import pytest

from esper.contracts import (
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

from tests.contracts.timing import best_of

UPSTREAM = {
    SeedState: ["dormant", "germinated", "training", "grafting", "fossilized", "culled"],
    BlueprintState: ["proposed", "compiling", "validating", "characterized", "deployed", "failed", "archived"],
    SystemHealth: ["healthy", "degraded", "critical", "offline"],
    ComponentType: [
        "tamiyo", "karn", "kasmina", "tezzeret", "urabrask", "tolaria", "urza", "oona", "nissa",
        "simic", "emrakul",
    ],
    BlueprintStatus: ["unvalidated", "compiling", "validated", "invalid"],
    TopicNames: [
        "telemetry.seed.health", "control.kasmina.commands", "compilation.blueprint.submitted",
        "compilation.kernel.ready", "validation.kernel.characterized", "system.events.epoch",
        "innovation.field_reports",
    ],
}  # fmt: skip


@pytest.mark.parametrize("enum_type", UPSTREAM, ids=lambda e: e.__name__)
def test_upstream_enums_keep_their_values_in_order(enum_type):
    assert [member.value for member in enum_type] == UPSTREAM[enum_type]
    for member in enum_type:
        assert isinstance(member, str) and member == member.value
        assert enum_type(member.value) is member


def test_seed_state_members_by_name():
    assert SeedState.DORMANT.value == "dormant"
    assert SeedState.FOSSILIZED.value == "fossilized"
    assert list(SeedState) == [
        SeedState.DORMANT, SeedState.GERMINATED, SeedState.TRAINING, SeedState.GRAFTING,
        SeedState.FOSSILIZED, SeedState.CULLED,
    ]  # fmt: skip


def test_str_of_a_member_is_its_qualified_name_as_upstream():
    assert str(SeedState.TRAINING) == "SeedState.TRAINING"


def test_kernel_status_keeps_the_upstream_four_first_and_adds_the_pattern_vocabulary():
    # Upstream had two vocabularies for kernel status; the merged enum keeps both (defect 6.1).
    assert [m.value for m in KernelStatus][:4] == ["validated", "invalid", "testing", "deployed"]
    assert {m.value for m in KernelStatus} == {"validated", "invalid", "testing", "deployed", "compiled", "deprecated"}


def test_component_type_values_are_lowercase_and_non_empty():
    assert all(member.value and member.value == member.value.lower() for member in ComponentType)


def test_topic_names_are_dotted():
    assert all(len(member.value.split(".")) >= 2 for member in TopicNames)


def test_new_enums():
    assert [m.value for m in AdaptationType] == [
        "add_seed", "remove_seed", "modify_architecture", "optimize_parameters",
    ]  # fmt: skip
    assert [m.value for m in KasminaCommand] == ["germinate", "set_alpha", "cull", "fossilize"]
    assert [m.value for m in TrainingStatus] == ["initialized", "running", "paused", "completed", "failed"]


def _within(seconds: float, work) -> None:
    assert best_of(work) < seconds


def test_enum_performance_limits_of_upstream():
    states = (SeedState.DORMANT, SeedState.TRAINING, SeedState.GRAFTING)
    _within(0.1, lambda: [(s.value, str(s)) for _ in range(10_000) for s in states])
    for enum_type in UPSTREAM:
        _within(0.1, lambda: [(m.value, str(m), repr(m)) for _ in range(5_000) for m in enum_type])
    a, b = SeedState.TRAINING, SeedState.DORMANT
    _within(0.1, lambda: [(a == a, a != b, a == "training", b != "training") for _ in range(10_000)])
    members = (a, b, BlueprintState.PROPOSED, KernelStatus.VALIDATED)
    _within(0.1, lambda: [type(v)(v.value) == v for _ in range(5_000) for v in members])
