"""The whole system on a broker of its own: a smaller `esper demo`, then SQL follows one
decision's chain by causation ids, and a replay of the log gives the same summary."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import pytest

from esper.bus.admin import create_topics
from esper.cli.demo import TAMIYO_OPTIONS, host_shapes, submit_catalogue, summarise
from esper.projections.client import query, running_server, wait_caught_up
from esper.supervisor import Supervisor
from tests.projections.live import patched_env

CHAIN = """
    WITH RECURSIVE chain AS (
        SELECT event_id, causation_id, event_type, 0 AS depth FROM events WHERE event_id = $report
        UNION ALL
        SELECT e.event_id, e.causation_id, e.event_type, c.depth + 1
        FROM events e JOIN chain c ON e.event_id = c.causation_id)
    SELECT event_type FROM chain ORDER BY depth DESC"""


@pytest.fixture
def system(private_kafka, tmp_path):
    _, _, bootstrap = private_kafka
    create_topics(bootstrap)
    env = {"ESPER_HOME": str(tmp_path), "ESPER_KAFKA_BOOTSTRAP": bootstrap,
           "ESPER_QUERY_PORT": "0"}
    with patched_env(**env), Supervisor(tmp_path / "logs", env=env) as supervisor:
        supervisor.start("projector", "run", "projector")
        supervisor.start("tezzeret", "run", "tezzeret")
        # No exploration: the test's decisions are the heuristic's, the same every time.
        supervisor.start("tamiyo", "run", "tamiyo", *TAMIYO_OPTIONS, "--exploration", "0")
        yield bootstrap, tmp_path, supervisor


def train(run_id: str, bootstrap: str, home, *extra: str) -> None:
    env = {**os.environ, "ESPER_HOME": str(home), "ESPER_KAFKA_BOOTSTRAP": bootstrap}
    result = subprocess.run(
        [sys.executable, "-m", "esper", "train", "--dataset", "digits", "--model", "mlp",
         "--undersized", "--epochs", "36", "--batch-size", "16", "--training-epochs", "1",
         "--grafting-epochs", "1", "--run-id", run_id, "--quiet",
         *extra], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_decision_is_followed_from_health_to_field_report_and_replay_agrees(system):
    bootstrap, home, supervisor = system
    submit_catalogue(bootstrap, host_shapes())  # precompiled: decisions are cache hits
    train("e2e-baseline", bootstrap, home, "--no-adaptation")
    train("e2e-adaptive", bootstrap, home)
    wait_caught_up(bootstrap)

    reports = query("SELECT event_id, final_state FROM field_reports "
                    "WHERE run_id = 'e2e-adaptive'").to_pylist()
    assert reports, "no seed of the adaptive run ended; see " + str(home / "logs")
    chain = [row["event_type"] for row in query(
        CHAIN.replace("$report", f"'{reports[0]['event_id']}'")).to_pylist()]
    decided = chain.index("AdaptationDecision")
    assert chain[decided - 1] in ("HealthSignal", "EpochCompleted")  # what Tamiyo reacted to
    assert chain[decided:decided + 3] == ["AdaptationDecision", "KernelReady",
                                          "KasminaControlCommand"]
    assert set(chain[decided + 3:-1]) == {"SeedStateChanged"} and chain[-1] == "FieldReport"
    [(signals,)] = query(  # the health Tamiyo saw of the layer it chose, before it chose
        "SELECT count(*) FROM decision_outcomes d JOIN health_signals h "
        "ON h.run_id = d.run_id AND h.layer_id = d.layer_id AND h.occurred_at <= d.decided_at "
        "WHERE d.run_id = 'e2e-adaptive'").to_pylist()[0].values(),
    assert signals > 0
    assert reports[0]["final_state"] in ("fossilized", "culled")
    assert all(c.restarts == 0 for c in supervisor.children.values())

    live = io.StringIO()
    with contextlib.redirect_stdout(live):
        summarise("e2e-baseline", "e2e-adaptive")
    supervisor.stop()
    assert running_server() is None
    replayed = home / "replayed.duckdb"
    env = {**os.environ, "ESPER_HOME": str(home), "ESPER_KAFKA_BOOTSTRAP": bootstrap}
    result = subprocess.run([sys.executable, "-m", "esper", "replay", "--into", str(replayed)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    again = io.StringIO()
    with contextlib.redirect_stdout(again):
        summarise("e2e-baseline", "e2e-adaptive", db=replayed)
    assert again.getvalue() == live.getvalue()
    assert "fossilized" in live.getvalue() or "culled" in live.getvalue()
