"""`esper train` against a real broker: commands in, every fact out."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

from esper.bus import topics
from esper.bus.producer import EventProducer
from esper.bus.replay import read
from esper.cli import main
from esper.karn import BlueprintIR
from esper.tezzeret.compiler import KernelRequest
from esper.contracts import (
    ComponentType,
    EventMeta,
    KasminaControlCommand,
    KernelReady,
    SeedStateChanged,
)
from tests.kasmina.kernels import compiled, corrupt

RUN_TOPICS = (topics.EPOCHS.name, topics.HEALTH.name, topics.SEED_STATES.name, topics.FIELD_REPORTS.name)


def command(run_id: str, kind: str, layer: int, slot: int, kernel=None, **fields) -> KasminaControlCommand:
    if kernel is not None:
        fields.update(kernel_id=kernel.kernel_id, blueprint_id=kernel.blueprint_id)
    return KasminaControlCommand(meta=EventMeta.new(ComponentType.TAMIYO, run_id=run_id), command=kind,
                                 layer_id=layer, slot_index=slot, reason="sent by the test", **fields)


def send(bootstrap: str, *events) -> None:
    with EventProducer(bootstrap) as producer:
        producer.send_batch(events)


def run_events(bootstrap: str, run_id: str) -> list:
    """The run's events on its topics, in the order they were produced."""
    delivered = read(RUN_TOPICS, run=run_id, bootstrap=bootstrap)
    return [d.event for d in sorted(delivered, key=lambda d: (d.event.meta.occurred_at, d.topic, d.offset))]


def transitions(events) -> list[tuple]:
    return [(e.layer_id, e.slot_index, e.from_state, e.to_state)
            for e in events if isinstance(e, SeedStateChanged)]


def test_a_run_applies_its_commands_and_puts_every_fact_on_kafka(catalogue, store, kernels, tmp_path, capsys):
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    broken = compiled(store, "linear_adapter", [16], [8])
    corrupt(store, broken)
    other_run = command("someone-else", "germinate", 0, 1, kernels["hidden"])
    send(catalogue,
         command(run_id, "germinate", 0, 0, kernels["hidden"]),
         command(run_id, "germinate", 1, 1, kernels["scrambler"]),
         command(run_id, "fossilize", 1, 0),  # a dormant slot: refused
         command(run_id, "germinate", 0, 1, broken),
         other_run)
    exit_code = main(["train", "--dataset", "synthetic", "--model", "mlp", "--undersized",
                      "--epochs", "4", "--seeds-per-layer", "2", "--run-id", run_id,
                      "--training-epochs", "1", "--grafting-epochs", "1", "--cull-tolerance", "0.02",
                      "--commands-from", "1m", "--bootstrap", catalogue, "--quiet"])
    assert exit_code == 0
    events = run_events(catalogue, run_id)
    # 420 samples in batches of 64: 7 steps an epoch, 28 in all; health (every 20 steps by
    # default) at steps 0 and 20, for 2 layers x 2 slots
    counts = Counter(type(e).__name__ for e in events)
    assert counts == {"TrainingRunStarted": 1, "EpochCompleted": 4, "TrainingRunCompleted": 1,
                      "HealthSignal": 8, "SeedStateChanged": 12, "FieldReport": 2}
    by_slot = {}
    for layer, slot, before, after in transitions(events):
        by_slot.setdefault((layer, slot), []).append(f"{before}>{after}")
    assert by_slot == {
        (0, 0): ["dormant>germinated", "germinated>training", "training>grafting", "grafting>fossilized"],
        (1, 1): ["dormant>germinated", "germinated>training", "training>grafting", "grafting>culled",
                 "culled>dormant"],
        (0, 1): ["dormant>germinated", "germinated>culled", "culled>dormant"],
    }
    refusal = next(e for e in events if isinstance(e, SeedStateChanged) and e.layer_id == 0 and e.slot_index == 1
                   and e.to_state == "culled")
    assert "ChecksumMismatch" in refusal.reason
    reports = {(e.layer_id, e.slot_index): e for e in events if type(e).__name__ == "FieldReport"}
    assert reports[(0, 0)].final_state == "fossilized" and reports[(1, 1)].final_state == "culled"
    assert reports[(1, 1)].accuracy_with_seed < reports[(1, 1)].accuracy_without_seed
    completed = events[-1]
    assert (completed.status, completed.seeds_fossilized, completed.seeds_culled) == ("completed", 1, 2)
    summary = capsys.readouterr().out
    assert re.search(r"^commands refused +1$", summary, re.MULTILINE)
    assert re.search(r"^events: SeedStateChanged +12$", summary, re.MULTILINE)


def wait_for(bootstrap: str, run_id: str, found, timeout: float = 60.0):
    """The first event of the run for which ``found(event)`` holds, read as the log grows."""
    deadline = time.monotonic() + timeout
    for delivered in read(RUN_TOPICS, run=run_id, follow=True, bootstrap=bootstrap, poll_timeout=0.2):
        if found(delivered.event):
            return delivered.event
        assert time.monotonic() < deadline, f"no such event of run {run_id} within {timeout} s"


def test_a_live_run_holds_a_germination_until_its_kernel_is_announced_and_stops_on_sigterm(catalogue, store, tmp_path):
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "esper", "train", "--dataset", "synthetic", "--undersized",
         "--epochs", "100000", "--run-id", run_id, "--bootstrap", catalogue, "--quiet"],
        env={**os.environ, "ESPER_ARTIFACTS": str(store.root)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(catalogue, run_id, lambda e: type(e).__name__ == "EpochCompleted")
        request = KernelRequest.of(BlueprintIR.of("mlp_small"), [16], [8])
        send(catalogue, KasminaControlCommand(
            meta=EventMeta.new(ComponentType.TAMIYO, run_id=run_id), command="germinate", layer_id=0,
            slot_index=0, kernel_id=request.kernel_id, blueprint_id=request.ir.blueprint_id, reason="grow"))
        epoch_then = wait_for(catalogue, run_id, lambda e: type(e).__name__ == "EpochCompleted").epoch
        kernel = compiled(store, "mlp_small", [16], [8])  # Tezzeret stores it, then announces it
        send(catalogue, KernelReady(meta=EventMeta.new(ComponentType.TEZZERET, run_id=run_id), kernel=kernel))
        germinated = wait_for(catalogue, run_id, lambda e: isinstance(e, SeedStateChanged))
        assert (germinated.to_state, germinated.kernel_id) == ("germinated", kernel.kernel_id)
        assert germinated.epoch >= epoch_then  # held while the kernel was missing
        wait_for(catalogue, run_id, lambda e: isinstance(e, SeedStateChanged) and e.to_state == "training")
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()
    completed = wait_for(catalogue, run_id, lambda e: type(e).__name__ == "TrainingRunCompleted")
    assert completed.status == "failed" and completed.error == "KeyboardInterrupt: "
