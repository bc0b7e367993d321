"""Safety gates: the rules no policy, greedy or exploring, may break.

Each check returns None to let a decision through, or the reason it refuses. Upstream's gates
(``upstream-services.md`` §8.6) counted in wall-clock seconds and never marked a decision as
executed, so the rate limit never fired; here everything counts in the run's own epochs and
in Tamiyo's logged decisions, so the gates hold across restarts.

| gate        | refuses                                                                     |
|-------------|-----------------------------------------------------------------------------|
| consent     | any decision for a run that started with adaptation off (a baseline)         |
| stability   | before ``warmup_epochs`` epochs; after validation loss rose by more than    |
|             | ``max_loss_rise`` in one epoch; while a layer reported errors this epoch     |
| rate        | a decision beyond ``max_per_epoch`` in one epoch                            |
| cooldown    | a layer chosen less than ``cooldown_epochs`` epochs ago                     |
| budget      | a blueprint whose parameters would take the run's seeds beyond             |
|             | ``budget_fraction`` of the host's parameters (pending decisions count)      |
| confidence  | a greedy decision below ``min_confidence`` (exploration is logged as such)  |
"""

from __future__ import annotations

import dataclasses

from esper.tamiyo.graph import Candidate
from esper.tamiyo.policies import Proposal
from esper.tamiyo.window import RunWindow


@dataclasses.dataclass(frozen=True)
class Gates:
    min_confidence: float = 0.6
    cooldown_epochs: int = 3
    max_per_epoch: int = 1
    budget_fraction: float = 0.5
    warmup_epochs: int = 2
    max_loss_rise: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], not {self.min_confidence}")
        for name in ("cooldown_epochs", "max_per_epoch", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        if self.budget_fraction < 0 or self.max_loss_rise < 0:
            raise ValueError("budget_fraction and max_loss_rise must not be negative")

    def budget(self, window: RunWindow) -> int:
        """Parameters the run's seeds may add in all."""
        return int(self.budget_fraction * window.host_parameters())

    def refuse_run(self, window: RunWindow, epoch: int) -> str | None:
        """Why no decision at all may be made for this run at the end of ``epoch``."""
        if not window.adaptation:
            return "adaptation is off for this run"
        if len(window.epochs) < self.warmup_epochs:
            return f"unstable: {len(window.epochs)} of {self.warmup_epochs} warm-up epochs seen"
        previous = window.epochs.get(epoch - 1)
        current = window.epochs.get(epoch)
        if previous and current and current.val_loss > previous.val_loss * (1 + self.max_loss_rise):
            return (f"unstable: validation loss rose from {previous.val_loss:.4g} to "
                    f"{current.val_loss:.4g}")
        failing = [layer.layer_id for layer in window.layers
                   if any(s.errors for s in window.health.history(layer.layer_id, epoch)[-1:])]
        if failing:
            return f"unstable: layers {failing} reported errors"
        if window.decisions_in_epoch(epoch) >= self.max_per_epoch:
            return f"rate: {self.max_per_epoch} decision(s) already made in epoch {epoch}"
        return None

    def refuse_candidate(self, window: RunWindow, epoch: int, candidate: Candidate) -> str | None:
        """Why ``candidate`` may not be decided now, whatever the policy thinks of it."""
        last = window.last_decision_epoch(candidate.layer.layer_id)
        if last is not None and epoch - last < self.cooldown_epochs:
            return (f"cooldown: layer {candidate.layer.layer_id} was chosen in epoch {last}, "
                    f"{self.cooldown_epochs} epochs must pass")
        committed, cost, budget = (window.parameters_committed(), candidate.choice.parameter_cost,
                                   self.budget(window))
        if committed + cost > budget:
            return (f"budget: {committed} + {cost} parameters would exceed the budget of "
                    f"{budget}")
        return None

    def refuse_confidence(self, proposal: Proposal) -> str | None:
        if proposal.confidence < self.min_confidence:
            return f"confidence: {proposal.confidence:.3f} < {self.min_confidence}"
        return None
