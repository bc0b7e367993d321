"""The projector: log records in, DuckDB rows out, exactly once.

`Projector.apply(records)` projects a batch in one DuckDB transaction that also stores, per
partition, the next offset to read; a restart resumes from those offsets, so every record
counts once whatever the moment of a crash. Records are decoded straight to Arrow per event
type and inserted with set-based SQL (`appliers.py`); nothing on the hot path builds a Python
object per event. Every row that lands satisfies the contract: HealthSignals (the bulk) are
screened by a vectorized check, and any row it doubts is decoded one by one through the full
model validation; other event types go through model validation directly. Records that fail
are returned as rejected, for the caller to dead-letter before the transaction commits.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa

from esper import codec
from esper.bus.topics import DEAD_LETTERS
from esper.projections import lifecycle
from esper.projections.appliers import STATEMENTS, events_statement
from esper.projections.schema import SCHEMA_VERSION, TABLES, create_statements

HEALTH = "esper.telemetry.HealthSignal"
SEED_STATE = "esper.lifecycle.SeedStateChanged"
UUID = "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
IDENTIFIER = "'^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'"
# The HealthSignal contract as one SQL predicate; rows outside it are re-checked by the model.
HEALTH_WITHIN_CONTRACT = f"""
    layer_id >= 0 AND seed_id >= 0 AND chunk_id >= 0 AND epoch >= 0 AND error_count >= 0
    AND active_seeds >= 0 AND total_seeds >= 1 AND active_seeds <= total_seeds
    AND isfinite(activation_variance) AND activation_variance >= 0
    AND dead_neuron_ratio BETWEEN 0 AND 1 AND avg_correlation BETWEEN -1 AND 1
    AND (gradient_norm IS NULL OR (isfinite(gradient_norm) AND gradient_norm >= 0))
    AND health_score BETWEEN 0 AND 1
    AND isfinite(execution_latency) AND execution_latency >= 0 AND isfinite("timestamp")
    AND regexp_full_match(meta.event_id, {UUID})
    AND regexp_full_match(meta.correlation_id, {UUID})
    AND (meta.causation_id IS NULL OR regexp_full_match(meta.causation_id, {UUID}))
    AND meta.run_id IS NOT NULL AND regexp_full_match(meta.run_id, {IDENTIFIER})"""


class LogRecord(NamedTuple):
    """One Kafka record as the projector sees it: plain values, no client objects. (A tuple:
    one is made per record, and a dataclass costs three times as much to make.)"""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclasses.dataclass(frozen=True, slots=True)
class Rejected:
    record: LogRecord
    error: Exception


class ProjectionVersionMismatch(RuntimeError):
    """The file was built by another projection schema version and must be rebuilt."""


class Projector:
    """Owns one DuckDB projection file (DuckDB allows a single writer process)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(self.path))
        try:
            self._check_version()
        except ProjectionVersionMismatch:
            # DuckDB keeps a database open while a connection to it lives, and hands it to the
            # next connect to the same path even after the file is deleted: close it, so that a
            # caller can rebuild the file.
            self.connection.close()
            raise
        # Catching up writes hundreds of MB: checkpointing at DuckDB's default 16 MB of WAL
        # rewrote the tables every few batches (a quarter of the time spent writing).
        self.connection.execute("SET checkpoint_threshold = '64MB'")
        for statement in create_statements():
            self.connection.execute(statement)
        self.connection.execute(
            "INSERT OR REPLACE INTO projection_meta VALUES ('schema_version', ?)",
            [str(SCHEMA_VERSION)])

    def _check_version(self) -> None:
        tables = {r[0] for r in self.connection.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        if "projection_meta" not in tables:
            if tables & set(TABLES):
                raise ProjectionVersionMismatch(f"{self.path} has tables but no schema version")
            return
        row = self.connection.execute(
            "SELECT value FROM projection_meta WHERE key = 'schema_version'").fetchone()
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise ProjectionVersionMismatch(
                f"{self.path} holds projection schema version {row[0] if row else '?'}; "
                f"this projector writes version {SCHEMA_VERSION}")

    def offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to read, per partition projected so far."""
        rows = self.connection.execute("SELECT * FROM projection_offsets").fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def close(self) -> None:
        self.connection.close()

    # --- applying -------------------------------------------------------------------------

    def apply(self, records: list[LogRecord],
              before_commit: Callable[[list[Rejected]], None] | None = None,
              positions: dict[tuple[str, int], int] | None = None) -> list[Rejected]:
        """Project ``records`` (in log order per partition) and store the offsets reached, in
        one transaction. ``positions`` (the reader's next offsets) may run past the records,
        over transaction markers. ``before_commit(rejected)`` runs inside the transaction: a
        caller that dead-letters there loses nothing if the commit then fails."""
        if not records and not positions:
            return []
        connection = self.connection
        connection.begin()
        try:
            rejected = self._project(records) if records else []
            self._store_offsets(records, positions or {})
            if before_commit is not None:
                before_commit(rejected)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        return rejected

    def _project(self, records: list[LogRecord]) -> list[Rejected]:
        rejected: list[Rejected] = []
        # Grouped by the values' first bytes (the framing and writer fingerprint) first: one
        # schema lookup per writer, not per record.
        by_header: dict[bytes, list[LogRecord]] = defaultdict(list)
        dead_letters = []
        for record in records:
            if record.topic == DEAD_LETTERS.name:
                dead_letters.append(record)
            else:
                by_header[record.value[:codec.HEADER_SIZE]].append(record)
        by_type: dict[str, list[LogRecord]] = defaultdict(list)
        for header, group in by_header.items():
            try:
                by_type[codec.default_codec().writer_schema_of(header).name] += group
            except codec.DecodeError as error:  # the header decides it: the same for them all
                rejected += [Rejected(record, error.at(record.where)) for record in group]
        for event_type, group in by_type.items():
            if event_type == HEALTH:
                batch, bad = self._screened_health(group)
            else:
                batch, bad = self._validated(event_type, group)
            rejected += bad
            if batch is not None:
                self._insert(event_type, batch)
        if dead_letters:
            self._insert_dead_letters(dead_letters)
        return rejected

    def _validated(self, event_type: str, group: list[LogRecord]):
        decoded = codec.decode_batch([r.value for r in group], errors="return")
        valid, bad = [], []
        for record, event in zip(group, decoded):
            if isinstance(event, codec.DecodeError):
                bad.append(Rejected(record, event.at(record.where)))
            else:
                valid.append((record, event))
        if event_type == SEED_STATE and valid:
            checked = lifecycle.check_transitions(
                self.connection, [((r.topic, r.partition, r.offset), e) for r, e in valid])
            lifecycle.write(self.connection, checked)
        if not valid:
            return None, bad
        kept = [record for record, _ in valid]
        return self._with_position(codec.decode_to_arrow([r.value for r in kept], event_type),
                                   kept), bad

    def _screened_health(self, group: list[LogRecord]):
        try:
            batch = codec.decode_to_arrow([r.value for r in group], HEALTH)
        except codec.DecodeError:  # some value does not even parse: sort them one by one
            return self._validated(HEALTH, group)
        self.connection.register("screen", batch)
        try:
            verdicts = self.connection.sql(
                f"SELECT {HEALTH_WITHIN_CONTRACT} AS ok FROM screen").fetchnumpy()["ok"]
        finally:
            self.connection.unregister("screen")
        doubtful = [int(i) for i in (~verdicts.filled(False) if hasattr(verdicts, "filled")
                                     else ~verdicts.astype(bool)).nonzero()[0]]
        if not doubtful:
            return self._with_position(batch, group), []
        bad, bad_rows = [], set()
        for index in doubtful:
            try:
                codec.decode(group[index].value, where=group[index].where)
            except codec.DecodeError as error:
                bad.append(Rejected(group[index], error))
                bad_rows.add(index)
        if not bad_rows:
            return self._with_position(batch, group), []
        keep = [i for i in range(len(group)) if i not in bad_rows]
        if not keep:
            return None, bad
        return self._with_position(batch.take(keep), [group[i] for i in keep]), bad

    @staticmethod
    def _with_position(batch: pa.RecordBatch, records: list[LogRecord]) -> pa.RecordBatch:
        columns = {
            "_topic": pa.array([r.topic for r in records], pa.string()),
            "_partition": pa.array([r.partition for r in records], pa.int32()),
            "_offset": pa.array([r.offset for r in records], pa.int64()),
            "_logged_at": pa.array([r.timestamp_ms for r in records],
                                   pa.timestamp("ms", tz="UTC")),
            "_key": pa.array([r.key.decode(errors="replace") if r.key is not None else None
                              for r in records], pa.string()),
        }
        for name, column in columns.items():
            batch = batch.append_column(name, column)
        return batch

    def _insert(self, event_type: str, batch: pa.RecordBatch) -> None:
        own_columns = [name for name in batch.schema.names if not name.startswith("_")]
        self.connection.register("b", batch)
        try:
            for statement in STATEMENTS.get(event_type, []):
                self.connection.execute(statement)
            self.connection.execute(events_statement(event_type, own_columns))
        finally:
            self.connection.unregister("b")

    def _insert_dead_letters(self, records: list[LogRecord]) -> None:
        rows = []
        for record in records:
            headers = {k: v.decode(errors="replace") for k, v in record.headers}
            rows.append({
                "partition": record.partition, "offset": record.offset,
                "key": record.key.decode(errors="replace") if record.key is not None else None,
                "source_topic": headers.get("source_topic"),
                "source_partition": _int(headers.get("source_partition")),
                "source_offset": _int(headers.get("source_offset")),
                "error_class": headers.get("error_class"),
                "error_message": headers.get("error_message"),
                "fingerprint": headers.get("fingerprint") or None,
                "event_type": headers.get("event_type"),
                "value": record.value,
                "logged_at": pa.scalar(record.timestamp_ms, pa.timestamp("ms", tz="UTC")).as_py(),
            })
        self.connection.register("letters", pa.Table.from_pylist(rows))
        try:
            self.connection.execute("INSERT INTO dead_letters BY NAME SELECT * FROM letters")
        finally:
            self.connection.unregister("letters")

    def _store_offsets(self, records: Iterable[LogRecord],
                       positions: dict[tuple[str, int], int]) -> None:
        following: dict[tuple[str, int], int] = dict(positions)
        if not positions:  # else the reader's positions are past every record already
            for record in records:
                key = (record.topic, record.partition)
                following[key] = max(following.get(key, 0), record.offset + 1)
        offsets = pa.table({
            "topic": [topic for topic, _ in following],
            "partition": pa.array([partition for _, partition in following], pa.int32()),
            "next_offset": list(following.values()),
        })
        self.connection.register("new_offsets", offsets)
        try:
            self.connection.execute(
                "INSERT OR REPLACE INTO projection_offsets SELECT * FROM new_offsets")
        finally:
            self.connection.unregister("new_offsets")


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None
