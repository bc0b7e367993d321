"""Valid contract instances with readable defaults, for tests that vary one thing at a time."""

from __future__ import annotations

from typing import Any

from esper.contracts import (
    AdaptationDecision,
    Architecture,
    ArchitectureLayer,
    Blueprint,
    CompiledKernel,
    ComponentType,
    EventMeta,
    HealthSignal,
    HostLayer,
    HostTopology,
    KernelMetadata,
    SystemStatePacket,
)

RUN = "run-1"
SHA = "ab" * 32


def meta(source: ComponentType = ComponentType.KASMINA, run_id: str | None = RUN) -> EventMeta:
    return EventMeta.new(source, run_id=run_id)


def health_signal(**fields: Any) -> HealthSignal:
    values: dict[str, Any] = dict(
        meta=meta(), layer_id=1, seed_id=0, chunk_id=0, epoch=0,
        activation_variance=0.5, dead_neuron_ratio=0.1, avg_correlation=0.2,
    )  # fmt: skip
    return HealthSignal(**(values | fields))


def system_state(**fields: Any) -> SystemStatePacket:
    values: dict[str, Any] = dict(
        epoch=0, total_seeds=0, active_seeds=0, training_loss=0.0, validation_loss=0.0,
        system_load=0.0, memory_usage=0.0,
    )  # fmt: skip
    return SystemStatePacket(**(values | fields))


def decision(**fields: Any) -> AdaptationDecision:
    values: dict[str, Any] = dict(
        meta=meta(ComponentType.TAMIYO), layer_name="encoder.0", layer_id=0,
        adaptation_type="optimize_parameters", confidence=0.5, urgency=0.5,
        policy_name="tamiyo-gnn", policy_version=1,
    )  # fmt: skip
    return AdaptationDecision(**(values | fields))


def topology(layers: int = 3) -> HostTopology:
    return HostTopology(
        model_name="mlp",
        layers=[
            HostLayer(
                layer_id=i, name=f"layers.{i}", layer_type="Linear", input_shape=[64], output_shape=[64],
                parameter_count=64 * 65, seed_slots=2,
            )
            for i in range(layers)
        ],
    )  # fmt: skip


def cnn_architecture(layers: int = 10) -> Architecture:
    return Architecture(
        layers=[
            ArchitectureLayer(kind="conv2d", params={"in": 3 if i == 0 else 64, "out": 64, "kernel": 3})
            for i in range(layers)
        ],
        attributes={"family": "cnn", "total_parameters": 64 * 64 * 9 * layers},
    )


def blueprint(**fields: Any) -> Blueprint:
    values: dict[str, Any] = dict(
        name="residual-adapter", description="A small residual adapter",
        architecture=cnn_architecture(2), created_by="karn",
    )  # fmt: skip
    return Blueprint(**(values | fields))


def kernel_metadata(**fields: Any) -> KernelMetadata:
    values: dict[str, Any] = dict(
        kernel_id="k-1", blueprint_id="bp-1", name="adapter", input_shape=[64, 8, 8],
        output_shape=[64, 8, 8], parameter_count=36_864, memory_footprint_mb=64.0,
    )  # fmt: skip
    return KernelMetadata(**(values | fields))


def compiled_kernel(**fields: Any) -> CompiledKernel:
    values: dict[str, Any] = dict(
        kernel_id="k-1", blueprint_id="bp-1", binary_ref="file:///kernels/k-1/kernel.pt",
        metadata=kernel_metadata(),
    )  # fmt: skip
    return CompiledKernel(**(values | fields))
