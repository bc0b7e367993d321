"""The projector on its own (no broker): what lands where, checks, upserts, versions, SQL."""

from __future__ import annotations

import struct

import duckdb
import pytest

from esper import codec
from esper.bus.topics import topic_for
from esper.contracts import BlueprintStateChanged, ComponentType, EventMeta
from esper.projections.client import QueryError, query
from esper.projections.projector import LogRecord, ProjectionVersionMismatch, Projector
from esper.projections.readonly import QueryTimeout, RefusedQuery
from esper.projections.schema import SCHEMA_VERSION
from tests.bus.events import new_run_id
from tests.contracts.released import written_with
from tests.projections.workload import health_signals, story


def records(events, start: int = 0) -> list[LogRecord]:
    return [LogRecord(topic_for(e).name, 0, start + i, 1_700_000_000_000 + i,
                      topic_for(e).key_of(e).encode(), codec.encode(e))
            for i, e in enumerate(events)]


@pytest.fixture
def projector(tmp_path):
    projector = Projector(tmp_path / "p.duckdb")
    yield projector
    projector.close()


def rows(projector: Projector, sql: str) -> list[tuple]:
    return projector.connection.execute(sql).fetchall()


def test_every_event_type_lands_in_its_tables_and_the_views_join_them(projector):
    run_id = new_run_id()
    events = story(run_id)
    assert projector.apply(records(events)) == []

    assert rows(projector, "SELECT count(*) FROM events") == [(len(events),)]
    assert rows(projector, "SELECT status, epochs_completed, model_name FROM runs") == [
        ("completed", 2, "mlp")]
    assert rows(projector, "SELECT count(*) FROM health_signals") == [(24,)]
    assert rows(projector, "SELECT state, alpha, transitions FROM seeds") == [("fossilized", 1.0, 4)]
    assert rows(projector, "SELECT kind FROM anomalies") == [("illegal seed transition",)]
    assert rows(projector, "SELECT count(*) FILTER (WHERE NOT applied) FROM seed_transitions") == [(1,)]
    assert rows(projector, "SELECT state FROM blueprints") == [("characterized",)]
    [(seeds_fossilized, decisions)] = rows(
        projector, "SELECT seeds_fossilized, decisions FROM run_summary")
    assert (seeds_fossilized, decisions) == (1, 1)
    [(kernel, final_state, effect)] = rows(
        projector, "SELECT kernel_id, final_state, round(effect, 6) FROM decision_outcomes")
    assert kernel is not None and final_state == "fossilized" and effect == 0.05
    assert rows(projector, "SELECT germinations, latency_ms FROM kernel_library") == [(1, 0.05)]
    assert rows(projector, "SELECT * FROM unknown_references") == []
    assert rows(projector, "SELECT sum(signals) FROM layer_health_per_epoch") == [(24,)]
    assert projector.offsets() == {
        (topic, 0): offset + 1 for topic, offset in rows(
            projector, 'SELECT topic, max("offset") FROM events GROUP BY topic')}


def test_a_batch_holding_a_key_twice_keeps_the_last_event(projector):
    events = story(new_run_id())
    submitted = next(e for e in events if type(e).__name__ == "BlueprintSubmitted")
    first = BlueprintStateChanged(meta=EventMeta.new(ComponentType.TEZZERET),
                                  blueprint_id=submitted.blueprint_id, from_state="proposed",
                                  to_state="compiling", reason="start")
    second = BlueprintStateChanged(meta=EventMeta.new(ComponentType.TEZZERET),
                                   blueprint_id=submitted.blueprint_id, from_state="compiling",
                                   to_state="failed", reason="broken")
    projector.apply(records([submitted, first, second]))
    assert rows(projector, "SELECT state, last_reason, name FROM blueprints") == [
        ("failed", "broken", "residual adapter")]


