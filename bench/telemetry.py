"""What seed slots and telemetry cost a training step, in one table.

    python bench/telemetry.py [--repeats 7] [--bootstrap HOST:PORT]

Cases, each timed against its reference on the same host, data and seed:

* dormant slots: the host with every Linear/Conv2d wrapped (4 dormant slots each) against the
  unwrapped host, for the forward pass alone and for a whole training step (forward, backward,
  Adam); also upstream's case, one Linear 512->256 at batch 128, where upstream allowed 15%;
* telemetry: whole Trainer runs (train and validate) of `esper train`'s default configuration,
  2 slots per layer and health measured every 20 steps (and every 10 on the MLP, to show the
  trade-off), every event sent through the TelemetryProducer to Kafka, against the same runs
  measuring and emitting nothing. A health measurement costs a fixed few hundred microseconds
  (one signal per slot), so its share shrinks as steps grow and intervals lengthen.
  Without a reachable broker the events are only Avro-encoded, and the rows say so.

Timings alternate between a case and its reference in every repeat, so drift and other load on
the machine hit both; the table shows medians over repeats of CPU time per step (the process's,
librdkafka's threads included), which other processes on a shared machine disturb far less than
wall time, and wall time beside it. Torch runs on one thread, the reproducible baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from esper import codec
from esper.cli.table import format_table
from esper.kasmina import wrap
from esper.tolaria import Trainer, TrainingConfig, build_host, load_dataset

TARGET = 0.05  # both overheads: at most 5%
STEPS_PER_TIMING = 200
TRAINER_EPOCHS = 10


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()  # CPU time of every thread of the process


Work = Callable[[], tuple[float, float]]
"""Runs some steps and returns (wall, cpu) seconds per step of the part that counts."""
Sink = Callable[[str], tuple[Callable, Callable[[], None], Callable[[], None]]]
"""Makes (emit, poll, flush) for a run id."""


def timed(steps: int, run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = clocks()
    run()
    wall_after, cpu_after = clocks()
    return (wall_after - wall) / steps, (cpu_after - cpu) / steps


def repeated(name: str, case: Work, reference: Work, repeats: int):
    """Medians of (wall, cpu) per step for case and reference, alternating which goes first."""
    timings = {"case": [], "reference": []}
    case(), reference()  # warm-up: allocator, caches, lazy initialisation
    for repeat in range(repeats):
        print(f"\r  {name}: repeat {repeat + 1}/{repeats}", end="", file=sys.stderr, flush=True)
        order = [("case", case), ("reference", reference)]
        for label, work in order if repeat % 2 == 0 else reversed(order):
            timings[label].append(work())
    print(file=sys.stderr)
    return tuple(tuple(statistics.median(t[i] for t in timings[label]) for i in (0, 1))
                 for label in ("case", "reference"))


def training_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Work:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def steps() -> None:
        for _ in range(STEPS_PER_TIMING):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    return lambda: timed(STEPS_PER_TIMING, steps)


def forward_passes(model: nn.Module, x: torch.Tensor) -> Work:
    @torch.no_grad()
    def passes() -> None:
        for _ in range(STEPS_PER_TIMING):
            model(x)
    return lambda: timed(STEPS_PER_TIMING, passes)


def dormant_cases(repeats: int) -> list[tuple]:
    rows = []
    data = load_dataset("digits")
    x, y = data.train.x[:64], data.train.y[:64]
    for kind in ("mlp", "cnn"):
        torch.manual_seed(0)
        host = build_host(kind, data)
        wrapped = wrap(host, seeds_per_layer=4)
        for what, case, reference in (
            ("forward", forward_passes(wrapped, x), forward_passes(host, x)),
            ("training step", training_steps(wrapped, x, y), training_steps(host, x, y)),
        ):
            rows.append((f"{kind} on digits, batch 64: {what}", "4 dormant slots/layer", "unwrapped",
                         *repeated(f"{kind} {what}", case, reference, repeats)))
    torch.manual_seed(0)
    layer = nn.Linear(512, 256)
    x, y = torch.randn(128, 512), torch.randint(0, 256, (128,))
    rows.append(("Linear 512->256, batch 128 (upstream's case): training step", "4 dormant slots",
                 "unwrapped", *repeated("Linear 512->256", training_steps(wrap(layer), x, y),
                                        training_steps(layer, x, y), repeats)))
    return rows


def trainer_runs(kind: str, every: int, sink: Sink | None) -> Work:
    """Trains a fresh ``kind`` on digits; with a ``sink`` (making emit, poll and flush for a
    run id), measures health every ``every`` steps and sends every event there, flushing after
    the clock stops; without one, emits nothing and measures nothing."""
    data = load_dataset("digits")
    steps = TRAINER_EPOCHS * data.train.batch_count(64)

    def work() -> tuple[float, float]:
        torch.manual_seed(0)
        model = wrap(build_host(kind, data), seeds_per_layer=2)  # esper train's default
        if sink is None:
            emit, poll, flush, every_steps = (lambda event: None), None, (lambda: None), 0
        else:
            (emit, poll, flush), every_steps = sink(f"bench-{uuid.uuid4().hex[:12]}"), every
        trainer = Trainer(model, data, TrainingConfig(epochs=TRAINER_EPOCHS, health_every=every_steps),
                          emit=emit, kernels=None, run_id="bench", model_name=kind, host={},
                          between_steps=poll)
        timing = timed(steps, trainer.run)
        flush()  # waiting for the broker's acknowledgements is not training time
        return timing
    return work


def kafka_sink(bootstrap: str) -> Sink:
    """One producer for every run of a case, connected before any timing: a training process
    connects once at start, so connecting is not a cost of its steps."""
    from esper.bus.telemetry import TelemetryProducer

    producer = TelemetryProducer("bench", bootstrap)
    producer.poll()
    producer.flush()

    def make(run_id: str):
        return producer.send, producer.poll, producer.flush
    return make


def encoding_sink(run_id: str):
    return (lambda event: codec.encode(event)), (lambda: None), (lambda: None)


def broker_answers(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=5)
    except Exception:
        return False
    return True


def telemetry_cases(repeats: int, bootstrap: str) -> list[tuple]:
    kafka = broker_answers(bootstrap)
    where = "to Kafka" if kafka else "Avro-encoded only (no broker)"
    rows = []
    for kind, every in (("mlp", 20), ("mlp", 10), ("cnn", 20)):
        sink = kafka_sink(bootstrap) if kafka else encoding_sink
        label = f"2 slots/layer, health every {every} steps{' (defaults)' if every == 20 else ''}, events {where}"
        timings = repeated(f"{kind} telemetry every {every}", trainer_runs(kind, every, sink),
                           trainer_runs(kind, every, None), repeats)
        rows.append((f"{kind} on digits, Trainer run (train+validate): per step", label, "no telemetry", *timings))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--bootstrap", default=None, help="Kafka (default: ESPER_KAFKA_BOOTSTRAP or the local broker)")
    args = parser.parse_args(argv)
    from esper.config import kafka_bootstrap

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, medians of {args.repeats} alternating repeats", file=sys.stderr)
    rows = dormant_cases(args.repeats) + telemetry_cases(args.repeats, args.bootstrap or kafka_bootstrap())
    table = []
    for what, case, reference, (case_wall, case_cpu), (ref_wall, ref_cpu) in rows:
        overhead = case_cpu / ref_cpu - 1
        table.append([what, case, reference, f"{ref_cpu * 1e3:.3f}", f"{case_cpu * 1e3:.3f}",
                      f"{overhead:+.1%}", f"{ref_wall * 1e3:.3f}", f"{case_wall * 1e3:.3f}",
                      f"{case_wall / ref_wall - 1:+.1%}", f"{TARGET:.0%}",
                      "yes" if overhead <= TARGET else "NO"])
    print(format_table(["measured", "case", "reference", "ref cpu ms", "case cpu ms", "overhead",
                        "ref wall ms", "case wall ms", "wall overhead", "target", "met"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
