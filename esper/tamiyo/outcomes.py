"""Experience from the log: each logged decision, the graph it was made on, and its reward.

Events of any order go in (a replay interleaves topics and partitions); each run is then
replayed epoch by epoch, as Tamiyo saw it: the health of each epoch, the seed transitions
that had happened before the epoch ended, the EpochCompleted, and the decisions it caused,
each on the graph as it stood just before it.

The reward of a decision, in validation-accuracy points:

    reward = gain - COST_WEIGHT * parameters added / host parameters

where the gain is the seed's measured effect from its FieldReport (accuracy with the seed
minus with its alpha at 0), or, while no report exists yet, the change in validation
accuracy over the ``HORIZON`` epochs after the decision. Decisions with neither are left out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterable

from esper.contracts import (
    AdaptationDecision,
    EpochCompleted,
    FieldReport,
    HealthSignal,
    SeedStateChanged,
    TrainingRunStarted,
)
from esper.tamiyo.gates import Gates
from esper.tamiyo.graph import LayerGraph, build_graph
from esper.tamiyo.window import RunWindow

log = logging.getLogger(__name__)

COST_WEIGHT = 0.02
HORIZON = 3


@dataclasses.dataclass(frozen=True)
class Experience:
    run_id: str
    graph: LayerGraph
    admissible: tuple[int, ...]  # candidates the gates allowed: what the choice was among
    action: int  # the candidate decided
    reward: float
    propensity: float  # probability that the logging controller made this choice
    decision_id: str


@dataclasses.dataclass
class _RunLog:
    started: TrainingRunStarted | None = None
    epochs: dict[int, EpochCompleted] = dataclasses.field(default_factory=dict)
    health: dict[int, list[HealthSignal]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    seeds: list[SeedStateChanged] = dataclasses.field(default_factory=list)
    decisions: dict[str, list[AdaptationDecision]] = dataclasses.field(
        default_factory=lambda: defaultdict(list))
    reports: list[FieldReport] = dataclasses.field(default_factory=list)


def _group(events: Iterable[object]) -> dict[str, _RunLog]:
    runs: dict[str, _RunLog] = defaultdict(_RunLog)
    for event in events:
        run = runs[event.meta.run_id] if getattr(event.meta, "run_id", None) else None
        if run is None:
            continue
        if isinstance(event, TrainingRunStarted):
            run.started = event
        elif isinstance(event, EpochCompleted):
            run.epochs[event.epoch] = event
        elif isinstance(event, HealthSignal):
            run.health[event.epoch].append(event)
        elif isinstance(event, SeedStateChanged):
            run.seeds.append(event)
        elif isinstance(event, AdaptationDecision):
            run.decisions[event.meta.causation_id].append(event)
        elif isinstance(event, FieldReport):
            run.reports.append(event)
    return runs


def experiences(events: Iterable[object], gates: Gates | None = None) -> list[Experience]:
    """Every logged decision with a known outcome, in run and epoch order. ``gates`` must be
    those the decisions were made under: they say which candidates were admissible."""
    gates = gates or Gates()
    found = []
    for run_id, run in sorted(_group(events).items()):
        if run.started is None:
            log.warning("run %s: no TrainingRunStarted in the replay; its decisions are skipped",
                        run_id)
            continue
        found += _run_experiences(run_id, run, gates)
    return found


def _run_experiences(run_id: str, run: _RunLog, gates: Gates) -> list[Experience]:
    window = RunWindow(run_id).apply_all([run.started])
    seeds = sorted(run.seeds, key=lambda e: e.meta.occurred_at)
    reports = sorted(run.reports, key=lambda e: e.meta.occurred_at)
    accuracy = {number: event.val_accuracy for number, event in run.epochs.items()}
    host = run.started.topology.total_parameters()
    found, applied_health = [], set()
    for epoch in sorted(run.epochs):
        trigger = run.epochs[epoch]
        for number in sorted(e for e in run.health if e <= epoch and e not in applied_health):
            window.apply_all(run.health[number])
            applied_health.add(number)
        while seeds and seeds[0].meta.occurred_at <= trigger.meta.occurred_at:
            window.apply(seeds.pop(0))
        window.apply(trigger)
        for decision in sorted(run.decisions.get(trigger.meta.event_id, ()),
                               key=lambda d: d.meta.occurred_at):
            graph = build_graph(window, epoch, gates.budget(window))
            experience = _experience(run_id, graph, window, decision, gates, reports,
                                     accuracy, host)
            if experience is not None:
                found.append(experience)
            window.apply(decision)
    return found


def _experience(run_id: str, graph: LayerGraph, window: RunWindow,
                decision: AdaptationDecision, gates: Gates, reports: list[FieldReport],
                accuracy: dict[int, float], host: int) -> Experience | None:
    kind = decision.metadata.get("blueprint_kind")
    action = next((i for i, c in enumerate(graph.candidates)
                   if c.layer.layer_id == decision.layer_id and c.choice.kind == kind), None)
    if action is None:
        log.warning("decision %s: %s in layer %d is not a candidate of the rebuilt graph",
                    decision.decision_id, kind, decision.layer_id)
        return None
    gain = _gain(decision, reports, accuracy)
    if gain is None:
        return None
    cost = graph.candidates[action].choice.parameter_cost
    admissible = tuple(i for i, c in enumerate(graph.candidates)
                       if gates.refuse_candidate(window, graph.epoch, c) is None)
    return Experience(run_id, graph, admissible or (action,), action,
                      gain - COST_WEIGHT * cost / max(host, 1),
                      float(decision.metadata.get("propensity") or 1.0), decision.decision_id)


def _gain(decision: AdaptationDecision, reports: list[FieldReport],
          accuracy: dict[int, float]) -> float | None:
    for index, report in enumerate(reports):
        if (report.layer_id == decision.layer_id and report.slot_index == decision.slot_index
                and report.blueprint_id == decision.blueprint_id
                and report.meta.occurred_at > decision.meta.occurred_at):
            del reports[index]  # one seed, one report: the slot's next seed has its own
            return report.effect()
    epoch = int(decision.metadata.get("epoch", 0))
    if epoch in accuracy and epoch + HORIZON in accuracy:
        return accuracy[epoch + HORIZON] - accuracy[epoch]
    return None
