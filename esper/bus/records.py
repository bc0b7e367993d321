"""Consumed records: decoding with context, handler retries, and dead letters."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from esper import codec
from esper.bus.topics import DEAD_LETTERS


class Delivered(NamedTuple):
    """One decoded event and where it was in the log. (A tuple: one is made per record, and a
    dataclass costs three times as much to make.)"""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    event: Any

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclasses.dataclass(frozen=True, slots=True)
class Poison:
    """A record that could not be decoded or handled, with the reason."""

    message: Any  # confluent_kafka.Message
    error: BaseException

    @property
    def where(self) -> str:
        m = self.message
        return f"{m.topic()}[{m.partition()}]@{m.offset()}"


def fetch_batch(consumer, size: int, timeout: float) -> list:
    """Up to ``size`` messages: waits up to ``timeout`` for the first one only.

    ``Consumer.consume(size, timeout)`` waits until it has ``size`` messages or the timeout
    passes, which at a low rate delays every record by the whole timeout.
    """
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first, *consumer.consume(size - 1, 0)] if size > 1 else [first]


def group_batches(consumer, batch_size: int, poll_timeout: float, stop,
                  until_idle: float | None) -> Iterator[list]:
    """Non-empty batches of a subscribed consumer until ``stop`` is set or, with
    ``until_idle``, until nothing new came for that long while partitions were assigned."""
    idle_since = time.monotonic()
    while not stop.is_set():
        messages = fetch_batch(consumer, batch_size, poll_timeout)
        if messages:
            yield messages
            idle_since = time.monotonic()
        elif not consumer.assignment():
            idle_since = time.monotonic()  # still joining the group: not idle yet
        elif until_idle is not None and time.monotonic() - idle_since > until_idle:
            return


def decode_message(message) -> Delivered | Poison:
    """Decode one consumed message; a failure becomes Poison naming topic, partition, offset."""
    return decode_messages([message])[0]


def decode_messages(messages: list) -> list[Delivered | Poison]:
    """Decode a batch in one codec call (several times faster than one by one); each failure
    becomes Poison naming its topic, partition and offset."""
    decoded = codec.decode_batch([m.value() or b"" for m in messages], errors="return")
    records: list[Delivered | Poison] = []
    append, error = records.append, codec.DecodeError
    for message, event in zip(messages, decoded):
        if isinstance(event, error):
            where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
            append(Poison(message, event.at(where)))
        else:
            append(Delivered(message.topic(), message.partition(), message.offset(),
                             message.timestamp()[1], message.key(), event))
    return records


def call_with_retries(handler: Callable[[Delivered], Any], record: Delivered, retries: int,
                      backoff_s: float) -> Any:
    """Call ``handler(record)``; retry with exponential backoff; re-raise the last failure."""
    try:
        return handler(record)
    except Exception as error:
        return retry_after_failure(handler, record, retries, backoff_s, error)


def retry_after_failure(handler: Callable[[Delivered], Any], record: Delivered, retries: int,
                        backoff_s: float, error: Exception) -> Any:
    """The retries of ``handler(record)`` once a first call raised ``error``: up to ``retries``
    more calls, ``backoff_s`` apart and doubling; re-raise the last failure. (A consumer calls
    its handler directly and comes here only on a failure: the wrapper costs a few percent of
    a record otherwise.)"""
    for attempt in range(retries):
        time.sleep(backoff_s * 2**attempt)
        try:
            return handler(record)
        except Exception as failure:
            error = failure
    raise error


def header_fingerprint(value: bytes) -> str:
    """The writer-schema fingerprint in a single-object header, known or not ('' if none)."""
    if value[:2] == codec.MAGIC and len(value) >= codec.HEADER_SIZE:
        return bytes(value[2:codec.HEADER_SIZE]).hex()
    return ""


def dead_letter_headers(topic: str, partition: int, offset: int, value: bytes,
                        headers: list[tuple[str, bytes]], error: BaseException
                        ) -> list[tuple[str, bytes]]:
    """The headers of a dead letter: where the record was, what failed, and its event type."""
    return [
        ("source_topic", topic.encode()),
        ("source_partition", str(partition).encode()),
        ("source_offset", str(offset).encode()),
        ("error_class", type(error).__name__.encode()),
        ("error_message", str(error)[:4000].encode(errors="replace")),
        ("fingerprint", header_fingerprint(value).encode()),
    ] + [(k, v) for k, v in headers if k == "event_type"]


def send_dead_letter(produce: Callable[..., None], poison: Poison) -> None:
    """Write the poisoned record, bytes unchanged, to the dead-letter topic."""
    message = poison.message
    value = message.value() or b""
    produce(DEAD_LETTERS.name, message.key(), value,
            dead_letter_headers(message.topic(), message.partition(), message.offset(), value,
                                message.headers() or [], poison.error))
