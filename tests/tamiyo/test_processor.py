"""`esper run tamiyo` as a real process on a real broker: exactly once, window rebuilt from the log."""

from __future__ import annotations

import zlib

from consumers.tamiyo import main as run_tamiyo
from esper.bus.producer import EventProducer
from esper.bus.topics import EPOCHS
from esper.tamiyo.controller import Tamiyo
from esper.tamiyo.gates import Gates
from esper.tamiyo.policies import HeuristicPolicy
from tests.tamiyo.processes import (
    TamiyoProcess,
    committed_decisions,
    start_group_at_end,
    wait_for_decisions,
    wait_until_group_caught_up,
    wait_until_split,
)
from tests.tamiyo.world import SyntheticRun

EXPLORATION = 0.5
GATES = Gates(min_confidence=0.0, cooldown_epochs=2, budget_fraction=5.0)
OPTIONS = ("--policy", "heuristic", "--exploration", str(EXPLORATION), "--min-confidence", "0",
           "--cooldown-epochs", "2", "--budget-fraction", "5")


def _identity(decisions) -> list[tuple]:
    return [(d.decision_id, d.metadata["epoch"], d.layer_id, d.slot_index, d.blueprint_id,
             d.meta.causation_id) for d in decisions]


def _epochs(run: SyntheticRun, numbers: range) -> dict[int, tuple[list, object]]:
    return {epoch: (run.health_signals(epoch), run.epoch_completed(epoch)) for epoch in numbers}


def _send(producer: EventProducer, epochs: dict, numbers: range) -> None:
    for epoch in numbers:
        signals, trigger = epochs[epoch]
        producer.send_batch(signals)
        producer.flush()  # an epoch's health is in the log before its end
        producer.send(trigger)
        producer.flush()


def _reference(started, epochs: dict) -> list:
    """What one uninterrupted in-process Tamiyo decides on the same events."""
    tamiyo = Tamiyo(HeuristicPolicy(), GATES, EXPLORATION)
    decisions = tamiyo.handle(started)
    for epoch in sorted(epochs):
        signals, trigger = epochs[epoch]
        for signal in signals:
            tamiyo.handle(signal)
        decisions += tamiyo.handle(trigger)
    return decisions


def test_kill_9_mid_run_then_restart_decides_as_if_never_interrupted(tamiyo_kafka, launch_process,
                                                                      tmp_path):
    # Exploration draws from the trigger's random event id: take the first run whose
    # reference decides on both sides of the kill, so that the restart has state to recover.
    for seed in range(21, 61):
        run = SyntheticRun.make(seed, layers=4)
        started, epochs = run.run_started(), _epochs(run, range(1, 13))
        expected = _reference(started, epochs)
        early = [d for d in expected if d.metadata["epoch"] <= 6]
        if early and len(expected) > len(early) + 1:
            break
    else:
        raise AssertionError("no run decides both before and after epoch 6")

    group = f"tamiyo-{run.run_id}"
    start_group_at_end(tamiyo_kafka, group)
    process = launch_process(TamiyoProcess(tamiyo_kafka, "kill-test", group, *OPTIONS,
                                           "--artifacts", str(tmp_path)))
    process.wait_for_line("consuming")
    with EventProducer(tamiyo_kafka) as producer:
        producer.send(started)
        _send(producer, epochs, range(1, 7))
        wait_for_decisions(tamiyo_kafka, run.run_id, lambda d: len(d) >= len(early))
        _send(producer, epochs, range(7, 8))
        assert process.kill() == -9  # mid-run: epoch 7 in flight, maybe mid-transaction
        _send(producer, epochs, range(8, 13))  # the run goes on while Tamiyo is down

    process.start()
    process.wait_for_line(f"run {run.run_id}: window rebuilt from the log")
    wait_for_decisions(tamiyo_kafka, run.run_id, lambda d: len(d) >= len(expected))
    assert process.stop() == 0  # SIGTERM: a clean stop

    assert _identity(committed_decisions(tamiyo_kafka, run.run_id)) == _identity(expected)


