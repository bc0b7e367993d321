"""The gates hold: no decision inside a cooldown, at most M per epoch, never beyond the budget,
none while the run is unstable, none below the confidence floor unless exploring."""

from __future__ import annotations

from collections import Counter, defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from esper.contracts import AdaptationDecision
from esper.tamiyo.controller import Tamiyo
from esper.tamiyo.blueprints import choices_for
from esper.tamiyo.gates import Gates
from esper.tamiyo.graph import build_graph
from esper.tamiyo.policies import Proposal
from esper.tamiyo.window import RunWindow
from tests.tamiyo.policies import Eager
from tests.tamiyo.world import SyntheticRun, play


def _decisions(events) -> list[AdaptationDecision]:
    return [e for e in events if isinstance(e, AdaptationDecision)]


@settings(max_examples=25, deadline=None)
@given(cooldown=st.integers(0, 4), per_epoch=st.integers(1, 3),
       budget=st.floats(0.02, 1.5), exploration=st.sampled_from([0.0, 0.5, 1.0]),
       seed=st.integers(0, 10_000))
def test_no_policy_gets_past_the_gates(cooldown, per_epoch, budget, exploration, seed):
    gates = Gates(min_confidence=0.0, cooldown_epochs=cooldown, max_per_epoch=per_epoch,
                  budget_fraction=budget, warmup_epochs=2)
    tamiyo = Tamiyo(Eager(), gates, exploration)
    run = SyntheticRun.make(seed, layers=4)
    decisions = _decisions(play(run, 10, tamiyo.handle))
    epochs = [int(d.metadata["epoch"]) for d in decisions]

    assert all(epoch >= 2 for epoch in epochs)  # warm-up
    assert max(Counter(epochs).values(), default=0) <= per_epoch
    by_layer = defaultdict(list)
    for decision, epoch in zip(decisions, epochs):
        by_layer[decision.layer_id].append(epoch)
    for chosen in by_layer.values():
        assert all(later - earlier >= cooldown for earlier, later in zip(chosen, chosen[1:]))
    spent = sum(d.features["parameter_cost"] for d in decisions)
    host = run.topology().total_parameters()
    assert spent <= budget * host
    cheapest = min(c.parameter_cost for layer in run.topology().layers for c in choices_for(layer))
    if cheapest <= budget * host:
        assert decisions, "the eager policy decided nothing though a blueprint fit the budget"


def _window(run: SyntheticRun, epochs: int) -> RunWindow:
    window = RunWindow(run.run_id).apply_all([run.run_started()])
    for epoch in range(1, epochs + 1):
        window.apply_all(run.health_signals(epoch))
        window.apply(run.epoch_completed(epoch))
    return window


def test_a_run_is_unstable_while_warming_up_after_a_loss_jump_and_while_a_layer_errs():
    gates = Gates(warmup_epochs=3, max_loss_rise=0.25)
    run = SyntheticRun.make(1)
    assert "warm-up" in gates.refuse_run(_window(run, 2), 2)
    window = _window(run, 4)
    assert gates.refuse_run(window, 4) is None
    jump = run.epoch_completed(5)
    state = jump.system_state.model_copy(update={"validation_loss": 5.0})
    window.apply(jump.model_copy(update={"system_state": state}))
    assert "validation loss rose" in gates.refuse_run(window, 5)
    failing = [s.model_copy(update={"error_count": 2}) if s.layer_id == 1 else s
               for s in run.health_signals(6)]
    window.apply_all(failing)
    window.apply(run.epoch_completed(6))
    assert gates.refuse_run(window, 6) == "unstable: layers [1] reported errors"


def test_a_baseline_run_that_turned_adaptation_off_gets_no_decision():
    run = SyntheticRun.make(2)
    window = _window(run, 4)
    assert Gates().refuse_run(window, 4) is None
    started = run.started
    baseline = started.model_copy(update={"session": started.session.model_copy(
        update={"training_config": {"adaptation": False}})})
    window.apply(baseline)
    assert Gates().refuse_run(window, 4) == "adaptation is off for this run"


def test_cooldown_and_budget_refuse_candidates_and_say_why():
    run = SyntheticRun.make(2, layers=3)
    window = _window(run, 3)
    gates = Gates(cooldown_epochs=2, budget_fraction=10.0)
    decision, = Tamiyo(Eager(), gates).decide(window, run.epoch_completed(4))
    graph = build_graph(window, 4, gates.budget(window))
    same_layer = next(c for c in graph.candidates if c.layer.layer_id == decision.layer_id)
    assert gates.refuse_candidate(window, 5, same_layer).startswith("cooldown: layer")
    assert gates.refuse_candidate(window, 6, same_layer) is None

    spent = window.parameters_committed()
    assert spent == decision.features["parameter_cost"] > 0
    tight = Gates(cooldown_epochs=0, budget_fraction=(spent + 1) / window.host_parameters())
    costly = max(graph.candidates, key=lambda c: c.choice.parameter_cost)
    assert tight.refuse_candidate(window, 6, costly) == (
        f"budget: {spent} + {costly.choice.parameter_cost} parameters would exceed the budget "
        f"of {tight.budget(window)}")


class Unsure(Eager):
    def rank(self, graph):
        return [Proposal(i, gain=1.0, confidence=0.5, urgency=0.5)
                for i in range(len(graph.candidates))]


def test_greedy_decisions_need_confidence_exploration_does_not():
    gates = Gates(min_confidence=0.6, cooldown_epochs=0)
    assert gates.refuse_confidence(Proposal(0, 1.0, 0.59, 0.5)).startswith("confidence")
    assert gates.refuse_confidence(Proposal(0, 1.0, 0.6, 0.5)) is None
    assert not _decisions(play(SyntheticRun.make(3), 10, Tamiyo(Unsure(), gates, 0.0).handle))
    explored = _decisions(play(SyntheticRun.make(3), 10, Tamiyo(Unsure(), gates, 1.0).handle))
    assert explored and all(d.metadata["explored"] for d in explored)
