"""`esper train`: one morphogenetic training run whose every fact is an event on Kafka.

Wires the bus to Tolaria and Kasmina. Events leave through the non-blocking TelemetryProducer
(health signals may be dropped and counted under pressure; nothing else is). Between training
steps the run applies what its ControlInbox has received (germinate, set alpha, cull,
fossilize) and serves the producer's delivery reports; it never waits on either.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import torch

from esper.artifacts import open_store
from esper.bus.telemetry import TelemetryProducer
from esper.cli.options import parse_position
from esper.cli.table import format_table
from esper.kasmina import CommandRefused, LifecyclePolicy, wrap
from esper.tolaria import Trainer, TrainingConfig, build_host, load_dataset
from esper.tolaria.progress import EpochProgress
from producers.control_inbox import ControlInbox


class TrainError(Exception):
    """A run that cannot start as asked; the message says what to change."""


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def main(args: argparse.Namespace) -> int:
    run_id = args.run_id or new_run_id()
    try:
        data = load_dataset(args.dataset, seed=args.seed)
        torch.manual_seed(args.seed)
        host = build_host(args.model, data, undersized=args.undersized)
        model = wrap(host, seeds_per_layer=args.seeds_per_layer)
        config = TrainingConfig(
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
            health_every=args.health_every,
            policy=LifecyclePolicy(args.training_epochs, args.grafting_epochs, args.cull_tolerance),
            adaptation=not args.no_adaptation,
        )
        store = open_store(args.artifacts)
        commands_from = parse_position(args.commands_from) if args.commands_from else None
    except ValueError as error:
        raise TrainError(str(error)) from None
    if args.resume and not (args.checkpoint and Path(args.checkpoint).exists()):
        raise TrainError("--resume needs --checkpoint naming an existing checkpoint")

    telemetry = TelemetryProducer(run_id, args.bootstrap)
    emitted: Counter[str] = Counter()

    def emit(event) -> None:
        telemetry.send(event)
        emitted[type(event).__name__] += 1

    refused: list[str] = []
    inbox: ControlInbox | None = None

    def between_steps() -> None:
        telemetry.poll()
        if inbox is None:
            return
        for command in inbox.take():
            try:
                trainer.seeds.apply(command)
            except CommandRefused as error:
                refused.append(str(error))
                print(f"esper train: refused: {error}", file=sys.stderr)

    trainer = Trainer(
        model, data, config, emit=emit, kernels=store, run_id=run_id,
        model_name=f"{args.model}{'-undersized' if args.undersized else ''}",
        host={"host": args.model, "undersized": args.undersized, "dataset": args.dataset,
              "seeds_per_layer": args.seeds_per_layer},
        between_steps=between_steps, progress=None if args.quiet else EpochProgress(),
        checkpoint_path=args.checkpoint,
        checkpoint_extra=lambda: {"inbox": inbox.state()} if inbox else {},
    )
    started = datetime.now(timezone.utc)
    resumed = trainer.resume(args.checkpoint) if args.resume else {}
    if not args.no_adaptation:
        if "inbox" in resumed:
            where = ControlInbox.resume_arguments(resumed["inbox"])
        else:  # "beginning" parses to None, which the inbox reads as the start of the log
            where = {"start": commands_from if args.commands_from else started}
        inbox = ControlInbox(run_id, store, bootstrap=args.bootstrap, **where)
    print(f"esper train: run {run_id}: {trainer.model_name} on {data.name}, "
          f"{model.total_seeds} seed slots, {model.parameter_count():,} parameters", file=sys.stderr)
    # SIGTERM stops the run like Ctrl-C; only the main thread may handle signals.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        trainer.run()
    except KeyboardInterrupt:
        print(f"esper train: run {run_id} interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        telemetry.flush()
        if inbox is not None:
            inbox.close()
    _summary(trainer, emitted, refused, inbox)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # the trainer reports the run as failed, then we flush and leave


def _summary(trainer: Trainer, emitted: Counter[str], refused: list[str], inbox: ControlInbox | None) -> None:
    rows = [[r.epoch, f"{r.train_loss:.4f}", f"{r.train_accuracy:.4f}", f"{r.val_loss:.4f}",
             f"{r.val_accuracy:.4f}", r.parameter_count, r.active_seeds, f"{r.duration_seconds:.2f}"]
            for r in trainer.history]
    print(format_table(["epoch", "train loss", "train acc", "val loss", "val acc", "parameters",
                        "active seeds", "seconds"], rows))
    seeds = [[s.layer_id, s.index, s.seed_id, s.state.value, f"{s.alpha:.3f}", s.blueprint_id,
              s.kernel_id, s.parameter_count]
             for s in trainer.model.slots() if s.generation]
    if seeds:
        print()
        print(format_table(["layer", "slot", "seed", "state", "alpha", "blueprint", "kernel", "parameters"], seeds))
    test_loss, test_accuracy = trainer.evaluate(trainer.data.test)
    totals = [["test accuracy", f"{test_accuracy:.4f}"], ["test loss", f"{test_loss:.4f}"],
              ["seeds fossilized", trainer.seeds.ended["fossilized"]],
              ["seeds culled", trainer.seeds.ended["culled"]],
              ["commands refused", len(refused)],
              ["germinations waiting for a kernel", len(inbox.held) if inbox else 0]]
    totals += [[f"events: {name}", count] for name, count in sorted(emitted.items())]
    print()
    print(format_table(["run " + trainer.run_id, ""], totals))
