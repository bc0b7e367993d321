"""Projector throughput, replay time and dashboard query latency.

    .venv/bin/python bench/projector.py [--events 1000000] [--health-rows 10000000]

Starts a broker of its own (fresh log), writes mixed events (mostly HealthSignals), and prints
one table: events/s projected from Kafka into a fresh file beside a naive projector that
decodes each record to a model and inserts it row by row (the baseline); the time to replay
the whole log into a fresh file; and p50/p95 of the dashboard queries over a projection with
--health-rows health rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import duckdb  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

from consumers.projector import project  # noqa: E402
from esper import codec  # noqa: E402
from esper.bus.admin import create_topics  # noqa: E402
from esper.bus.clients import consumer_config  # noqa: E402
from esper.bus.producer import EventProducer  # noqa: E402
from esper.cli.table import print_table  # noqa: E402
from esper.infra.kafka import LocalKafka  # noqa: E402
from esper.projections.projector import Projector  # noqa: E402
from esper.projections.schema import create_statements  # noqa: E402
from tests.kafka_harness import free_port_block  # noqa: E402
from tests.projections.workload import health_signals, story  # noqa: E402

DASHBOARD = {
    "layer health per epoch": "SELECT * FROM layer_health_per_epoch WHERE run_id = $run "
                              "ORDER BY epoch, layer_id",
    "seed timeline": "SELECT * FROM seed_timeline WHERE run_id = $run ORDER BY occurred_at",
    "decision outcomes": "SELECT * FROM decision_outcomes WHERE run_id = $run "
                         "ORDER BY decided_at",
    "blueprint leaderboard": "SELECT * FROM blueprint_leaderboard ORDER BY mean_effect DESC",
}


def write_log(bootstrap: str, events: int) -> int:
    """Runs of `story` (every event type) padded with HealthSignals: ~95% health."""
    written = 0
    with EventProducer(bootstrap) as producer:
        run = 0
        while written < events:
            run_id = f"bench-run-{run:04d}"
            batch = story(run_id) + health_signals(run_id, 2, 955, start=100)
            producer.send_batch(batch[: events - written])
            written += min(len(batch), events - written)
            run += 1
            print(f"\rwrote {written:,} events", end="", file=sys.stderr)
    print(file=sys.stderr)
    return written


NAIVE_FIELDS = ("layer_id", "chunk_id", "epoch", "activation_variance", "dead_neuron_ratio",
                "avg_correlation", "gradient_norm", "is_ready_for_transition", "health_score",
                "execution_latency", "error_count", "active_seeds", "total_seeds")


def naive_rate(bootstrap: str, sample: int) -> float:
    """Decode each record to a model and INSERT it row by row: what a first projector does."""
    consumer = Consumer(consumer_config("bench-naive", bootstrap))
    consumer.assign([TopicPartition("telemetry.seed.health", p, 0) for p in range(3)])
    messages = []
    while len(messages) < sample:
        messages += [m for m in consumer.consume(1000, 1.0) if m.error() is None]
    consumer.close()
    with tempfile.TemporaryDirectory() as scratch:
        connection = duckdb.connect(str(Path(scratch) / "naive.duckdb"))
        for statement in create_statements():
            connection.execute(statement)
        started = time.perf_counter()
        for message in messages[:sample]:
            e = codec.decode(message.value())
            row = {"run_id": e.meta.run_id, "slot_index": e.seed_id, "measured_at": e.timestamp,
                   "occurred_at": e.meta.occurred_at, "event_id": e.meta.event_id,
                   **{name: getattr(e, name) for name in NAIVE_FIELDS}}
            connection.execute(
                f"INSERT INTO health_signals ({', '.join(row)}) "
                f"VALUES ({', '.join('?' for _ in row)})", list(row.values()))
        rate = sample / (time.perf_counter() - started)
        connection.close()
    return rate


def dashboard_latency(path: Path, health_rows: int, repeats: int = 30) -> dict[str, list[float]]:
    """Grow the projection to ``health_rows`` health rows (50 runs × 40 layers × epochs), then
    time each dashboard query for one run."""
    connection = duckdb.connect(str(path))
    have = connection.execute("SELECT count(*) FROM health_signals").fetchall()[0][0]
    missing = max(health_rows - have, 0)
    connection.execute(f"""
        INSERT INTO health_signals BY NAME
        SELECT 'bench-run-' || lpad((i // 200000)::VARCHAR, 4, '0') AS run_id,
               i % 40 AS layer_id, i % 4 AS slot_index, i AS chunk_id, (i // 8000) % 25 AS epoch,
               random() AS activation_variance, random() AS dead_neuron_ratio,
               random() * 2 - 1 AS avg_correlation, random() AS gradient_norm,
               false AS is_ready_for_transition, random() AS health_score,
               random() AS execution_latency, 0 AS error_count, 1 AS active_seeds,
               4 AS total_seeds, epoch(now()) AS measured_at, now() AS occurred_at,
               uuid()::VARCHAR AS event_id
        FROM range({missing}) t(i)""")
    connection.execute("CHECKPOINT")
    runs = [r for (r,) in connection.execute("SELECT DISTINCT run_id FROM runs").fetchall()]
    timings: dict[str, list[float]] = {name: [] for name in DASHBOARD}
    for index in range(repeats):
        run_id = runs[index % len(runs)]
        for name, sql in DASHBOARD.items():
            started = time.perf_counter()
            connection.execute(sql.replace("$run", f"'{run_id}'")).fetchall()
            timings[name].append((time.perf_counter() - started) * 1000)
    connection.close()
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--health-rows", type=int, default=10_000_000)
    parser.add_argument("--naive-sample", type=int, default=5_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        kafka = LocalKafka(home)
        bootstrap = kafka.up(port=free_port_block(2))
        try:
            create_topics(bootstrap)
            events = write_log(bootstrap, args.events)
            projector = Projector(home / "replay.duckdb")
            started = time.perf_counter()

            def progress(done: int) -> None:
                print(f"\rprojected {done:,}", end="", file=sys.stderr)

            projected = project(projector, bootstrap, on_batch=progress)
            projector.close()  # its last checkpoint is part of the replay
            replay_s = time.perf_counter() - started
            print(file=sys.stderr)
            naive = naive_rate(bootstrap, args.naive_sample)
        finally:
            kafka.down()
        timings = dashboard_latency(home / "replay.duckdb", args.health_rows)

    rate = projected / replay_s
    print(f"\nprojector benchmark: {events:,} events ({projected:,} projected), "
          f"dashboard over {args.health_rows:,} health rows\n")
    rows = [
        ["ingest from Kafka (events/s)", f"{rate:,.0f}", f"{naive:,.0f} (naive, row by row)",
         f"{rate / naive:.1f}x", ">= 100,000"],
        [f"replay {events:,} events (s)", f"{replay_s:.1f}",
         f"{events / naive:.0f} (naive, estimated)", f"{events / naive / replay_s:.1f}x",
         "< 15 for 1M"],
    ]
    for name, values in timings.items():
        rows.append([f"{name} p50 / p95 (ms)",
                     f"{statistics.median(values):.1f} / {percentile(values, 0.95):.1f}", "", "",
                     "p95 < 50"])
    print_table(["measure", "esper", "baseline", "speed-up", "target"], rows)


if __name__ == "__main__":
    main()
