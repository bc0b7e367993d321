"""`esper tamiyo train`: learn Tamiyo's GNN from decisions and outcomes replayed from the log.

Replays the runs' epochs, health, seed transitions, Tamiyo's decisions and the field reports;
turns each decision with an outcome into experience; holds out a share of the runs; trains
GainNet on the rest; and reports the mean reward per decision that the GNN, the heuristic and
a random choice would have had on the held-out runs, estimated from the logged outcomes alone.
The trained policy goes to the artifact store and is announced with PolicyUpdated, which
running Tamiyo processors pick up without a restart.
"""

from __future__ import annotations

import argparse

from esper.bus.topics import DECISIONS, EPOCHS, FIELD_REPORTS, HEALTH, SEED_STATES
from esper.cli import CommandError
from esper.cli.options import parse_moment
from esper.cli.table import print_table

REPLAYED = (EPOCHS, HEALTH, SEED_STATES, DECISIONS, FIELD_REPORTS)


def register(subparsers) -> None:
    tamiyo = subparsers.add_parser("tamiyo", help="Tamiyo's policy: train it from the log")
    commands = tamiyo.add_subparsers(dest="tamiyo_command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train the GNN policy on logged decisions and "
                                "outcomes, evaluate it on held-out runs, release it",
                                description=__doc__.splitlines()[0])
    train.add_argument("--runs", nargs="+", metavar="RUN_ID",
                       help="train on these runs only (default: every run in the log)")
    train.add_argument("--since", default=None,
                       help="replay from this time: ISO-8601 or a duration ago (30d); runs "
                            "must start after it (default: the beginning of the log)")
    train.add_argument("--bootstrap", default=None,
                       help="Kafka bootstrap servers (default: ESPER_KAFKA_BOOTSTRAP)")
    train.add_argument("--artifacts", default=None,
                       help="artifact store for the policy (default: ESPER_ARTIFACTS)")
    train.add_argument("--epochs", type=int, default=None,
                       help="training epochs (default: TrainingConfig's)")
    train.add_argument("--holdout", type=float, default=0.25,
                       help="share of runs held out for evaluation (default 0.25)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--cooldown-epochs", type=int, default=None,
                       help="the gates the decisions were made under: they say which "
                            "choices were open to each decision (default: the Gates')")
    train.add_argument("--budget-fraction", type=float, default=None,
                       help="(default: the Gates')")
    train.add_argument("--no-release", action="store_true",
                       help="evaluate only: store nothing, announce nothing")
    train.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    # torch and torch-geometric load here, not when `esper` builds its parser.
    import torch

    from esper.artifacts import open_store
    from esper.bus import replay
    from esper.bus.producer import EventProducer
    from esper.bus.topics import POLICIES
    from esper.contracts import PolicyUpdated
    from esper.tamiyo.gates import Gates
    from esper.tamiyo.outcomes import experiences
    from esper.tamiyo.policies import GNN, GnnPolicy, HeuristicPolicy
    from esper.tamiyo.policy_store import release, save_policy
    from esper.tamiyo.training import (
        TrainingConfig,
        offline_value,
        policy_chooser,
        random_value,
        split_runs,
        train_gain_net,
    )

    torch.set_num_threads(1)
    try:
        given = {k: v for k, v in (("cooldown_epochs", args.cooldown_epochs),
                                   ("budget_fraction", args.budget_fraction)) if v is not None}
        gates = Gates(**given)
        config = (TrainingConfig(epochs=args.epochs, seed=args.seed) if args.epochs is not None
                  else TrainingConfig(seed=args.seed))
        since = parse_moment(args.since) if args.since else None
    except ValueError as error:
        raise CommandError(str(error)) from None
    wanted = set(args.runs or ())
    events = [record.event for record in replay.read([spec.name for spec in REPLAYED], since,
                                                     bootstrap=args.bootstrap)
              if not wanted or getattr(record.event.meta, "run_id", None) in wanted]
    found = experiences(events, gates)
    missing = wanted - {e.run_id for e in found}
    if missing:
        print(f"no decision with an outcome in run(s): {', '.join(sorted(missing))}")
    try:
        train, held_out = split_runs(found, args.holdout)
    except ValueError as error:
        raise CommandError(str(error)) from None
    if not train or not held_out:
        raise CommandError(f"{len(found)} decisions with outcomes in "
                           f"{len({e.run_id for e in found})} runs: too few to train on some "
                           f"runs and evaluate on others")
    losses: list[float] = []
    model = train_gain_net(train, config, on_epoch=lambda _, loss: losses.append(loss))
    estimates = {
        "gnn": offline_value(policy_chooser(GnnPolicy(model, version=0)), held_out),
        "heuristic": offline_value(policy_chooser(HeuristicPolicy()), held_out),
        "random": random_value(held_out),
    }
    print(f"trained on {len(train)} decisions, evaluated on {len(held_out)} held-out "
          f"decisions of {len({e.run_id for e in held_out})} runs (final loss {losses[-1]:.3f})")
    print_table(["policy", "mean reward", "std error", "matched", "decisions"],
                [[name, f"{e.value:+.4f}", f"{e.stderr:.4f}",
                  e.matched if name != "random" else "(exact)", e.decisions]
                 for name, e in estimates.items()])
    if args.no_release:
        return 0
    metrics = {f"heldout_reward_{name}": e.value for name, e in estimates.items()}
    metrics.update({f"heldout_stderr_{name}": e.stderr for name, e in estimates.items()})
    metrics.update(train_decisions=float(len(train)), heldout_decisions=float(len(held_out)),
                   final_loss=losses[-1])
    store = open_store(args.artifacts)
    ref = save_policy(store, model, metrics)
    version = 1 + max((r.event.policy_version for r in replay.read([POLICIES.name],
                                                                   bootstrap=args.bootstrap)
                       if isinstance(r.event, PolicyUpdated) and r.event.policy_name == GNN),
                      default=0)
    with EventProducer(args.bootstrap) as producer:
        producer.send(release(ref, version, metrics))
    print(f"released {GNN} v{version}: {ref.uri}")
    return 0
