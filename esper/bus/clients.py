"""librdkafka settings shared by every Esper client, tuned as performance-notes.md measured."""

from __future__ import annotations

from typing import Any

from esper.config import kafka_bootstrap


def producer_config(bootstrap: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all, lz4: no duplicates or reordering per partition on retry."""
    return {
        "bootstrap.servers": bootstrap or kafka_bootstrap(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",  # halves the broker's CPU for our small, similar records
        "log_level": 3,  # librdkafka chatter (reconnects) is not the user's business
        **overrides,
    }


def consumer_config(group_id: str, bootstrap: str | None = None, **overrides: Any) -> dict:
    """Manual commits, read_committed, and fetch settings that keep a fast consumer busy."""
    return {
        "bootstrap.servers": bootstrap or kafka_bootstrap(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # librdkafka's default backoff of 1 s idles a Python consumer that drains its queue
        # quickly; 10 ms fetch waits keep produce→consume latency at a few milliseconds.
        "fetch.queue.backoff.ms": 10,
        "fetch.wait.max.ms": 10,
        "log_level": 3,
        **overrides,
    }
