from __future__ import annotations

import gc
import time

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from esper.artifacts import LocalArtifactStore
from esper.bus.admin import create_topics
from esper.bus.topics import CATALOGUE
from esper.tezzeret.compiler import Compiler
from tests.artifacts.conftest import s3_bucket, s3_endpoint, s3_env  # noqa: F401 (fixtures)
from tests.tezzeret.processes import TezzeretProcess


@pytest.fixture
def store(tmp_path):
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def compiler(store):
    """A compiler into a fresh folder, timing each kernel briefly (5 runs at least)."""
    return Compiler(store, timing_budget_s=0.02)


def _wait_until_partitions_answer(bootstrap: str, timeout: float = 30.0) -> None:
    """Until every partition of the catalogue answers an offsets request: new topics say
    "not leader" for a moment after they are created, even once metadata names a leader."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tezzeret-tests"})
    pending = [TopicPartition(spec.name, p) for spec in CATALOGUE for p in range(spec.partitions)]
    deadline = time.monotonic() + timeout
    try:
        while pending:
            try:
                consumer.get_watermark_offsets(pending[0], timeout=5)
                pending.pop(0)
            except KafkaException:
                if time.monotonic() > deadline:
                    pytest.fail(f"{pending[0].topic}[{pending[0].partition}] has no leader "
                                f"after {timeout:.0f} s")
                time.sleep(0.2)
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def tezzeret_kafka(private_kafka):
    """A broker for this module alone, with the catalogue's topics.

    Tezzeret consumes and produces the catalogue topics themselves, so on the shared broker an
    instance under test would answer other tests' decisions, and they would see its kernels.
    """
    _, _, bootstrap = private_kafka
    create_topics(bootstrap)
    _wait_until_partitions_answer(bootstrap)
    yield bootstrap
    # EventProducer holds its librdkafka producer in a reference cycle (its delivery
    # callback), so without a collection one outlives its test and keeps reconnecting.
    gc.collect()


@pytest.fixture
def launch(launch_process):
    """Starts `esper run tezzeret` processes; any a test leaves running is killed after it."""

    def start(*args, **kwargs) -> TezzeretProcess:
        return launch_process(TezzeretProcess(*args, **kwargs))

    return start
