"""`esper tamiyo train` on runs logged through the bus: it learns a policy that beats random
and the heuristic on held-out runs, releases it, and a running Tamiyo switches to it."""

from __future__ import annotations

import contextlib
import io

import pytest

from esper.artifacts import LocalArtifactStore
from esper.bus import replay
from esper.bus.producer import EventProducer
from esper.bus.topics import POLICIES
from esper.cli import main as esper
from esper.contracts import PolicyUpdated
from esper.tamiyo.controller import Tamiyo
from esper.tamiyo.policies import GNN, HEURISTIC, HeuristicPolicy
from esper.tamiyo.policy_store import load_gain_net
from tests.tamiyo.conftest import LOGGING_GATES
from tests.tamiyo.processes import TamiyoProcess, start_group_at_end, wait_for_decisions
from tests.tamiyo.world import SyntheticRun, play

RUNS, EPOCHS = 320, 10


def _log_runs(bootstrap: str) -> list[str]:
    """Runs whose every decision an exploring Tamiyo made, with their outcomes, in the log."""
    run_ids = []
    with EventProducer(bootstrap) as producer:
        for seed in range(RUNS):
            run = SyntheticRun.make(seed)
            tamiyo = Tamiyo(HeuristicPolicy(), LOGGING_GATES, exploration=1.0)
            producer.send_batch(play(run, EPOCHS, tamiyo.handle))
            run_ids.append(run.run_id)
    return run_ids


def _send_run(bootstrap: str, run: SyntheticRun, epochs: int) -> None:
    with EventProducer(bootstrap) as producer:
        producer.send(run.run_started())
        for epoch in range(1, epochs + 1):
            producer.send_batch(run.health_signals(epoch))
            producer.flush()
            producer.send(run.epoch_completed(epoch))


@pytest.fixture(scope="module")
def trained(tamiyo_kafka, tmp_path_factory):
    """A Tamiyo process running while `esper tamiyo train` learns from the log and releases."""
    artifacts = tmp_path_factory.mktemp("artifacts")
    before = SyntheticRun.make(1001, noisy=False)
    group = f"tamiyo-{before.run_id}"
    start_group_at_end(tamiyo_kafka, group)
    process = TamiyoProcess(tamiyo_kafka, "learner", group, "--artifacts", str(artifacts),
                            "--exploration", "0").start()
    process.wait_for_line("consuming")
    try:
        _send_run(tamiyo_kafka, before, 10)
        wait_for_decisions(tamiyo_kafka, before.run_id, lambda d: len(d) >= 1)
        run_ids = _log_runs(tamiyo_kafka)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = esper(["tamiyo", "train", "--runs", *run_ids, "--bootstrap", tamiyo_kafka,
                          "--artifacts", str(artifacts), "--epochs", "40",
                          "--cooldown-epochs", "1", "--budget-fraction", "20"])
        assert code == 0, output.getvalue()
        process.wait_for_line(rf"policy {GNN} v1 in use")
        after = SyntheticRun.make(1002, noisy=False)
        _send_run(tamiyo_kafka, after, 10)
        decided = wait_for_decisions(tamiyo_kafka, after.run_id, lambda d: len(d) >= 1)
        yield {"output": output.getvalue(), "artifacts": artifacts, "process": process,
               "before": wait_for_decisions(tamiyo_kafka, before.run_id, lambda d: True),
               "after": decided}
    finally:
        assert process.stop() == 0


def _reward(output: str, policy: str) -> float:
    line = next(line for line in output.splitlines() if line.split()[:1] == [policy])
    return float(line.split()[1])


def test_training_from_the_log_beats_random_and_the_heuristic_on_held_out_runs(trained):
    output = trained["output"]
    print("\n" + output)
    assert "mean reward" in output and "held-out decisions" in output
    gnn, heuristic, chance = (_reward(output, p) for p in ("gnn", "heuristic", "random"))
    assert gnn > heuristic and gnn > chance


def test_the_policy_is_released_to_the_store_and_announced(trained, tamiyo_kafka):
    releases = [r.event for r in replay.read([POLICIES.name], bootstrap=tamiyo_kafka)
                if isinstance(r.event, PolicyUpdated)]
    release, = releases
    assert (release.policy_name, release.policy_version) == (GNN, 1)
    assert release.metrics["heldout_reward_gnn"] == pytest.approx(
        _reward(trained["output"], "gnn"), abs=1e-4)
    load_gain_net(LocalArtifactStore(trained["artifacts"]), release.checksum)
    assert f"released {GNN} v1" in trained["output"]


def test_a_running_tamiyo_switches_to_the_released_policy_without_a_restart(trained):
    lines = "\n".join(trained["process"].lines)
    assert {(d.policy_name, d.policy_version) for d in trained["before"]} == {(HEURISTIC, 1)}, lines
    assert {(d.policy_name, d.policy_version) for d in trained["after"]} == {(GNN, 1)}, lines
    assert sum(" in use (artifact " in line for line in trained["process"].lines) == 1, lines


def test_too_little_experience_is_a_clear_error(tamiyo_kafka, capsys):
    assert esper(["tamiyo", "train", "--runs", "no-such-run", "--bootstrap", tamiyo_kafka,
                  "--no-release"]) == 1
    assert "too few to train on some runs and evaluate on others" in capsys.readouterr().err


def test_a_bad_option_is_a_clear_error(tamiyo_kafka, capsys):
    assert esper(["tamiyo", "train", "--since", "yesterday-ish", "--bootstrap", tamiyo_kafka]) == 1
    assert "neither an ISO-8601 time nor a duration" in capsys.readouterr().err
    assert esper(["tamiyo", "train", "--holdout", "1.5", "--bootstrap", tamiyo_kafka,
                  "--since", "1m", "--no-release"]) == 1
    assert "holdout must be between 0 and 1" in capsys.readouterr().err
