"""A consumer killed after handling and before committing reprocesses; nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from esper.bus.producer import EventProducer
from tests.bus.events import health, new_run_id

CONSUMER = textwrap.dedent("""
    import os, signal, sys
    from esper.bus.consumer import EventConsumer

    bootstrap, topic, group, log_path, kill_after = sys.argv[1:6]
    kill_after = int(kill_after)
    handled = 0
    log = open(log_path, "a")

    def on_health(record):
        global handled
        log.write(f"{record.event.chunk_id}\\n")
        log.flush()
        os.fsync(log.fileno())
        handled += 1
        if handled == kill_after:  # handled, not yet committed: die the hard way
            os.kill(os.getpid(), signal.SIGKILL)

    # The killed member holds its partition until its session times out: keep that short.
    EventConsumer([topic], group, {"HealthSignal": on_health}, bootstrap=bootstrap,
                  batch_size=500, **{"session.timeout.ms": 6000}).run(until_idle=3.0)
""")


def run_consumer(*args: str) -> int:
    return subprocess.run([sys.executable, "-c", CONSUMER, *args], timeout=120).returncode


def test_sigkill_before_commit_reprocesses_and_loses_nothing(kafka_bootstrap, new_topic,
                                                             tmp_path):
    topic = new_topic(partitions=1)
    run_id = new_run_id()
    with EventProducer(kafka_bootstrap) as producer:
        producer.send_batch([health(run_id, 1, sequence) for sequence in range(300)], topic)
    log = tmp_path / "handled.log"
    group = f"g-{topic}"

    assert run_consumer(kafka_bootstrap, topic, group, str(log), "120") == -9
    handled_before_kill = [int(line) for line in log.read_text().split()]
    assert handled_before_kill == list(range(120))

    assert run_consumer(kafka_bootstrap, topic, group, str(log), "0") == 0
    handled = [int(line) for line in log.read_text().split()]
    after_restart = handled[120:]
    # The killed batch was never committed: the restart starts again at 0 and reaches 299.
    assert after_restart == list(range(300))
    assert sorted(set(handled)) == list(range(300))
