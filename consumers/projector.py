"""`esper run projector`: every topic into the DuckDB projection, exactly once, served as SQL.

The projector reads with ``assign()`` from the offsets stored in its own database (Kafka's
committed offsets play no part), applies each batch in one DuckDB transaction together with
the new offsets, and answers read-only SQL over HTTP on 127.0.0.1 meanwhile. Records it cannot
project go to ``esper.deadletter`` before the transaction that skips them commits.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from confluent_kafka import Producer

from esper.bus import replay
from esper.bus.admin import create_topics
from esper.bus.clients import producer_config
from esper.bus.consumer import StopSignals
from esper.bus.records import dead_letter_headers
from esper import codec
from esper.bus.topics import (
    CATALOGUE,
    COMMANDS,
    DEAD_LETTERS,
    DECISIONS,
    EPOCHS,
    FIELD_REPORTS,
    HEALTH,
    SEED_STATES,
)
from esper.config import kafka_bootstrap
from esper.projections.client import projection_path, server_record
from esper.projections.projector import (
    LogRecord,
    ProjectionVersionMismatch,
    Projector,
    Rejected,
)
from esper.projections.readonly import DEFAULT_TIMEOUT_S
from esper.projections.server import QueryServer

DEFAULT_QUERY_PORT = 8787
TOPICS = [spec.name for spec in CATALOGUE]


def log_records(messages: list) -> list[LogRecord]:
    """The batch as plain records. Only dead letters keep their headers (the projector reads
    them): reading a record's headers costs more than the rest of it, and a rejected record's
    headers are read back from its message (``DeadLetterSink``)."""
    records = []
    append = records.append
    for m in messages:
        topic = m.topic()
        append(LogRecord(topic, m.partition(), m.offset(), m.timestamp()[1], m.key(),
                         m.value() or b"",
                         tuple(m.headers() or ()) if topic == DEAD_LETTERS.name else ()))
    return records


class DeadLetterSink:
    """Dead-letters rejected records; called inside the projection transaction."""

    def __init__(self, bootstrap: str):
        self.producer = Producer(producer_config(bootstrap))
        self.count = 0

    def __call__(self, rejected: list[Rejected], messages: list = ()) -> None:
        """``messages``: the batch the records came from, for their headers."""
        if not rejected:
            return
        headers = {(m.topic(), m.partition(), m.offset()): m.headers() or [] for m in messages}
        for item in rejected:
            record = item.record
            original = headers.get((record.topic, record.partition, record.offset),
                                   list(record.headers))
            self.producer.produce(DEAD_LETTERS.name, record.value, record.key,
                                  headers=dead_letter_headers(
                                      record.topic, record.partition, record.offset,
                                      record.value, original, item.error))
        if self.producer.flush(30):
            raise RuntimeError("dead letters not delivered within 30 s; batch not committed")
        self.count += len(rejected)


RUN_KEYED = {spec.name for spec in (HEALTH, EPOCHS, DECISIONS, COMMANDS, SEED_STATES)}


def of_run(record: LogRecord, run: str) -> bool:
    """Whether a record belongs in a projection of one run: its own events, plus everything
    not tied to a run (blueprints, kernels, policies, dead letters)."""
    if record.topic in RUN_KEYED:
        key = (record.key or b"").decode(errors="replace")
        return key == run or key.startswith(run + "/")
    if record.topic == FIELD_REPORTS.name:  # keyed by blueprint: ask the event
        try:
            return codec.decode(record.value).meta.run_id == run
        except codec.DecodeError:
            return True  # let the projector reject it properly
    return True


def project(projector: Projector, bootstrap: str, *, until: datetime | dict | None = None,
            follow: bool = False, stop: threading.Event | None = None, run: str | None = None,
            dead_letters: DeadLetterSink | None = None, batch_size: int = 20000,
            on_batch=None) -> int:
    """Project every catalogue topic from the stored offsets; returns records projected.

    Without ``follow`` it stops at ``until`` or at the end of the log as it was at the start.
    With ``run`` it keeps that run's events and those tied to no run. Rejected records go to
    ``dead_letters``; a replay passes none, as the live projector already wrote them.
    """
    existing = _existing_topics(bootstrap)
    start = projector.offsets()
    projected = 0
    for batch in replay.batches([t for t in TOPICS if t in existing], start or None, until,
                                follow=follow, bootstrap=bootstrap, stop=stop,
                                batch_size=batch_size):
        records = log_records(batch.messages)
        if run is not None:
            records = [r for r in records if of_run(r, run)]
        sink = (None if dead_letters is None
                else functools.partial(dead_letters, messages=batch.messages))
        projector.apply(records, before_commit=sink, positions=batch.positions)
        projected += len(records)
        if on_batch is not None:
            on_batch(projected)
    return projected


def _existing_topics(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
               .list_topics(timeout=15).topics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="esper run projector", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help=f"projection file (default {projection_path()})")
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("ESPER_QUERY_PORT", DEFAULT_QUERY_PORT)),
                        help="query server port on 127.0.0.1 (ESPER_QUERY_PORT; 0 picks one)")
    parser.add_argument("--query-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds a query may run")
    parser.add_argument("--batch-size", type=int, default=20000)
    args = parser.parse_args(argv)

    bootstrap = kafka_bootstrap()
    create_topics(bootstrap)  # follow every catalogue topic, also those nobody wrote yet
    path = Path(args.db or projection_path())
    try:
        projector = Projector(path)
    except ProjectionVersionMismatch as error:
        # The log is the source of truth: a file of another schema version is rebuilt from it.
        print(f"projector: {error}; rebuilding it from the log", file=sys.stderr)
        path.unlink()
        Path(f"{path}.wal").unlink(missing_ok=True)
        projector = Projector(path)
    stop = threading.Event()
    totals = {"projected": 0, "dead_letters": 0, "since": time.monotonic()}

    def status() -> dict:
        elapsed = max(time.monotonic() - totals["since"], 1e-9)
        return {"db": str(projector.path), "projected": totals["projected"],
                "dead_letters": totals["dead_letters"],
                "events_per_s": round(totals["projected"] / elapsed, 1)}

    server = QueryServer(projector.connection, args.port, timeout_s=args.query_timeout,
                         status=status).start()
    record = server_record()
    record.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a reader never sees half a record.
    partial = record.with_suffix(".tmp")
    partial.write_text(json.dumps({"pid": os.getpid(), "port": server.port,
                                   "db": str(projector.path)}))
    partial.replace(record)
    print(f"projector: {projector.path} <- {bootstrap}; SQL at http://127.0.0.1:{server.port}",
          file=sys.stderr, flush=True)

    sink = DeadLetterSink(bootstrap)

    def on_batch(projected: int) -> None:
        totals["projected"], totals["dead_letters"] = projected, sink.count

    try:
        with StopSignals(stop):
            project(projector, bootstrap, follow=True, stop=stop, dead_letters=sink,
                    batch_size=args.batch_size, on_batch=on_batch)
    finally:
        server.stop()
        record.unlink(missing_ok=True)
        projector.close()
    print(f"projector: stopped after {totals['projected']} records", file=sys.stderr)
    return 0
