"""TransactionalProcessor: consume → transform → produce, exactly once, for Tamiyo and Tezzeret.

Each batch is one Kafka transaction holding the batch's output events, its dead letters and
the consumer offsets (``send_offsets_to_transaction``). Readers use read_committed, so output of
an aborted or unfinished transaction is never seen, and a restarted processor resumes from the
offsets of the last committed transaction: no duplicates, no gaps. The transactional id is
per instance; a second process with the same id fences the first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from esper import codec
from esper.bus.clients import consumer_config, producer_config
from esper.bus.consumer import ConsumerStats, StopSignals
from esper.bus.producer import event_headers
from esper.bus.records import (
    Delivered,
    Poison,
    call_with_retries,
    decode_messages,
    group_batches,
    send_dead_letter,
)
from esper.bus.topics import topic_for

Transform = Callable[[Delivered], Iterable[Any]]
log = logging.getLogger(__name__)


class TransactionalProcessor:
    """Run ``transform`` on every event of ``topics``; what it returns is produced atomically
    with the consumed offsets. ``transform`` must not have side effects outside Kafka that
    cannot be repeated: an aborted batch is processed again."""

    def __init__(self, topics: Iterable[str], group_id: str, transactional_id: str,
                 transform: Transform, *, bootstrap: str | None = None, batch_size: int = 200,
                 retries: int = 3, backoff_s: float = 0.05,
                 producer_settings: dict[str, Any] | None = None, **config: Any):
        """``config`` goes to the consumer, ``producer_settings`` to the transactional producer
        (``transaction.timeout.ms`` for transforms that may take long, say)."""
        self.topics = list(topics)
        self.transform = transform
        self.batch_size = batch_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._consumer = Consumer(consumer_config(group_id, bootstrap, **config))
        self._producer = Producer(producer_config(bootstrap, **{
            "transactional.id": transactional_id,
            "linger.ms": 1,
            # Offsets sent just after a commit may meet CONCURRENT_TRANSACTIONS; librdkafka's
            # default 100 ms backoff then dominates the decision latency.
            "retry.backoff.ms": 10,
            **(producer_settings or {}),
        }))

    def stop(self) -> None:
        self._stop.set()

    def run(self, poll_timeout: float = 0.2, until_idle: float | None = None) -> ConsumerStats:
        self._producer.init_transactions(30)  # fences any older instance with this id
        self._consumer.subscribe(self.topics, on_assign=self._on_assign)
        with StopSignals(self._stop):
            try:
                for messages in group_batches(self._consumer, self.batch_size, poll_timeout,
                                              self._stop, until_idle):
                    messages = [m for m in messages if not self._is_transient(m)]
                    if messages:
                        self._process_in_transaction(messages)
            finally:
                self._consumer.close()
                self._producer.flush(10)
        return self.stats

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Operators (and tests) see which partitions, so which keys, this instance owns now.
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions)
                 or "no partitions")

    @staticmethod
    def _is_transient(message) -> bool:
        error = message.error()
        if error is not None and error.fatal():
            raise KafkaException(error)
        return error is not None

    def _process_in_transaction(self, messages: list) -> None:
        self.stats.batch_started()
        self._producer.begin_transaction()
        try:
            events, dead = self._transform_batch(messages)
            self._producer.send_offsets_to_transaction(
                self._consumer.position(self._consumer.assignment()),
                self._consumer.consumer_group_metadata(), 30)
            self._producer.commit_transaction(30)
        except KafkaException as error:
            if not error.args[0].txn_requires_abort():
                raise  # fenced or fatal: this instance must stop
            self._producer.abort_transaction(30)
            self._rewind_to_committed()
            return
        except BaseException:
            self._producer.abort_transaction(30)
            raise
        self.stats.events += events
        self.stats.dead_letters += dead
        self.stats.batch_done()

    def _transform_batch(self, messages: list) -> tuple[int, int]:
        events = dead = 0
        for message, record in zip(messages, decode_messages(messages)):
            if isinstance(record, Delivered):
                try:
                    outputs = call_with_retries(lambda r: list(self.transform(r)), record,
                                                self.retries, self.backoff_s)
                except Exception as error:
                    record = Poison(message, error)
                else:
                    for event in outputs:
                        spec = topic_for(event)
                        self._producer.produce(spec.name, key=spec.key_of(event),
                                               value=codec.encode(event),
                                               headers=event_headers(event))
                    events += 1
            if isinstance(record, Poison):
                send_dead_letter(self._produce, record)
                dead += 1
        return events, dead

    def _produce(self, topic, key, value, headers) -> None:
        self._producer.produce(topic, key=key, value=value, headers=headers)

    def _rewind_to_committed(self) -> None:
        for tp in self._consumer.committed(self._consumer.assignment(), timeout=30):
            if tp.offset >= 0:
                self._consumer.seek(tp)
            else:
                self._consumer.seek(TopicPartition(tp.topic, tp.partition, -2))  # OFFSET_BEGINNING
