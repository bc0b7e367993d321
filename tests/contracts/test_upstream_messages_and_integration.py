"""Upstream contract tests, reference sections 5.3 and 5.7, on the Kafka design.

Upstream wrapped payloads in an ``OonaMessage`` envelope (sender, trace_id, topic, untyped
payload). Here every event carries ``meta`` (source, correlation and causation ids) and is its
own typed Kafka value, so the envelope tests become tests of events, meta and lineage.
"""

from __future__ import annotations

from esper import codec
from esper.contracts import (
    Blueprint,
    BlueprintSubmitted,
    ComponentType,
    EventMeta,
    HealthSignal,
    KernelCharacterized,
    KernelReady,
    Seed,
    SeedState,
    TrainingSession,
)

from tests.contracts.builders import (
    blueprint,
    compiled_kernel,
    decision,
    kernel_metadata,
    system_state,
)


def session(description: str, seeds: list[Seed]) -> TrainingSession:
    return TrainingSession(
        name="run", description=description, training_model_config={}, training_config={}, seeds=seeds
    )


def submission(bp: Blueprint, causation=None) -> BlueprintSubmitted:
    return BlueprintSubmitted(
        meta=EventMeta.new(ComponentType.KARN, causation=causation),
        blueprint_id=bp.blueprint_id,
        submitted_by=bp.created_by,
        blueprint=bp,
    )


def test_blueprint_submitted_round_trips_and_carries_the_blueprint():
    bp = blueprint()
    event = submission(bp)
    assert BlueprintSubmitted.model_validate_json(event.model_dump_json()) == event
    back = codec.decode(codec.encode(event))
    assert back.meta.source == "karn"
    assert (back.blueprint_id, back.submitted_by) == (bp.blueprint_id, bp.created_by)
    assert back.blueprint == bp
    assert back.model_dump()["blueprint_id"] == bp.blueprint_id


def test_meta_new_starts_a_chain_and_links_its_causes():
    first = submission(blueprint())
    assert first.meta.correlation_id == first.meta.event_id and first.meta.causation_id is None
    assert len(first.meta.event_id) == 36
    second = EventMeta.new(ComponentType.TEZZERET, causation=first)
    assert second.correlation_id == first.meta.correlation_id
    assert second.causation_id == first.meta.event_id
    assert second.event_id != first.meta.event_id


def test_events_carry_every_component_as_source():
    for source in ComponentType:
        assert EventMeta.new(source).source == source.value


def test_assets_feed_operational_contracts():
    seeds = [Seed(layer_id=i, position=i % 2, state="training") for i in range(6)]
    run = session("six seeds", seeds)
    signals = [
        HealthSignal(
            meta=EventMeta.new(ComponentType.KASMINA, run_id=run.session_id), layer_id=seed.layer_id,
            seed_id=seed.position, chunk_id=0, epoch=1, activation_variance=0.1, dead_neuron_ratio=0.0,
            avg_correlation=0.5,
        )
        for seed in run.seeds
    ]  # fmt: skip
    assert [(s.layer_id, s.seed_id) for s in signals] == [(s.layer_id, s.position) for s in seeds]
    packet = system_state(total_seeds=6, active_seeds=run.get_active_seed_count(), system_load=0.65, memory_usage=0.45)
    assert packet.active_seeds == 6 and packet.system_health() == "Normal"


def test_full_workflow_keeps_ids_and_lineage():
    bp = blueprint()
    submitted = submission(bp)
    seed = Seed(layer_id=2, position=0, blueprint_id=bp.blueprint_id)
    run = session("workflow", [seed])

    for state in ("compiling", "validating", "characterized"):
        bp.state = state
    bp.performance_metrics = {"accuracy": 0.93}
    seed.state = SeedState.GERMINATED
    seed.state = SeedState.TRAINING
    run.status = "running"
    made = decision(meta=EventMeta.new(ComponentType.TAMIYO, run_id=run.session_id, causation=submitted))
    signal = HealthSignal(
        meta=EventMeta.new(ComponentType.KASMINA, run_id=run.session_id), layer_id=2, seed_id=0, chunk_id=0,
        epoch=3, activation_variance=0.2, dead_neuron_ratio=0.05, avg_correlation=0.4, is_ready_for_transition=True,
    )  # fmt: skip
    packet = system_state(total_seeds=1, active_seeds=run.get_active_seed_count(), system_load=0.3, memory_usage=0.4)

    assert bp.is_ready_for_deployment()
    assert seed.is_active() and run.get_active_seed_count() == 1
    assert packet.system_health() == "Normal"
    for model in (bp, seed, run, submitted, made, signal, packet):
        assert type(model).model_validate(model.model_dump()) == model
        assert type(model).model_validate_json(model.model_dump_json()) == model
    assert made.meta.correlation_id == submitted.meta.correlation_id
    assert made.meta.causation_id == submitted.meta.event_id


def test_minimal_assets_dump_their_identity_and_validate_back():
    for model, identity, status in (
        (blueprint(), "blueprint_id", "state"),
        (Seed(layer_id=0, position=0), "seed_id", "state"),
        (session("minimal", []), "session_id", "status"),
    ):
        dumped = model.model_dump()
        assert {identity, "created_at", status} <= dumped.keys()
        assert type(model).model_validate(dumped) == model


def test_a_compilation_chain_shares_one_correlation_id():
    bp = blueprint()
    submitted = submission(bp)
    metadata = kernel_metadata(blueprint_id=bp.blueprint_id)
    kernel = compiled_kernel(blueprint_id=bp.blueprint_id, metadata=metadata)
    ready = KernelReady(meta=EventMeta.new(ComponentType.TEZZERET, causation=submitted), kernel=kernel)
    characterized = KernelCharacterized(
        meta=EventMeta.new(ComponentType.URABRASK, causation=ready), kernel_id=kernel.kernel_id,
        blueprint_id=bp.blueprint_id, device="cpu", batch_size=32, latency_ms=1.5, memory_mb=12.0,
        metrics={"throughput": 2000.0},
    )  # fmt: skip
    chain = codec.decode_batch(codec.encode_batch([submitted, ready, characterized]))
    assert chain == [submitted, ready, characterized]
    assert len({event.meta.correlation_id for event in chain}) == 1
    assert [event.meta.causation_id for event in chain] == [None, submitted.meta.event_id, ready.meta.event_id]
    assert [chain[0].blueprint_id, chain[1].kernel.blueprint_id, chain[2].blueprint_id] == [bp.blueprint_id] * 3
