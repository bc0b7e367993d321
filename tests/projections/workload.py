"""A coherent little history that touches every event type: one run, one blueprint compiled
into a kernel, a decision that germinates a seed which fossilizes, and the odd failure."""

from __future__ import annotations

import uuid

from esper.contracts import (
    AdaptationDecision,
    Architecture,
    ArchitectureLayer,
    Blueprint,
    BlueprintStateChanged,
    BlueprintSubmitted,
    CompilationFailed,
    CompiledKernel,
    ComponentType,
    DroppedCount,
    EpochCompleted,
    EventMeta,
    FieldReport,
    HealthSignal,
    HostLayer,
    HostTopology,
    KasminaControlCommand,
    KernelCharacterized,
    KernelMetadata,
    KernelReady,
    PolicyUpdated,
    SeedStateChanged,
    SystemStatePacket,
    TelemetryDropped,
    TrainingRunCompleted,
    TrainingRunStarted,
    TrainingSession,
)

SHA = "cd" * 32
LAYERS = 3


def short_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def run_started(run_id: str) -> TrainingRunStarted:
    return TrainingRunStarted(
        meta=EventMeta.new(ComponentType.TOLARIA, run_id=run_id),
        session=TrainingSession(session_id=run_id, name=f"session {run_id}",
                                description="projection test", training_model_config={"hidden": 32},
                                training_config={"lr": 0.01, "epochs": 2}),
        topology=HostTopology(model_name="mlp", layers=[
            HostLayer(layer_id=i, name=f"layers.{i}", layer_type="Linear", input_shape=[32],
                      output_shape=[32], parameter_count=32 * 33, seed_slots=2)
            for i in range(LAYERS)]),
    )


def health_signals(run_id: str, epoch: int, count: int, start: int = 0) -> list[HealthSignal]:
    return [HealthSignal(meta=EventMeta.new(ComponentType.KASMINA, run_id=run_id),
                         layer_id=i % LAYERS, seed_id=i % 2, chunk_id=start + i, epoch=epoch,
                         activation_variance=0.1 * (i % 7), dead_neuron_ratio=(i % 10) / 10,
                         avg_correlation=0.3, health_score=1 - (i % 5) / 10,
                         gradient_norm=0.01 * (i % 4) if i % 3 else None)
            for i in range(count)]


def epoch_completed(run_id: str, epoch: int, parameters: int) -> EpochCompleted:
    return EpochCompleted(
        meta=EventMeta.new(ComponentType.TOLARIA, run_id=run_id), epoch=epoch,
        train_accuracy=0.5 + epoch / 10, val_accuracy=0.45 + epoch / 10,
        parameter_count=parameters, duration_seconds=1.5,
        system_state=SystemStatePacket(epoch=epoch, total_seeds=6, active_seeds=1,
                                       training_loss=1.0 / (epoch + 1),
                                       validation_loss=1.1 / (epoch + 1),
                                       system_load=0.4, memory_usage=0.3),
    )


