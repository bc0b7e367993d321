"""With the broker down, the training loop's producer returns at once, keeps control events,
drops and counts health signals, and reports the drops once the broker is back."""

from __future__ import annotations

import time

from esper.bus import replay
from esper.bus.admin import create_topics
from esper.bus.telemetry import TelemetryProducer
from tests.bus.events import decision_for, health, new_run_id


def test_broker_down_never_stalls_and_drops_arrive_as_telemetry_dropped(private_kafka):
    kafka, port, bootstrap = private_kafka
    create_topics(bootstrap)
    kafka.down()
    run_id = new_run_id()
    producer = TelemetryProducer(run_id, bootstrap, capacity=50_000)

    started = time.monotonic()
    controls = []
    for sequence in range(100_000):
        signal = health(run_id, sequence % 8, sequence)
        producer.send(signal)
        if sequence % 5_000 == 0:
            controls.append(decision_for(signal))
            producer.send(controls[-1])
    elapsed = time.monotonic() - started
    dropped = producer.dropped
    assert dropped >= 50_000  # at most 80% of 50k may wait for the broker
    assert elapsed < 60, f"sending took {elapsed:.1f} s with the broker down"

    kafka.up(port=port)
    producer.flush(120)
    assert (producer.dropped, producer.dropped_total) == (0, dropped)  # reported, still counted

    decisions = list(replay.read(["control.tamiyo.decisions"], run=run_id, bootstrap=bootstrap))
    assert [d.event for d in decisions] == controls
    reports = [r.event for r in replay.read(["system.events.epoch"], run=run_id,
                                            bootstrap=bootstrap)]
    assert len(reports) == 1 and type(reports[0]).__name__ == "TelemetryDropped"
    [count] = reports[0].drops
    assert (count.topic, count.event_type, count.count) == (
        "telemetry.seed.health", "esper.telemetry.HealthSignal", dropped)
    delivered = sum(1 for _ in replay.read(["telemetry.seed.health"], run=run_id,
                                           bootstrap=bootstrap))
    assert delivered + dropped == 100_000