def test_out_of_contract_health_is_rejected_naming_the_field_and_the_rest_lands(projector):
    signals = health_signals(new_run_id(), 0, 50)
    batch = records(signals)
    valid = batch[7].value
    ratio = struct.pack("<d", signals[7].dead_neuron_ratio)
    assert valid.count(ratio) == 1
    batch[7] = batch[7]._replace(value=valid.replace(ratio, struct.pack("<d", 2.5)))
    batch.append(LogRecord("telemetry.seed.health", 0, 50, 0, None, b"garbage"))

    rejected = projector.apply(batch)
    assert [r.record.offset for r in rejected] == [50, 7]
    assert "dead_neuron_ratio" in str(rejected[1].error)
    assert "telemetry.seed.health[0]@7" in str(rejected[1].error)
    assert rows(projector, "SELECT count(*) FROM health_signals") == [(49,)]
    assert projector.offsets() == {("telemetry.seed.health", 0): 51}


def test_gradient_norms_land_and_a_v1_signal_has_none(projector):
    measured, old = health_signals(new_run_id(), 0, 2)
    measured = measured.model_copy(update={"gradient_norm": 0.25})
    batch = records([measured, old])
    batch[1] = batch[1]._replace(value=written_with(old, 1))

    assert projector.apply(batch) == []
    assert rows(projector, "SELECT chunk_id, gradient_norm FROM health_signals ORDER BY 1") == [
        (measured.chunk_id, 0.25), (old.chunk_id, None)]


def test_a_negative_gradient_norm_is_rejected_naming_the_field(projector):
    signals = [s.model_copy(update={"gradient_norm": 0.123}) for s in
               health_signals(new_run_id(), 0, 3)]
    batch = records(signals)
    norm = struct.pack("<d", 0.123)
    assert batch[1].value.count(norm) == 1
    batch[1] = batch[1]._replace(value=batch[1].value.replace(
        norm, struct.pack("<d", -0.123)))

    [rejected] = projector.apply(batch)
    assert rejected.record.offset == 1 and "gradient_norm" in str(rejected.error)
    assert rows(projector, "SELECT count(*) FROM health_signals") == [(2,)]


def test_a_file_of_the_previous_schema_version_is_refused(tmp_path):
    projector = Projector(tmp_path / "p.duckdb")
    projector.connection.execute("UPDATE projection_meta SET value = '1'")
    projector.close()
    with pytest.raises(ProjectionVersionMismatch,
                       match=f"holds projection schema version 1; this projector writes "
                             f"version {SCHEMA_VERSION}"):
        Projector(tmp_path / "p.duckdb")


def test_a_refused_file_can_be_deleted_and_rebuilt_by_the_same_process(tmp_path):
    path = tmp_path / "p.duckdb"
    stale = Projector(path)
    stale.connection.execute("UPDATE projection_meta SET value = '1'")
    stale.close()
    try:
        Projector(path)
        pytest.fail("a version 1 file was opened")
    except ProjectionVersionMismatch:  # rebuilt while handling the error, as `esper run projector`
        path.unlink()
        fresh = Projector(path)
    assert rows(fresh, "SELECT value FROM projection_meta") == [(str(SCHEMA_VERSION),)]
    fresh.close()


def test_a_file_of_another_schema_version_is_refused(tmp_path):
    projector = Projector(tmp_path / "p.duckdb")
    projector.connection.execute("UPDATE projection_meta SET value = '0'")
    projector.close()
    with pytest.raises(ProjectionVersionMismatch, match="version 0"):
        Projector(tmp_path / "p.duckdb")


def test_queries_on_a_file_are_read_only_and_time_limited(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPER_HOME", str(tmp_path))  # no live server there
    path = tmp_path / "p.duckdb"
    projector = Projector(path)
    projector.apply(records(story(new_run_id())))
    projector.close()

    assert query("SELECT count(*) AS n FROM runs", db=path).to_pylist() == [{"n": 1}]
    with pytest.raises(RefusedQuery, match="not INSERT"):
        query("INSERT INTO runs (run_id, status) VALUES ('x', 'running')", db=path)
    with pytest.raises(RefusedQuery, match="one statement"):
        query("SELECT 1; SELECT 2", db=path)
    with pytest.raises(QueryError, match="Permission Error"):
        query("SELECT * FROM read_csv('/etc/hostname')", db=path)
    with pytest.raises(QueryTimeout):
        query("SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b",
              db=path, timeout_s=0.5)
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM runs").fetchall() == [(1,)]
