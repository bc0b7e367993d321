"""Learning from logged outcomes, in one process: the GNN beats random and the heuristic on
held-out runs, picks a degraded layer in a run recorded by the real trainer, and survives
the artifact store."""

from __future__ import annotations

import io

import pytest
import torch

from esper.artifacts import ChecksumMismatch, LocalArtifactStore
from esper.kasmina import wrap
from esper.tamiyo.controller import Tamiyo
from esper.tamiyo.graph import build_graph
from esper.tamiyo.outcomes import experiences
from esper.tamiyo.policies import GnnPolicy, HeuristicPolicy
from esper.tamiyo.policy_store import PolicyFormatError, load_gain_net, release, save_policy
from esper.tamiyo.training import (
    TrainingConfig,
    offline_value,
    policy_chooser,
    random_value,
    split_runs,
    train_gain_net,
)
from esper.tamiyo.window import RunWindow
from esper.tolaria import Trainer, build_host, load_dataset
from esper.tolaria import TrainingConfig as TolariaConfig
from tests.tamiyo.conftest import LOGGING_GATES
from tests.tamiyo.world import SyntheticRun, play

RUNS, EPOCHS = 320, 10


@pytest.fixture(scope="module")
def logged():
    """Experience from runs logged by an exploring controller (epsilon 1)."""
    torch.set_num_threads(1)
    events = []
    for seed in range(RUNS):
        tamiyo = Tamiyo(HeuristicPolicy(), LOGGING_GATES, exploration=1.0)
        events += play(SyntheticRun.make(seed), EPOCHS, tamiyo.handle)
    return split_runs(experiences(events, LOGGING_GATES), holdout=0.25)


@pytest.fixture(scope="module")
def trained(logged):
    train, _ = logged
    return train_gain_net(train, TrainingConfig(epochs=40))


def test_the_trained_gnn_beats_random_and_the_heuristic_on_held_out_outcomes(logged, trained):
    train, held_out = logged
    assert not {e.run_id for e in train} & {e.run_id for e in held_out}
    gnn = offline_value(policy_chooser(GnnPolicy(trained, 1)), held_out)
    heuristic = offline_value(policy_chooser(HeuristicPolicy()), held_out)
    chance = random_value(held_out)
    print(f"\nheld-out mean reward per decision ({len(held_out)} decisions): "
          f"gnn {gnn.value:+.4f} ± {gnn.stderr:.4f} ({gnn.matched} matched), heuristic "
          f"{heuristic.value:+.4f} ± {heuristic.stderr:.4f} ({heuristic.matched} matched), "
          f"random {chance.value:+.4f} ± {chance.stderr:.4f}")
    assert gnn.matched >= 20 and heuristic.matched >= 20  # enough logged agreement to judge
    assert gnn.value > heuristic.value
    assert gnn.value > chance.value


def _recorded_run_with_dead_neurons(tmp_path) -> list:
    """Four epochs of the real trainer on digits; 48 of fc2's 64 units are killed by a bias
    no input can overcome, so they never fire and never learn."""
    torch.manual_seed(0)
    data = load_dataset("digits", seed=0)
    model = wrap(build_host("mlp", data), seeds_per_layer=2)
    with torch.no_grad():
        model.layer(1).bias[:48] = -30.0
    events: list = []
    Trainer(model, data, TolariaConfig(epochs=4, health_every=5), emit=events.append,
            kernels=LocalArtifactStore(tmp_path), run_id="run-degraded", model_name="mlp",
            host={"host": "mlp"}).run()
    return events


def test_both_policies_pick_the_degraded_layer_of_a_recorded_run(trained, tmp_path):
    events = _recorded_run_with_dead_neurons(tmp_path)
    window = RunWindow("run-degraded").apply_all(events)
    graph = build_graph(window, window.latest_epoch, parameter_budget=10**6)
    assert [layer.name for layer in graph.layers] == ["fc1", "fc2", "head"]
    assert graph.feature(1, "dead_neuron_ratio") > 0.7

    for policy in (HeuristicPolicy(), GnnPolicy(trained, 1)):
        best = policy.rank(graph)[0]
        assert graph.candidates[best.candidate].layer.name == "fc2", policy.name


def test_a_policy_round_trips_through_the_store_and_a_bad_one_is_refused(trained, logged, tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    ref = save_policy(store, trained, {"heldout_reward_gnn": 0.02})
    graph = logged[1][0].graph
    loaded = load_gain_net(store, ref.sha256)
    assert torch.equal(GnnPolicy(loaded, 2).predict(graph)[0], GnnPolicy(trained, 1).predict(graph)[0])
    event = release(ref, 2, {"heldout_reward_gnn": 0.02})
    assert (event.checksum, event.policy_version, event.artifact_ref) == (ref.sha256, 2, ref.uri)

    (tmp_path / "store" / ref.key).write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch):
        load_gain_net(store, ref.sha256)
    buffer = io.BytesIO()
    torch.save({"format": 99}, buffer)
    other = store.put(buffer.getvalue())
    with pytest.raises(PolicyFormatError, match="format 99"):
        load_gain_net(store, other.sha256)


def test_the_offline_estimate_is_the_mean_of_matched_rewards_over_propensities(logged):
    _, held_out = logged
    sample = held_out[:4]
    logged_choice = offline_value(lambda graph, admissible: next(
        e.action for e in sample if e.graph is graph), sample)
    assert logged_choice.matched == 4
    assert logged_choice.value == pytest.approx(
        sum(e.reward / e.propensity for e in sample) / 4)
    never = offline_value(lambda graph, admissible: -1, sample)
    assert (never.value, never.matched, never.stderr) == (0.0, 0, 0.0)
