from __future__ import annotations

import gc
import time

import pytest
from confluent_kafka.admin import AdminClient

from esper.artifacts import LocalArtifactStore
from esper.bus.admin import create_topics
from esper.bus.topics import CATALOGUE
from esper.infra.kafka import InfraError, LocalKafka
from esper.tezzeret.compiler import Compiler
from tests.artifacts.conftest import s3_bucket, s3_endpoint, s3_env  # noqa: F401 (fixtures)
from tests.kafka_harness import free_port_block


@pytest.fixture
def store(tmp_path):
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def compiler(store):
    """A compiler into a fresh folder, timing each kernel briefly (5 runs at least)."""
    return Compiler(store, timing_budget_s=0.02)


def _wait_for_leaders(bootstrap: str, timeout: float = 30.0) -> None:
    """Until every partition of the catalogue has a leader: new topics answer "not leader"
    for a moment after they are created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=10).topics
        if all(spec.name in topics and len(topics[spec.name].partitions) == spec.partitions
               and all(p.leader >= 0 for p in topics[spec.name].partitions.values())
               for spec in CATALOGUE):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the catalogue's partitions have no leader after {timeout:.0f} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def tezzeret_kafka(tmp_path_factory):
    """A broker for this module alone, with the catalogue's topics.

    Tezzeret consumes and produces the catalogue topics themselves, so on the shared broker an
    instance under test would answer other tests' decisions, and they would see its kernels.
    """
    cluster = LocalKafka(tmp_path_factory.mktemp("kafka"))
    try:
        bootstrap = cluster.up(port=free_port_block(2))
    except InfraError as error:
        pytest.fail(f"the test's own Kafka broker could not start: {error}", pytrace=False)
    try:
        create_topics(bootstrap)
        _wait_for_leaders(bootstrap)
        yield bootstrap
    finally:
        # EventProducer holds its librdkafka producer in a reference cycle (its delivery
        # callback), so without a collection one outlives its test and keeps reconnecting.
        gc.collect()
        cluster.down()
