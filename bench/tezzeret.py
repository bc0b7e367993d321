"""Tezzeret: cold compile latency per kind, and decision → KernelReady latency on a cache hit.

    .venv/bin/python bench/tezzeret.py [--samples 5] [--decisions 200]

Prints two tables. The first compiles every catalogue kind for a reference layer of each
layout it applies to, ``--samples`` times with other seeds (so every compile is cold: build,
export, validate, characterize, store), one torch thread. The second runs `esper run
tezzeret` against a broker of its own (started here, so the bench touches no one's topics),
sends decisions one at a time for a kernel already in the store, and times each from send to
the KernelReady a read_committed consumer sees: the whole path through Kafka transactions.
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

import torch  # noqa: E402
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition  # noqa: E402

from esper import codec  # noqa: E402
from esper.artifacts import LocalArtifactStore  # noqa: E402
from esper.bus.admin import create_topics  # noqa: E402
from esper.bus.clients import consumer_config  # noqa: E402
from esper.bus.producer import EventProducer  # noqa: E402
from esper.bus.topics import KERNELS  # noqa: E402
from esper.cli.table import print_table  # noqa: E402
from esper.contracts import KernelReady  # noqa: E402
from esper.infra.kafka import LocalKafka  # noqa: E402
from esper.karn import KINDS, BlueprintIR, Layout  # noqa: E402
from esper.tezzeret.compiler import Compiler, KernelRequest  # noqa: E402
from tests.kafka_harness import free_port_block  # noqa: E402
from tests.tezzeret.events import decision, new_run_id, run_started  # noqa: E402
from tests.tezzeret.processes import TezzeretProcess  # noqa: E402

# Reference layers: a CIFAR-sized conv stage, the successor's TinyStories width, an MLP layer.
REFERENCE_SHAPES = {Layout.CONV: [64, 16, 16], Layout.SEQUENCE: [64, 384], Layout.FEATURES: [256]}
CACHE_HIT_TARGET_MS = 50.0
# The bench host's layers: the decisions target layer 0, a features layer.
HOST_LAYERS = ((0, "fc1", "Linear", [256], [256]),)


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def cold_compiles(samples: int) -> None:
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        compiler = Compiler(LocalArtifactStore(folder))
        compiler.compile(KernelRequest.of(BlueprintIR.of("norm"), [8], [8]))  # torch warm-up
        for kind in KINDS:
            for layout in kind.forms:
                shape = REFERENCE_SHAPES[layout]
                timings = []
                for seed in range(1, samples + 1):
                    request = KernelRequest.of(BlueprintIR.of(kind.name, seed=seed), shape, shape)
                    started = time.perf_counter()
                    compiled = compiler.compile(request)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert not compiled.reused
                metadata = compiled.kernel.metadata
                rows.append([kind.name, layout.value, "x".join(map(str, shape)),
                             metadata.parameter_count, f"{percentile(timings, 50):.0f}",
                             f"{percentile(timings, 95):.0f}",
                             f"{metadata.performance_profile['latency_p50_ms']:.2f}"])
    print(f"\ncold compile: build + export + validate + characterize + store, {samples} seeds "
          "per kind, 1 torch thread")
    print_table(["kind", "layout", "shape", "params", "compile p50 ms", "compile p95 ms",
                 "forward p50 ms (batch 32)"], rows)


def _ready_consumer(bootstrap: str) -> Consumer:
    consumer = Consumer(consumer_config(f"bench-tezzeret-{new_run_id()}", bootstrap))
    consumer.assign([TopicPartition(KERNELS.name, p, OFFSET_BEGINNING)
                     for p in range(KERNELS.partitions)])
    return consumer


def _await_ready(consumer: Consumer, decision_id: str, timeout: float = 120.0) -> KernelReady:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(0.05)
        if message is None or message.error() is not None:
            continue
        event = codec.decode(message.value())
        if isinstance(event, KernelReady) and event.decision_id == decision_id:
            return event
    raise TimeoutError(f"no KernelReady for decision {decision_id} within {timeout:.0f} s")


def cache_hits(decisions: int) -> None:
    """Wall-clock times (one machine, one clock): when the decision was sent, when Tezzeret
    created its KernelReady (``meta.occurred_at``), when a read_committed consumer got it."""
    stages: dict[str, list[float]] = {"decision sent -> KernelReady created in Tezzeret": [],
                                      "KernelReady created -> read, committed": [],
                                      "decision sent -> KernelReady read": []}
    with tempfile.TemporaryDirectory() as home:
        cluster = LocalKafka(Path(home) / "esper")
        bootstrap = cluster.up(port=free_port_block(2))
        process = None
        try:
            create_topics(bootstrap)
            process = TezzeretProcess(bootstrap, "bench", str(Path(home) / "artifacts"),
                                      "tezzeret-bench").start()
            run_id = new_run_id()
            consumer = _ready_consumer(bootstrap)
            with EventProducer(bootstrap, **{"linger.ms": 0}) as producer:
                producer.send(run_started(run_id, HOST_LAYERS))
                for number in range(decisions + 1):  # the first compiles; the rest hit
                    event = decision(run_id, 0, "lora", slot=number % 4)
                    sent = time.time()
                    producer.send(event)
                    producer.poll(0)
                    ready = _await_ready(consumer, event.decision_id)
                    read = time.time()
                    if number:
                        assert ready.reused
                        created = ready.meta.occurred_at.timestamp()
                        for name, ms in zip(stages, (created - sent, read - created,
                                                     read - sent)):
                            stages[name].append(ms * 1000)
            consumer.close()
        finally:
            if process is not None:
                process.stop()
            cluster.down()
    total = stages["decision sent -> KernelReady read"]
    print(f"\ndecision -> KernelReady on a cache hit, through Kafka: {decisions} decisions, "
          "one in flight, Kafka transactions, read_committed consumer")
    print_table(["stage", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                [[name, *(f"{percentile(values, q):.1f}" for q in (50, 95, 99)),
                  f"{max(values):.1f}"] for name, values in stages.items()])
    p95 = percentile(total, 95)
    print(f"target: p95 < {CACHE_HIT_TARGET_MS:.0f} ms: "
          f"{'met' if p95 < CACHE_HIT_TARGET_MS else 'MISSED'} ({p95:.1f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5, help="cold compiles per kind")
    parser.add_argument("--decisions", type=int, default=200, help="cache-hit decisions")
    args = parser.parse_args()
    if min(args.samples, args.decisions) < 2:
        parser.error("percentiles need --samples and --decisions of at least 2")
    cold_compiles(args.samples)
    cache_hits(args.decisions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
