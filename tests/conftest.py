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
