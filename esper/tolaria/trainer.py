"""The training loop: train and validate each epoch, with seeds, telemetry and checkpoints.

Between two training steps the trainer calls ``between_steps`` (where a process applies the
commands and kernels that have arrived), rebuilds the optimizer if seed parameters came or went,
takes the step, and lets the SeedController move alphas. Every ``health_every`` steps a
HealthProbe measures the step. At the end of each epoch it validates, lets seeds advance, and
emits EpochCompleted. Events leave through ``emit``; nothing here knows about Kafka.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from esper.contracts import (
    Attributes,
    ComponentType,
    EpochCompleted,
    Event,
    EventMeta,
    SystemStatePacket,
    TrainingRunCompleted,
    TrainingRunStarted,
    TrainingSession,
    TrainingStatus,
)
from esper.kasmina import EventSink, KernelSource, LifecyclePolicy, MorphableModel, SeedController, TrainingClock
from esper.tolaria.checkpoint import read_checkpoint, write_checkpoint
from esper.tolaria.datasets import Dataset, Split
from esper.tolaria.health import HealthProbe
from esper.tolaria.system import ProcessMonitor

EVAL_BATCH = 512


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    epochs: int
    batch_size: int = 64
    learning_rate: float = 3e-3
    seed: int = 0
    health_every: int = 20  # steps between health measurements; 0 turns them off
    policy: LifecyclePolicy = LifecyclePolicy()
    adaptation: bool = True  # False: a baseline run that takes no commands (controllers skip it)

    def __post_init__(self) -> None:
        for name, least in (("epochs", 1), ("batch_size", 1), ("health_every", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer of at least {least}, not {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate!r}")

    def attributes(self) -> Attributes:
        return {
            "epochs": self.epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
            "seed": self.seed, "health_every": self.health_every, "optimizer": "adam",
            "training_epochs": self.policy.training_epochs,
            "grafting_epochs": self.policy.grafting_epochs,
            "cull_tolerance": self.policy.cull_tolerance,
            "adaptation": self.adaptation,
        }


@dataclasses.dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    parameter_count: int
    active_seeds: int
    duration_seconds: float


class Progress(Protocol):
    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step_done(self, loss: float, accuracy: float) -> None: ...
    def epoch_done(self, result: EpochResult) -> None: ...


class Trainer:
    """Trains ``model`` on ``data`` as run ``run_id``; ``host`` describes the model for the log."""

    def __init__(self, model: MorphableModel, data: Dataset, config: TrainingConfig, *,
                 emit: EventSink, kernels: KernelSource, run_id: str, model_name: str,
                 host: Attributes, between_steps: Callable[[], None] | None = None,
                 progress: Progress | None = None, checkpoint_path: str | Path | None = None,
                 checkpoint_extra: Callable[[], dict[str, Any]] | None = None):
        self.model = model
        self.data = data
        self.config = config
        self.run_id = run_id
        self.model_name = model_name
        self.host = host
        self.history: list[EpochResult] = []
        self.clock = TrainingClock()
        self.seeds = SeedController(
            model, emit, kernels, run_id=run_id, clock=self.clock,
            steps_per_epoch=data.train.batch_count(config.batch_size),
            evaluate=lambda: self.evaluate(data.val)[1], policy=config.policy,
        )
        self._emit = emit
        self._between_steps = between_steps or (lambda: None)
        self._progress = progress
        self._checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self._checkpoint_extra = checkpoint_extra or dict
        self._monitor = ProcessMonitor()
        self._started: TrainingRunStarted | None = None
        self._elapsed_before = 0.0  # seconds spent on the epochs done before a resume
        self.optimizer: torch.optim.Optimizer | None = None
        self._optimizer_version = -1
        model.measure(data.train.x[: config.batch_size])

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> list[EpochResult]:
        """Train the remaining epochs; emits TrainingRunStarted (unless resuming) and, however
        the run ends, TrainingRunCompleted."""
        started = time.monotonic()
        if self._started is None:
            self._started = self._run_started()
            self._emit(self._started)
        try:
            for epoch in range(self.clock.epoch + 1, self.config.epochs + 1):
                self._train_epoch(epoch)
        except BaseException as error:
            self._emit(self._run_completed(started, f"{type(error).__name__}: {error}"))
            raise
        self._emit(self._run_completed(started))
        return self.history

    def _train_epoch(self, epoch: int) -> None:
        self.clock.epoch = epoch
        began = time.monotonic()
        steps = self.data.train.batch_count(self.config.batch_size)
        if self._progress:
            self._progress.epoch_started(epoch, self.config.epochs, steps)
        loss_sum, correct, seen = 0.0, 0, 0
        self.model.train()
        for x, y in self.data.train.batches(self.config.batch_size, shuffle_seed=self.config.seed * 100_003 + epoch):
            self._between_steps()
            self._sync_optimizer()
            loss, hits = self._step(x, y)
            loss_sum, correct, seen = loss_sum + loss * len(y), correct + hits, seen + len(y)
            if self._progress:
                self._progress.step_done(loss_sum / seen, correct / seen)
        val_loss, val_accuracy = self.evaluate(self.data.val)
        self.seeds.end_epoch(val_accuracy)
        result = EpochResult(epoch, loss_sum / seen, correct / seen, val_loss, val_accuracy,
                             self.model.parameter_count(), self.model.active_seeds,
                             time.monotonic() - began)
        self.history.append(result)
        self._emit(self._epoch_completed(result))
        if self._progress:
            self._progress.epoch_done(result)
        if self._checkpoint_path:
            self.save_checkpoint(self._checkpoint_path)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        every = self.config.health_every
        probe = HealthProbe(self.model) if every and self.clock.step % every == 0 else None
        self.optimizer.zero_grad(set_to_none=True)
        if probe:
            with probe:
                logits = self.model(x)
        else:
            logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        signals = probe.signals(self.run_id, self.clock.epoch) if probe else ()
        self.optimizer.step()
        self.clock.step += 1
        self.seeds.after_step()
        for signal in signals:
            self._emit(signal)
        return loss.item(), int((logits.argmax(dim=1) == y).sum())

    def _sync_optimizer(self) -> None:
        """Rebuild the optimizer when seed parameters came or went, keeping the per-parameter
        state of those that stay; then germinated seeds may train."""
        if self._optimizer_version == self.seeds.parameters_version:
            return
        previous = self.optimizer
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(parameters, lr=self.config.learning_rate)
        if previous is not None:
            for parameter in parameters:
                if parameter in previous.state:
                    self.optimizer.state[parameter] = previous.state[parameter]
        self._optimizer_version = self.seeds.parameters_version
        self.seeds.begin_training()

    @torch.no_grad()
    def evaluate(self, split: Split) -> tuple[float, float]:
        """(mean loss, accuracy) of the model as it is, in evaluation mode, on ``split``."""
        was_training = self.model.training
        self.model.eval()
        try:
            loss_sum, correct = 0.0, 0
            for x, y in split.batches(EVAL_BATCH):
                logits = self.model(x)
                loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
                correct += int((logits.argmax(dim=1) == y).sum())
        finally:
            self.model.train(was_training)
        return loss_sum / len(split), correct / len(split)

    # --- events -----------------------------------------------------------------------------

    def _meta(self, cause: Event | None = None) -> EventMeta:
        return EventMeta.new(ComponentType.TOLARIA, run_id=self.run_id, causation=cause)

    def _run_started(self) -> TrainingRunStarted:
        return TrainingRunStarted(
            meta=self._meta(),
            session=TrainingSession(
                session_id=self.run_id,
                name=f"{self.model_name} on {self.data.name}",
                description=f"morphogenetic training of a {self.model_name} host on {self.data.name}",
                training_model_config=self.host,
                training_config=self.config.attributes(),
                status=TrainingStatus.RUNNING,
            ),
            topology=self.model.topology(self.model_name),
        )

    def _epoch_completed(self, result: EpochResult) -> EpochCompleted:
        system_load, memory_usage = self._monitor.sample()
        return EpochCompleted(
            meta=self._meta(self._started),
            epoch=result.epoch,
            train_accuracy=result.train_accuracy,
            val_accuracy=result.val_accuracy,
            parameter_count=result.parameter_count,
            duration_seconds=result.duration_seconds,
            system_state=SystemStatePacket(
                epoch=result.epoch,
                total_seeds=self.model.total_seeds,
                active_seeds=result.active_seeds,
                training_loss=result.train_loss,
                validation_loss=result.val_loss,
                system_load=system_load,
                memory_usage=memory_usage,
            ),
        )

    def _run_completed(self, started: float, error: str | None = None) -> TrainingRunCompleted:
        last = self.history[-1] if self.history else None
        return TrainingRunCompleted(
            meta=self._meta(self._started),
            status=TrainingStatus.FAILED if error else TrainingStatus.COMPLETED,
            epochs_completed=len(self.history),
            final_val_accuracy=last.val_accuracy if last else None,
            final_val_loss=last.val_loss if last else None,
            total_parameters=self.model.parameter_count(),
            seeds_fossilized=self.seeds.ended["fossilized"],
            seeds_culled=self.seeds.ended["culled"],
            duration_seconds=self._elapsed_before + time.monotonic() - started,
            error=error[:1000] if error else None,
        )

    # --- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(self, path: str | Path) -> None:
        """Everything needed to go on after the epoch just finished, written atomically."""
        write_checkpoint(path, {
            "run_id": self.run_id,
            "epoch": self.clock.epoch,
            "step": self.clock.step,
            "model": self.model.state_dict(),
            "seeds": self.seeds.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": [dataclasses.asdict(result) for result in self.history],
            "started": self._started.model_dump(mode="json"),
            "extra": self._checkpoint_extra(),
        })

    def resume(self, path: str | Path) -> dict[str, Any]:
        """Continue the run saved at ``path``: seeds (kernels loaded again), weights, optimizer,
        clock and history. Returns what ``checkpoint_extra`` saved."""
        state = read_checkpoint(path)
        if state["run_id"] != self.run_id:
            raise ValueError(f"checkpoint {path} belongs to run {state['run_id']!r}, not {self.run_id!r}")
        self.seeds.load_state_dict(state["seeds"])
        self.model.load_state_dict(state["model"])
        self.clock.epoch, self.clock.step = state["epoch"], state["step"]
        self._sync_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = [EpochResult(**result) for result in state["history"]]
        self._started = TrainingRunStarted.model_validate(state["started"])
        self._elapsed_before = sum(result.duration_seconds for result in self.history)
        return state["extra"]
