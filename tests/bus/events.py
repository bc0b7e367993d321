"""Small, valid events for bus tests."""

from __future__ import annotations

import uuid

from esper.contracts import AdaptationDecision, ComponentType, EventMeta, HealthSignal


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def health(run_id: str, layer_id: int, sequence: int, epoch: int = 0) -> HealthSignal:
    """A HealthSignal whose chunk_id carries a per-key sequence number."""
    return HealthSignal(
        meta=EventMeta.new(ComponentType.KASMINA, run_id=run_id),
        layer_id=layer_id, seed_id=0, chunk_id=sequence, epoch=epoch,
        activation_variance=0.5, dead_neuron_ratio=0.1, avg_correlation=0.2,
        health_score=0.9,
    )


def decision_for(signal: HealthSignal) -> AdaptationDecision:
    """The decision a toy controller takes on a signal, caused by it."""
    return AdaptationDecision(
        meta=EventMeta.new(ComponentType.TAMIYO, causation=signal),
        layer_name=f"layer{signal.layer_id}", layer_id=signal.layer_id,
        adaptation_type="optimize_parameters", confidence=0.9, urgency=0.5,
        policy_name="test", policy_version=1, features={"chunk": float(signal.chunk_id)},
    )
