"""Replay: read topics from a start to a bound as decoded events, partition by partition.

A start is the beginning, a time (``offsets_for_times``: the first record at or after it) or
explicit offsets. A bound is a time (records after it are excluded), explicit end offsets
(exclusive), or, by default, the high watermarks when the replay starts, so a replay ends even
while producers keep writing. ``follow=True`` instead keeps reading new records until stopped.
Replays use ``assign()`` with explicit offsets: no consumer group to join, nothing committed.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from esper.bus.clients import consumer_config
from esper.bus.records import Delivered, Poison, decode_messages, fetch_batch

class NoSuchTopic(ValueError):
    """A replay names a topic the cluster does not have."""


PartitionOffsets = Mapping[tuple[str, int], int]


@dataclasses.dataclass(frozen=True)
class ReplayPlan:
    """For each partition: the first offset to read and the offset to stop before."""

    start: dict[tuple[str, int], int]
    end: dict[tuple[str, int], int | None]  # None: follow, no end


def _millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"replay times must be timezone-aware, got {moment.isoformat()}")
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)


def _partitions(consumer: Consumer, topics: Iterable[str]) -> list[tuple[str, int]]:
    metadata = consumer.list_topics(timeout=15)
    found = []
    for topic in topics:
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise NoSuchTopic(f"topic {topic!r} does not exist on the cluster")
        found += [(topic, p) for p in sorted(metadata.topics[topic].partitions)]
    return found


def _offsets_at(consumer: Consumer, partitions, moment: datetime,
                high: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    """The first offset whose timestamp is >= moment, per partition (the end if none)."""
    millis = _millis(moment)
    found = consumer.offsets_for_times(
        [TopicPartition(t, p, millis) for t, p in partitions], timeout=15)
    return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else high[(tp.topic, tp.partition)]
            for tp in found}


def plan(consumer: Consumer, topics: Iterable[str], start: datetime | PartitionOffsets | None,
         until: datetime | PartitionOffsets | None, follow: bool) -> ReplayPlan:
    partitions = _partitions(consumer, topics)
    low, high = {}, {}
    for tp in partitions:
        low[tp], high[tp] = consumer.get_watermark_offsets(TopicPartition(*tp), timeout=15)
    if start is None:
        first = dict(low)
    elif isinstance(start, datetime):
        first = _offsets_at(consumer, partitions, start, high)
    else:
        first = {tp: max(start.get(tp, low[tp]), low[tp]) for tp in partitions}
    if follow:
        end: dict[tuple[str, int], int | None] = {tp: None for tp in partitions}
    elif until is None:
        end = dict(high)
    elif isinstance(until, datetime):
        # The first record after `until` is where to stop; never beyond what exists now.
        after = _offsets_at(consumer, partitions, _next_milli(until), high)
        end = {tp: min(after[tp], high[tp]) for tp in partitions}
    else:
        end = {tp: min(until.get(tp, high[tp]), high[tp]) for tp in partitions}
    return ReplayPlan(first, end)


def _next_milli(moment: datetime) -> datetime:
    return datetime.fromtimestamp((_millis(moment) + 1) / 1000, tz=timezone.utc)


@dataclasses.dataclass(frozen=True)
class LogBatch:
    """Messages in log order per partition, and where each partition's reading stands after
    them: the next offset to read, past any transaction markers and aborted records."""

    messages: list
    positions: dict[tuple[str, int], int]


def batches(topics: Iterable[str], start: datetime | PartitionOffsets | None = None,
            until: datetime | PartitionOffsets | None = None, *, follow: bool = False,
            bootstrap: str | None = None, stop: threading.Event | None = None,
            batch_size: int = 1000, poll_timeout: float = 0.5) -> Iterator[LogBatch]:
    """Raw messages of ``topics`` from ``start`` to ``until``; ends at the bound, or
    (``follow``) when ``stop`` is set. A batch without messages comes when only positions
    moved (past a transaction marker, say)."""
    consumer = Consumer(consumer_config(f"esper-replay-{uuid.uuid4()}", bootstrap))
    try:
        replay = plan(consumer, topics, start, until, follow)
        live = {tp for tp in replay.start
                if replay.end[tp] is None or replay.start[tp] < replay.end[tp]}
        if not live:
            return
        consumer.assign([TopicPartition(t, p, replay.start[(t, p)] if replay.start[(t, p)] >= 0
                                        else OFFSET_BEGINNING) for t, p in sorted(live)])
        reported: dict[tuple[str, int], int] = {}
        while live and not (stop is not None and stop.is_set()):
            messages = fetch_batch(consumer, batch_size, poll_timeout)
            within = []
            for message in messages:
                if message.error() is not None:
                    continue
                tp = (message.topic(), message.partition())
                end = replay.end.get(tp)
                if tp in live and (end is None or message.offset() < end):
                    within.append(message)
            positions = {}
            for tp in consumer.position([TopicPartition(*tp) for tp in live]):
                key, end = (tp.topic, tp.partition), replay.end[(tp.topic, tp.partition)]
                if tp.offset < 0:
                    continue
                positions[key] = tp.offset if end is None else min(tp.offset, end)
                if end is not None and tp.offset >= end:
                    _finish(consumer, live, key)
            moved = {tp: o for tp, o in positions.items() if reported.get(tp) != o}
            if within or moved:
                reported.update(moved)
                yield LogBatch(within, positions)
    finally:
        consumer.close()


def read(topics: Iterable[str], start: datetime | PartitionOffsets | None = None,
         until: datetime | PartitionOffsets | None = None, *, run: str | None = None,
         follow: bool = False, bootstrap: str | None = None, include_poison: bool = False,
         poll_timeout: float = 0.5) -> Iterator[Delivered | Poison]:
    """Yield decoded events of ``topics`` from ``start`` to ``until`` (see the module doc).

    ``run`` keeps only events whose ``meta.run_id`` equals it. Undecodable records are
    skipped unless ``include_poison``, which yields them as Poison.
    """
    for batch in batches(topics, start, until, follow=follow, bootstrap=bootstrap,
                         poll_timeout=poll_timeout):
        for record in decode_messages(batch.messages):
            if isinstance(record, Poison):
                if include_poison:
                    yield record
            elif run is None or getattr(record.event.meta, "run_id", None) == run:
                yield record


def _finish(consumer: Consumer, live: set, tp: tuple[str, int]) -> None:
    live.discard(tp)
    consumer.incremental_unassign([TopicPartition(*tp)])