def test_decisions_are_made_for_each_run_by_the_instance_that_owns_it(tamiyo_kafka, launch_process,
                                                                      tmp_path):
    runs = [SyntheticRun.make(seed, layers=3) for seed in (31, 32, 33)]
    group = f"tamiyo-{runs[0].run_id}"
    start_group_at_end(tamiyo_kafka, group)
    process = launch_process(TamiyoProcess(tamiyo_kafka, "many", group, *OPTIONS,
                                           "--artifacts", str(tmp_path)))
    process.wait_for_line("consuming")
    expected = {}
    with EventProducer(tamiyo_kafka) as producer:
        for run in runs:
            started, epochs = run.run_started(), _epochs(run, range(1, 9))
            expected[run.run_id] = _reference(started, epochs)
            producer.send(started)
            producer.flush()
            _send(producer, epochs, range(1, 9))
    for run in runs:
        decisions = wait_for_decisions(tamiyo_kafka, run.run_id,
                                       lambda d, n=len(expected[run.run_id]): len(d) >= n)
        assert _identity(decisions) == _identity(expected[run.run_id])
    assert process.stop() == 0
    assert not any("rebuilt" in line for line in process.lines)  # nothing was lost


def _partition(run_id: str) -> int:
    # librdkafka's default partitioner: CRC-32 of the key, modulo the partition count.
    return zlib.crc32(run_id.encode()) % EPOCHS.partitions


def test_runs_of_a_stopped_instance_move_to_another_that_rebuilds_their_windows(
        tamiyo_kafka, launch_process, tmp_path):
    runs, seed = {}, 100
    while len(runs) < EPOCHS.partitions:  # a run on every partition: both instances own some
        run = SyntheticRun.make(seed, layers=3)
        runs.setdefault(_partition(run.run_id), run)
        seed += 1
    group = f"tamiyo-{runs[0].run_id}"
    start_group_at_end(tamiyo_kafka, group)
    options = (*OPTIONS, "--artifacts", str(tmp_path), "--session-timeout", "6")
    first = launch_process(TamiyoProcess(tamiyo_kafka, "first", group, *options))
    second = launch_process(TamiyoProcess(tamiyo_kafka, "second", group, *options))
    _, seconds = wait_until_split(first, second)
    plans = {run.run_id: (run, run.run_started(), _epochs(run, range(1, 13)))
             for run in runs.values()}
    expected = {run_id: _reference(started, epochs) for run_id, (_, started, epochs) in plans.items()}
    with EventProducer(tamiyo_kafka) as producer:
        for _, started, epochs in plans.values():
            producer.send(started)
            producer.flush()
            _send(producer, epochs, range(1, 7))
        wait_until_group_caught_up(tamiyo_kafka, group)
        assert wait_until_split(first, second)[1] == seconds  # no rebalance meanwhile
        assert second.stop() == 0
        owned = {run.run_id for partition, run in runs.items() if partition in seconds}
        for _, _, epochs in plans.values():
            _send(producer, epochs, range(7, 13))

    for run_id, decisions in expected.items():
        committed = wait_for_decisions(tamiyo_kafka, run_id,
                                       lambda d, n=len(decisions): len(d) >= n)
        assert _identity(committed) == _identity(decisions), run_id
    for run_id in owned:
        first.wait_for_line(f"run {run_id}: window rebuilt from the log")
    assert first.stop() == 0
    for run_id, decisions in expected.items():
        assert _identity(committed_decisions(tamiyo_kafka, run_id)) == _identity(decisions)


def test_bad_settings_stop_the_process_before_it_touches_kafka(caplog):
    assert run_tamiyo(["--exploration", "2", "--bootstrap", "127.0.0.1:1"]) == 2
    assert "exploration must be in [0, 1], not 2.0" in caplog.text
    assert run_tamiyo(["--min-confidence", "1.5", "--bootstrap", "127.0.0.1:1"]) == 2
    assert "min_confidence must be in [0, 1]" in caplog.text
