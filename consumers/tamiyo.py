"""`esper run tamiyo`: the controller as a stream processor, exactly once, in a consumer group.

How a run's window stays in one instance. Decisions are triggered by a run's EpochCompleted.
``system.events.epoch`` is keyed by run, so all of one run's TrainingRunStarted,
EpochCompleted and TrainingRunCompleted events sit in one partition, in order, and the
consumer group gives that partition to exactly one instance: that instance alone decides for
the run, in Kafka transactions that hold the decisions and the consumed offsets together.

Health, though, is keyed run/layer, so one run's signals are spread over partitions that the
group would hand to different instances. So health is not consumed in the group: every
instance tails all of ``telemetry.seed.health`` and ``lifecycle.seed.state`` (assigned, no
group, from where they ended when it started) into a `HealthBook`, which keeps, per run, the
last few epochs aggregated per layer. Before deciding on an epoch, an instance waits until its
tail has applied everything those topics held at that moment, so the epoch's health (produced
before its EpochCompleted) is in the window. The cost: each instance holds the last few epochs
of every live run's per-layer aggregates (not raw signals), and reads all health traffic; a
run's are dropped when its owner sees TrainingRunCompleted (other instances keep them until
they restart).

Rebuilding from the log. A window is lost when the process dies, and never held when a
rebalance brings a run to this instance. An EpochCompleted of a run this instance has no
window for, or one that skips epochs it has not seen, rebuilds the window from the log:
the run's earlier epoch events (its own partition, up to the record in hand), Tamiyo's
committed decisions for the run (cooldowns, budget and claimed slots live there), its seed
transitions since it started and its health since a few epochs back, both up to where the
tail started, beyond which the tail has them. Aborted transactions are invisible to these
read_committed replays, so a decision a killed instance never committed is made again, once.

Policy releases (``control.tamiyo.policy``, one partition) are also tailed by every instance;
a new version of the policy is loaded from the artifact store, checksum verified, and used
from the next decision on. Until a GNN is released, the heuristic decides.

Instances share runs with the same --group and distinct --instance names; restarted under its
name, an instance fences its predecessor (transactional id) and gets its partitions back at
once (static membership).
"""

from __future__ import annotations

import argparse
import logging
import socket
import threading
import time
from datetime import timedelta

import torch
from confluent_kafka import Consumer, TopicPartition

from esper.artifacts import ArtifactError, open_store
from esper.bus import replay
from esper.bus.clients import consumer_config
from esper.bus.processor import TransactionalProcessor
from esper.bus.records import Delivered, decode_message, fetch_batch
from esper.bus.topics import DECISIONS, EPOCHS, HEALTH, POLICIES, SEED_STATES
from esper.contracts import (
    EpochCompleted,
    HealthSignal,
    PolicyUpdated,
    SeedStateChanged,
    TrainingRunCompleted,
    TrainingRunStarted,
)
from esper.tamiyo.controller import Tamiyo
from esper.tamiyo.gates import Gates
from esper.tamiyo.policies import GNN, HeuristicPolicy
from esper.tamiyo.policy_store import PolicyFormatError, load_policy
from esper.tamiyo.window import KEEP_EPOCHS, RunHealth, RunWindow

log = logging.getLogger("tamiyo")

TAILED = (HEALTH, SEED_STATES)
CLOCK_SKEW = timedelta(minutes=1)  # replays by time start this much early


