"""TelemetryProducer: the training loop's producer, which never stalls training.

Two lanes share one librdkafka queue of bounded size:

* the **sampled lane** (HealthSignal): high rate and expendable. It may fill at most
  ``health_share`` of the queue; beyond that, or when the broker refuses, a signal is dropped
  and counted, never waited for.
* the **lossless lane** (everything else: lifecycle, epochs, reports): never dropped. Records
  wait in the queue as long as the broker is away (no message timeout); if the queue itself is
  full, `send` serves delivery reports for up to ``lossless_wait_s`` and then raises.

Drop counts are reported as one TelemetryDropped event on the lossless lane as soon as the
queue shrinks after the drops, that is, once the broker takes records again. (Records never
expire here, so the queue shrinks only by deliveries; delivery reports come for failures only,
which keeps the client's per-record cost down.)
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import KafkaError, Producer

from esper import codec
from esper.bus.clients import producer_config
from esper.bus.producer import DeliveryError, event_headers
from esper.bus.topics import topic_for
from esper.contracts import ComponentType, DroppedCount, EventMeta, HealthSignal, TelemetryDropped

SAMPLED_TYPES = frozenset({HealthSignal.__name__})


class TelemetryProducer:
    """The producer of one training run (``run_id``); drop reports name ``source``."""

    def __init__(self, run_id: str, bootstrap: str | None = None, *,
                 source: ComponentType = ComponentType.TOLARIA, capacity: int = 100_000,
                 health_share: float = 0.8, lossless_wait_s: float = 30.0, **config: Any):
        self.run_id = run_id
        self.source = source
        self._health_limit = int(capacity * health_share)
        self._lossless_wait_s = lossless_wait_s
        self._dropped: Counter[tuple[str, str]] = Counter()  # (topic, Avro name) → count
        self._reasons: set[str] = set()
        self._first_drop: datetime | None = None
        self._last_drop: datetime | None = None
        self._queued_at_drop = 0  # queue length at the last drop
        self.dropped_total = 0  # every drop since the start, reported or not
        self._failures: list[str] = []
        self._producer = Producer(producer_config(bootstrap, **{
            "queue.buffering.max.messages": capacity,
            "message.timeout.ms": 0,  # never expire: lossless records wait for the broker
            "delivery.report.only.error": True,
            "on_delivery": self._on_delivery,
            **config,
        }))

    @property
    def dropped(self) -> int:
        """Drops counted and not yet reported."""
        return sum(self._dropped.values())

    def send(self, event) -> None:
        event_type = type(event).__name__
        spec = topic_for(event)
        value = codec.encode(event)
        if event_type in SAMPLED_TYPES:
            if len(self._producer) >= self._health_limit:
                self._drop(spec.name, event.avro_name, "producer queue past the health share")
                return
            try:
                self._producer.produce(spec.name, value, spec.key_of(event),
                                       headers=event_headers(event))
            except BufferError:
                self._drop(spec.name, event.avro_name, "producer queue full")
        else:
            self._produce_lossless(spec.name, spec.key_of(event), value, event_headers(event))
        self._producer.poll(0)

    def _produce_lossless(self, topic: str, key: str, value: bytes, headers) -> None:
        deadline = time.monotonic() + self._lossless_wait_s
        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise DeliveryError([f"{topic} key={key!r}: producer queue still full "
                                         f"after {self._lossless_wait_s:.0f} s"]) from None
                self._producer.poll(0.05)

    def _drop(self, topic: str, avro_name: str, reason: str) -> None:
        now = datetime.now(timezone.utc)
        self._dropped[(topic, avro_name)] += 1
        self._reasons.add(reason)
        self._first_drop = self._first_drop or now
        self._last_drop = now
        self.dropped_total += 1
        self._queued_at_drop = len(self._producer)

    def _on_delivery(self, error: KafkaError, message) -> None:
        event_type = dict(message.headers() or []).get("event_type", b"").decode()
        if event_type in SAMPLED_TYPES:
            self._drop(message.topic(), HealthSignal.avro_name, f"delivery failed: {error.str()}")
        else:
            self._failures.append(f"{message.topic()} key={message.key()!r}: {error.str()}")

    def poll(self) -> None:
        """Serve delivery reports and report drops once delivery has resumed. Never blocks."""
        self._producer.poll(0)
        if self._dropped and len(self._producer) < self._queued_at_drop:
            report = self._drop_report()
            spec = topic_for(report)
            self._produce_lossless(spec.name, spec.key_of(report), codec.encode(report),
                                   event_headers(report))
        if self._failures:
            failures, self._failures = self._failures, []
            raise DeliveryError(failures)

    def _drop_report(self) -> TelemetryDropped:
        report = TelemetryDropped(
            meta=EventMeta.new(self.source, run_id=self.run_id),
            window_start=self._first_drop,
            window_end=self._last_drop,
            reason="; ".join(sorted(self._reasons))[:200],
            drops=[DroppedCount(topic=topic, event_type=name, count=count)
                   for (topic, name), count in sorted(self._dropped.items())],
        )
        self._dropped.clear()
        self._reasons.clear()
        self._first_drop = self._last_drop = None
        return report

    def __len__(self) -> int:
        return len(self._producer)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait for every queued record (reporting drops first); raise if any is undelivered."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()  # queues the drop report once deliveries have resumed
            remaining = len(self._producer)
            if not remaining:
                return
            if time.monotonic() >= deadline:
                raise DeliveryError([f"{remaining} record(s) still queued after {timeout:.0f} s"])
            self._producer.flush(min(1.0, deadline - time.monotonic()))

    def close(self, timeout: float = 60.0) -> None:
        self.flush(timeout)
