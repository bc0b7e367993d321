"""The session broker is a real Kafka: keyed records come back exactly once, in key order."""

from collections import defaultdict

from confluent_kafka import Consumer, Producer, TopicPartition


def test_keyed_records_come_back_exactly_once_in_per_key_order(kafka_bootstrap, new_topic):
    topic = new_topic(partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 5})
    failures = []

    def on_delivery(error, message):
        if error is not None:
            failures.append(error)

    sent = defaultdict(list)
    for index in range(1000):
        key = f"key-{index % 37}"
        value = f"{key}:{index}"
        sent[key].append(value)
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": topic,
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(topic, partition, 0) for partition in range(3)])
    received = defaultdict(list)
    partitions_of_key = defaultdict(set)
    count = 0
    for _ in range(200):
        for message in consumer.consume(500, timeout=0.5):
            assert message.error() is None
            key = message.key().decode()
            received[key].append(message.value().decode())
            partitions_of_key[key].add(message.partition())
            count += 1
        if count >= 1000:
            break
    extra = consumer.consume(100, timeout=1.0)
    consumer.close()

    assert count == 1000 and extra == []
    assert received == sent  # same values per key, in the order they were produced
    assert all(len(partitions) == 1 for partitions in partitions_of_key.values())
    assert len({p for partitions in partitions_of_key.values() for p in partitions}) == 3
