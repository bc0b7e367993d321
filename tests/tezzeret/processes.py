"""Tezzeret as the real process `esper run tezzeret`, and reading what it committed."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from esper.bus import replay
from esper.bus.topics import BLUEPRINTS, CHARACTERIZATIONS, COMMANDS, DECISIONS, EPOCHS, KERNELS
from tests.logged_process import LoggedProcess

INPUT_TOPICS = [BLUEPRINTS, DECISIONS, EPOCHS]
OUTPUT_TOPICS = [BLUEPRINTS.name, KERNELS.name, CHARACTERIZATIONS.name, COMMANDS.name]


def skip_earlier_input(bootstrap: str, group: str) -> None:
    """Start ``group`` at the current end of Tezzeret's input topics.

    Tests of one module share a broker; a new group would otherwise begin with the inputs
    that earlier tests left there.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        ends = []
        for spec in INPUT_TOPICS:
            for partition in range(spec.partitions):
                _, high = consumer.get_watermark_offsets(TopicPartition(spec.name, partition),
                                                         timeout=10)
                ends.append(TopicPartition(spec.name, partition, high))
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


class TezzeretProcess(LoggedProcess):
    """One `esper run tezzeret` instance; its log lines are collected as they come."""

    def __init__(self, bootstrap: str, instance: str, artifacts: str, group: str,
                 env: dict[str, str] | None = None):
        super().__init__("tezzeret", "run", "tezzeret", "--instance", instance, "--group", group,
                         env={"ESPER_KAFKA_BOOTSTRAP": bootstrap, "ESPER_ARTIFACTS": artifacts,
                              **(env or {})})


def committed(bootstrap: str, run_id: str | None = None) -> list:
    """Every committed event on Tezzeret's output topics (of one run, if given)."""
    return [record.event for record in replay.read(OUTPUT_TOPICS, run=run_id, bootstrap=bootstrap)]


def eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.5)


def wait_for(bootstrap: str, done: Callable[[list], bool], run_id: str | None = None,
             timeout: float = 120.0) -> list:
    """Committed output events, once ``done(events)`` holds; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        events = committed(bootstrap, run_id)
        if done(events):
            return events
        if time.monotonic() > deadline:
            kinds = sorted(type(e).__name__ for e in events)
            raise AssertionError(f"output not complete within {timeout:.0f} s; have {kinds}")
        time.sleep(0.5)
