"""`esper infra` starts, stops and reports a real broker; data survives a restart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from esper.infra.kafka import LocalKafka
from tests.kafka_harness import create_topic, free_port_block


def esper(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "ESPER_HOME": str(home)}
    env.pop("ESPER_KAFKA_BOOTSTRAP", None)
    return subprocess.run([sys.executable, "-m", "esper", *args], capture_output=True,
                          text=True, env=env, timeout=180)


@pytest.fixture
def private_home(tmp_path):
    yield tmp_path
    LocalKafka(tmp_path).down()  # whatever the test did, leave no broker behind


def read_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    for _ in range(60):
        values += [m.value() for m in consumer.consume(100, timeout=0.5) if m.error() is None]
        if len(values) >= expected:
            break
    consumer.close()
    return values


def test_status_up_restart_keeps_data_and_down(private_home):
    port = free_port_block(2)
    status = esper("infra", "status", home=private_home)
    assert status.returncode == 1 and "kafka down" in status.stdout

    up = esper("infra", "up", "--port", str(port), home=private_home)
    assert up.returncode == 0, up.stderr
    bootstrap = f"127.0.0.1:{port}"
    assert bootstrap in up.stdout
    status = esper("infra", "status", home=private_home)
    assert status.returncode == 0 and f"kafka up at {bootstrap}" in status.stdout
    again = esper("infra", "up", "--port", str(port), home=private_home)
    assert again.returncode == 0 and bootstrap in again.stdout  # harmless second `up`

    topic = create_topic(bootstrap, "durable", partitions=1)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True})
    for index in range(50):
        producer.produce(topic, value=f"before-stop-{index}".encode())
    assert producer.flush(30) == 0

    down = esper("infra", "down", home=private_home)
    assert down.returncode == 0 and "1 broker stopped" in down.stdout
    status = esper("infra", "status", home=private_home)
    assert status.returncode == 1 and "kafka down" in status.stdout

    assert esper("infra", "up", "--port", str(port), home=private_home).returncode == 0
    values = read_all(bootstrap, topic, expected=50)
    assert values == [f"before-stop-{index}".encode() for index in range(50)]


def test_up_on_a_port_held_by_another_process_names_the_port(private_home):
    port = free_port_block(2)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = esper("infra", "up", "--port", str(port), home=private_home)
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_cluster_id_that_begins_with_a_dash_formats_and_starts(private_home):
    # Cluster ids are URL-safe base64, so one in 64 begins with "-", which the storage tool
    # once read as an option: every later `up` of that cluster failed.
    (private_home / "kafka").mkdir(parents=True)
    port = free_port_block(2)
    (private_home / "kafka" / "cluster.json").write_text(
        json.dumps({"cluster_id": "-" + "A" * 21, "brokers": 1, "port": port}))
    assert LocalKafka(private_home).up(port=port) == f"127.0.0.1:{port}"