class HealthBook:
    """Every run's recent health and seed states, shared by the tail and the deciding thread."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._runs: dict[str, RunHealth] = {}

    def run(self, run_id: str) -> RunHealth:
        with self.lock:
            return self._runs.setdefault(run_id, RunHealth())

    def apply(self, event: HealthSignal | SeedStateChanged) -> None:
        self.run(event.meta.run_id).apply(event)

    def drop(self, run_id: str) -> None:
        with self.lock:
            self._runs.pop(run_id, None)


class Tail(threading.Thread):
    """Health and seed states from where they ended at start, and every policy release."""

    def __init__(self, bootstrap: str | None, book: HealthBook, on_release):
        super().__init__(name="tamiyo-tail", daemon=True)
        self.book = book
        self.on_release = on_release
        self._stopping = threading.Event()
        self._applied = threading.Condition()
        self._consumer = Consumer(consumer_config("tamiyo-tail", bootstrap))
        # Watermark queries come from the deciding thread: a client of their own.
        self._probe = Consumer(consumer_config("tamiyo-tail-probe", bootstrap))
        self.start_offsets: dict[tuple[str, int], int] = {
            tp: self._high(tp) for spec in TAILED for tp in self._partitions(spec.name)}
        policies = {tp: 0 for tp in self._partitions(POLICIES.name)}  # every release
        self._position = {**self.start_offsets, **policies}  # next offset to apply
        self._consumer.assign([TopicPartition(t, p, o) for (t, p), o in self._position.items()])

    def _partitions(self, topic: str) -> list[tuple[str, int]]:
        metadata = self._probe.list_topics(topic, timeout=15).topics[topic]
        if metadata.error is not None:
            raise RuntimeError(f"topic {topic}: {metadata.error}; run `esper topics create`")
        return [(topic, partition) for partition in sorted(metadata.partitions)]

    def partition_count(self, topic: str) -> int:
        return len(self._partitions(topic))

    def _high(self, tp: tuple[str, int]) -> int:
        return self._probe.get_watermark_offsets(TopicPartition(*tp), timeout=5)[1]

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                for message in fetch_batch(self._consumer, 1000, 0.1):
                    if message.error() is None:
                        self._apply(message)
        finally:
            self._consumer.close()
            self._probe.close()

    def _apply(self, message) -> None:
        record = decode_message(message)
        if isinstance(record, Delivered):
            event = record.event
            if isinstance(event, PolicyUpdated):
                self.on_release(event)
            elif isinstance(event, (HealthSignal, SeedStateChanged)):
                with self.book.lock:
                    self.book.apply(event)
        else:
            log.warning("skipping an undecodable record at %s: %s", record.where, record.error)
        with self._applied:
            self._position[(message.topic(), message.partition())] = message.offset() + 1
            self._applied.notify_all()

    def wait_until_current(self, timeout: float, releases: bool = False) -> bool:
        """Wait until everything health and seed states (and ``releases``: the policy topic)
        hold now has been applied."""
        targets = {tp: self._high(tp) for tp in self._position
                   if releases or tp[0] != POLICIES.name}
        deadline = time.monotonic() + timeout
        with self._applied:
            while any(self._position[tp] < high for tp, high in targets.items()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._applied.wait(remaining)
        return True


class TamiyoProcess:
    """The transform of the transactional processor: windows, rebuilds, decisions."""

    def __init__(self, tamiyo: Tamiyo, book: HealthBook, tail: Tail, bootstrap: str | None,
                 health_wait_s: float):
        self.tamiyo = tamiyo
        self.book = book
        self.tail = tail
        self.bootstrap = bootstrap
        self.health_wait_s = health_wait_s

    def transform(self, record: Delivered) -> list:
        event = record.event
        run_id = getattr(event.meta, "run_id", None)
        if isinstance(event, TrainingRunStarted):
            self.tamiyo.windows[run_id] = RunWindow(run_id, self.book.run(run_id))
            self.tamiyo.windows[run_id].apply(event)
        elif isinstance(event, TrainingRunCompleted):
            self.tamiyo.windows.pop(run_id, None)
            self.book.drop(run_id)
        elif isinstance(event, EpochCompleted):
            window = self.tamiyo.windows.get(run_id)
            # A gap means another instance decided meanwhile; a repeat, that a transaction was
            # aborted after this window had moved on: either way the log knows better.
            if window is None or (window.epochs and event.epoch != window.latest_epoch + 1):
                window = self.tamiyo.windows[run_id] = self.rebuild(run_id, record)
            if not self.tail.wait_until_current(self.health_wait_s):
                log.warning("run %s epoch %d: health tail still behind after %.1f s; deciding "
                            "on what it has", run_id, event.epoch, self.health_wait_s)
            with self.book.lock:
                decisions = self.tamiyo.decide(window, event)
            for decision in decisions:
                log.info("run %s epoch %d: %s (%s v%d, confidence %.2f)", run_id, event.epoch,
                         decision.metadata["reason"], decision.policy_name,
                         decision.policy_version, decision.confidence)
            return decisions
        return []

    def rebuild(self, run_id: str, record: Delivered) -> RunWindow:
        """The run's window as of just before ``record``, from the log (see the module doc)."""
        started = time.monotonic()
        window = RunWindow(run_id, self.book.run(run_id))
        partitions = self.tail.partition_count(EPOCHS.name)
        before = {(EPOCHS.name, p): (record.offset if p == record.partition else 0)
                  for p in range(partitions)}
        epochs = [r.event for r in replay.read([EPOCHS.name], start={tp: 0 for tp in before},
                                                until=before, run=run_id,
                                                bootstrap=self.bootstrap)]
        window.apply_all(epochs)
        decisions = [r.event for r in replay.read([DECISIONS.name], run=run_id,
                                                   bootstrap=self.bootstrap)]
        window.apply_all(decisions)
        history: list = []
        # What came before the tail started never changes: read it back once per run (signals
        # read twice would count twice), whole, before applying any of it.
        if window.started_at is not None and not window.health.backfilled:
            # An epoch's health comes before its EpochCompleted: the window's oldest epoch
            # starts where the epoch before it ended.
            numbers = sorted(window.epoch_times)
            since = (window.epoch_times[numbers[-KEEP_EPOCHS - 1]]
                     if len(numbers) > KEEP_EPOCHS else window.started_at)
            for topic, start in ((SEED_STATES.name, window.started_at), (HEALTH.name, since)):
                until = {tp: o for tp, o in self.tail.start_offsets.items() if tp[0] == topic}
                history += [r.event for r in replay.read([topic], start=start - CLOCK_SKEW,
                                                         until=until, run=run_id,
                                                         bootstrap=self.bootstrap)]
            with self.book.lock:
                window.apply_all(history)
                window.health.backfilled = True
        log.info("run %s: window rebuilt from the log in %.2f s: %d epoch events, %d decisions, "
                 "%d health and seed events", run_id, time.monotonic() - started, len(epochs),
                 len(decisions), len(history))
        return window


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esper run tamiyo", description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default=socket.gethostname(),
                        help="this instance's name, stable across its restarts "
                             "(default: the host name)")
    parser.add_argument("--group", default="tamiyo", help="consumer group (default: tamiyo)")
    parser.add_argument("--bootstrap", default=None,
                        help="Kafka bootstrap servers (default: ESPER_KAFKA_BOOTSTRAP)")
    parser.add_argument("--artifacts", default=None,
                        help="artifact store of released policies: a folder or "
                             "s3://bucket/prefix (default: ESPER_ARTIFACTS)")
    parser.add_argument("--policy", choices=("gnn", "heuristic"), default="gnn",
                        help="gnn: the latest released GNN, the heuristic until there is one "
                             "(default); heuristic: the heuristic only")
    parser.add_argument("--exploration", type=float, default=0.05,
                        help="epsilon: share of decisions chosen at random among the allowed "
                             "ones, logged as explored (default 0.05)")
    defaults = Gates()
    parser.add_argument("--min-confidence", type=float, default=defaults.min_confidence,
                        help="greedy decisions need this confidence "
                             f"(default {defaults.min_confidence})")
    parser.add_argument("--cooldown-epochs", type=int, default=defaults.cooldown_epochs,
                        help="epochs before a layer may be chosen again "
                             f"(default {defaults.cooldown_epochs})")
    parser.add_argument("--max-per-epoch", type=int, default=defaults.max_per_epoch,
                        help=f"decisions per run and epoch (default {defaults.max_per_epoch})")
    parser.add_argument("--budget-fraction", type=float, default=defaults.budget_fraction,
                        help="parameters seeds may add, as a share of the host's "
                             f"(default {defaults.budget_fraction})")
    parser.add_argument("--warmup-epochs", type=int, default=defaults.warmup_epochs,
                        help="epochs a run must have before any decision "
                             f"(default {defaults.warmup_epochs})")
    parser.add_argument("--min-gain", type=float, default=0.005,
                        help="the GNN acts on a predicted accuracy gain of at least this "
                             "(default 0.005)")
    parser.add_argument("--health-wait", type=float, default=2.0,
                        help="seconds to wait for the health tail before deciding (default 2)")
    parser.add_argument("--session-timeout", type=float, default=45.0,
                        help="seconds before the group gives a silent instance's runs to the "
                             "others (default 45; the broker allows 6 at least)")
    parser.add_argument("--log-level", default="INFO", help="default INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format=f"%(asctime)s tamiyo[{args.instance}] %(levelname)s %(message)s")
    torch.set_num_threads(1)  # one graph at a time: more threads only add overhead
    try:
        gates = Gates(min_confidence=args.min_confidence, cooldown_epochs=args.cooldown_epochs,
                      max_per_epoch=args.max_per_epoch, budget_fraction=args.budget_fraction,
                      warmup_epochs=args.warmup_epochs)
        tamiyo = Tamiyo(HeuristicPolicy(), gates, args.exploration)
    except ValueError as error:
        log.error("%s", error)
        return 2
    store = open_store(args.artifacts)

    def on_release(release: PolicyUpdated) -> None:
        current = tamiyo.policy
        if (args.policy != "gnn" or release.policy_name != GNN
                or (current.name == GNN and release.policy_version <= current.version)):
            return
        try:
            policy = load_policy(store, release, args.min_gain)
        except (ArtifactError, PolicyFormatError) as error:
            log.error("policy %s v%d not loaded: %s", release.policy_name,
                      release.policy_version, error)
            return
        with book.lock:  # never between two steps of one decision
            tamiyo.policy = policy
        log.info("policy %s v%d in use (artifact %s)", policy.name, policy.version,
                 release.checksum[:12])

    book = HealthBook()
    tail = Tail(args.bootstrap, book, on_release)
    process = TamiyoProcess(tamiyo, book, tail, args.bootstrap, args.health_wait)
    processor = TransactionalProcessor(
        [EPOCHS.name], args.group, f"{args.group}-{args.instance}", process.transform,
        bootstrap=args.bootstrap, batch_size=50,
        **{"group.instance.id": args.instance,
           "session.timeout.ms": int(args.session_timeout * 1000)})
    tail.start()
    if not tail.wait_until_current(30, releases=True):  # the latest policy, then decide
        log.warning("policy releases not all read within 30 s; starting anyway")
    log.info("consuming %s as %s in group %s; tailing %s; policy %s v%d, exploration %.2f",
             EPOCHS.name, args.instance, args.group,
             ", ".join(s.name for s in (*TAILED, POLICIES)), tamiyo.policy.name,
             tamiyo.policy.version, args.exploration)
    try:
        stats = processor.run()
    finally:
        tail.stop()
        tail.join(10)
    log.info("stopped after %d events, %d dead letters", stats.events, stats.dead_letters)
    return 0
