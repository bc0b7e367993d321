"""`esper run tezzeret` as a real process on a real broker: exactly once, in a consumer group."""

from __future__ import annotations

import uuid
import zlib
from collections import Counter

import boto3
import torch
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

import consumers.tezzeret as tezzeret_process
from esper.artifacts import open_store
from esper.bus.producer import EventProducer
from esper.bus.topics import BLUEPRINTS, DECISIONS, EPOCHS
from esper.cli import main
from esper.contracts import (
    CompilationFailed,
    KasminaCommand,
    KasminaControlCommand,
    KernelReady,
)
from esper.karn import BlueprintIR
from esper.kasmina.kernels import load_for
from esper.kasmina.model import wrap
from esper.tezzeret.modules import build_module
from tests.artifacts.s3_server import CREDENTIALS
from tests.tezzeret.events import decision, new_run_id, run_started, submitted
from tests.tezzeret.processes import (
    committed,
    eventually,
    skip_earlier_input,
    wait_for,
)


def _answers(events, decisions) -> Counter:
    """How many KernelReady or CompilationFailed events each decision got."""
    wanted = {d.decision_id for d in decisions}
    return Counter(e.decision_id for e in events
                   if isinstance(e, (KernelReady, CompilationFailed)) and e.decision_id in wanted)


def _germinations(events) -> Counter:
    return Counter(e.decision_id for e in events if isinstance(e, KasminaControlCommand)
                   and e.command == KasminaCommand.GERMINATE)


def test_decisions_become_kernels_in_s3_and_bad_input_does_not_stop_the_processor(
        tezzeret_kafka, launch, s3_bucket, s3_env, monkeypatch):
    run_id, artifacts = new_run_id(), f"s3://{s3_bucket}/esper"
    malformed = BlueprintIR.of("lora").blueprint()
    malformed.architecture.layers[0].params["rank"] = 0
    decisions = [decision(run_id, 0, "norm"),  # conv1 maps 3 channels to 8: no norm can
                 decision(run_id, 1, "conv_light"),
                 decision(run_id, 2, "no-such-blueprint"),
                 decision(run_id, 2, "lora")]
    skip_earlier_input(tezzeret_kafka, f"tezzeret-{run_id}")
    process = launch(tezzeret_kafka, "s3", artifacts, f"tezzeret-{run_id}",
                     env={**CREDENTIALS, "ESPER_S3_ENDPOINT": s3_env})
    with EventProducer(tezzeret_kafka) as producer:
        producer.send(run_started(run_id))
        producer.flush()
        producer.send(submitted(malformed))
        for event in decisions:
            producer.send(event)

    events = wait_for(tezzeret_kafka, lambda e: sum(_answers(e, decisions).values()) == 4,
                      run_id)
    rejected = wait_for(tezzeret_kafka, lambda e: any(
        isinstance(x, CompilationFailed) and x.blueprint_id == malformed.blueprint_id for x in e))
    assert process.stop() == 0

    failed = {e.decision_id: e for e in events if isinstance(e, CompilationFailed)}
    ready = {e.decision_id: e for e in events if isinstance(e, KernelReady)}
    assert failed[decisions[0].decision_id].error_type == "ShapeNotSupported"
    assert failed[decisions[2].decision_id].error_type == "UnknownBlueprint"
    assert set(ready) == {decisions[1].decision_id, decisions[3].decision_id}
    assert _germinations(events) == {decisions[1].decision_id: 1, decisions[3].decision_id: 1}
    assert "rank must be >= 1, got 0" in next(
        e.message for e in rejected if isinstance(e, CompilationFailed)
        and e.blueprint_id == malformed.blueprint_id)

    kernel = ready[decisions[3].decision_id].kernel
    assert kernel.binary_ref == f"{artifacts}/sha256/{kernel.metadata.checksum}"
    keys = {o["Key"] for o in boto3.client("s3", endpoint_url=s3_env).list_objects_v2(
        Bucket=s3_bucket, Prefix="esper/")["Contents"]}
    assert f"esper/sha256/{kernel.metadata.checksum}" in keys
    assert f"esper/kernels/{kernel.kernel_id}.json" in keys

    # Kasmina, configured with the same store, loads the kernel into the decided layer.
    monkeypatch.setenv("ESPER_ARTIFACTS", artifacts)
    host = wrap(torch.nn.Sequential(torch.nn.Linear(128, 10)), torch.nn.Linear)
    host.measure(torch.zeros(1, 128))
    loaded = load_for(host.layer(0), open_store(), kernel.kernel_id)
    eager = build_module(BlueprintIR.of("lora"), [128], [10])
    x = torch.randn(3, 128)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), eager(x))


