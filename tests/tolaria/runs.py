"""Training runs for tests: a small host, commands applied at chosen steps, and the events."""

from __future__ import annotations

from typing import Any

import torch

from esper.contracts import ComponentType, EventMeta, KasminaControlCommand
from esper.kasmina import LifecyclePolicy, wrap
from esper.tolaria import Trainer, TrainingConfig, build_host, load_dataset

RUN = "run-test"

# Measured times and loads differ between runs; everything else must not.
UNREPEATABLE = {
    "HealthSignal": ("execution_latency", "timestamp"),
    "EpochCompleted": ("duration_seconds",),
    "TrainingRunCompleted": ("duration_seconds",),
}


def repeatable(event) -> tuple[str, dict[str, Any]]:
    """The event without its identity, time and measured durations and loads."""
    fields = event.model_dump(mode="json", exclude={"meta", *UNREPEATABLE.get(type(event).__name__, ())})
    if "system_state" in fields:
        fields["system_state"].pop("system_load")
        fields["system_state"].pop("memory_usage")
    if "session" in fields:
        fields["session"].pop("created_at")
        fields["session"].pop("updated_at")
    return type(event).__name__, fields


def command(kind: str, layer: int, slot: int, kernel=None, **fields) -> KasminaControlCommand:
    if kernel is not None:
        fields.update(kernel_id=kernel.kernel_id, blueprint_id=kernel.blueprint_id)
    return KasminaControlCommand(meta=EventMeta.new(ComponentType.TAMIYO, run_id=RUN), command=kind,
                                 layer_id=layer, slot_index=slot, reason="scheduled by the test", **fields)


class Schedule:
    """Applies each command before the training step it is scheduled at, as a process would
    apply the commands that arrived between two steps; can interrupt the run like Ctrl-C."""

    def __init__(self, commands: dict[int, list[KasminaControlCommand]], interrupt_at_epoch: int | None):
        self.commands = commands
        self.interrupt_at_epoch = interrupt_at_epoch
        self.trainer: Trainer | None = None

    def __call__(self) -> None:
        if self.trainer.clock.epoch == self.interrupt_at_epoch:
            raise KeyboardInterrupt
        for order in self.commands.get(self.trainer.clock.step, ()):
            self.trainer.seeds.apply(order)


def undersized_run(kernels, *, epochs: int, commands=None, dataset: str = "synthetic",
                   between_steps=None, checkpoint_path=None, interrupt_at_epoch=None,
                   **config) -> tuple[Trainer, list]:
    """An under-sized MLP with 2 slots per layer on ``dataset``; returns it and its event list."""
    torch.manual_seed(0)
    data = load_dataset(dataset, seed=0)
    model = wrap(build_host("mlp", data, undersized=True), seeds_per_layer=2)
    events: list = []
    schedule = Schedule(commands or {}, interrupt_at_epoch)
    config.setdefault("policy", LifecyclePolicy(training_epochs=1, grafting_epochs=2))
    trainer = Trainer(model, data, TrainingConfig(epochs=epochs, **config), emit=events.append,
                      kernels=kernels, run_id=RUN, model_name="mlp", host={"host": "mlp", "undersized": True},
                      between_steps=between_steps or schedule, checkpoint_path=checkpoint_path)
    schedule.trainer = trainer
    return trainer, events
