from __future__ import annotations

import gc
import time

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from esper.bus.admin import create_topics
from esper.bus.topics import CATALOGUE
from esper.infra.kafka import InfraError, LocalKafka
from esper.tamiyo.gates import Gates
from tests.kafka_harness import free_port_block

LOGGING_GATES = Gates(min_confidence=0.0, cooldown_epochs=1, budget_fraction=20.0)
"""The gates of the exploring controller that writes the learning log: loose, so that each
run logs a decision most epochs."""


def _wait_for_leaders(bootstrap: str, timeout: float = 30.0) -> None:
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


def _wait_until_served(bootstrap: str, timeout: float = 30.0) -> None:
    """Until every partition answers: a new leader says "not leader" for a moment after the
    metadata names it."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tamiyo-test-probe"})
    deadline = time.monotonic() + timeout
    try:
        for spec in CATALOGUE:
            for partition in range(spec.partitions):
                while True:
                    try:
                        consumer.get_watermark_offsets(TopicPartition(spec.name, partition),
                                                       timeout=5)
                        break
                    except KafkaException:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
    finally:
        consumer.close()


@pytest.fixture(scope="session")
def tamiyo_kafka(tmp_path_factory):
    """A broker for Tamiyo's tests alone, with the catalogue's topics.

    Tamiyo consumes the catalogue topics themselves: on the shared broker an instance under
    test would decide for other tests' runs, and they would see its decisions.
    """
    cluster = LocalKafka(tmp_path_factory.mktemp("kafka"))
    try:
        bootstrap = cluster.up(port=free_port_block(2))
    except InfraError as error:
        pytest.fail(f"the test's own Kafka broker could not start: {error}", pytrace=False)
    try:
        create_topics(bootstrap)
        _wait_for_leaders(bootstrap)
        _wait_until_served(bootstrap)
        yield bootstrap
    finally:
        gc.collect()  # an EventProducer's reference cycle would outlive the broker
        cluster.down()
