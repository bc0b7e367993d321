"""Upstream contract tests, reference section 5.2: Seed, Blueprint, TrainingSession; plus
KernelMetadata and CompiledKernel, which upstream never tested (section 2.3/2.4 semantics)."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from esper.contracts import (
    Blueprint,
    BlueprintState,
    InvalidTransition,
    KernelStatus,
    Seed,
    SeedState,
    TrainingSession,
)

from tests.contracts.builders import blueprint, cnn_architecture, compiled_kernel, kernel_metadata
from tests.contracts.timing import best_of


def session(**fields) -> TrainingSession:
    values = dict(name="summary-test", description="A test run", training_model_config={"arch": "resnet18"},
                  training_config={"epochs": 10, "num_gpus": 8})  # fmt: skip
    return TrainingSession(**(values | fields))


class TestSeed:
    def test_defaults(self):
        seed = Seed(layer_id=1, position=2)
        assert seed.state == SeedState.DORMANT
        assert seed.blueprint_id is None
        assert isinstance(seed.seed_id, str) and len(seed.seed_id) == 36
        assert isinstance(seed.created_at, datetime) and isinstance(seed.updated_at, datetime)
        assert seed.metadata == {}

    def test_json_round_trip_keeps_fields_and_flat_metadata(self):
        metadata = {"lr": 0.01, "tag": "a", "n": 3, "on": True, "none": None}
        seed = Seed(layer_id=3, position=1, state="training", blueprint_id="bp-9", metadata=metadata)
        back = Seed.model_validate_json(seed.model_dump_json())
        assert back == seed
        assert (back.layer_id, back.position, back.state) == (3, 1, "training")
        assert (back.blueprint_id, back.seed_id, back.metadata) == ("bp-9", seed.seed_id, metadata)

    def test_nested_metadata_is_refused_not_smuggled(self):
        # Upstream kept a nested dict with a list (defect 6.13): attributes are flat scalars here.
        with pytest.raises(ValidationError, match="metadata.history"):
            Seed(layer_id=0, position=0, metadata={"history": [1, 2]})

    def test_state_assignment_follows_the_lifecycle(self):
        seed = Seed(layer_id=0, position=0)
        before = seed.updated_at
        seed.state = SeedState.GERMINATED
        seed.state = SeedState.TRAINING
        assert seed.state == "training"
        assert seed.updated_at >= before

    def test_an_illegal_assignment_is_refused_and_changes_nothing(self):
        # Upstream accepted any assignment (defect 6.3).
        seed = Seed(layer_id=0, position=0)
        with pytest.raises(InvalidTransition, match="dormant to training; allowed from dormant: germinated"):
            seed.state = SeedState.TRAINING
        assert seed.state == SeedState.DORMANT
        with pytest.raises(ValidationError, match="state"):
            seed.state = "sprouting"
        assert seed.state == SeedState.DORMANT

    @pytest.mark.parametrize("state, shown, active", [
        ("dormant", "Dormant", False), ("germinated", "Germinated", False),
        ("training", "Training", True), ("grafting", "Grafting", True),
        ("fossilized", "Fossilized", False), ("culled", "Culled", False),
    ])  # fmt: skip
    def test_state_display_and_is_active(self, state, shown, active):
        seed = Seed(layer_id=0, position=0, state=state)
        assert seed.state_display() == shown
        assert seed.is_active() is active


class TestBlueprint:
    def test_defaults(self):
        bp = blueprint()
        assert bp.state == BlueprintState.PROPOSED
        assert bp.hyperparameters == {} and bp.performance_metrics == {}
        assert isinstance(bp.blueprint_id, str)

    def test_json_round_trip_keeps_every_field(self):
        bp = blueprint(state="characterized", hyperparameters={"lr": 0.001}, performance_metrics={"accuracy": 0.95})
        assert Blueprint.model_validate_json(bp.model_dump_json()) == bp

    def test_state_assignment_follows_the_lifecycle(self):
        bp = blueprint()
        for state in ("compiling", "validating", "characterized"):
            bp.state = state
        assert bp.state == BlueprintState.CHARACTERIZED

    def test_skipping_validation_is_refused(self):
        # Upstream's test went compiling -> characterized; the lifecycle requires validating first.
        bp = blueprint(state="compiling")
        refused = "compiling to characterized; allowed from compiling: failed, validating"
        with pytest.raises(InvalidTransition, match=refused):
            bp.state = "characterized"

    @pytest.mark.parametrize("state, shown, ready", [
        ("proposed", "Proposed", False), ("compiling", "Compiling", False),
        ("characterized", "Characterized", True), ("deployed", "Deployed", False),
    ])  # fmt: skip
    def test_state_display_and_deployment_readiness(self, state, shown, ready):
        bp = blueprint(state=state)
        assert bp.state_display() == shown
        assert bp.is_ready_for_deployment() is ready

    def test_performance_summary(self):
        assert blueprint().get_performance_summary() == "No metrics available"
        bp = blueprint(performance_metrics={"accuracy": 0.95, "latency": 0.12, "memory_usage": 45.678})
        assert bp.get_performance_summary() == "Performance: accuracy: 0.950, latency: 0.120, memory_usage: 45.678"

    def test_integer_metrics_become_floats(self):
        assert blueprint(performance_metrics={"epochs": 3}).performance_metrics == {"epochs": 3.0}

    def test_names_are_stripped_before_their_length_is_checked(self):
        assert blueprint(name="  adapter ").name == "adapter"
        with pytest.raises(ValidationError, match="name"):
            blueprint(name="   ")


class TestTrainingSession:
    def test_defaults(self):
        run = session()
        assert run.seeds == [] and run.blueprints == []
        assert run.status == "initialized"
        assert isinstance(run.session_id, str)

    def test_contents_survive_a_json_round_trip_in_order(self):
        seeds = [Seed(layer_id=i, position=0, state="training") for i in range(3)]
        bps = [blueprint(name=f"bp-{i}") for i in range(2)]
        run = session(seeds=seeds, blueprints=bps, status="running")
        back = TrainingSession.model_validate_json(run.model_dump_json())
        assert [s.seed_id for s in back.seeds] == [s.seed_id for s in seeds]
        assert back.seeds[0].state == SeedState.TRAINING
        assert [b.name for b in back.blueprints] == ["bp-0", "bp-1"]
        assert back.status == "running"

    def test_active_seed_count(self):
        states = ["training", "grafting", "germinated", "dormant", "culled"]
        seeds = [Seed(layer_id=0, position=i, state=s) for i, s in enumerate(states)]
        assert session(seeds=seeds).get_active_seed_count() == 2
        assert session().get_active_seed_count() == 0

    def test_session_summary(self):
        seeds = [Seed(layer_id=0, position=i, state=s) for i, s in enumerate(["training", "grafting", "dormant"])]
        run = session(seeds=seeds, blueprints=[blueprint(), blueprint()], status="running")
        assert run.get_session_summary() == "Session 'summary-test': 3 seeds (2 active), 2 blueprints, status: running"
        assert session().get_session_summary() == (
            "Session 'summary-test': 0 seeds (0 active), 0 blueprints, status: initialized"
        )

    def test_status_outside_the_vocabulary_is_refused(self):
        with pytest.raises(ValidationError, match="status"):
            session(status="exploded")


class TestKernels:
    def test_shape_compatibility_compares_every_dimension(self):
        metadata = kernel_metadata(input_shape=[64, 8, 8])
        assert metadata.is_compatible_with_shape([64, 8, 8])
        assert metadata.is_compatible_with_shape((64, 8, 8))
        assert not metadata.is_compatible_with_shape([64, 8])
        assert not metadata.is_compatible_with_shape([32, 64, 8, 8])  # the caller drops the batch

    def test_memory_estimate_scales_from_batch_32(self):
        metadata = kernel_metadata(memory_footprint_mb=64.0)
        assert metadata.get_memory_estimate(32) == 64.0
        assert metadata.get_memory_estimate(8) == 16.0
        assert metadata.get_memory_estimate(-32) == -64.0  # unclamped, as upstream

    def test_kernel_defaults(self):
        metadata = kernel_metadata()
        assert metadata.compilation_target == "torchscript"
        assert metadata.compatibility_version == "1.0"
        assert metadata.device_requirements == [] and metadata.checksum is None
        assert compiled_kernel().status == KernelStatus.COMPILED

    @pytest.mark.parametrize("status, ready", [
        ("compiled", False), ("validated", True), ("deployed", True), ("deprecated", False), ("invalid", False),
    ])  # fmt: skip
    def test_kernel_deployment_readiness(self, status, ready):
        assert compiled_kernel(status=status).is_ready_for_deployment() is ready

    def test_update_usage_stats_sets_last_used(self):
        kernel = compiled_kernel()
        assert kernel.last_used_at is None
        kernel.update_usage_stats()
        assert kernel.last_used_at is not None

    def test_kernel_ids_must_agree_with_the_metadata(self):
        # Upstream never checked that the two kernel_id and blueprint_id copies agree (defect 6.4).
        with pytest.raises(ValidationError, match="kernel_id 'k-2' differs from metadata.kernel_id 'k-1'"):
            compiled_kernel(kernel_id="k-2")
        with pytest.raises(ValidationError, match="blueprint_id 'bp-2' differs from metadata.blueprint_id"):
            compiled_kernel(blueprint_id="bp-2")
        kernel = compiled_kernel()
        with pytest.raises(ValidationError, match="kernel_id"):
            kernel.kernel_id = "k-2"
        assert kernel.kernel_id == "k-1"  # the refused assignment changed nothing


def _within(seconds: float, work) -> None:
    assert best_of(work) < seconds


def test_upstream_performance_limits():
    seed = Seed(layer_id=1, position=2, metadata={"a": 1})
    _within(1.0, lambda: [Seed.model_validate_json(seed.model_dump_json()) for _ in range(1_000)])
    bp = blueprint(architecture=cnn_architecture(10))
    _within(1.0, lambda: [Blueprint.model_validate_json(bp.model_dump_json()) for _ in range(500)])
    run = session(seeds=[Seed(layer_id=i, position=0) for i in range(15)], blueprints=[blueprint() for _ in range(3)])
    _within(1.0, lambda: [TrainingSession.model_validate_json(run.model_dump_json()) for _ in range(100)])