def test_killed_mid_compile_it_restarts_to_one_kernel_and_one_command_per_decision(
        tezzeret_kafka, launch, tmp_path):
    run_id, artifacts = new_run_id(), str(tmp_path / "artifacts")
    decisions = [decision(run_id, 1, "conv_heavy"), decision(run_id, 2, "mlp"),
                 decision(run_id, 2, "lora_large", slot=1)]
    skip_earlier_input(tezzeret_kafka, f"tezzeret-{run_id}")
    with EventProducer(tezzeret_kafka) as producer:
        producer.send(run_started(run_id))
        producer.flush()
        for event in decisions:
            producer.send(event)

    def instance():  # the same name each time: it fences and replaces its predecessor
        return launch(tezzeret_kafka, "k", artifacts, f"tezzeret-{run_id}")

    first = instance()
    first.wait_for_line(r"compiling ")
    assert first.kill() == -9
    second = instance()
    second.wait_for_line(r"stored kernel-")  # in the store, not yet committed to Kafka
    assert second.kill() == -9
    third = instance()
    wait_for(tezzeret_kafka, lambda e: sum(_germinations(e).values()) >= 3, run_id)
    assert third.stop() == 0

    events = committed(tezzeret_kafka, run_id)
    once = {d.decision_id: 1 for d in decisions}
    assert _answers(events, decisions) == once
    assert _germinations(events) == once
    assert len(list((tmp_path / "artifacts" / "sha256").iterdir())) == 3
    # What the killed instances finished is reused, not compiled again.
    assert sum("compiling " in line for line in third.lines) <= 2


def test_a_submission_s_shapes_are_precompiled_and_a_later_decision_is_a_cache_hit(
        tezzeret_kafka, launch, tmp_path, monkeypatch, capsys):
    run_id, artifacts = new_run_id(), str(tmp_path / "artifacts")
    seed = uuid.uuid4().int % 10**9  # a design no other test submits
    ir = BlueprintIR.of("lora", {"rank": 4}, seed=seed)
    skip_earlier_input(tezzeret_kafka, f"tezzeret-{run_id}")
    process = launch(tezzeret_kafka, "p", artifacts, f"tezzeret-{run_id}")
    monkeypatch.setenv("ESPER_KAFKA_BOOTSTRAP", tezzeret_kafka)

    # 128 -> 10 is the fc layer of the test host; a lora cannot take a conv layer's 8x8x8.
    assert main(["blueprints", "submit", "lora", "--param", "rank=4", "--seed", str(seed),
                 "--shape", "128:10", "--shape", "8,8,8"]) == 0
    assert f" as {ir.blueprint_id}\n" in capsys.readouterr().out

    def answers(events):
        return [e for e in events if isinstance(e, KernelReady) and
                e.kernel.blueprint_id == ir.blueprint_id or
                isinstance(e, CompilationFailed) and e.blueprint_id == ir.blueprint_id]

    [ready, failed] = sorted(answers(wait_for(tezzeret_kafka, lambda e: len(answers(e)) == 2)),
                             key=lambda e: isinstance(e, CompilationFailed))
    assert ready.decision_id is None and not ready.reused
    assert (ready.kernel.metadata.input_shape, ready.kernel.metadata.output_shape) == ([128], [10])
    assert failed.decision_id is None and failed.error_type == "ShapeNotSupported"

    cause = decision(run_id, 2, ir.blueprint_id)
    with EventProducer(tezzeret_kafka) as producer:
        producer.send(run_started(run_id))
        producer.flush()
        producer.send(cause)
    events = wait_for(tezzeret_kafka, lambda e: _germinations(e)[cause.decision_id] == 1, run_id)
    assert process.stop() == 0

    hit = next(e for e in events if isinstance(e, KernelReady))
    assert hit.decision_id == cause.decision_id and hit.reused and hit.kernel == ready.kernel
    assert sum("compiling " in line for line in process.lines) == 1