def story(run_id: str) -> list:
    """Events in the order a system would write them (each is valid on its own)."""
    blueprint_id, kernel_id, seed_id = short_id("bp"), short_id("k"), short_id("seed")
    started = run_started(run_id)
    submitted = BlueprintSubmitted(
        meta=EventMeta.new(ComponentType.KARN), blueprint_id=blueprint_id, submitted_by="karn",
        blueprint=Blueprint(blueprint_id=blueprint_id, name="residual adapter",
                            description="a small residual adapter", created_by="karn",
                            architecture=Architecture(layers=[
                                ArchitectureLayer(kind="linear_adapter", params={"rank": 4})])))
    signals = health_signals(run_id, 0, 12)
    decision = AdaptationDecision(
        meta=EventMeta.new(ComponentType.TAMIYO, causation=signals[-1]),
        layer_name="layers.1", layer_id=1, adaptation_type="add_seed", slot_index=0,
        blueprint_id=blueprint_id, confidence=0.8, urgency=0.7, policy_name="heuristic",
        policy_version=1, features={"health": 0.4})
    steps = [BlueprintStateChanged(meta=EventMeta.new(ComponentType.TEZZERET, causation=submitted),
                                   blueprint_id=blueprint_id, from_state=a, to_state=b,
                                   reason=f"{a} done", kernel_id=kernel_id if b == "characterized" else None)
             for a, b in (("proposed", "compiling"), ("compiling", "validating"),
                          ("validating", "characterized"))]
    metadata = KernelMetadata(kernel_id=kernel_id, blueprint_id=blueprint_id, name="adapter",
                              input_shape=[32], output_shape=[32], parameter_count=288,
                              memory_footprint_mb=0.01, checksum=SHA)
    ready = KernelReady(meta=EventMeta.new(ComponentType.TEZZERET, causation=decision),
                        kernel=CompiledKernel(kernel_id=kernel_id, blueprint_id=blueprint_id,
                                              binary_ref=f"file:///artifacts/{SHA}",
                                              metadata=metadata, status="validated"),
                        decision_id=decision.decision_id)
    characterized = KernelCharacterized(
        meta=EventMeta.new(ComponentType.TEZZERET, causation=ready), kernel_id=kernel_id,
        blueprint_id=blueprint_id, device="cpu", batch_size=32, latency_ms=0.05, memory_mb=0.01)
    germinate = KasminaControlCommand(
        meta=EventMeta.new(ComponentType.TEZZERET, causation=ready, run_id=run_id),
        command="germinate", layer_id=1, slot_index=0, blueprint_id=blueprint_id,
        kernel_id=kernel_id, reason="decision", decision_id=decision.decision_id)
    transitions, cause = [], germinate
    for a, b, alpha in (("dormant", "germinated", 0.0), ("germinated", "training", 0.0),
                        ("training", "grafting", 0.5), ("grafting", "fossilized", 1.0)):
        cause = SeedStateChanged(meta=EventMeta.new(ComponentType.KASMINA, causation=cause),
                                 layer_id=1, slot_index=0, seed_id=seed_id, from_state=a,
                                 to_state=b, blueprint_id=blueprint_id, kernel_id=kernel_id,
                                 alpha=alpha, reason=f"{b}", epoch=1, step=10 * len(transitions))
        transitions.append(cause)
    stray = SeedStateChanged(  # claims a state the seed is not in: an anomaly, not applied
        meta=EventMeta.new(ComponentType.KASMINA, run_id=run_id), layer_id=1, slot_index=0,
        seed_id=seed_id, from_state="grafting", to_state="culled", blueprint_id=blueprint_id,
        alpha=0.0, reason="stray", epoch=1, step=99)
    report = FieldReport(meta=EventMeta.new(ComponentType.KASMINA, causation=transitions[-1]),
                         layer_id=1, slot_index=0, seed_id=seed_id, blueprint_id=blueprint_id,
                         kernel_id=kernel_id, final_state="fossilized", accuracy_with_seed=0.9,
                         accuracy_without_seed=0.85, parameters_added=288, epochs_active=1)
    failed = CompilationFailed(meta=EventMeta.new(ComponentType.TEZZERET),
                               blueprint_id=short_id("bp"), compiler_version="test-1",
                               error_type="ValueError", message="impossible shape")
    policy = PolicyUpdated(meta=EventMeta.new(ComponentType.TAMIYO), policy_name="gnn",
                           policy_version=2, artifact_ref=f"file:///policies/{SHA}",
                           checksum=SHA, metrics={"reward": 0.1})
    dropped = TelemetryDropped(
        meta=EventMeta.new(ComponentType.TOLARIA, run_id=run_id),
        window_start=signals[0].meta.occurred_at, window_end=signals[-1].meta.occurred_at,
        reason="producer queue full",
        drops=[DroppedCount(topic="telemetry.seed.health",
                            event_type="esper.telemetry.HealthSignal", count=5)])
    completed = TrainingRunCompleted(
        meta=EventMeta.new(ComponentType.TOLARIA, run_id=run_id), status="completed",
        epochs_completed=2, final_val_accuracy=0.55, final_val_loss=0.5,
        total_parameters=3456, seeds_fossilized=1, seeds_culled=0, duration_seconds=3.0)
    return [started, submitted, *signals, epoch_completed(run_id, 0, 3168), decision, *steps,
            ready, characterized, germinate, *transitions, stray, report, failed, policy,
            *health_signals(run_id, 1, 12, start=12), dropped, epoch_completed(run_id, 1, 3456),
            completed]
