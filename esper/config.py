"""Where Esper keeps its data and how it finds Kafka: every setting is an environment variable.

| variable | default | meaning |
|---|---|---|
| ESPER_HOME | `.esper/` in the repository | data, logs and pid files of local services |
| ESPER_KAFKA_BOOTSTRAP | the local broker started by `esper infra up` | Kafka bootstrap servers |
| ESPER_KAFKA_PORT | 9092 | client port of the first local broker |
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KAFKA_PORT = 9092


def esper_home() -> Path:
    return Path(os.environ.get("ESPER_HOME") or REPO_ROOT / ".esper").resolve()


def kafka_port() -> int:
    raw = os.environ.get("ESPER_KAFKA_PORT")
    if not raw:
        return DEFAULT_KAFKA_PORT
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"ESPER_KAFKA_PORT must be a port number, got {raw!r}") from None


def kafka_bootstrap() -> str:
    """ESPER_KAFKA_BOOTSTRAP, else the local cluster's address, else the default local port."""
    explicit = os.environ.get("ESPER_KAFKA_BOOTSTRAP")
    if explicit:
        return explicit
    from esper.infra.kafka import LocalKafka

    recorded = LocalKafka(esper_home()).recorded_bootstrap()
    return recorded or f"127.0.0.1:{kafka_port()}"
