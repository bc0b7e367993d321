"""Poison records go to esper.deadletter with their error headers; valid ones around them
are handled and the consumer goes on."""

from __future__ import annotations

import struct

from confluent_kafka import Consumer, Producer, TopicPartition

from esper import codec
from esper.bus.consumer import EventConsumer
from tests.bus.events import health, new_run_id


def out_of_contract(valid: bytes) -> bytes:
    """Well-formed Avro of a HealthSignal whose dead_neuron_ratio (0.1) is 1.5."""
    ratio = struct.pack("<d", 0.1)
    assert valid.count(ratio) == 1
    return valid.replace(ratio, struct.pack("<d", 1.5))


def dead_letters(bootstrap: str) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "dead-letter-reader"})
    consumer.assign([TopicPartition("esper.deadletter", p, 0) for p in range(3)])
    messages = []
    while batch := consumer.consume(500, timeout=2.0):
        messages += [m for m in batch if m.error() is None]
    consumer.close()
    return messages


def test_poison_lands_in_the_dead_letter_topic_and_valid_events_are_handled(
        kafka_bootstrap, new_topic, catalogue_topics):
    topic = new_topic(partitions=1)
    run_id = new_run_id()
    valid = [health(run_id, 2, sequence) for sequence in range(10)]
    encoded = codec.encode_batch(valid)
    unknown_fingerprint = b"\xc3\x01" + bytes(range(8)) + encoded[0][10:]
    poison = {
        "garbage": b"definitely not avro",
        "unknown fingerprint": unknown_fingerprint,
        "out of contract": out_of_contract(encoded[0]),
    }
    raw = Producer({"bootstrap.servers": kafka_bootstrap})
    for index, value in enumerate(encoded):
        raw.produce(topic, value, key=f"k{index}")
        if index < len(poison):
            label = list(poison)[index]
            raw.produce(topic, poison[label], key=label)
    raw.flush(10)

    handled = []

    def on_health(record):
        if record.event.chunk_id == 7:
            raise RuntimeError("handler cannot cope with chunk 7")
        handled.append(record.event.chunk_id)

    consumer = EventConsumer([topic], f"g-{topic}", {"HealthSignal": on_health},
                             bootstrap=kafka_bootstrap, retries=2, backoff_s=0.01)
    stats = consumer.run(until_idle=3.0)

    assert handled == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert stats.events == 9 and stats.dead_letters == 4
    letters = [m for m in dead_letters(kafka_bootstrap)
               if dict(m.headers())["source_topic"] == topic.encode()]
    by_key = {m.key().decode(): m for m in letters}
    assert set(by_key) == {"garbage", "unknown fingerprint", "out of contract", "k7"}
    for key, message in by_key.items():
        headers = dict(message.headers())
        assert headers["source_partition"] == b"0"
        assert int(headers["source_offset"]) >= 0
        assert headers["error_class"] and headers["error_message"]
        if key in poison:
            assert message.value() == poison[key]  # bytes kept unchanged for forensics
    assert b"dead_neuron_ratio" in dict(by_key["out of contract"].headers())["error_message"]
    assert dict(by_key["unknown fingerprint"].headers())["fingerprint"] == bytes(range(8)).hex().encode()
    assert dict(by_key["garbage"].headers())["fingerprint"] == b""
    assert b"chunk 7" in dict(by_key["k7"].headers())["error_message"]
    assert by_key["k7"].value() == encoded[7]
