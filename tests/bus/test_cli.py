"""`esper topics`, `esper replay` and `esper tail` against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import fastavro

from esper.bus.producer import EventProducer
from esper.bus.topics import CATALOGUE
from tests.bus.events import decision_for, health, new_run_id


def esper(*args: str, bootstrap: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "ESPER_KAFKA_BOOTSTRAP": bootstrap}
    return subprocess.run([sys.executable, "-m", "esper", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_topics_create_is_idempotent_and_describe_shows_the_catalogue(kafka_bootstrap):
    first = esper("topics", "create", bootstrap=kafka_bootstrap)
    assert first.returncode == 0, first.stderr
    second = esper("topics", "create", bootstrap=kafka_bootstrap)
    assert second.returncode == 0 and "created 0 topic(s)" in second.stdout
    described = esper("topics", "describe", bootstrap=kafka_bootstrap)
    assert described.returncode == 0
    for spec in CATALOGUE:
        line = next(l for l in described.stdout.splitlines() if l.startswith(spec.name + " "))
        assert " ok " in line and "forever" in line
    listed = esper("topics", "list", bootstrap=kafka_bootstrap)
    assert "telemetry.seed.health" in listed.stdout and "run_id/layer_id" in listed.stdout


def test_replay_writes_json_lines_and_an_avro_container_of_one_run(kafka_bootstrap,
                                                                    catalogue_topics, tmp_path):
    run_id = new_run_id()
    signals = [health(run_id, layer, 0) for layer in range(3)]
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch(signals)
        producer.send(decision_for(signals[0]))

    topics = ["telemetry.seed.health", "control.tamiyo.decisions"]
    lines = esper("replay", "--topics", *topics, "--run", run_id, bootstrap=kafka_bootstrap)
    assert lines.returncode == 0, lines.stderr
    records = [json.loads(line) for line in lines.stdout.splitlines()]
    assert sorted(r["type"] for r in records) == ["AdaptationDecision"] + ["HealthSignal"] * 3
    assert {r["event"]["meta"]["event_id"] for r in records if r["type"] == "HealthSignal"} == {
        s.meta.event_id for s in signals}

    archive = tmp_path / "run.avro"
    written = esper("replay", "--topics", *topics, "--run", run_id, "--format", "avro",
                    "-o", str(archive), bootstrap=kafka_bootstrap)
    assert written.returncode == 0, written.stderr
    with open(archive, "rb") as stream:
        rows = list(fastavro.reader(stream))
    assert len(rows) == 4
    assert {row["topic"] for row in rows} == set(topics)
    healths = [row["event"] for row in rows if row["topic"] == "telemetry.seed.health"]
    assert sorted(h["layer_id"] for h in healths) == [0, 1, 2]


def test_tail_prints_one_line_per_event(kafka_bootstrap, new_topic):
    topic = new_topic(partitions=1)
    run_id = new_run_id()
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(run_id, 7, i) for i in range(3)], topic)
    missing = esper("tail", "no.such.topic", "--from-beginning", bootstrap=kafka_bootstrap)
    assert missing.returncode == 1 and "topic 'no.such.topic' does not exist" in missing.stderr
    sandbox = esper("tail", topic, "--from-beginning", bootstrap=kafka_bootstrap)
    assert len(sandbox.stdout.splitlines()) == 3

    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(run_id, 7, i) for i in range(3)])
    tail = esper("tail", "telemetry.seed.health", "--since", "10m", "--run", run_id,
                 bootstrap=kafka_bootstrap)
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert len(lines) == 3
    assert all("HealthSignal" in line and f"run={run_id}" in line and "layer_id=7" in line
               for line in lines)
    as_json = esper("tail", "telemetry.seed.health", "--since", "10m", "--run", run_id,
                    "--json", bootstrap=kafka_bootstrap)
    assert [json.loads(l)["event"]["chunk_id"] for l in as_json.stdout.splitlines()] == [0, 1, 2]
