"""Tamiyo as the real process `esper run tamiyo`, and the events it committed."""

from __future__ import annotations

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
