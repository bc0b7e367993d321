"""A 3-broker KRaft quorum on loopback keeps serving acks=all writes with one broker down."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from esper.infra.kafka import LocalKafka
from tests.kafka_harness import create_topic, free_port_block

pytestmark = pytest.mark.cluster


@pytest.fixture
def cluster(tmp_path):
    kafka = LocalKafka(tmp_path)
    port = free_port_block(6)
    bootstrap = kafka.up(brokers=3, port=port)
    yield kafka, bootstrap
    kafka.down(timeout=20)


def produce(bootstrap: str, topic: str, values: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "message.timeout.ms": 30000})
    errors = []
    for value in values:
        producer.produce(topic, key=value[-1], value=value,
                         on_delivery=lambda error, _: errors.append(error) if error else None)
    assert producer.flush(40) == 0
    assert errors == []


def test_replicated_topic_survives_one_broker_stopping(cluster):
    kafka, bootstrap = cluster
    topic = create_topic(bootstrap, "replicated", partitions=3, replication=3)
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    assert all(len(p.replicas) == 3 for p in metadata.topics[topic].partitions.values())

    produce(bootstrap, topic, [f"before-{i}" for i in range(300)])
    assert kafka.stop_node(1, timeout=30)
    time.sleep(1)  # let the controller notice and move leadership
    survivors = ",".join(a for a in bootstrap.split(",") if a != bootstrap.split(",")[1])
    produce(survivors, topic, [f"after-{i}" for i in range(300)])

    consumer = Consumer({"bootstrap.servers": survivors, "group.id": topic,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
    values = set()
    deadline = time.monotonic() + 60
    while len(values) < 600 and time.monotonic() < deadline:
        values |= {m.value().decode() for m in consumer.consume(500, timeout=0.5)
                   if m.error() is None}
    consumer.close()
    assert values == {f"before-{i}" for i in range(300)} | {f"after-{i}" for i in range(300)}
