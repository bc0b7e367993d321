"""The layer graph: nodes by stable layer id, features from the window, candidates that fit."""

from __future__ import annotations

import pytest

from esper.contracts import (
    AdaptationDecision,
    AdaptationType,
    ComponentType,
    EventMeta,
    HostTopology,
    SeedState,
    SeedStateChanged,
)
from esper.tamiyo.features import EDGE_FEATURES, GLOBAL_FEATURES, NODE_FEATURES, plateau_epochs
from esper.tamiyo.graph import NoTopology, build_graph
from esper.tamiyo.window import RunHealth, RunWindow
from tests.tamiyo.world import SyntheticRun


def _window(run: SyntheticRun, epochs: int) -> RunWindow:
    window = RunWindow(run.run_id).apply_all([run.run_started()])
    for epoch in range(1, epochs + 1):
        window.apply_all(run.health_signals(epoch))
        window.apply(run.epoch_completed(epoch))
    return window


def _seed(run: SyntheticRun, layer: int, slot: int, source: SeedState, target: SeedState):
    return SeedStateChanged(meta=EventMeta.new(ComponentType.KASMINA, run_id=run.run_id),
                            layer_id=layer, slot_index=slot, seed_id="seed-1",
                            from_state=source, to_state=target, alpha=0.0, reason="test",
                            epoch=1, step=0)


def _decision(run: SyntheticRun, layer: int, slot: int, epoch: int, cost: int = 100):
    return AdaptationDecision(meta=EventMeta.new(ComponentType.TAMIYO, run_id=run.run_id),
                              layer_name=f"fc{layer + 1}", layer_id=layer,
                              adaptation_type=AdaptationType.ADD_SEED, slot_index=slot,
                              blueprint_id="lora", confidence=0.9, urgency=0.5,
                              policy_name="test", policy_version=1,
                              features={"parameter_cost": float(cost)}, metadata={"epoch": epoch})


def test_the_graph_has_a_node_per_layer_and_data_flow_edges_both_ways():
    run = SyntheticRun.make(seed=1, layers=4)
    graph = build_graph(_window(run, 3), 3, parameter_budget=10_000)

    assert graph.x.shape == (4, len(NODE_FEATURES)) and len(NODE_FEATURES) >= 16
    assert graph.edge_attr.shape == (6, len(EDGE_FEATURES))
    assert graph.u.shape == (1, len(GLOBAL_FEATURES))
    assert sorted(zip(*graph.edge_index.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]
    forward = EDGE_FEATURES.index("forward")
    assert graph.edge_attr[:, forward].tolist() == [1.0, 0.0] * 3
    assert [graph.feature(i, "in_degree") for i in range(4)] == [0.0, 1.0, 1.0, 1.0]
    assert [graph.feature(i, "type_linear") for i in range(4)] == [1.0] * 4
    assert graph.edge_attr[:, EDGE_FEATURES.index("shape_compatible")].tolist() == [1.0] * 6


def test_health_is_matched_by_the_topologys_layer_ids_not_by_position():
    run = SyntheticRun.make(seed=2, layers=3, noisy=False, starved=1)
    window = _window(run, 3)
    # Renumber the layers: the same layers with ids 7, 3, 5 and signals to match.
    ids = {0: 7, 1: 3, 2: 5}
    topology = window.topology
    renumbered = RunWindow(run.run_id)
    renumbered.topology = HostTopology(model_name=topology.model_name, layers=[
        layer.model_copy(update={"layer_id": ids[layer.layer_id]}) for layer in topology.layers])
    for epoch in range(1, 4):
        renumbered.apply_all(s.model_copy(update={"layer_id": ids[s.layer_id]})
                             for s in run.health_signals(epoch))
        renumbered.apply(run.epoch_completed(epoch))
    graph = build_graph(renumbered, 3, 10_000)

    dead = [graph.feature(i, "dead_neuron_ratio") for i in range(3)]
    assert dead.index(max(dead)) == 1  # the starved layer, whatever its id
    assert all(graph.feature(i, "has_health") == 1.0 for i in range(3))


def test_a_layer_without_signals_gets_the_upstream_defaults_and_says_so():
    run = SyntheticRun.make(seed=3, layers=2)
    window = RunWindow(run.run_id).apply_all([run.run_started(), run.epoch_completed(1)])
    graph = build_graph(window, 1, 10_000)
    assert graph.feature(0, "health") == 0.5 and graph.feature(0, "avg_correlation") == 0.5
    assert graph.feature(0, "has_health") == 0.0


def test_health_aggregates_in_any_order_and_keeps_only_recent_epochs():
    run = SyntheticRun.make(seed=4, layers=2)
    signals = [s for epoch in range(1, 12) for s in run.health_signals(epoch)]
    forward, backward = RunHealth(keep_epochs=3), RunHealth(keep_epochs=3)
    for signal in signals:
        forward.apply(signal)
    for signal in reversed(signals):
        backward.apply(signal)
    for health in (forward, backward):
        kept = health.history(0, 11)
        assert len(kept) == 3
    assert ([round(s.mean("dead"), 12) for s in forward.history(0, 11)]
            == [round(s.mean("dead"), 12) for s in backward.history(0, 11)][-3:])


def test_slots_are_taken_by_decisions_and_seeds_and_freed_when_a_culled_seed_goes_dormant():
    run = SyntheticRun.make(seed=5, layers=2)
    window = _window(run, 2)
    layer = window.layers[0]
    assert window.free_slot(layer) == 0
    window.apply(_decision(run, 0, 0, epoch=2))
    assert window.free_slot(layer) == 1
    window.apply(_seed(run, 0, 1, SeedState.DORMANT, SeedState.GERMINATED))
    assert window.free_slot(layer) is None
    graph = build_graph(window, 2, 10_000)
    assert {c.layer.layer_id for c in graph.candidates} == {1}  # the full layer offers nothing
    assert graph.feature(0, "slot_occupancy") == 1.0 and graph.feature(0, "has_free_slot") == 0.0
    window.apply(_seed(run, 0, 0, SeedState.CULLED, SeedState.DORMANT))
    assert window.free_slot(layer) == 0


def test_candidates_are_the_catalogue_kinds_that_fit_each_layer():
    run = SyntheticRun.make(seed=6, layers=2)
    graph = build_graph(_window(run, 2), 2, 10_000)
    kinds = {c.choice.kind for c in graph.candidates}
    assert {"lora", "mlp_small", "linear_adapter"} <= kinds
    assert not kinds & {"conv_light", "depthwise", "attention"}  # conv and sequence only
    assert all(c.choice.parameter_cost > 0 for c in graph.candidates)
    assert graph.candidate_node.tolist() == [c.node for c in graph.candidates]


def test_plateau_counts_epochs_without_a_one_percent_improvement():
    run = SyntheticRun.make(seed=7, layers=2)
    window = _window(run, 8)
    losses = [window.epochs[e].val_loss for e in range(1, 9)]
    assert losses == sorted(losses, reverse=True)  # falling, ever more slowly
    assert plateau_epochs(window, 3) == 0
    assert plateau_epochs(window, 8) >= 2


def test_a_run_without_its_topology_has_no_graph():
    run = SyntheticRun.make(seed=8)
    window = RunWindow(run.run_id)
    window.apply(run.epoch_completed(1))
    with pytest.raises(NoTopology, match=run.run_id):
        build_graph(window, 1, 1000)
