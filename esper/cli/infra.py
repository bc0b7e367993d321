"""`esper infra up|down|status`: the local Kafka cluster."""

from __future__ import annotations

import argparse
import time

from esper.cli import CommandError
from esper.config import esper_home, kafka_port
from esper.infra.kafka import InfraError, LocalKafka


def register(subparsers) -> None:
    infra = subparsers.add_parser("infra", help="start, stop and inspect the local Kafka cluster")
    commands = infra.add_subparsers(dest="infra_command", required=True, metavar="ACTION")

    up = commands.add_parser("up", help="start the broker(s) and wait until they answer")
    up.add_argument("--brokers", type=int, choices=(1, 3), default=1,
                    help="1 (default) or a 3-node KRaft quorum with replication factor 3")
    up.add_argument("--port", type=int, default=None,
                    help="client port of the first broker (default: ESPER_KAFKA_PORT or 9092)")
    up.set_defaults(func=_up)

    down = commands.add_parser("down", help="stop the broker(s) that `up` started")
    down.add_argument("--purge", action="store_true", help="also delete the cluster's data")
    down.set_defaults(func=_down)

    status = commands.add_parser("status", help="show each broker; exit 0 when all are up")
    status.set_defaults(func=_status)


def _cluster() -> LocalKafka:
    return LocalKafka(esper_home())


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        bootstrap = _cluster().up(brokers=args.brokers, port=args.port or kafka_port())
    except InfraError as error:
        raise CommandError(str(error)) from None
    print(f"kafka up at {bootstrap} ({time.monotonic() - started:.1f} s)")
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = _cluster().down(purge=args.purge)
    print(f"kafka down ({stopped} broker{'s' if stopped != 1 else ''} stopped"
          f"{', data deleted' if args.purge else ''})")
    return 0


def _status(args: argparse.Namespace) -> int:
    cluster = _cluster()
    nodes = cluster.status()
    if not nodes:
        print(f"kafka down (no cluster under {cluster.root})")
        return 1
    print(f"{'node':>4}  {'address':<16} {'pid':>8}  state")
    for node in nodes:
        state = "up" if node.listening else ("starting" if node.running else "down")
        print(f"{node.node_id:>4}  127.0.0.1:{node.client_port:<6} {node.pid or '-':>8}  {state}")
    up = all(node.listening for node in nodes)
    print(f"kafka {'up at ' + cluster.recorded_bootstrap() if up else 'down'}")
    return 0 if up else 1
