from __future__ import annotations

import pytest

from esper.bus.admin import create_topics
from esper.bus.topics import CATALOGUE


@pytest.fixture(scope="session")
def catalogue_topics(kafka_bootstrap):
    """The catalogue's topics (dead letters, decisions, ...) exist on the session broker."""
    create_topics(kafka_bootstrap, CATALOGUE)
    return kafka_bootstrap
