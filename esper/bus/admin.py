"""Apply the topic catalogue to a cluster and describe what is there."""

from __future__ import annotations

import dataclasses

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from esper.bus.clients import consumer_config
from esper.bus.topics import CATALOGUE, TopicSpec
from esper.config import kafka_bootstrap


@dataclasses.dataclass(frozen=True)
class TopicState:
    name: str
    exists: bool
    partitions: int
    replication: int
    messages: int
    config: dict[str, str]


def _admin(bootstrap: str | None) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap or kafka_bootstrap(), "log_level": 3})


def create_topics(bootstrap: str | None = None, specs: tuple[TopicSpec, ...] = CATALOGUE,
                  replication: int | None = None) -> list[str]:
    """Create every missing topic of the catalogue; return the names created.

    Replication defaults to min(3, brokers in the cluster). Existing topics are left as
    they are, so running this twice is harmless.
    """
    admin = _admin(bootstrap)
    metadata = admin.list_topics(timeout=15)
    factor = replication or min(3, len(metadata.brokers))
    missing = [spec for spec in specs if spec.name not in metadata.topics]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=factor,
                  config=spec.config()) for spec in missing],
        operation_timeout=30,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=60)
            created.append(name)
        except KafkaException as error:
            if error.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent `create` won
                raise
    return sorted(created)


def describe_topics(bootstrap: str | None = None,
                    specs: tuple[TopicSpec, ...] = CATALOGUE) -> list[TopicState]:
    """The catalogue's topics as the cluster has them, with message counts."""
    bootstrap = bootstrap or kafka_bootstrap()
    admin = _admin(bootstrap)
    metadata = admin.list_topics(timeout=15)
    watermarks = _watermark_reader(bootstrap)
    present = [spec.name for spec in specs if spec.name in metadata.topics]
    configs = {}
    if present:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in present]
        for resource, future in admin.describe_configs(resources).items():
            entries = future.result(timeout=15)
            configs[resource.name] = {
                key: entries[key].value for key in ("retention.ms", "cleanup.policy")
            }
    states = []
    for spec in specs:
        topic = metadata.topics.get(spec.name)
        if topic is None:
            states.append(TopicState(spec.name, False, 0, 0, 0, {}))
            continue
        messages = 0
        for partition in topic.partitions:
            low, high = watermarks.get_watermark_offsets(
                TopicPartition(spec.name, partition), timeout=10)
            messages += high - low
        replication = max((len(p.replicas) for p in topic.partitions.values()), default=0)
        states.append(TopicState(spec.name, True, len(topic.partitions), replication, messages,
                                 configs.get(spec.name, {})))
    watermarks.close()
    return states


def _watermark_reader(bootstrap: str):
    from confluent_kafka import Consumer

    return Consumer(consumer_config("esper-admin", bootstrap))


def log_end_offsets(bootstrap: str | None = None,
                    specs: tuple[TopicSpec, ...] = CATALOGUE) -> dict[tuple[str, int], int]:
    """The end offset (high watermark) of every partition of the catalogue's topics."""
    bootstrap = bootstrap or kafka_bootstrap()
    topics = _admin(bootstrap).list_topics(timeout=15).topics
    reader = _watermark_reader(bootstrap)
    try:
        return {(spec.name, partition): reader.get_watermark_offsets(
                    TopicPartition(spec.name, partition), timeout=10)[1]
                for spec in specs if spec.name in topics
                for partition in topics[spec.name].partitions}
    finally:
        reader.close()

