"""`esper topics create|list|describe`: the topic catalogue on the cluster."""

from __future__ import annotations

import argparse

from esper.bus.admin import create_topics, describe_topics
from esper.bus.topics import CATALOGUE
from esper.cli.table import print_table


def register(subparsers) -> None:
    topics = subparsers.add_parser("topics", help="create and inspect Esper's Kafka topics")
    commands = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = commands.add_parser("create", help="create every missing topic of the catalogue")
    create.add_argument("--replication", type=int, default=None,
                        help="replication factor (default: min(3, brokers))")
    create.set_defaults(func=_create)
    commands.add_parser("list", help="the catalogue: topics, keys, events").set_defaults(
        func=_list)
    commands.add_parser("describe", help="the catalogue's topics as the cluster has them"
                        ).set_defaults(func=_describe)


def _create(args: argparse.Namespace) -> int:
    created = create_topics(replication=args.replication)
    print(f"created {len(created)} topic(s){': ' + ', '.join(created) if created else ''}; "
          f"{len(CATALOGUE) - len(created)} already existed")
    return 0


def _list(args: argparse.Namespace) -> int:
    print_table(["topic", "key", "partitions", "events"],
                [[s.name, s.key_doc, s.partitions, ", ".join(s.event_types) or "(any, raw)"]
                 for s in CATALOGUE])
    return 0


def _describe(args: argparse.Namespace) -> int:
    rows = []
    for state in describe_topics():
        if not state.exists:
            rows.append([state.name, "missing", "", "", "", ""])
            continue
        retention = state.config.get("retention.ms", "?")
        rows.append([state.name, "ok", state.partitions, state.replication, state.messages,
                     "forever" if retention == "-1" else f"{retention} ms"])
    print_table(["topic", "state", "partitions", "replicas", "messages", "retention"], rows)
    return 0
