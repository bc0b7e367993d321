"""Where the tests get a real Kafka broker, and helpers to use it."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator

from confluent_kafka.admin import AdminClient, NewTopic

from esper.config import esper_home
from esper.infra.kafka import InfraError, LocalKafka, port_is_free


class NoBroker(RuntimeError):
    """No Kafka broker could be had; the message says why."""


def docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0


def kafka_for_tests() -> Iterator[str]:
    """Yield a bootstrap address, in order of preference:

    1. ESPER_KAFKA_BOOTSTRAP, when set (a broker someone else runs);
    2. a testcontainers Kafka, when ESPER_KAFKA=testcontainers and Docker answers;
    3. a local broker of the tests' own, under ``$ESPER_HOME/test`` on ESPER_TEST_KAFKA_PORT
       (default 19092), so tests never write into the log `make demo` and users read: started
       here if it is not running, and stopped and emptied afterwards if it was started here.
    """
    explicit = os.environ.get("ESPER_KAFKA_BOOTSTRAP")
    if explicit:
        yield explicit
        return
    if os.environ.get("ESPER_KAFKA") == "testcontainers" and docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:8.0.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    cluster = LocalKafka(esper_home() / "test")
    started_here = not cluster.is_up()
    try:
        bootstrap = cluster.up(port=int(os.environ.get("ESPER_TEST_KAFKA_PORT", "19092")))
    except InfraError as error:
        raise NoBroker(f"the tests' Kafka broker could not start: {error}") from error
    try:
        yield bootstrap
    finally:
        if started_here:
            cluster.down(purge=True)


def unique_topic_name(label: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label)[:80]
    return f"test.{slug}.{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, name: str, partitions: int = 3, replication: int = 1,
                 config: dict[str, str] | None = None) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication,
                  config=config or {})],
        operation_timeout=30,
    )
    futures[name].result(timeout=60)
    return name


# Below Linux's ephemeral range (32768-60999 by default): a port there may be taken as the
# local port of some client's outgoing connection while a test's broker is stopped.
PORT_RANGE = (20000, 32000)


def free_port_block(size: int) -> int:
    """A first port such that `size` consecutive loopback ports are free right now."""
    for _ in range(200):
        base = random.randrange(PORT_RANGE[0], PORT_RANGE[1] - size)
        if all(port_is_free(base + offset) for offset in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports found on 127.0.0.1")
