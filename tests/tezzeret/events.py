"""Events that Tezzeret consumes, built the way Tolaria, Tamiyo and Karn build them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from esper.contracts import (
    AdaptationDecision,
    AdaptationType,
    Blueprint,
    BlueprintSubmitted,
    ComponentType,
    EventMeta,
    HostLayer,
    HostTopology,
    KernelShape,
    TrainingRunStarted,
    TrainingSession,
)

# The layers of a small CNN host: (layer_id, name, type, input shape, output shape).
CNN_LAYERS = (
    (0, "conv1", "Conv2d", [3, 8, 8], [8, 8, 8]),
    (1, "conv2", "Conv2d", [8, 8, 8], [8, 8, 8]),
    (2, "fc", "Linear", [128], [10]),
)


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def run_started(run_id: str, layers: Sequence[tuple] = CNN_LAYERS) -> TrainingRunStarted:
    session = TrainingSession(session_id=run_id, name="tezzeret test", description="a test run",
                              training_model_config={"host": "cnn"}, training_config={})
    topology = HostTopology(model_name="cnn", layers=[
        HostLayer(layer_id=i, name=name, layer_type=kind, input_shape=list(inp),
                  output_shape=list(out), parameter_count=100, seed_slots=2)
        for i, name, kind, inp, out in layers])
    return TrainingRunStarted(meta=EventMeta.new(ComponentType.TOLARIA, run_id=run_id),
                              session=session, topology=topology)


def decision(run_id: str, layer_id: int, blueprint_id: str, slot: int = 0,
             adaptation: AdaptationType = AdaptationType.ADD_SEED) -> AdaptationDecision:
    return AdaptationDecision(meta=EventMeta.new(ComponentType.TAMIYO, run_id=run_id),
                              layer_name=f"layer{layer_id}", layer_id=layer_id,
                              adaptation_type=adaptation, slot_index=slot,
                              blueprint_id=blueprint_id, confidence=0.9, urgency=0.8,
                              policy_name="test-policy", policy_version=1)


def submitted(blueprint: Blueprint,
              target_shapes: Sequence[tuple[list[int], list[int]]] = ()) -> BlueprintSubmitted:
    """A submission of ``blueprint`` asking for kernels of (input, output) ``target_shapes``."""
    return BlueprintSubmitted(meta=EventMeta.new(ComponentType.KARN),
                              blueprint_id=blueprint.blueprint_id, submitted_by="karn",
                              blueprint=blueprint,
                              target_shapes=[KernelShape(input_shape=i, output_shape=o)
                                             for i, o in target_shapes])
