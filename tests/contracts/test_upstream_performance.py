"""Upstream contract tests, reference section 5.5: the benchmarks, on our wire format.

Each upstream workload and limit, serialised the way Esper does it (Avro through the codec)
instead of upstream's JSON, with the same integrity checks. Timings are the best of three.
"""

from __future__ import annotations

from esper import codec
from esper.contracts import (
    Architecture,
    ArchitectureLayer,
    Blueprint,
    BlueprintSubmitted,
    ComponentType,
    EpochCompleted,
    EventMeta,
    KasminaControlCommand,
    Seed,
    TrainingRunStarted,
    TrainingSession,
)

from tests.contracts.builders import blueprint, health_signal, system_state, topology
from tests.contracts.timing import best_of

RUN = "run-1"


def transformer_blueprint() -> Blueprint:
    block = {"d_model": 768, "heads": 12, "ffn": 3072}
    layers = [ArchitectureLayer(kind="transformer_block", params=block | {"index": i}) for i in range(15)]
    architecture = Architecture(layers=layers, attributes={"total_parameters": 117_000_000})
    return blueprint(
        name="transformer-15", architecture=architecture,
        hyperparameters={"lr": 3e-4, "warmup": 4000, "dropout": 0.1, "label_smoothing": 0.1, "beam": 4,
                         "batch_size": 64, "optimizer": "adamw", "fp16": True},
        performance_metrics={"bleu_score": 28.4123456789, "perplexity": 4.2, "latency_ms": 12.5, "memory_gb": 3.1,
                             "throughput": 1250.0, "params_m": 117.0, "flops_g": 22.5, "accuracy": 0.71},
    )  # fmt: skip


def test_seed_batch():
    seeds = [Seed(layer_id=i % 20, position=i % 5, metadata={"index": i, "lr": 0.01}) for i in range(1_000)]
    dumped = [seed.model_dump() for seed in seeds]
    serialize = best_of(lambda: [seed.model_dump_json() for seed in seeds])
    deserialize = best_of(lambda: [Seed.model_validate(d) for d in dumped])
    assert serialize < 1.0 and deserialize < 1.0
    assert 2 * len(seeds) / (serialize + deserialize) > 1_000


def test_complex_blueprint():
    bp = transformer_blueprint()
    submitted = BlueprintSubmitted(
        meta=EventMeta.new(ComponentType.KARN), blueprint_id=bp.blueprint_id, submitted_by="karn", blueprint=bp
    )
    assert best_of(lambda: [codec.decode(codec.encode(submitted)) for _ in range(100)]) < 2.0
    back = codec.decode(codec.encode(submitted)).blueprint
    assert len(back.architecture.layers) == 15
    assert back.architecture.attributes["total_parameters"] == 117_000_000
    assert abs(back.performance_metrics["bleu_score"] - 28.4123456789) < 1e-10


def test_health_signals_at_high_frequency():
    signals = [
        health_signal(epoch=epoch, layer_id=layer, seed_id=seed, total_seeds=5)
        for epoch in range(10) for layer in range(20) for seed in range(5)
    ]  # fmt: skip
    values = codec.encode_batch(signals)
    serialize = best_of(lambda: codec.encode_batch(signals))
    deserialize = best_of(lambda: codec.decode_batch(values))
    assert serialize < 0.5 and deserialize < 0.5
    assert len(signals) / (serialize + deserialize) > 2_000
    assert codec.decode_batch(values) == signals


def test_bus_mix():
    telemetry = [health_signal(layer_id=i % 20) for i in range(500)]
    control = [
        KasminaControlCommand(
            meta=EventMeta.new(ComponentType.TAMIYO, run_id=RUN), command="set_alpha", layer_id=i % 20,
            slot_index=i % 4, alpha=0.5, reason="blend in",
        )
        for i in range(100)
    ]  # fmt: skip
    bp = blueprint()
    blueprints = [
        BlueprintSubmitted(
            meta=EventMeta.new(ComponentType.KARN), blueprint_id=bp.blueprint_id, submitted_by="karn", blueprint=bp
        )
        for _ in range(50)
    ]
    mix = [*telemetry, *control, *blueprints]
    values = codec.encode_batch(mix)
    serialize = best_of(lambda: codec.encode_batch(mix))
    deserialize = best_of(lambda: codec.decode_batch(values))
    assert serialize < 1.0 and deserialize < 1.0
    assert len(mix) / (serialize + deserialize) > 500
    assert codec.decode_batch(values) == mix


def test_large_training_session():
    session = TrainingSession(
        name="large", description="1000 seeds, 200 blueprints", training_model_config={"arch": "resnet50"},
        training_config={"num_gpus": 8, "epochs": 90}, status="running",
        seeds=[Seed(layer_id=i // 10, position=i % 10) for i in range(1_000)],
        blueprints=[blueprint(name=f"bp-{i}") for i in range(200)],
    )  # fmt: skip
    meta = EventMeta.new(ComponentType.TOLARIA, run_id=session.session_id)
    started = TrainingRunStarted(meta=meta, session=session, topology=topology())
    value = codec.encode(started)
    assert best_of(lambda: codec.encode(started), runs=1) < 3.0
    assert best_of(lambda: codec.decode(value), runs=1) < 3.0
    back = codec.decode(value).session
    assert (len(back.seeds), len(back.blueprints)) == (1_000, 200)
    assert back.training_config["num_gpus"] == 8 and back.status == "running"


def test_cross_contract():
    signals = [health_signal(layer_id=i) for i in range(60)]
    epochs = [
        EpochCompleted(
            meta=EventMeta.new(ComponentType.TOLARIA, run_id=RUN), epoch=i, train_accuracy=0.8, val_accuracy=0.75,
            parameter_count=1_000_000, duration_seconds=12.5, system_state=system_state(epoch=i),
        )
        for i in range(20)
    ]  # fmt: skip
    items = [*signals, *epochs]
    values = codec.encode_batch(items)
    serialize = best_of(lambda: codec.encode_batch(items))
    deserialize = best_of(lambda: codec.decode_batch(values))
    assert serialize < 1.0 and deserialize < 1.0
    assert len(items) / (serialize + deserialize) > 100
