"""EventProducer → Kafka → EventConsumer, on the real broker."""

from __future__ import annotations

from collections import defaultdict

import pytest

from esper.bus import replay
from esper.bus.consumer import EventConsumer
from esper.bus.producer import DeliveryError, EventProducer, WrongTopic
from tests.bus.events import decision_for, health, new_run_id


def test_per_key_order_holds_across_partitions(kafka_bootstrap, new_topic):
    topic = new_topic(partitions=3)
    run_id = new_run_id()
    with EventProducer(kafka_bootstrap) as producer:
        for sequence in range(200):
            producer.send_batch([health(run_id, layer, sequence) for layer in range(6)], topic)

    seen = defaultdict(list)
    partitions = defaultdict(set)

    def on_health(record):
        seen[record.event.layer_id].append(record.event.chunk_id)
        partitions[record.event.layer_id].add(record.partition)
        assert record.key == f"{run_id}/{record.event.layer_id}".encode()

    consumer = EventConsumer([topic], f"g-{topic}", {"HealthSignal": on_health},
                             bootstrap=kafka_bootstrap)
    stats = consumer.run(until_idle=3.0)

    assert stats.events == 1200 and stats.dead_letters == 0
    assert {layer: order for layer, order in seen.items()} == {
        layer: list(range(200)) for layer in range(6)}
    assert all(len(p) == 1 for p in partitions.values())
    assert len(set().union(*partitions.values())) > 1  # the keys did spread over partitions


def test_headers_name_type_id_and_correlation(kafka_bootstrap, new_topic):
    topic = new_topic(partitions=1)
    signal = health(new_run_id(), 3, 0)
    with EventProducer(kafka_bootstrap) as producer:
        producer.send(signal, topic)
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": topic})
    consumer.assign([TopicPartition(topic, 0, 0)])
    message = consumer.consume(1, timeout=10)[0]
    consumer.close()
    assert dict(message.headers()) == {
        "event_type": b"HealthSignal",
        "event_id": signal.meta.event_id.encode(),
        "correlation_id": signal.meta.correlation_id.encode(),
    }
    [record] = list(replay.read([topic], bootstrap=kafka_bootstrap))
    assert record.event == signal


def test_an_event_type_the_catalogue_does_not_allow_is_refused(kafka_bootstrap):
    signal = health(new_run_id(), 0, 0)
    with EventProducer(kafka_bootstrap) as producer:
        with pytest.raises(WrongTopic, match="HealthSignal is not allowed on control.tamiyo"):
            producer.send(signal, "control.tamiyo.decisions")
        with pytest.raises(WrongTopic, match="AdaptationDecision is not allowed"):
            producer.send(decision_for(signal), "telemetry.seed.health")


def test_delivery_failures_surface_on_flush(kafka_bootstrap):
    producer = EventProducer(kafka_bootstrap, **{"message.timeout.ms": 2000})
    producer.send(health(new_run_id(), 0, 0), "test.no-such-topic.never-created")
    with pytest.raises(DeliveryError, match="test.no-such-topic.never-created") as raised:
        producer.flush(10)
    assert len(raised.value.failures) == 1
