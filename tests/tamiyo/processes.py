"""Tamiyo as the real process `esper run tamiyo`, and the events it committed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from esper.bus import replay
from esper.bus.producer import EventProducer
from esper.bus.topics import DECISIONS, EPOCHS
from esper.contracts import AdaptationDecision
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


class TamiyoProcess:
    """One `esper run tamiyo` instance; its log lines are collected as they come."""

    def __init__(self, bootstrap: str, instance: str, group: str, *options: str):
        self.args = [sys.executable, "-m", "esper", "run", "tamiyo", "--instance", instance,
                     "--group", group, "--bootstrap", bootstrap, *options]
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen | None = None

    def start(self) -> TamiyoProcess:
        self.lines.clear()
        self.process = subprocess.Popen(self.args, stderr=subprocess.PIPE, text=True,
                                        env=os.environ.copy())
        threading.Thread(target=self._collect, args=(self.process,), daemon=True).start()
        return self

    def _collect(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> str:
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                if self.process.poll() is not None and not self._changed.wait(0.5):
                    raise AssertionError(f"tamiyo exited ({self.process.returncode}) before "
                                         f"logging {pattern!r}:\n" + "\n".join(self.lines))
                if time.monotonic() > deadline:
                    raise AssertionError(f"no log line {pattern!r} within {timeout:.0f} s:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(0.2)

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


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
