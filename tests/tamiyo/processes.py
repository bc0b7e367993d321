"""Tamiyo as the real process `esper run tamiyo`, and the events it committed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from esper.bus import replay
from esper.bus.producer import EventProducer
from esper.bus.topics import DECISIONS, EPOCHS
from esper.contracts import AdaptationDecision
from tests.logged_process import LoggedProcess
from tests.tamiyo.world import SyntheticRun


def start_group_at_end(bootstrap: str, group: str) -> None:
    """Commit ``group``'s offsets at the current end of system.events.epoch, so that a new
    instance decides only for the runs its test produces."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        ends = [TopicPartition(EPOCHS.name, p, consumer.get_watermark_offsets(
            TopicPartition(EPOCHS.name, p), timeout=10)[1]) for p in range(EPOCHS.partitions)]
        deadline = time.monotonic() + 30
        while True:  # a fresh broker's group coordinator takes a moment to load
            try:
                consumer.commit(offsets=ends, asynchronous=False)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


def wait_until_group_caught_up(bootstrap: str, group: str, timeout: float = 90.0) -> None:
    """Until ``group`` has committed every partition of system.events.epoch up to its end: its
    instances have decided on every epoch in the log, and committed those decisions."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    partitions = [TopicPartition(EPOCHS.name, p) for p in range(EPOCHS.partitions)]
    deadline = time.monotonic() + timeout
    try:
        while True:
            ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
            committed = [tp.offset for tp in consumer.committed(partitions, timeout=10)]
            if all(c >= end for c, end in zip(committed, ends)):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"group {group} committed {committed} of system.events.epoch, "
                                     f"not its end {ends}, within {timeout:.0f} s")
            time.sleep(0.2)
    finally:
        consumer.close()


def assigned_partitions(process: LoggedProcess) -> set[int]:
    """The system.events.epoch partitions of the latest assignment ``process`` logged."""
    lines = [line for line in process.lines if " assigned " in line]
    return {int(n) for n in re.findall(rf"{re.escape(EPOCHS.name)}\[(\d+)\]", lines[-1])
            } if lines else set()


def wait_until_split(*processes: LoggedProcess, timeout: float = 60.0) -> list[set[int]]:
    """Until the processes' latest assignments split system.events.epoch between them, each
    owning some: the group has them all. Returns each one's partitions."""
    deadline = time.monotonic() + timeout
    while True:
        owned = [assigned_partitions(process) for process in processes]
        if all(owned) and sorted(p for ps in owned for p in ps) == list(range(EPOCHS.partitions)):
            return owned
        if time.monotonic() > deadline:
            raise AssertionError(f"system.events.epoch not split between {len(processes)} "
                                 f"instances within {timeout:.0f} s: {owned}")
        time.sleep(0.2)


class TamiyoProcess(LoggedProcess):
    """One `esper run tamiyo` instance; its log lines are collected as they come."""

    def __init__(self, bootstrap: str, instance: str, group: str, *options: str):
        super().__init__("tamiyo", "run", "tamiyo", "--instance", instance, "--group", group,
                         "--bootstrap", bootstrap, *options)


def produce_epochs(producer: EventProducer, run: SyntheticRun, epochs: range) -> list:
    """Each epoch's health, then its EpochCompleted, as Tolaria sends them."""
    events = []
    for epoch in epochs:
        signals = run.health_signals(epoch)
        producer.send_batch(signals)
        producer.flush()
        trigger = run.epoch_completed(epoch)
        producer.send(trigger)
        producer.flush()
        events += [*signals, trigger]
    return events


def committed_decisions(bootstrap: str, run_id: str) -> list[AdaptationDecision]:
    return [r.event for r in replay.read([DECISIONS.name], run=run_id, bootstrap=bootstrap)]


def wait_for_decisions(bootstrap: str, run_id: str, done: Callable[[list], bool],
                       timeout: float = 90.0) -> list[AdaptationDecision]:
    deadline = time.monotonic() + timeout
    while True:
        decisions = committed_decisions(bootstrap, run_id)
        if done(decisions):
            return decisions
        if time.monotonic() > deadline:
            raise AssertionError(f"decisions of {run_id} not complete within {timeout:.0f} s; "
                                 f"have {len(decisions)}")
        time.sleep(0.5)
