"""Upstream contract tests, reference section 5.4: HealthSignal, SystemStatePacket, AdaptationDecision."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from esper.contracts import HealthSignal

from tests.contracts.builders import decision, health_signal, system_state
from tests.contracts.timing import best_of


class TestHealthSignal:
    def test_defaults(self):
        signal = health_signal()
        assert signal.is_ready_for_transition is False
        assert (signal.health_score, signal.execution_latency, signal.error_count) == (1.0, 0.0, 0)
        assert (signal.active_seeds, signal.total_seeds) == (1, 1)

    def test_bounds_accept_zeros_and_minus_one_correlation(self):
        health_signal(layer_id=0, seed_id=0, chunk_id=0, epoch=0, activation_variance=0.0,
                      dead_neuron_ratio=0.0, avg_correlation=-1.0)  # fmt: skip

    @pytest.mark.parametrize("field, value, message", [
        ("layer_id", -1, "greater than or equal to 0"),
        ("seed_id", -5, "greater than or equal to 0"),
        ("dead_neuron_ratio", 1.5, "less than or equal to 1"),
        ("avg_correlation", 1.5, "less than or equal to 1"),
    ])  # fmt: skip
    def test_bounds_refuse_with_pydantic_messages(self, field, value, message):
        with pytest.raises(ValidationError, match=message) as raised:
            health_signal(**{field: value})
        assert raised.value.errors()[0]["loc"] == (field,)

    @pytest.mark.parametrize("score, errors, status, healthy", [
        (0.9, 2, "Healthy", True),
        (0.8, 1, "Healthy", True),
        (0.65, 0, "Warning", False),
        (0.6, 3, "Warning", False),
        (0.3, 10, "Critical", False),
        (0.8, 5, "Healthy", False),
        (0.75, 0, "Warning", True),  # the upstream inconsistency (6.6), kept on purpose
    ])  # fmt: skip
    def test_health_labels(self, score, errors, status, healthy):
        signal = health_signal(health_score=score, error_count=errors)
        assert signal.health_status() == status
        assert signal.is_healthy() is healthy

    def test_active_seeds_cannot_exceed_total(self):
        # Upstream accepted active > total (defect 6.4).
        health_signal(active_seeds=3, total_seeds=3)
        with pytest.raises(ValidationError, match=r"active_seeds \(4\) exceeds total_seeds \(3\)"):
            health_signal(active_seeds=4, total_seeds=3)


class TestSystemStatePacket:
    def test_zeros_accepted_and_negative_epoch_refused(self):
        system_state()
        with pytest.raises(ValidationError, match="greater than or equal to 0"):
            system_state(epoch=-1)

    @pytest.mark.parametrize("load, memory, health, overloaded", [
        (0.5, 0.6, "Normal", False),
        (0.75, 0.6, "Warning", False),
        (0.95, 0.92, "Critical", True),
        (0.7, 0.7, "Normal", False),  # strict comparisons at each boundary
        (0.8, 0.0, "Warning", False),
        (0.9, 0.0, "Warning", True),
        (0.0, 0.9, "Warning", True),
        (0.0, 0.91, "Critical", True),
    ])  # fmt: skip
    def test_health_and_overload(self, load, memory, health, overloaded):
        packet = system_state(system_load=load, memory_usage=memory)
        assert packet.system_health() == health
        assert packet.is_overloaded() is overloaded

    def test_active_seeds_cannot_exceed_total(self):
        with pytest.raises(ValidationError, match=r"active_seeds \(2\) exceeds total_seeds \(1\)"):
            system_state(active_seeds=2, total_seeds=1)


class TestAdaptationDecision:
    @pytest.mark.parametrize("kind", ["add_seed", "remove_seed", "modify_architecture", "optimize_parameters"])
    def test_the_four_types_are_accepted(self, kind):
        assert decision(adaptation_type=kind, slot_index=0, blueprint_id="bp-1").adaptation_type == kind

    def test_other_types_are_refused(self):
        with pytest.raises(ValueError, match="adaptation_type"):
            decision(adaptation_type="invalid_type")
        with pytest.raises(ValueError, match="adaptation_type"):
            decision(adaptation_type="emergency_stabilization")  # what upstream's policy emitted (6.9)

    @pytest.mark.parametrize("confidence, urgency, priority, immediate", [
        (0.9, 0.8, "High", True),
        (0.6, 0.4, "Medium", False),
        (0.3, 0.2, "Low", False),
        (1.0, 0.6, "High", False),  # the upstream inconsistency (6.6), kept on purpose
        (0.61, 0.71, "Medium", True),
        (0.6, 0.71, "Medium", False),  # strict at confidence 0.6
        (0.61, 0.7, "Medium", False),  # and at urgency 0.7
    ])  # fmt: skip
    def test_priority_and_immediacy(self, confidence, urgency, priority, immediate):
        made = decision(confidence=confidence, urgency=urgency)
        assert made.decision_priority() == priority
        assert made.should_execute_immediately() is immediate

    def test_default_timestamp_is_now(self):
        before = time.time()
        made = decision()
        assert before <= made.timestamp <= time.time()

    def test_add_seed_names_its_slot_and_blueprint(self):
        # Upstream hid these in metadata, where Tolaria looked for attributes (defect 6.9).
        with pytest.raises(ValidationError, match="slot_index is required for adaptation_type add_seed"):
            decision(adaptation_type="add_seed", blueprint_id="bp-1")
        with pytest.raises(ValidationError, match="blueprint_id is required for adaptation_type add_seed"):
            decision(adaptation_type="add_seed", slot_index=0)
        with pytest.raises(ValidationError, match="slot_index is required for adaptation_type remove_seed"):
            decision(adaptation_type="remove_seed")


def test_upstream_performance_limits():
    signal = health_signal()
    assert best_of(lambda: [HealthSignal.model_validate_json(signal.model_dump_json()) for _ in range(100)]) < 0.1

    models = [*(health_signal(layer_id=i) for i in range(100)), *(system_state(epoch=i) for i in range(50))]
    elapsed = best_of(lambda: [m.model_dump_json() for m in models])
    assert elapsed < 0.3 and len(models) / elapsed > 500
