"""The projector process on a broker of its own: live equals replay, exactly once across
kill -9, time travel, and SQL while it ingests."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timezone

import pytest
from confluent_kafka import Producer

from esper import codec
from esper.bus.admin import create_topics
from esper.bus.topics import topic_for
from esper.projections.projector import Projector
from esper.projections.schema import SCHEMA_VERSION
from tests.bus.events import new_run_id
from tests.contracts.released import written_with
from tests.projections.live import ProjectorProcess, cli, produce, tables_of
from tests.projections.workload import health_signals, story


@pytest.fixture(scope="module")
def bootstrap(private_kafka):
    _, _, bootstrap = private_kafka
    create_topics(bootstrap)
    return bootstrap


def test_live_projection_equals_a_replay_into_a_fresh_file(bootstrap, tmp_path):
    produce(bootstrap, story(new_run_id()) + story(new_run_id()))
    poison = Producer({"bootstrap.servers": bootstrap})
    poison.produce("telemetry.seed.health", b"\xc3\x01 not a real event", b"run-x/1",
                   headers=[("event_type", b"HealthSignal")])
    poison.flush(10)
    # Transactions leave markers (and aborted records) that no reader ever receives: the
    # projector must still count itself caught up, and replays must agree with it.
    run_id = new_run_id()
    transactional = Producer({"bootstrap.servers": bootstrap, "transactional.id": run_id})
    transactional.init_transactions(30)
    for commit, events in ((True, story(run_id)[:5]), (False, story(run_id)[5:9])):
        transactional.begin_transaction()
        for event in events:
            spec = topic_for(event)
            transactional.produce(spec.name, codec.encode(event), spec.key_of(event))
        (transactional.commit_transaction if commit else transactional.abort_transaction)(30)
    live = ProjectorProcess(tmp_path, bootstrap).start()
    live.wait_caught_up()
    live.stop()

    result = cli("replay", "--into", str(tmp_path / "replayed.duckdb"), home=tmp_path,
                 bootstrap=bootstrap)
    assert result.returncode == 0, result.stderr
    live_tables, replayed = tables_of(live.db), tables_of(tmp_path / "replayed.duckdb")
    assert replayed == live_tables
    assert all(live_tables[t] for t in ("runs", "seeds", "kernels", "field_reports",
                                        "anomalies", "dead_letters", "policies"))
    committed = [r for r in live_tables["events"] if r[5] == run_id]
    assert len(committed) == 4  # five committed (one is a blueprint's, of no run); none aborted
    [letter] = [row for row in live_tables["dead_letters"] if row[3] == "telemetry.seed.health"]
    source_offset, error_class, event_type = letter[5], letter[6], letter[9]
    assert source_offset >= 0 and error_class == "UnknownFingerprint"
    assert event_type == "HealthSignal"  # the rejected record's own header, kept


def test_kill_9_at_random_points_keeps_every_count_exact(bootstrap, tmp_path):
    run_id = new_run_id()
    total, chunk = 40_000, 500
    projector = ProjectorProcess(tmp_path, bootstrap).start()
    done = threading.Event()

    def write():
        for start in range(0, total, chunk):
            produce(bootstrap, health_signals(run_id, start // 5000, chunk, start=start))
            time.sleep(0.02)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    rng = random.Random(7)
    kills = 0
    while not done.is_set() or kills < 3:
        time.sleep(rng.uniform(0.3, 1.2))
        projector.kill()
        kills += 1
        projector.start()
    writer.join()
    projector.wait_caught_up()
    rows, distinct, low, high = projector.sql(
        "SELECT count(*), count(DISTINCT event_id), min(chunk_id), max(chunk_id) "
        f"FROM health_signals WHERE run_id = '{run_id}'")[0]
    events = projector.sql(f"SELECT count(*) FROM events WHERE run_id = '{run_id}'")[0][0]
    projector.stop()
    assert kills >= 3
    assert (rows, distinct, low, high, events) == (total, total, 0, total - 1, total)


def test_replay_until_a_time_equals_the_live_projection_at_that_time(bootstrap, tmp_path):
    projector = ProjectorProcess(tmp_path, bootstrap).start()
    produce(bootstrap, story(new_run_id()))
    projector.wait_caught_up()
    projector.stop()  # the file as it was at `moment`
    time.sleep(0.05)
    moment = datetime.now(timezone.utc)
    time.sleep(0.05)
    as_it_was = tables_of(projector.db)

    projector.start()
    produce(bootstrap, story(new_run_id()))
    projector.wait_caught_up()
    projector.stop()
    assert tables_of(projector.db) != as_it_was

    past = tmp_path / "past.duckdb"
    result = cli("replay", "--into", str(past), "--until", moment.isoformat(), home=tmp_path,
                 bootstrap=bootstrap)
    assert result.returncode == 0, result.stderr
    assert tables_of(past) == as_it_was


def test_sql_answers_while_ingesting_refuses_writes_and_stops_runaways(bootstrap, tmp_path):
    projector = ProjectorProcess(tmp_path, bootstrap, "--query-timeout", "2").start()
    run_id = new_run_id()
    writer = threading.Thread(target=lambda: [
        produce(bootstrap, health_signals(run_id, 0, 1000, start=i * 1000)) for i in range(20)])
    writer.start()
    counts = []
    while writer.is_alive():
        answer = cli("sql", f"SELECT count(*) AS n FROM health_signals WHERE run_id = '{run_id}'",
                     home=tmp_path, bootstrap=bootstrap)
        assert answer.returncode == 0, answer.stderr
        counts.append(int(answer.stdout.splitlines()[2]))
    writer.join()
    projector.wait_caught_up()
    final = cli("sql", f"SELECT count(*) AS n FROM health_signals WHERE run_id = '{run_id}'",
                home=tmp_path, bootstrap=bootstrap)
    assert int(final.stdout.splitlines()[2]) == 20_000
    assert counts == sorted(counts)  # answers came from snapshots of a growing projection

    refused = cli("sql", "DELETE FROM runs", home=tmp_path, bootstrap=bootstrap)
    assert refused.returncode == 1 and "not DELETE" in refused.stderr
    runaway = cli("sql", "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b",
                  home=tmp_path, bootstrap=bootstrap)
    assert runaway.returncode == 1 and "ran past its 2 s limit" in runaway.stderr
    projector.stop()

    offline = cli("sql", "SELECT count(*) FROM runs", home=tmp_path, bootstrap=bootstrap)
    assert offline.returncode == 0 and "(1 row)" in offline.stdout  # the file, read-only


def test_a_version_1_file_is_rebuilt_from_the_log_with_gradient_norms(bootstrap, tmp_path):
    run_id = new_run_id()
    measured, old = health_signals(run_id, 0, 2)
    measured = measured.model_copy(update={"gradient_norm": 0.25})
    produce(bootstrap, [measured])
    spec = topic_for(old)
    v1 = Producer({"bootstrap.servers": bootstrap})  # a producer from before the v2 release
    v1.produce(spec.name, written_with(old, 1), spec.key_of(old).encode())
    v1.flush(10)
    # The file a version 1 projector left: no gradient_norm column, schema version 1.
    stale = Projector(tmp_path / "projections.duckdb")
    stale.connection.execute("ALTER TABLE health_signals DROP COLUMN gradient_norm")
    stale.connection.execute("UPDATE projection_meta SET value = '1'")
    stale.close()

    projector = ProjectorProcess(tmp_path, bootstrap).start()
    projector.wait_caught_up()
    rows = projector.sql(f"SELECT chunk_id, gradient_norm FROM health_signals "
                         f"WHERE run_id = '{run_id}' ORDER BY chunk_id")
    projector.stop()

    assert rows == [[measured.chunk_id, 0.25], [old.chunk_id, None]]
    assert f"holds projection schema version 1; this projector writes version {SCHEMA_VERSION}; " \
           "rebuilding it from the log" in (tmp_path / "projector.log").read_text()
