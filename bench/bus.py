"""Bus throughput and latency on the local broker, beside plain confluent-kafka on raw bytes.

    .venv/bin/python bench/bus.py [--events 200000] [--bootstrap HOST:PORT]

Prints one table: produce rate (HealthSignal models → broker, acks=all, idempotent), consume +
decode rate, and produce→consume latency p50/p99 at low load; each beside the same loop in
plain confluent-kafka on pre-encoded bytes (the limit), with the ratio and the target.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from esper import codec  # noqa: E402
from esper.bus.clients import consumer_config, producer_config  # noqa: E402
from esper.bus.consumer import EventConsumer  # noqa: E402
from esper.bus.producer import EventProducer  # noqa: E402
from esper.bus.records import fetch_batch  # noqa: E402
from esper.cli.table import print_table  # noqa: E402
from esper.config import esper_home, kafka_port  # noqa: E402
from esper.infra.kafka import LocalKafka  # noqa: E402
from tests.bus.events import health, new_run_id  # noqa: E402
from tests.kafka_harness import create_topic  # noqa: E402

PARTITIONS = 3


def fresh_topic(bootstrap: str, label: str) -> str:
    return create_topic(bootstrap, f"bench.{label}.{uuid.uuid4().hex[:8]}", PARTITIONS)


def produce_esper(bootstrap: str, events: list) -> float:
    topic = fresh_topic(bootstrap, "esper")
    started = time.perf_counter()
    with EventProducer(bootstrap) as producer:
        for start in range(0, len(events), 1000):
            producer.send_batch(events[start:start + 1000], topic)
    return len(events) / (time.perf_counter() - started), topic


def produce_plain(bootstrap: str, values: list[bytes], keys: list[str]) -> tuple[float, str]:
    topic = fresh_topic(bootstrap, "plain")
    producer = Producer(producer_config(bootstrap, **{"delivery.report.only.error": True}))
    started = time.perf_counter()
    for key, value in zip(keys, values):
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:  # the client's queue is full: let it drain
                producer.poll(0.05)
    producer.flush(120)
    return len(values) / (time.perf_counter() - started), topic


def consume_esper(bootstrap: str, topic: str, expected: int) -> float:
    consumer = EventConsumer([topic], f"bench-{uuid.uuid4()}", {"HealthSignal": lambda r: None},
                             bootstrap=bootstrap)
    stats = consumer.run(until_idle=2.0)  # its rate spans the batches, not the group join
    assert stats.events == expected, f"consumed {stats.events} of {expected}"
    return stats.events_per_s


def consume_plain(bootstrap: str, topic: str, expected: int) -> float:
    consumer = Consumer(consumer_config(f"bench-{uuid.uuid4()}", bootstrap))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    count = 0
    started = time.perf_counter()
    while count < expected:
        count += sum(1 for m in consumer.consume(1000, 1.0) if m.error() is None)
    rate = expected / (time.perf_counter() - started)
    consumer.close()
    return rate


def latency(bootstrap: str, send, decode: bool, count: int = 1000) -> tuple[float, float]:
    """p50 and p99 in ms from produce to the consumer holding the (decoded) record."""
    topic = fresh_topic(bootstrap, "latency")
    consumer = Consumer(consumer_config(f"bench-{uuid.uuid4()}", bootstrap))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    received: dict[int, float] = {}

    def receive():
        while len(received) < count:
            for message in fetch_batch(consumer, 100, 0.1):
                if message.error() is None:
                    if decode:
                        codec.decode(message.value())
                    received[int(message.key().decode().split("/")[1])] = time.perf_counter()

    reader = threading.Thread(target=receive)
    reader.start()
    time.sleep(1.0)  # the consumer is connected and fetching
    sent: dict[int, float] = {}
    for sequence in range(count):
        sent[sequence] = time.perf_counter()
        send(topic, sequence)
        time.sleep(0.002)
    reader.join(60)
    consumer.close()
    delays = sorted((received[s] - sent[s]) * 1000 for s in sent if s in received)
    return statistics.median(delays), delays[int(len(delays) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    bootstrap = args.bootstrap or LocalKafka(esper_home()).up(port=kafka_port())

    run_id = new_run_id()
    events = [health(run_id, i % 16, i) for i in range(args.events)]
    values = codec.encode_batch(events)
    keys = [f"{run_id}/{e.layer_id}" for e in events]

    count, one, one_value = len(events), events[0], values[0]
    esper_produce, esper_topic = produce_esper(bootstrap, events)
    plain_produce, plain_topic = produce_plain(bootstrap, values, keys)
    # A consuming process holds no producer's batch: let its objects go first, or every full
    # garbage collection while consuming would walk a million of them.
    del events, values, keys
    gc.collect()
    esper_consume = consume_esper(bootstrap, esper_topic, count)
    plain_consume = consume_plain(bootstrap, plain_topic, count)

    esper_producer = EventProducer(bootstrap, **{"linger.ms": 0})

    def send_esper(topic, sequence):
        esper_producer.send(one.model_copy(update={"layer_id": sequence}), topic)
        esper_producer.poll(0)

    plain_producer = Producer(producer_config(bootstrap, **{"linger.ms": 0}))

    def send_plain(topic, sequence):
        plain_producer.produce(topic, one_value, f"{run_id}/{sequence}")
        plain_producer.poll(0)

    esper_p50, esper_p99 = latency(bootstrap, send_esper, decode=True)
    plain_p50, plain_p99 = latency(bootstrap, send_plain, decode=False)
    esper_producer.flush()
    plain_producer.flush(10)

    print(f"\nbus benchmark: {args.events:,} HealthSignals, {PARTITIONS} partitions, "
          f"broker {bootstrap}\n")
    print_table(
        ["measure", "esper", "plain confluent-kafka (limit)", "esper / limit", "target"],
        [
            ["produce (events/s)", f"{esper_produce:,.0f}", f"{plain_produce:,.0f}",
             f"{esper_produce / plain_produce:.2f}", ">= 150,000"],
            ["consume + decode (events/s)", f"{esper_consume:,.0f}", f"{plain_consume:,.0f}",
             f"{esper_consume / plain_consume:.2f}", ">= 150,000"],
            ["latency p50 (ms)", f"{esper_p50:.2f}", f"{plain_p50:.2f}",
             f"{esper_p50 / plain_p50:.2f}", ""],
            ["latency p99 (ms)", f"{esper_p99:.2f}", f"{plain_p99:.2f}",
             f"{esper_p99 / plain_p99:.2f}", "< 20"],
        ],
    )


if __name__ == "__main__":
    main()
