from __future__ import annotations

import pytest

from tests.kafka_harness import NoBroker, create_topic, kafka_for_tests, unique_topic_name


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """A real Kafka broker's bootstrap address. No broker is a failure, never a skip."""
    harness = kafka_for_tests()
    try:
        bootstrap = next(harness)
    except NoBroker as error:
        pytest.fail(str(error), pytrace=False)
    yield bootstrap
    harness.close()


@pytest.fixture
def new_topic(kafka_bootstrap, request):
    """Create a uniquely named topic for this test: ``new_topic(partitions=3, ...)``."""

    def make(partitions: int = 3, replication: int = 1, config: dict[str, str] | None = None):
        name = unique_topic_name(request.node.name)
        return create_topic(kafka_bootstrap, name, partitions, replication, config)

    return make


@pytest.fixture
def launch_process():
    """Starts a LoggedProcess: ``launch_process(TamiyoProcess(...))``. Any the test leaves
    running, failed or not, is killed after it, so that it cannot act in later tests."""
    started = []

    def start(process):
        started.append(process)
        return process.start()

    yield start
    for process in started:
        if process.process.poll() is None:
            process.kill()


@pytest.fixture(scope="module")
def private_kafka(tmp_path_factory):
    """A broker of the module's own (fresh data, free ports): for tests that need the whole
    log to themselves, or that stop and start the broker."""
    from esper.infra.kafka import LocalKafka
    from tests.kafka_harness import free_port_block

    kafka = LocalKafka(tmp_path_factory.mktemp("kafka"))
    port = free_port_block(2)
    bootstrap = kafka.up(port=port)
    yield kafka, port, bootstrap
    kafka.down()
