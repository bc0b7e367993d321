"""Replay from a time, offsets or the beginning, up to a bound, also while producers write."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from esper.bus import replay
from esper.bus.producer import EventProducer
from tests.bus.events import health, new_run_id


def chunks(records) -> list[int]:
    return sorted(r.event.chunk_id for r in records)


def test_replay_from_a_timestamp_returns_exactly_the_events_at_or_after_it(kafka_bootstrap,
                                                                          new_topic):
    topic = new_topic(partitions=3)
    run_id = new_run_id()
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(run_id, i % 4, i) for i in range(100)], topic)
    time.sleep(0.05)
    boundary = datetime.now(timezone.utc)
    time.sleep(0.05)
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(run_id, i % 4, i) for i in range(100, 250)], topic)

    after = list(replay.read([topic], start=boundary, bootstrap=kafka_bootstrap))
    assert chunks(after) == list(range(100, 250))
    before = list(replay.read([topic], until=boundary, bootstrap=kafka_bootstrap))
    assert chunks(before) == list(range(100))
    everything = list(replay.read([topic], bootstrap=kafka_bootstrap))
    assert chunks(everything) == list(range(250))


def test_bounded_replay_stops_at_its_bound_while_producers_keep_writing(kafka_bootstrap,
                                                                       new_topic):
    topic = new_topic(partitions=3)
    run_id = new_run_id()
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(run_id, i % 3, i) for i in range(300)], topic)
    stop = threading.Event()

    def keep_writing():
        with EventProducer(kafka_bootstrap) as producer:
            sequence = 300
            while not stop.is_set():
                producer.send(health(run_id, sequence % 3, sequence), topic)
                producer.poll(0.001)
                sequence += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        time.sleep(0.5)
        bound = datetime.now(timezone.utc)
        time.sleep(0.5)
        upto_bound = list(replay.read([topic], until=bound, bootstrap=kafka_bootstrap))
        upto_start = list(replay.read([topic], bootstrap=kafka_bootstrap))
        later = list(replay.read([topic], bootstrap=kafka_bootstrap))
    finally:
        stop.set()
        writer.join()

    bound_ms = int(bound.timestamp() * 1000)
    assert upto_bound and all(r.timestamp_ms <= bound_ms for r in upto_bound)
    assert chunks(upto_bound) == list(range(len(upto_bound)))  # a prefix: no gaps
    assert len(upto_start) > len(upto_bound)  # the default bound is "the end, at start"
    assert len(later) >= len(upto_start)


def test_replay_between_explicit_offsets_and_of_one_run(kafka_bootstrap, new_topic):
    topic = new_topic(partitions=1)
    ours, theirs = new_run_id(), new_run_id()
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(ours if i % 2 else theirs, 0, i) for i in range(20)], topic)

    window = list(replay.read([topic], start={(topic, 0): 5}, until={(topic, 0): 15},
                              bootstrap=kafka_bootstrap))
    assert [r.offset for r in window] == list(range(5, 15))
    only_ours = list(replay.read([topic], run=ours, bootstrap=kafka_bootstrap))
    assert chunks(only_ours) == list(range(1, 20, 2))


def test_follow_yields_events_written_after_the_replay_started(kafka_bootstrap, new_topic):
    topic = new_topic(partitions=1)
    run_id = new_run_id()
    received = []

    def follow():
        for record in replay.read([topic], start=datetime.now(timezone.utc) - timedelta(hours=1),
                                  follow=True, bootstrap=kafka_bootstrap):
            received.append(record.event.chunk_id)
            if len(received) == 5:
                return

    reader = threading.Thread(target=follow)
    reader.start()
    time.sleep(1.0)
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(run_id, 0, i) for i in range(5)], topic)
    reader.join(timeout=30)
    assert received == [0, 1, 2, 3, 4]
