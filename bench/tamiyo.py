"""Tamiyo's decision latency: policy inference on one core, and health → decision through Kafka.

    .venv/bin/python bench/tamiyo.py [--epochs 200] [--repeats 500]

Prints one table. Inference: for chains of 10, 50 and 200 Linear layers (6 blueprint
candidates each), the GNN's forward pass over the whole graph, each policy's ranking of every
candidate, and the graph build, p50/p99 on one thread. End to end: `esper run tamiyo` on a
broker of its own, once with the heuristic and once with a released (untrained: the weights do
not change the time) GNN; for each epoch of a 10-layer run the bench produces the epoch's
health signals, then its EpochCompleted (the trigger), and times from producing the last
HealthSignal to consuming the committed AdaptationDecision (read_committed). Exploration is 1
and the gates are open, so every epoch ends in a decision; the policy still ranks every
candidate first. The first 20 epochs warm the broker and the process up and are not timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

from esper import codec  # noqa: E402
from esper.artifacts import LocalArtifactStore  # noqa: E402
from esper.bus.admin import create_topics  # noqa: E402
from esper.bus.clients import consumer_config  # noqa: E402
from esper.bus.producer import EventProducer  # noqa: E402
from esper.bus.records import fetch_batch  # noqa: E402
from esper.bus.topics import DECISIONS  # noqa: E402
from esper.cli.table import print_table  # noqa: E402
from esper.contracts import (  # noqa: E402
    ComponentType,
    EpochCompleted,
    EventMeta,
    HealthSignal,
    HostLayer,
    HostTopology,
    SystemStatePacket,
    TrainingRunStarted,
    TrainingSession,
)
from esper.infra.kafka import LocalKafka  # noqa: E402
from esper.tamiyo.gnn import GainNet  # noqa: E402
from esper.tamiyo.graph import build_graph  # noqa: E402
from esper.tamiyo.policies import GnnPolicy, HeuristicPolicy  # noqa: E402
from esper.tamiyo.policy_store import release, save_policy  # noqa: E402
from esper.tamiyo.window import RunWindow  # noqa: E402
from tests.kafka_harness import free_port_block  # noqa: E402
from tests.tamiyo.processes import TamiyoProcess  # noqa: E402

SIZES = (10, 50, 200)
INFERENCE_TARGET_MS = 5.0  # GNN p99 at 50 layers
END_TO_END_TARGET_MS = 100.0  # upstream's decision-cycle target
WIDTH, SLOTS = 64, 64
WARMUP_EPOCHS = 20  # not timed: the first transactions and fetches of a fresh broker are slow


class BenchRun:
    """A chain of Linear layers, one degraded; its events built on demand."""

    def __init__(self, layers: int):
        self.run_id = f"bench-{os.getpid()}-{layers}-{time.monotonic_ns()}"
        self.layers = layers
        self.started = TrainingRunStarted(
            meta=EventMeta.new(ComponentType.TOLARIA, run_id=self.run_id),
            session=TrainingSession(session_id=self.run_id, name="bench", description="bench",
                                    training_model_config={}, training_config={}),
            topology=HostTopology(model_name="chain", layers=[
                HostLayer(layer_id=i, name=f"fc{i}", layer_type="Linear", input_shape=[WIDTH],
                          output_shape=[WIDTH], parameter_count=WIDTH * WIDTH + WIDTH,
                          seed_slots=SLOTS) for i in range(layers)]))

    def health(self, epoch: int) -> list[HealthSignal]:
        return [HealthSignal(meta=EventMeta.new(ComponentType.KASMINA, run_id=self.run_id),
                             layer_id=i, seed_id=0, chunk_id=0, epoch=epoch,
                             activation_variance=0.05, avg_correlation=0.2,
                             dead_neuron_ratio=0.7 if i == self.layers // 2 else 0.05,
                             health_score=0.6 if i == self.layers // 2 else 0.95)
                for i in range(self.layers)]

    def epoch(self, epoch: int) -> EpochCompleted:
        loss = 0.5 + 1.0 / epoch
        return EpochCompleted(
            meta=EventMeta.new(ComponentType.TOLARIA, causation=self.started), epoch=epoch,
            train_accuracy=0.5, val_accuracy=0.5, parameter_count=1, duration_seconds=1.0,
            system_state=SystemStatePacket(epoch=epoch, total_seeds=1, active_seeds=0,
                                           training_loss=loss, validation_loss=loss,
                                           system_load=0.1, memory_usage=0.1))


def _percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[max(int(len(ordered) * 0.99) - 1, 0)]


def _time(call, repeats: int) -> tuple[float, float]:
    for _ in range(20):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def inference(repeats: int) -> dict[int, dict[str, tuple[float, float]]]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gnn, heuristic = GnnPolicy(GainNet(), 1), HeuristicPolicy()
    results = {}
    for size in SIZES:
        run = BenchRun(size)
        window = RunWindow(run.run_id).apply_all([run.started])
        for number in range(1, 6):
            window.apply_all(run.health(number))
            window.apply(run.epoch(number))
        graph = build_graph(window, 5, 10**9)
        data = graph.data()

        def forward():
            with torch.inference_mode():
                gnn.model(data)

        results[size] = {
            "gnn forward": _time(forward, repeats),
            "gnn rank": _time(lambda: gnn.rank(graph), repeats),
            "heuristic rank": _time(lambda: heuristic.rank(graph), repeats),
            "graph build": _time(lambda: build_graph(window, 5, 10**9), max(repeats // 5, 20)),
        }
    return results


def end_to_end(bootstrap: str, home: Path, policy: str, epochs: int) -> tuple[float, float]:
    group = f"tamiyo-bench-{policy}"
    process = TamiyoProcess(bootstrap, f"bench-{policy}", group, "--policy", policy,
                            "--artifacts", str(home / "artifacts"), "--exploration", "1",
                            "--min-confidence", "0", "--cooldown-epochs", "0",
                            "--budget-fraction", "1000", "--warmup-epochs", "0",
                            "--log-level", "WARNING").start()
    consumer = Consumer(consumer_config(f"bench-reader-{policy}", bootstrap))
    consumer.assign([TopicPartition(DECISIONS.name, p, consumer.get_watermark_offsets(
        TopicPartition(DECISIONS.name, p), timeout=10)[1]) for p in range(DECISIONS.partitions)])
    received: dict[int, float] = {}
    run = BenchRun(10)

    def receive():
        while len(received) < WARMUP_EPOCHS + epochs:
            for message in fetch_batch(consumer, 100, 0.1):
                if message.error() is None:
                    decision = codec.decode(message.value())
                    if decision.meta.run_id == run.run_id:
                        received[int(decision.metadata["epoch"])] = time.perf_counter()

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    sent: dict[int, float] = {}
    try:
        with EventProducer(bootstrap, **{"linger.ms": 0}) as producer:
            producer.send(run.started)
            producer.flush()
            time.sleep(8.0)  # the process has joined its group and decided its policy
            for epoch in range(1, WARMUP_EPOCHS + epochs + 1):
                *earlier, last = run.health(epoch)
                producer.send_batch(earlier)
                sent[epoch] = time.perf_counter()
                producer.send(last)
                producer.send(run.epoch(epoch))
                producer.flush()
                deadline = time.monotonic() + 5
                while epoch not in received and time.monotonic() < deadline:
                    time.sleep(0.0005)
        reader.join(10)
    finally:
        process.stop()
        consumer.close()
    delays = [(received[e] - sent[e]) * 1000 for e in sent if e in received and e > WARMUP_EPOCHS]
    if len(delays) < epochs:
        print(f"warning: {policy}: {epochs - len(delays)} of {epochs} epochs got no decision "
              "within 5 s", file=sys.stderr)
    return _percentiles(delays)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="end-to-end samples per policy")
    parser.add_argument("--repeats", type=int, default=500, help="inference samples per size")
    args = parser.parse_args()
    timings = inference(args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        cluster = LocalKafka(home / "kafka")
        bootstrap = cluster.up(port=free_port_block(2))
        try:
            create_topics(bootstrap)
            store = LocalArtifactStore(home / "artifacts")
            with EventProducer(bootstrap) as producer:
                producer.send(release(save_policy(store, GainNet(), {}), 1, {}))
            e2e = {policy: end_to_end(bootstrap, home, policy, args.epochs)
                   for policy in ("heuristic", "gnn")}
        finally:
            cluster.down()

    def cell(pair):
        return f"{pair[0]:.2f} / {pair[1]:.2f}"

    rows = []
    for size in SIZES:
        t = timings[size]
        target = f"gnn p99 < {INFERENCE_TARGET_MS:.0f}" if size == 50 else ""
        verdict = ("met" if t["gnn forward"][1] < INFERENCE_TARGET_MS else "MISSED") if size == 50 else ""
        rows.append([f"rank all candidates, {size} layers ({size * 6} candidates)",
                     cell(t["heuristic rank"]), cell(t["gnn rank"]), cell(t["gnn forward"]),
                     cell(t["graph build"]), target, verdict])
    heuristic, gnn = e2e["heuristic"], e2e["gnn"]
    rows.append([f"health -> decision via Kafka, 10 layers ({args.epochs} epochs)",
                 cell(heuristic), cell(gnn), "", "", f"p99 < {END_TO_END_TARGET_MS:.0f}",
                 "met" if max(heuristic[1], gnn[1]) < END_TO_END_TARGET_MS else "MISSED"])
    print("\nTamiyo latency, ms p50 / p99 (one torch thread); the gnn column's ranking includes "
          "its forward pass")
    print_table(["measure", "heuristic", "gnn", "gnn forward alone", "graph build", "target",
                 "verdict"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