def test_the_log_answers_for_designs_and_runs_an_instance_has_not_seen(tezzeret_kafka,
                                                                        monkeypatch):
    monkeypatch.setenv("ESPER_KAFKA_BOOTSTRAP", tezzeret_kafka)
    design, started = BlueprintIR.of("lora", {"rank": 3}, seed=11), run_started(new_run_id())
    with EventProducer(tezzeret_kafka) as producer:
        producer.send(design.submission())
        producer.send(started)

    assert tezzeret_process.blueprint_in_log(design.blueprint_id) == design
    assert tezzeret_process.topology_in_log(started.meta.run_id) == started.topology
    assert tezzeret_process.blueprint_in_log(BlueprintIR.of("lora", seed=12).blueprint_id) is None
    assert tezzeret_process.topology_in_log(new_run_id()) is None


def _partition(key: str, partitions: int = 3) -> int:
    """Where librdkafka's default partitioner (consistent_random: CRC-32) puts a key."""
    return zlib.crc32(key.encode()) % partitions


def _assignments(bootstrap: str, group: str) -> dict[str, set[tuple[str, int]]]:
    """Each member's partitions; none while the group's coordinator is not ready (a new
    broker creates the offsets topic on first use)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        description = admin.describe_consumer_groups(
            [group], request_timeout=5)[group].result(timeout=10)
    except (KafkaException, TimeoutError):
        return {}
    return {member.group_instance_id: {(tp.topic, tp.partition)
                                       for tp in member.assignment.topic_partitions}
            for member in description.members}


def test_two_instances_in_one_group_split_the_partitions_between_them(tezzeret_kafka, launch,
                                                                      tmp_path):
    group, artifacts = f"tezzeret-{uuid.uuid4().hex[:8]}", str(tmp_path / "artifacts")
    skip_earlier_input(tezzeret_kafka, group)
    instances = {name: launch(tezzeret_kafka, name, artifacts, group) for name in ("a", "b")}
    topics = {BLUEPRINTS.name, DECISIONS.name, EPOCHS.name}
    every_partition = {(topic, p) for topic in topics for p in range(3)}

    def split() -> bool:
        owned = _assignments(tezzeret_kafka, group)
        return (len(owned) == 2 and all(owned.values())
                and set.union(*owned.values()) == every_partition
                and sum(map(len, owned.values())) == len(every_partition))

    eventually(split, "the two instances to share the partitions", timeout=90)
    owners = {tp: name for name, owned in _assignments(tezzeret_kafka, group).items()
              for tp in owned}
    # Two runs on each decision partition, so both instances have decisions to serve.
    runs: dict[int, list[str]] = {0: [], 1: [], 2: []}
    while any(len(ids) < 2 for ids in runs.values()):
        run_id = new_run_id()
        if len(runs[_partition(run_id)]) < 2:
            runs[_partition(run_id)].append(run_id)
    decisions = []
    with EventProducer(tezzeret_kafka) as producer:
        for run_id in (r for ids in runs.values() for r in ids):
            producer.send(run_started(run_id))
            decisions.append(decision(run_id, 2, "linear_adapter"))
        producer.flush()
        for event in decisions:
            producer.send(event)

    wanted = {d.decision_id for d in decisions}
    events = wait_for(tezzeret_kafka, lambda e: set(_germinations(e)) >= wanted)
    for process in instances.values():
        assert process.stop() == 0

    assert {d: n for d, n in _germinations(events).items() if d in wanted} == dict.fromkeys(
        wanted, 1)
    for d in decisions:
        owner = owners[(DECISIONS.name, _partition(d.meta.run_id))]
        assert any(d.decision_id in line for line in instances[owner].lines), owner
        other = instances["b" if owner == "a" else "a"]
        assert not any(d.decision_id in line for line in other.lines)
