"""EventConsumer: the at-least-once runtime that processes and the projector share.

One consumer group; batches are decoded and dispatched to one handler per event type;
offsets are committed only after a batch is handled. Poison records (undecodable bytes, an
unknown fingerprint, a contract violation, or a handler that keeps failing after its retries)
go to ``esper.deadletter`` with their error headers, and processing goes on.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from esper.bus.clients import consumer_config, producer_config
from esper.bus.records import (
    Delivered,
    Poison,
    decode_messages,
    group_batches,
    retry_after_failure,
    send_dead_letter,
)
from esper.gc_pause import gc_paused

Handler = Callable[[Delivered], Any]


@dataclasses.dataclass
class ConsumerStats:
    events: int = 0  # records decoded and handled, or without a handler
    dead_letters: int = 0
    unhandled: int = 0  # of the events, those of a type with no handler
    busy_since: float | None = None  # monotonic time the first batch arrived
    busy_until: float | None = None  # ... and the last one was done

    def batch_started(self) -> None:
        if self.busy_since is None:
            self.busy_since = time.monotonic()

    def batch_done(self) -> None:
        self.busy_until = time.monotonic()

    @property
    def events_per_s(self) -> float:
        """Records processed per second, from the first batch to the end of the last."""
        if self.busy_since is None or self.busy_until is None:
            return 0.0
        records = self.events + self.dead_letters
        return records / max(self.busy_until - self.busy_since, 1e-9)


class StopSignals:
    """While active, SIGTERM and SIGINT ask `stop` to be set instead of killing the process."""

    def __init__(self, stop: threading.Event):
        self._stop = stop
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, lambda *_: self._stop.set())
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class EventConsumer:
    """Consume ``topics`` in ``group_id`` and call ``handlers[type(event).__name__]``.

    ``run()`` returns after `stop()`, SIGTERM or SIGINT: it finishes the batch in hand,
    commits, and closes. A batch that takes longer than half of ``max.poll.interval.ms`` is
    cut short and the rest re-read, so a slow handler never gets the consumer evicted.
    """

    def __init__(self, topics: Iterable[str], group_id: str,
                 handlers: Mapping[str, Handler], *, bootstrap: str | None = None,
                 batch_size: int = 1000, retries: int = 3, backoff_s: float = 0.05,
                 max_poll_interval_ms: int = 300_000, **config: Any):
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._batch_budget_s = max_poll_interval_ms / 2000
        self._pending: dict[tuple[str, int], int] = {}  # next offset to commit, per partition
        self._consumer = Consumer(consumer_config(
            group_id, bootstrap, **{"max.poll.interval.ms": max_poll_interval_ms, **config}))
        self._dead_letters = Producer(producer_config(bootstrap))

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self, poll_timeout: float = 0.5, until_idle: float | None = None) -> ConsumerStats:
        """Process until stopped, or with ``until_idle``, until nothing new came for that long
        while partitions were assigned."""
        self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        with StopSignals(self._stop):
            try:
                for messages in group_batches(self._consumer, self.batch_size, poll_timeout,
                                              self._stop, until_idle):
                    self.process_batch(messages)
            finally:
                self._commit(asynchronous=False)
                self._consumer.close()
                self._dead_letters.flush(30)
        return self.stats

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Async commits may still be in flight: make the revoked partitions' offsets durable
        # before another member starts reading them.
        revoked = {(p.topic, p.partition) for p in partitions}
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items() if (t, p) in revoked]
        if offsets:
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as error:
                if error.args[0].code() != KafkaError._NO_OFFSET:
                    raise
        for key in revoked:
            self._pending.pop(key, None)

    # --- processing -----------------------------------------------------------------------

    def process_batch(self, messages: list) -> None:
        with gc_paused():
            self._process_batch(messages)

    def _process_batch(self, messages: list) -> None:
        stats = self.stats
        stats.batch_started()
        deadline = time.monotonic() + self._batch_budget_s
        for message in messages:
            if message.error() is not None and message.error().fatal():
                raise KafkaException(message.error())
        # Transient broker-side conditions come as error messages; librdkafka retries them.
        messages = [m for m in messages if m.error() is None]
        records = decode_messages(messages)
        handlers, monotonic, pending = self.handlers, time.monotonic, self._pending
        for index, record in enumerate(records):
            if monotonic() > deadline:
                self._rewind(messages[index:])
                break
            if type(record) is Delivered:
                handler = handlers.get(type(record.event).__name__)
                if handler is None:
                    stats.unhandled += 1
                else:
                    try:
                        handler(record)
                    except Exception as error:
                        try:
                            retry_after_failure(handler, record, self.retries, self.backoff_s,
                                                error)
                        except Exception as last:
                            record = Poison(messages[index], last)
            if type(record) is Poison:
                send_dead_letter(self._produce_dead_letter, record)
                stats.dead_letters += 1
                message = record.message
                pending[(message.topic(), message.partition())] = message.offset() + 1
            else:
                stats.events += 1
                pending[(record.topic, record.partition)] = record.offset + 1
        # A dead letter must be durable before the offset that skips its record is committed.
        if self._dead_letters.flush(30):
            raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT,
                                            "dead letters not delivered within 30 s"))
        self._commit(asynchronous=True)
        stats.batch_done()

    def _produce_dead_letter(self, topic, key, value, headers) -> None:
        self._dead_letters.produce(topic, key=key, value=value, headers=headers)

    def _rewind(self, unprocessed: list) -> None:
        first: dict[tuple[str, int], int] = {}
        for message in unprocessed:
            first.setdefault((message.topic(), message.partition()), message.offset())
        for (topic, partition), offset in first.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))

    def _commit(self, asynchronous: bool) -> None:
        if not self._pending:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._NO_OFFSET:
                raise
        if not asynchronous:
            self._pending.clear()

    def lag(self) -> dict[tuple[str, int], int]:
        """Records behind the high watermark, per assigned partition."""
        lags = {}
        for tp in self._consumer.position(self._consumer.assignment()):
            _, high = self._consumer.get_watermark_offsets(tp, timeout=5)
            lags[(tp.topic, tp.partition)] = max(high - max(tp.offset, 0), 0)
        return lags
