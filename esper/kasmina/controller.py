"""SeedController: walks seeds through their lifecycle and reports every step as an event.

Commands (germinate, set alpha, cull, fossilize) arrive as method calls between training
steps; the trainer calls `begin_training`, `after_step` and `end_epoch` at its boundaries. The
lifecycle a seed follows on its own, given a `LifecyclePolicy`:

1. **germinated**: a germinate command names a slot and a kernel; the kernel is loaded from the
   KernelSource (checksum verified there) and checked against the layer. A kernel that fails to
   load culls the seed at once, with the reason, and training goes on.
2. **training**: once the trainer has rebuilt its optimizer with the seed's parameters. The
   seed learns at alpha 0 (see `esper.kasmina.slot`) for ``training_epochs`` epoch boundaries.
3. **grafting**: alpha ramps linearly from 0 to 1 over ``grafting_epochs`` epochs of steps,
   unless a set-alpha command pins it.
4. At the first epoch end with alpha at 1, validation accuracy is measured with the seed and
   with its alpha forced to 0: a seed that costs more than ``cull_tolerance`` accuracy is
   **culled**, any other is **fossilized**: kept for good at its alpha.

A culled slot is recycled to dormant straight away. Every transition is checked against the
lifecycle table before anything changes, and emitted as a SeedStateChanged caused by the
command or by the seed's previous transition. A seed that ran (it loaded) ends with a
FieldReport of its measured effect.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

from esper.contracts import (
    ComponentType,
    Event,
    EventMeta,
    FieldReport,
    InvalidTransition,
    KasminaCommand,
    KasminaControlCommand,
    SeedState,
    SeedStateChanged,
    check_transition,
)
from esper.kasmina.kernels import KernelLoadError, KernelSource, load_for
from esper.kasmina.model import MorphableModel
from esper.kasmina.slot import ACTIVE_STATES, SeedSlot

EventSink = Callable[[Event], None]
Evaluate = Callable[[], float]
"""Validation accuracy of the model as it is now (the trainer switches to eval mode and back)."""

REASON_LIMIT = 500  # the contracts' Reason length


@dataclasses.dataclass(frozen=True)
class LifecyclePolicy:
    """How long a seed trains and grafts, and how much accuracy it may cost and still be kept."""

    training_epochs: int = 2
    grafting_epochs: int = 2
    cull_tolerance: float = 0.0

    def __post_init__(self) -> None:
        for name in ("training_epochs", "grafting_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not 0.0 <= self.cull_tolerance <= 1.0:
            raise ValueError(f"cull_tolerance must be an accuracy difference in [0, 1], not {self.cull_tolerance!r}")


@dataclasses.dataclass
class TrainingClock:
    """Where training is: the epoch in progress (from 1) and the training steps taken so far."""

    epoch: int = 0
    step: int = 0


class CommandRefused(Exception):
    """A command that cannot apply to its slot now; the message says which and why."""


class SeedController:
    def __init__(self, model: MorphableModel, emit: EventSink, kernels: KernelSource, *,
                 run_id: str, clock: TrainingClock, steps_per_epoch: int, evaluate: Evaluate,
                 policy: LifecyclePolicy = LifecyclePolicy()):
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be positive, not {steps_per_epoch}")
        self.model = model
        self.kernels = kernels
        self.run_id = run_id
        self.clock = clock
        self.policy = policy
        self.evaluate = evaluate
        self.ended: Counter[str] = Counter()  # seeds fossilized and culled, by final state
        self.parameters_version = 0  # changes whenever seed parameters come or go
        self._emit = emit
        self._ramp_steps = policy.grafting_epochs * steps_per_epoch
        self._last_event: dict[tuple[int, int], SeedStateChanged] = {}

    # --- commands ---------------------------------------------------------------------------

    def apply(self, command: KasminaControlCommand) -> None:
        """Carry out one control command, or raise CommandRefused saying why not."""
        kind = KasminaCommand(command.command)
        target = (command.layer_id, command.slot_index)
        if kind is KasminaCommand.GERMINATE:
            self.germinate(*target, command.kernel_id, command.blueprint_id, command.reason, cause=command)
        elif kind is KasminaCommand.SET_ALPHA:
            self.set_alpha(*target, command.alpha)
        elif kind is KasminaCommand.CULL:
            self.cull(*target, command.reason, cause=command)
        else:
            self.fossilize(*target, command.reason, cause=command)

    def germinate(self, layer_id: int, index: int, kernel_id: str, blueprint_id: str,
                  reason: str, cause: Event | None = None) -> None:
        slot = self._slot_for(layer_id, index, SeedState.GERMINATED, "germinate")
        slot.generation += 1
        slot.kernel_id, slot.blueprint_id = kernel_id, blueprint_id
        slot.germinated_epoch = self.clock.epoch
        self._transition(slot, SeedState.GERMINATED, f"germinate kernel {kernel_id}: {reason}", cause)
        try:
            kernel = load_for(self.model.layer(layer_id), self.kernels, kernel_id)
        except KernelLoadError as error:
            self._end(slot, SeedState.CULLED, str(error), measure=False)
            return
        slot.load(kernel, kernel_id, blueprint_id)
        self.parameters_version += 1

    def set_alpha(self, layer_id: int, index: int, alpha: float) -> None:
        """Pin a grafting seed's alpha; the ramp no longer moves it."""
        slot = self._slot(layer_id, index, "set_alpha")
        if slot.state is not SeedState.GRAFTING:
            raise CommandRefused(f"set_alpha on layer {layer_id} slot {index}: alpha can be set only "
                                 f"while a seed is grafting, and this slot is {slot.state.value}")
        if not 0.0 <= alpha <= 1.0:
            raise CommandRefused(f"set_alpha on layer {layer_id} slot {index}: alpha must be in [0, 1], not {alpha}")
        slot.alpha, slot.alpha_pinned = float(alpha), True

    def cull(self, layer_id: int, index: int, reason: str, cause: Event | None = None) -> None:
        slot = self._slot_for(layer_id, index, SeedState.CULLED, "cull")
        self._end(slot, SeedState.CULLED, reason, cause, measure=slot.kernel is not None)

    def fossilize(self, layer_id: int, index: int, reason: str, cause: Event | None = None) -> None:
        slot = self._slot_for(layer_id, index, SeedState.FOSSILIZED, "fossilize")
        self._end(slot, SeedState.FOSSILIZED, reason, cause)

    # --- the trainer's boundaries -----------------------------------------------------------

    def begin_training(self) -> None:
        """The optimizer now holds every loaded seed's parameters: germinated seeds train."""
        for slot in self.model.slots():
            if slot.state is SeedState.GERMINATED and slot.kernel is not None:
                self._transition(slot, SeedState.TRAINING,
                                 f"optimizer rebuilt with the seed's {slot.parameter_count} parameters")

    def after_step(self) -> None:
        """Cull seeds whose kernel failed in this step; move grafting alphas along the ramp."""
        for layer in self.model.layers:
            for slot in layer.live_slots:
                if slot.kernel_error is not None:
                    self._end(slot, SeedState.CULLED, f"kernel failed in the forward pass: {slot.kernel_error}")
                elif slot.state is SeedState.GRAFTING:
                    slot.stage_steps += 1
                    if not slot.alpha_pinned:
                        slot.alpha = min(1.0, slot.stage_steps / self._ramp_steps)

    def end_epoch(self, val_accuracy: float) -> None:
        """Advance seeds whose stage is over; ``val_accuracy`` is this epoch's, with every seed."""
        for slot in list(self.model.slots()):
            if slot.state not in ACTIVE_STATES:
                continue
            slot.stage_epochs += 1
            if slot.state is SeedState.TRAINING and slot.stage_epochs >= self.policy.training_epochs:
                self._transition(slot, SeedState.GRAFTING,
                                 f"trained {slot.stage_epochs} epoch(s) at alpha 0; alpha ramps to 1 "
                                 f"over {self.policy.grafting_epochs} epoch(s)")
            elif slot.state is SeedState.GRAFTING and slot.alpha >= 1.0:
                self._judge(slot, val_accuracy)

    # --- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Every slot's lifecycle state; kernel weights are in the model's state dict."""
        return {
            "slots": [_slot_state(slot) for slot in self.model.slots()],
            "ended": dict(self.ended),
            "last_events": {f"{l}/{s}": e.model_dump(mode="json") for (l, s), e in self._last_event.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore seeds into this controller's fresh model: kernels are loaded again, by id,
        from the KernelSource; then load the model's state dict for their trained weights."""
        for entry in state["slots"]:
            slot = self.model.slot(entry["layer_id"], entry["index"])
            if slot.state is not SeedState.DORMANT or slot.generation:
                raise RuntimeError(f"cannot restore seeds into a model that already has some (slot {slot.seed_id})")
            seed_state = SeedState(entry["state"])
            if seed_state in ACTIVE_STATES:
                try:
                    kernel = load_for(self.model.layer(slot.layer_id), self.kernels, entry["kernel_id"])
                except KernelLoadError as error:
                    raise RuntimeError(f"cannot restore seed {entry['seed_id']}: {error}") from error
                slot.load(kernel, entry["kernel_id"], entry["blueprint_id"])
            slot.state = seed_state
            for field in ("kernel_id", "blueprint_id", "alpha", "alpha_pinned", "generation",
                          "germinated_epoch", "stage_epochs", "stage_steps"):
                setattr(slot, field, entry[field])
        for layer in self.model.layers:
            layer.refresh()
        self.ended = Counter(state["ended"])
        self._last_event = {
            tuple(int(part) for part in key.split("/")): SeedStateChanged.model_validate(event)
            for key, event in state["last_events"].items()
        }
        self.parameters_version += 1

    # --- internals --------------------------------------------------------------------------

    def _slot(self, layer_id: int, index: int, command: str) -> SeedSlot:
        try:
            return self.model.slot(layer_id, index)
        except KeyError as error:
            raise CommandRefused(f"{command}: {error.args[0]}") from None

    def _slot_for(self, layer_id: int, index: int, to: SeedState, command: str) -> SeedSlot:
        slot = self._slot(layer_id, index, command)
        try:
            check_transition(slot.state, to)
        except InvalidTransition as error:
            raise CommandRefused(f"{command} on layer {layer_id} slot {index}: {error}") from None
        return slot

    def _judge(self, slot: SeedSlot, val_accuracy: float) -> None:
        with_seed, without_seed = self._measure(slot, val_accuracy)
        verdict = (f"validation accuracy {with_seed:.4f} with the seed, {without_seed:.4f} with its "
                   f"alpha at 0 (tolerance {self.policy.cull_tolerance:.4f})")
        if with_seed + self.policy.cull_tolerance >= without_seed:
            self._end(slot, SeedState.FOSSILIZED, f"graft complete: {verdict}", measured=(with_seed, without_seed))
        else:
            self._end(slot, SeedState.CULLED, f"seed hurts validation: {verdict}", measured=(with_seed, without_seed))

    def _measure(self, slot: SeedSlot, with_seed: float | None = None) -> tuple[float, float]:
        if with_seed is None:
            with_seed = self.evaluate()
        with slot.alpha_forced_to_zero():
            without_seed = self.evaluate()
        return with_seed, without_seed

    def _end(self, slot: SeedSlot, final: SeedState, reason: str, cause: Event | None = None, *,
             measure: bool = True, measured: tuple[float, float] | None = None) -> None:
        """Fossilize or cull ``slot`` with a FieldReport (if the seed ran); recycle a culled slot."""
        if measure and measured is None:
            measured = self._measure(slot)
        ending = self._transition(slot, final, reason, cause)
        self.ended[final.value] += 1
        if measure:
            with_seed, without_seed = measured
            self._emit(FieldReport(
                meta=self._meta(ending),
                layer_id=slot.layer_id,
                slot_index=slot.index,
                seed_id=slot.seed_id,
                blueprint_id=slot.blueprint_id,
                kernel_id=slot.kernel_id,
                final_state=final,
                accuracy_with_seed=with_seed,
                accuracy_without_seed=without_seed,
                parameters_added=slot.parameter_count,
                epochs_active=self.clock.epoch - slot.germinated_epoch + 1,
            ))
        if final is SeedState.CULLED:
            if slot.kernel is not None:
                slot.empty()
                self.parameters_version += 1
            self._transition(slot, SeedState.DORMANT, "slot recycled")

    def _transition(self, slot: SeedSlot, to: SeedState, reason: str,
                    cause: Event | None = None) -> SeedStateChanged:
        key = (slot.layer_id, slot.index)
        event = SeedStateChanged(
            meta=self._meta(cause or self._last_event.get(key)),
            layer_id=slot.layer_id,
            slot_index=slot.index,
            seed_id=slot.seed_id,
            from_state=slot.state,
            to_state=to,
            blueprint_id=slot.blueprint_id,
            kernel_id=slot.kernel_id,
            alpha=slot.alpha,
            reason=_clip(reason),
            epoch=self.clock.epoch,
            step=self.clock.step,
        )
        slot.move_to(to)
        self.model.layer(slot.layer_id).refresh()
        self._last_event[key] = event
        self._emit(event)
        return event

    def _meta(self, cause: Event | None) -> EventMeta:
        return EventMeta.new(ComponentType.KASMINA, run_id=self.run_id, causation=cause)


def _clip(reason: str) -> str:
    return reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 1] + "…"


def _slot_state(slot: SeedSlot) -> dict[str, Any]:
    return {
        "layer_id": slot.layer_id, "index": slot.index, "seed_id": slot.seed_id,
        "state": slot.state.value, "kernel_id": slot.kernel_id, "blueprint_id": slot.blueprint_id,
        "alpha": slot.alpha, "alpha_pinned": slot.alpha_pinned, "generation": slot.generation,
        "germinated_epoch": slot.germinated_epoch, "stage_epochs": slot.stage_epochs,
        "stage_steps": slot.stage_steps,
    }
