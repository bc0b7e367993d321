"""Tamiyo's decisions: at the end of each epoch of a run, the policy proposes, exploration may
override it, and the gates dispose.

Deciding is a function of the run's window and the triggering EpochCompleted: the random
choices are seeded by the trigger's event id and decision ids are derived from it, so
processing the same trigger again (after an aborted transaction, or a crash before the commit)
gives the same decisions, not additional ones.

Exploration is epsilon-greedy over the admissible candidates (those the gates allow). Each
decision's metadata says whether it explored and the probability with which the controller
would have made exactly that choice (``propensity``): what offline evaluation needs to judge
other policies on the logged outcomes without bias.
"""

from __future__ import annotations

import logging
import random
import uuid

from esper.contracts import (
    AdaptationDecision,
    AdaptationType,
    ComponentType,
    EpochCompleted,
    EventMeta,
    TrainingRunCompleted,
)
from esper.tamiyo.gates import Gates
from esper.tamiyo.graph import LayerGraph, build_graph
from esper.tamiyo.policies import Policy, Proposal
from esper.tamiyo.window import RunWindow

log = logging.getLogger(__name__)

_DECISION_IDS = uuid.UUID("9f6c1d3e-5a7b-4c2d-8e1f-0a9b8c7d6e5f")


class Tamiyo:
    """Decisions for runs; ``policy`` may be replaced at any time (a new version released)."""

    def __init__(self, policy: Policy, gates: Gates | None = None, exploration: float = 0.0):
        if not 0.0 <= exploration <= 1.0:
            raise ValueError(f"exploration must be in [0, 1], not {exploration}")
        self.policy = policy
        self.gates = gates or Gates()
        self.exploration = exploration
        self.windows: dict[str, RunWindow] = {}

    def window(self, run_id: str) -> RunWindow:
        if run_id not in self.windows:
            self.windows[run_id] = RunWindow(run_id)
        return self.windows[run_id]

    def handle(self, event: object) -> list[AdaptationDecision]:
        """Apply one event of a run to its window; the decisions it triggers, if any."""
        run_id = event.meta.run_id
        if isinstance(event, TrainingRunCompleted):
            self.windows.pop(run_id, None)
            return []
        window = self.window(run_id)
        if isinstance(event, EpochCompleted):
            return self.decide(window, event)
        window.apply(event)
        return []

    def decide(self, window: RunWindow, trigger: EpochCompleted) -> list[AdaptationDecision]:
        window.forget_decisions_caused_by(trigger.meta.event_id)
        window.apply(trigger)
        if window.topology is None:
            log.warning("run %s: epoch %d before its TrainingRunStarted; no decision",
                        window.run_id, trigger.epoch)
            return []
        rng = random.Random(trigger.meta.event_id)
        decisions: list[AdaptationDecision] = []
        while (decision := self._next(window, trigger, rng, len(decisions))) is not None:
            window.apply(decision)
            decisions.append(decision)
        return decisions

    def _next(self, window: RunWindow, trigger: EpochCompleted, rng: random.Random,
              number: int) -> AdaptationDecision | None:
        epoch = trigger.epoch
        refusal = self.gates.refuse_run(window, epoch)
        if refusal is not None:
            log.debug("run %s epoch %d: %s", window.run_id, epoch, refusal)
            return None
        graph = build_graph(window, epoch, self.gates.budget(window))
        admissible = {i for i, candidate in enumerate(graph.candidates)
                      if self.gates.refuse_candidate(window, epoch, candidate) is None}
        if not admissible:
            return None
        ranking = [p for p in self.policy.rank(graph) if p.candidate in admissible]
        greedy = next((p for p in ranking if self.policy.acts_on(graph, p)), None)
        if greedy is not None and self.gates.refuse_confidence(greedy) is not None:
            greedy = None
        share = self.exploration / len(admissible)  # each admissible candidate's share of it
        explore = rng.random() < self.exploration
        if explore:
            pick = rng.choice(sorted(admissible))
            chosen = next(p for p in ranking if p.candidate == pick)
        elif greedy is not None:
            chosen = greedy
        else:
            return None
        is_greedy = greedy is not None and chosen.candidate == greedy.candidate
        propensity = share + (1 - self.exploration) * is_greedy
        return self._decision(graph, trigger, chosen, greedy, explore, propensity,
                              len(admissible), number)

    def _decision(self, graph: LayerGraph, trigger: EpochCompleted, chosen: Proposal,
                  greedy: Proposal | None, explored: bool, propensity: float, admissible: int,
                  number: int) -> AdaptationDecision:
        candidate = graph.candidates[chosen.candidate]
        greedy_candidate = graph.candidates[greedy.candidate] if greedy is not None else None
        why = "explored" if explored else f"best of {admissible} by {self.policy.name}"
        return AdaptationDecision(
            meta=EventMeta.new(ComponentType.TAMIYO, causation=trigger),
            decision_id=str(uuid.uuid5(_DECISION_IDS, f"{trigger.meta.event_id}/{number}")),
            layer_name=candidate.layer.name,
            layer_id=candidate.layer.layer_id,
            adaptation_type=AdaptationType.ADD_SEED,
            slot_index=candidate.slot_index,
            blueprint_id=candidate.choice.blueprint_id,
            confidence=chosen.confidence,
            urgency=chosen.urgency,
            policy_name=self.policy.name,
            policy_version=self.policy.version,
            features={**graph.summary(candidate), "predicted_gain": chosen.gain},
            metadata={
                "epoch": trigger.epoch,
                "blueprint_kind": candidate.choice.kind,
                "explored": explored,
                "propensity": propensity,
                "admissible": admissible,
                "greedy_layer_id": greedy_candidate.layer.layer_id if greedy_candidate else None,
                "greedy_blueprint_kind": greedy_candidate.choice.kind if greedy_candidate else None,
                "reason": f"epoch {trigger.epoch}: {candidate.choice.kind} in "
                          f"{candidate.layer.name} slot {candidate.slot_index}, {why}",
            },
        )
