"""EventProducer: contract events onto their catalogue topics, idempotently, failures surfaced."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, Producer

from esper import codec
from esper.bus.clients import producer_config
from esper.bus.topics import BY_NAME, TopicSpec, topic_for

BUFFER_FULL_TIMEOUT_S = 30.0


class DeliveryError(RuntimeError):
    """Records the broker did not accept; each failure names topic, key and the reason."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        super().__init__(f"{len(failures)} record(s) not delivered: {shown}")


class WrongTopic(ValueError):
    """An event type the catalogue does not allow on the topic asked for."""


def event_headers(event) -> list[tuple[str, bytes]]:
    meta = event.meta
    return [
        ("event_type", type(event).__name__.encode()),
        ("event_id", meta.event_id.encode()),
        ("correlation_id", meta.correlation_id.encode()),
    ]


class EventProducer:
    """Produces contract events: key from the catalogue, Avro value, event headers.

    Delivery is asynchronous; `flush()` (and leaving a ``with`` block) waits for every record
    and raises DeliveryError if any was refused or timed out, so no failure goes unnoticed.
    """

    def __init__(self, bootstrap: str | None = None, **config: Any):
        failures: list[str] = []
        self._failures = failures

        def on_delivery(error: KafkaError | None, message) -> None:
            # A closure over the list, not a bound method: the client must not keep the
            # EventProducer alive through a reference cycle.
            if error is not None:
                key = message.key().decode(errors="replace") if message.key() else ""
                failures.append(f"{message.topic()} key={key!r}: {error.str()}")

        settings = producer_config(bootstrap, **config)
        # Only failures call back: a callback per delivered record costs ~1 µs we don't need.
        settings.setdefault("delivery.report.only.error", True)
        settings["on_delivery"] = on_delivery
        self._producer = Producer(settings)

    def send(self, event, topic: str | None = None) -> None:
        """Queue one event for its catalogue topic, or for `topic` (see `_spec`)."""
        spec = self._spec(event, topic)
        self.produce(spec.name, spec.key_of(event), codec.encode(event), event_headers(event))

    def send_batch(self, events: Iterable, topic: str | None = None) -> int:
        """Queue many events, encoding them in one batch; returns how many."""
        events = list(events)
        specs: dict[type, TopicSpec] = {}
        produce = self._producer.produce
        for event, value in zip(events, codec.encode_batch(events)):
            spec = specs.get(type(event))
            if spec is None:
                spec = specs[type(event)] = self._spec(event, topic)
            key, headers = spec.key_of(event), event_headers(event)
            try:
                produce(spec.name, value, key, headers=headers)
            except BufferError:
                self.produce(spec.name, key, value, headers)  # waits for room
        return len(events)

    @staticmethod
    def _spec(event, topic: str | None) -> TopicSpec:
        """The event's home spec, renamed to ``topic`` when that is a sandbox topic outside
        the catalogue; a catalogue topic must allow the event type."""
        home = topic_for(event)
        if topic is None or topic == home.name:
            return home
        if topic in BY_NAME:
            allowed = BY_NAME[topic].event_types
            raise WrongTopic(f"{type(event).__name__} is not allowed on {topic} "
                             f"(it allows {', '.join(allowed) or 'no contract events'})")
        return dataclasses.replace(home, name=topic)

    def produce(self, topic: str, key: str | bytes | None, value: bytes,
                headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue raw bytes; waits (serving delivery reports) while librdkafka's queue is full."""
        deadline = None
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers)
                return
            except BufferError:
                deadline = deadline or time.monotonic() + BUFFER_FULL_TIMEOUT_S
                if time.monotonic() > deadline:
                    raise
                self._producer.poll(0.05)

    def poll(self, timeout: float = 0.0) -> None:
        self._producer.poll(timeout)

    def flush(self, timeout: float = 60.0) -> None:
        remaining = self._producer.flush(timeout)
        failures = list(self._failures)
        self._failures.clear()
        if remaining:
            failures.append(f"{remaining} record(s) still queued after {timeout:.0f} s")
        if failures:
            raise DeliveryError(failures)

    def __len__(self) -> int:
        """Records queued and not yet acknowledged."""
        return len(self._producer)

    def close(self, timeout: float = 60.0) -> None:
        self.flush(timeout)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
