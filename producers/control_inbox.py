"""ControlInbox: a run's commands and kernel announcements, read between steps, never waited for.

It reads ``control.kasmina.commands`` and ``compilation.kernel.ready`` with partitions assigned
directly (no group to join, nothing committed), from the moment the run started, or from the
offsets a checkpoint saved. What the log already held then is read before the run's first step,
so that commands sent before a run (``--commands-from``) or while it was stopped are applied from
its start, whatever the broker's latency. After that librdkafka fetches in the background; `take`
only empties what has already arrived.

A germinate command whose kernel is not in the artifact store yet is held until a KernelReady
announces that kernel (Tezzeret may announce a kernel after the command that names it was
sent, and the two topics are not ordered with each other).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from esper.artifacts import ArtifactStore
from esper.bus import topics
from esper.bus.clients import consumer_config
from esper.bus.records import Delivered, decode_message
from esper.bus.replay import plan
from esper.contracts import KasminaCommand, KasminaControlCommand, KernelReady

BATCH = 500
BACKLOG_TIMEOUT = 30.0  # seconds to read what the log held at the start before training anyway


class ControlInbox:
    def __init__(self, run_id: str, store: ArtifactStore, *, start: datetime | Mapping[tuple[str, int], int],
                 held: list[KasminaControlCommand] = (), bootstrap: str | None = None,
                 backlog_timeout: float = BACKLOG_TIMEOUT):
        self.run_id = run_id
        self.store = store
        self.held = list(held)
        self.undecodable: list[str] = []  # where and why, for the run's summary
        self._consumer = Consumer(consumer_config(f"esper-train-{run_id}", bootstrap))
        backlog = plan(self._consumer, (topics.COMMANDS.name, topics.KERNELS.name), start, None, follow=False)
        self._next = dict(backlog.start)
        self._consumer.assign([TopicPartition(topic, partition, offset)
                               for (topic, partition), offset in sorted(backlog.start.items())])
        self._ready = self._read_backlog(backlog.end, backlog_timeout)

    def _read_backlog(self, end: dict[tuple[str, int], int], timeout: float) -> list[KasminaControlCommand]:
        """The commands that can be applied among those up to ``end`` (the log's end at the start)."""
        ready: list[KasminaControlCommand] = []
        behind = {tp for tp, offset in end.items() if self._next[tp] < offset}
        deadline = time.monotonic() + timeout
        while behind:
            if time.monotonic() > deadline:
                print(f"esper train: the commands sent before the run were not all read within {timeout:g} s; "
                      "the rest are applied as they arrive", file=sys.stderr)
                break
            ready += self._receive(self._consumer.consume(BATCH, 0.1))
            # Positions, not offsets of messages seen: transaction markers also move them.
            for tp in self._consumer.position([TopicPartition(*tp) for tp in behind]):
                if tp.offset >= end[(tp.topic, tp.partition)]:
                    behind.discard((tp.topic, tp.partition))
        return ready

    def take(self) -> list[KasminaControlCommand]:
        """The commands for this run that can be applied now, in the order they arrived."""
        ready, self._ready = self._ready + self._receive(self._consumer.consume(BATCH, 0)), []
        return ready

    def _receive(self, messages: list) -> list[KasminaControlCommand]:
        ready: list[KasminaControlCommand] = []
        for message in messages:
            if message.error() is not None:
                if message.error().fatal():
                    raise KafkaException(message.error())
                continue
            self._next[(message.topic(), message.partition())] = message.offset() + 1
            record = decode_message(message)
            if not isinstance(record, Delivered):
                self.undecodable.append(f"{record.where}: {type(record.error).__name__}: {record.error}")
                print(f"esper train: skipping an undecodable record at {self.undecodable[-1]}", file=sys.stderr)
                continue
            event = record.event
            if isinstance(event, KernelReady):
                ready += self._released_by(event.kernel.kernel_id)
            elif isinstance(event, KasminaControlCommand) and event.meta.run_id == self.run_id:
                if self._waits_for_kernel(event):
                    self.held.append(event)
                else:
                    ready.append(event)
        return ready

    def _waits_for_kernel(self, command: KasminaControlCommand) -> bool:
        return (KasminaCommand(command.command) is KasminaCommand.GERMINATE
                and self.store.find_kernel(command.kernel_id) is None)

    def _released_by(self, kernel_id: str) -> list[KasminaControlCommand]:
        released = [command for command in self.held if command.kernel_id == kernel_id]
        self.held = [command for command in self.held if command.kernel_id != kernel_id]
        return released

    def state(self) -> dict[str, Any]:
        """Where to resume reading, and the commands still held: for a checkpoint."""
        return {
            "offsets": [[topic, partition, offset] for (topic, partition), offset in sorted(self._next.items())],
            "held": [command.model_dump(mode="json") for command in self.held],
        }

    @staticmethod
    def resume_arguments(state: dict[str, Any]) -> dict[str, Any]:
        """The ``start`` and ``held`` that continue from a `state`."""
        return {
            "start": {(topic, partition): offset for topic, partition, offset in state["offsets"]},
            "held": [KasminaControlCommand.model_validate(command) for command in state["held"]],
        }

    def close(self) -> None:
        self._consumer.close()
