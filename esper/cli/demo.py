"""`esper demo`: the main job, end to end on a real broker."""

from __future__ import annotations

import argparse
import json
import os
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from esper.cli import CommandError
from esper.config import esper_home, kafka_bootstrap, kafka_port
from esper.infra.kafka import InfraError, LocalKafka

DEMO_TOPIC = "esper.demo"


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="run the main job on a real Kafka broker")
    demo.set_defaults(func=_demo)


def _ensure_broker() -> str:
    if os.environ.get("ESPER_KAFKA_BOOTSTRAP"):
        return kafka_bootstrap()
    try:
        return LocalKafka(esper_home()).up(port=kafka_port())
    except InfraError as error:
        raise CommandError(str(error)) from None


def _ensure_topic(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if DEMO_TOPIC in admin.list_topics(timeout=10).topics:
        return
    future = admin.create_topics([NewTopic(DEMO_TOPIC, num_partitions=3)])[DEMO_TOPIC]
    try:
        future.result(timeout=30)
    except KafkaException as error:
        if "TOPIC_ALREADY_EXISTS" not in str(error):
            raise


def _demo(args: argparse.Namespace) -> int:
    bootstrap = _ensure_broker()
    print(f"kafka at {bootstrap}")
    _ensure_topic(bootstrap)

    record = {"event": "hello", "id": str(uuid.uuid4())}
    delivered = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True})
    producer.produce(DEMO_TOPIC, key=record["id"], value=json.dumps(record),
                     on_delivery=lambda error, message: delivered.append((error, message)))
    producer.flush(30)
    error, message = delivered[0]
    if error is not None:
        raise CommandError(f"could not write to {DEMO_TOPIC}: {error}")

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "esper-demo",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(DEMO_TOPIC, message.partition(), message.offset())])
    echoed = consumer.consume(1, timeout=30)
    consumer.close()
    if not echoed or echoed[0].error():
        raise CommandError(f"could not read back {DEMO_TOPIC}[{message.partition()}]"
                           f"@{message.offset()}")
    echo = echoed[0]
    print(f"{DEMO_TOPIC}[{echo.partition()}]@{echo.offset()} key={echo.key().decode()} "
          f"value={echo.value().decode()}")
    return 0
