"""Tezzeret as the real process `esper run tezzeret`, and reading what it committed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from esper.bus import replay
from esper.bus.topics import BLUEPRINTS, CHARACTERIZATIONS, COMMANDS, DECISIONS, EPOCHS, KERNELS

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


class TezzeretProcess:
    """One `esper run tezzeret` instance; its log lines are collected as they come."""

    def __init__(self, bootstrap: str, instance: str, artifacts: str, group: str,
                 env: dict[str, str] | None = None):
        self.args = [sys.executable, "-m", "esper", "run", "tezzeret", "--instance", instance,
                     "--group", group]
        self.env = {**os.environ, "ESPER_KAFKA_BOOTSTRAP": bootstrap,
                    "ESPER_ARTIFACTS": artifacts, **(env or {})}
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen | None = None

    def start(self) -> TezzeretProcess:
        self.process = subprocess.Popen(self.args, stderr=subprocess.PIPE, text=True,
                                        env=self.env)
        threading.Thread(target=self._collect, daemon=True).start()
        return self

    def _collect(self) -> None:
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> str:
        """The first log line matching ``pattern``, waiting for it if need be."""
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                if self.process.poll() is not None and not self._changed.wait(0.5):
                    raise AssertionError(f"tezzeret exited ({self.process.returncode}) before "
                                         f"logging {pattern!r}:\n" + "\n".join(self.lines))
                if time.monotonic() > deadline:
                    raise AssertionError(f"no log line {pattern!r} within {timeout:.0f} s:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(0.2)

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops it; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


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
