"""Exactly once through Kafka transactions: aborted output is invisible; a processor killed
mid-transaction leaves neither duplicates nor gaps after restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter

from confluent_kafka import Consumer, Producer, TopicPartition

from esper.bus import replay
from esper.bus.producer import EventProducer
from tests.bus.events import health, new_run_id


def read_committed(bootstrap: str, topic: str) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic,
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    while batch := consumer.consume(100, timeout=2.0):
        values += [m.value() for m in batch if m.error() is None]
    consumer.close()
    return values


def test_aborted_transaction_output_is_invisible_to_read_committed(kafka_bootstrap, new_topic):
    topic = new_topic(partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": topic})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"aborted")
    producer.flush(10)  # on the broker, but not committed
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, b"committed")
    producer.commit_transaction(30)

    assert read_committed(kafka_bootstrap, topic) == [b"committed"]


PROCESSOR = textwrap.dedent("""
    import os, signal, sys
    from esper.bus.processor import TransactionalProcessor
    from tests.bus.events import decision_for

    bootstrap, topic, transactional_id, kill_at = sys.argv[1:5]
    kill_at = int(kill_at)

    def decide(record):
        if record.event.chunk_id == kill_at:  # mid-transaction: outputs of this batch are
            os.kill(os.getpid(), signal.SIGKILL)  # already produced, not committed
        return [decision_for(record.event)]

    TransactionalProcessor([topic], f"g-{topic}", transactional_id, decide,
                           bootstrap=bootstrap, batch_size=50,
                           **{"session.timeout.ms": 6000}).run(until_idle=4.0)
""")


def run_processor(*args: str) -> int:
    return subprocess.run([sys.executable, "-c", PROCESSOR, *args], timeout=180).returncode


def test_processor_killed_mid_transaction_leaves_no_duplicates_or_gaps(
        kafka_bootstrap, new_topic, catalogue_topics):
    topic = new_topic(partitions=3)
    run_id = new_run_id()
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(run_id, sequence % 5, sequence) for sequence in range(400)],
                            topic)

    assert run_processor(kafka_bootstrap, topic, f"tx-{topic}", "233") == -9
    assert run_processor(kafka_bootstrap, topic, f"tx-{topic}", "-1") == 0

    decisions = [r.event for r in replay.read(["control.tamiyo.decisions"], run=run_id,
                                              bootstrap=kafka_bootstrap)]
    caused_by = Counter(d.meta.causation_id for d in decisions)
    assert len(caused_by) == 400  # no gaps: every input has its decision
    assert max(caused_by.values()) == 1  # no duplicates
    assert sorted(int(d.features["chunk"]) for d in decisions) == list(range(400))
