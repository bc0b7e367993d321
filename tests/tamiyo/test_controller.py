"""Decisions: what they record, exploration, repeatability, and policy swaps."""

from __future__ import annotations

from collections import Counter

import pytest

from esper.contracts import (
    AdaptationDecision,
    AdaptationType,
    ComponentType,
    EventMeta,
    TrainingRunCompleted,
    TrainingStatus,
)
from esper.karn import BlueprintIR
from esper.tamiyo.controller import Tamiyo
from esper.tamiyo.features import NODE_FEATURES
from esper.tamiyo.gates import Gates
from esper.tamiyo.policies import HEURISTIC, HeuristicPolicy
from esper.tamiyo.window import RunWindow
from tests.tamiyo.policies import Eager
from tests.tamiyo.world import SyntheticRun, play


def _decisions(events) -> list[AdaptationDecision]:
    return [e for e in events if isinstance(e, AdaptationDecision)]


def _warm(run: SyntheticRun, tamiyo: Tamiyo, epochs: int) -> RunWindow:
    tamiyo.handle(run.run_started())
    for epoch in range(1, epochs + 1):
        for signal in run.health_signals(epoch):
            tamiyo.handle(signal)
        tamiyo.handle(run.epoch_completed(epoch))
    return tamiyo.windows[run.run_id]


def test_a_decision_records_who_decided_what_where_why_and_what_caused_it():
    run = SyntheticRun.make(1, noisy=False, starved=2)
    tamiyo = Tamiyo(HeuristicPolicy(), Gates(cooldown_epochs=1), exploration=0.0)
    decision = _decisions(play(run, 10, tamiyo.handle))[0]

    assert decision.adaptation_type == AdaptationType.ADD_SEED
    assert (decision.policy_name, decision.policy_version) == (HEURISTIC, 1)
    assert (decision.layer_id, decision.layer_name, decision.slot_index) == (2, "fc3", 0)
    assert decision.blueprint_id == BlueprintIR.of("lora").blueprint_id  # the rule's choice
    assert decision.meta.source == ComponentType.TAMIYO and decision.meta.run_id == run.run_id
    assert decision.meta.correlation_id == run.started.meta.correlation_id
    assert set(NODE_FEATURES) <= set(decision.features)
    assert decision.features["dead_neuron_ratio"] > 0.4
    assert decision.features["plateau_epochs"] >= 0.2
    assert decision.metadata["explored"] is False
    assert decision.metadata["propensity"] == 1.0
    assert 0.6 <= decision.confidence <= 1.0 and 0.0 <= decision.urgency <= 1.0


def test_the_causation_id_is_the_triggering_epoch_event():
    run = SyntheticRun.make(2, noisy=False)
    tamiyo = Tamiyo(Eager(), Gates())
    window = _warm(run, tamiyo, 3)
    trigger = run.epoch_completed(4)
    decision, = tamiyo.decide(window, trigger)
    assert decision.meta.causation_id == trigger.meta.event_id
    assert decision.meta.correlation_id == trigger.meta.correlation_id


def test_deciding_on_the_same_trigger_again_gives_the_same_decisions_once():
    run = SyntheticRun.make(3)
    tamiyo = Tamiyo(Eager(), Gates(max_per_epoch=2, budget_fraction=20.0, warmup_epochs=4),
                    exploration=0.5)
    window = _warm(run, tamiyo, 3)
    trigger = run.epoch_completed(4)
    first = tamiyo.decide(window, trigger)
    again = tamiyo.decide(window, trigger)  # an aborted transaction is processed twice
    assert len(first) == 2
    assert [d.decision_id for d in again] == [d.decision_id for d in first]
    assert [(d.layer_id, d.slot_index, d.blueprint_id) for d in again] == \
        [(d.layer_id, d.slot_index, d.blueprint_id) for d in first]
    assert sorted(window.decisions) == sorted(d.decision_id for d in first)


def test_exploration_is_logged_with_the_probability_of_each_choice():
    explored = []
    for seed in range(6):
        tamiyo = Tamiyo(HeuristicPolicy(), Gates(min_confidence=0.0, cooldown_epochs=1,
                                                 budget_fraction=20.0), exploration=1.0)
        explored += _decisions(play(SyntheticRun.make(seed), 10, tamiyo.handle))
    assert len(explored) > 30
    assert all(d.metadata["explored"] for d in explored)
    assert all(d.metadata["propensity"] == pytest.approx(1 / d.metadata["admissible"])
               for d in explored)
    kinds = Counter(d.metadata["blueprint_kind"] for d in explored)
    assert len(kinds) >= 5  # every fitting kind gets tried
    assert len({d.layer_id for d in explored}) == 4


def test_a_greedy_choice_under_exploration_carries_its_full_probability():
    run = SyntheticRun.make(4, noisy=False)
    tamiyo = Tamiyo(Eager(), Gates(), exploration=0.2)
    decisions = _decisions(play(run, 12, tamiyo.handle))
    greedy = [d for d in decisions if not d.metadata["explored"]]
    assert greedy
    for d in greedy:
        assert d.metadata["propensity"] == pytest.approx(0.8 + 0.2 / d.metadata["admissible"])


def test_the_heuristic_waits_for_a_plateau():
    run = SyntheticRun.make(5, noisy=False)
    tamiyo = Tamiyo(HeuristicPolicy(plateau_epochs=2), Gates(), exploration=0.0)
    decisions = _decisions(play(run, 10, tamiyo.handle))
    assert decisions
    assert all(d.features["plateau_epochs"] * 10 >= 2 for d in decisions)
    assert min(int(d.metadata["epoch"]) for d in decisions) >= 5


def test_a_new_policy_decides_from_the_next_epoch_on():
    run = SyntheticRun.make(6)
    tamiyo = Tamiyo(HeuristicPolicy(), Gates(cooldown_epochs=0, min_confidence=0.0), 0.0)
    _warm(run, tamiyo, 3)
    tamiyo.policy = Eager()
    decision, = tamiyo.handle(run.epoch_completed(4))
    assert (decision.policy_name, decision.policy_version) == ("eager", 7)


def test_a_completed_run_is_forgotten():
    run = SyntheticRun.make(7)
    tamiyo = Tamiyo(HeuristicPolicy())
    _warm(run, tamiyo, 2)
    tamiyo.handle(TrainingRunCompleted(
        meta=EventMeta.new(ComponentType.TOLARIA, run_id=run.run_id),
        status=TrainingStatus.COMPLETED, epochs_completed=2, total_parameters=1,
        seeds_fossilized=0, seeds_culled=0, duration_seconds=1.0))
    assert run.run_id not in tamiyo.windows


def test_exploration_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="exploration must be in"):
        Tamiyo(HeuristicPolicy(), exploration=1.5)
