"""`esper train`: a morphogenetic training run, every fact of it an event on Kafka."""

from __future__ import annotations

import argparse

from esper.cli import CommandError


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a host model whose seeds grow on command",
        description="Train a host on a shipped dataset. Seed slots grow, train, graft and are kept "
                    "or culled as commands on control.kasmina.commands and kernels announced on "
                    "compilation.kernel.ready arrive; every fact goes to Kafka.")
    train.add_argument("--dataset", default="digits", help="digits or synthetic (default: digits)")
    train.add_argument("--model", default="mlp", help="host model: mlp or cnn (default: mlp)")
    train.add_argument("--undersized", action="store_true",
                       help="the host's under-sized variant, where added capacity can help")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--seeds-per-layer", type=int, default=2, metavar="K")
    train.add_argument("--run-id", metavar="R", help="the run's id (default: a new one)")
    train.add_argument("--no-adaptation", action="store_true",
                       help="read no commands: every seed slot stays dormant (a baseline run)")
    train.add_argument("--seed", type=int, default=0, help="data split, initialisation and order")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    train.add_argument("--health-every", type=int, default=20, metavar="STEPS",
                       help="steps between health measurements (0: none)")
    train.add_argument("--training-epochs", type=int, default=2,
                       help="epochs a seed learns at alpha 0 before grafting")
    train.add_argument("--grafting-epochs", type=int, default=2,
                       help="epochs over which a grafting seed's alpha ramps to 1")
    train.add_argument("--cull-tolerance", type=float, default=0.0,
                       help="validation accuracy a seed may cost and still be kept")
    train.add_argument("--commands-from", metavar="POSITION",
                       help="read commands from 'beginning', an ISO time, a duration ago (10m) or "
                            "topic:partition:offset,... (default: when the run starts)")
    train.add_argument("--checkpoint", metavar="PATH", help="save a checkpoint here after every epoch")
    train.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    train.add_argument("--artifacts", metavar="LOCATION",
                       help="artifact store: a folder or s3://bucket/prefix (default: ESPER_ARTIFACTS)")
    train.add_argument("--bootstrap", help="Kafka bootstrap servers (default: ESPER_KAFKA_BOOTSTRAP)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from esper.bus.replay import NoSuchTopic
    from producers.train import TrainError, main  # torch loads only for those who train

    try:
        return main(args)
    except TrainError as error:
        raise CommandError(str(error)) from None
    except NoSuchTopic as error:
        raise CommandError(f"{error}; create the topics with `esper topics create`") from None
