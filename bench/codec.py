"""Codec speed: our Avro codec beside pydantic's JSON (the baseline) and raw fastavro (the limit).

    .venv/bin/python bench/codec.py [--repeats 7] [--batch 10000]

Prints one table, for a HealthSignal and a large event (TrainingRunStarted with 50 layers):
round-trip latency of one event, and batch throughput model -> bytes, bytes -> model and
bytes -> Arrow columns, on one thread. Times are CPU time of this process, so that a busy
neighbour on a shared machine does not count ("per core"); each figure is the median of the
repeats. The fastavro column times fastavro alone on ready-made dicts and bodies: what any Avro
codec in Python pays (for Arrow: reading without logical types, as that path does).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastavro  # noqa: E402
import pydantic  # noqa: E402
from fastavro import parse_schema, schemaless_reader, schemaless_writer  # noqa: E402

from esper import codec  # noqa: E402
from esper.cli.table import print_table  # noqa: E402
from esper.codec.avro import without_logical_types  # noqa: E402
from esper.contracts import (  # noqa: E402
    ComponentType,
    Event,
    EventMeta,
    HealthSignal,
    HostLayer,
    HostTopology,
    TrainingRunStarted,
    TrainingSession,
)

UUID = frozenset({"uuid"})
TARGETS = {
    "round trip (us/event)": "< 20",
    "model -> bytes (events/s)": ">= 150,000",
    "bytes -> model (events/s)": ">= 120,000",
    "bytes -> Arrow (events/s)": ">= 200,000",
}


def health_signals(count: int) -> list[HealthSignal]:
    run = "bench-run"
    return [
        HealthSignal(
            meta=EventMeta.new(ComponentType.KASMINA, run_id=run), layer_id=i % 50, seed_id=i % 4,
            chunk_id=0, epoch=i // 1000, activation_variance=0.25 + (i % 7) / 100,
            dead_neuron_ratio=(i % 10) / 20, avg_correlation=0.4, health_score=0.9,
            execution_latency=1.5, error_count=i % 3, active_seeds=1, total_seeds=4,
        )
        for i in range(count)
    ]  # fmt: skip


def runs_started(count: int, layers: int = 50) -> list[TrainingRunStarted]:
    topology = HostTopology(
        model_name="resnet-like",
        layers=[
            HostLayer(
                layer_id=i, name=f"blocks.{i}.conv", layer_type="Conv2d", input_shape=[64, 32, 32],
                output_shape=[64, 32, 32], parameter_count=36_928, seed_slots=4,
            )
            for i in range(layers)
        ],
    )  # fmt: skip
    events = []
    for i in range(count):
        session = TrainingSession(
            name=f"run {i}",
            description="benchmark run",
            training_model_config={"arch": "resnet", "width": 64},
            training_config={"epochs": 100, "lr": 0.1, "batch_size": 128, "amp": True},
        )
        meta = EventMeta.new(ComponentType.TOLARIA, run_id=session.session_id)
        events.append(TrainingRunStarted(meta=meta, session=session, topology=topology))
    return events


def median_seconds(work: Callable[[], Any], repeats: int) -> float:
    """Median CPU seconds of ``work()`` over ``repeats`` runs, after one to warm up."""
    work()
    timings = []
    for _ in range(repeats):
        start = time.process_time()
        work()
        timings.append(time.process_time() - start)
    return statistics.median(timings)


def measure_event(events: Sequence[Event], repeats: int) -> dict[str, dict[str, float | None]]:
    """{measure: {column: value}} for one event type."""
    model = type(events[0])
    count = len(events)
    single = events[: min(count, 2000)]
    values = codec.encode_batch(events)
    jsons = [event.model_dump_json() for event in events]

    # fastavro alone: the dicts our codec hands it, and the bodies of our values.
    version = codec.default_codec().store.current(model.avro_name)
    # The schemas the codec uses: the same bytes, without fastavro's Python hook per UUID.
    write_schema = read_schema = parse_schema(without_logical_types(version.schema, UUID))
    plain_schema = parse_schema(without_logical_types(version.schema))
    records = [event.model_dump() for event in events]
    bodies = b"".join(value[10:] for value in values)

    def fastavro_write() -> None:
        buffer = io.BytesIO()
        for record in records:
            schemaless_writer(buffer, write_schema, record)

    def fastavro_read(schema: dict[str, Any] = read_schema) -> None:
        buffer = io.BytesIO(bodies)
        for _ in range(count):
            schemaless_reader(buffer, schema, None)

    def fastavro_round_trip() -> None:
        for record in records[: len(single)]:
            buffer = io.BytesIO()
            schemaless_writer(buffer, write_schema, record)
            buffer.seek(0)
            schemaless_reader(buffer, read_schema, None)

    def rate(work: Callable[[], Any]) -> float:
        return count / median_seconds(work, repeats)

    def per_event_us(work: Callable[[], Any]) -> float:
        return median_seconds(work, repeats) / len(single) * 1e6

    return {
        "round trip (us/event)": {
            "esper": per_event_us(lambda: [codec.decode(codec.encode(e)) for e in single]),
            "json": per_event_us(
                lambda: [model.model_validate_json(e.model_dump_json()) for e in single]
            ),
            "fastavro": per_event_us(fastavro_round_trip),
        },
        "model -> bytes (events/s)": {
            "esper": rate(lambda: codec.encode_batch(events)),
            "json": rate(lambda: [e.model_dump_json() for e in events]),
            "fastavro": rate(fastavro_write),
        },
        "bytes -> model (events/s)": {
            "esper": rate(lambda: codec.decode_batch(values)),
            "json": rate(lambda: [model.model_validate_json(j) for j in jsons]),
            "fastavro": rate(fastavro_read),
        },
        "bytes -> Arrow (events/s)": {
            "esper": rate(lambda: codec.decode_to_arrow(values, model.avro_name)),
            "json": None,
            "fastavro": rate(lambda: fastavro_read(plain_schema)),
        },
        "value size (bytes)": {
            "esper": statistics.mean(len(v) for v in values),
            "json": statistics.mean(len(j.encode()) for j in jsons),
            "fastavro": None,
        },
    }


def _cell(measure: str, value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if measure.startswith("round trip") else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per figure (median)")
    parser.add_argument("--batch", type=int, default=10_000, help="HealthSignals per batch")
    args = parser.parse_args()

    cases = [
        ("HealthSignal", health_signals(args.batch), True),
        ("TrainingRunStarted, 50 layers", runs_started(max(args.batch // 20, 100)), False),
    ]
    rows = []
    for label, events, has_targets in cases:
        for measure, columns in measure_event(events, args.repeats).items():
            esper, json_, limit = columns["esper"], columns["json"], columns["fastavro"]
            share = ""
            if esper and limit and measure != "value size (bytes)":
                ratio = limit / esper if measure.startswith("round trip") else esper / limit
                share = f"{ratio:.2f}"
            target = TARGETS.get(measure, "") if has_targets else ""
            rows.append([label, measure, _cell(measure, esper), _cell(measure, json_),
                         _cell(measure, limit), share, target])  # fmt: skip
            label = ""

    print(
        f"\ncodec benchmark: Python {platform.python_version()}, fastavro {fastavro.__version__}, "
        f"pydantic {pydantic.VERSION}, {os.cpu_count()} CPUs; one thread, CPU time, "
        f"median of {args.repeats} runs\n"
    )
    headers = ["event", "measure", "esper", "pydantic JSON", "fastavro (limit)", "esper/limit"]
    print_table([*headers, "target"], rows)


if __name__ == "__main__":
    main()
