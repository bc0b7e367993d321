"""Seed transitions checked against each seed's current state before they are applied.

A SeedStateChanged already names an allowed (from, to) pair (the contract checks that); here
its ``from_state`` must also be the state the projection holds for that seed (dormant for a
seed never seen). A transition that breaks the chain is recorded with ``applied = false`` and
an anomaly, and the seed keeps its state.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pyarrow as pa

from esper.contracts import SeedState, SeedStateChanged

SeedKey = tuple[str, int, str]  # run_id, layer_id, seed_id


@dataclasses.dataclass
class SeedRow:
    run_id: str
    layer_id: int
    seed_id: str
    slot_index: int
    state: str
    blueprint_id: str | None
    kernel_id: str | None
    alpha: float
    epoch: int
    step: int
    transitions: int
    first_seen: datetime
    updated_at: datetime


@dataclasses.dataclass
class LifecycleBatch:
    transitions: list[dict]
    anomalies: list[dict]
    seeds: dict[SeedKey, SeedRow]


def check_transitions(connection, records: list[tuple[object, SeedStateChanged]]) -> LifecycleBatch:
    """Apply ``(where, event)`` pairs in log order; ``where`` is (topic, partition, offset)."""
    keys = {(e.meta.run_id, e.layer_id, e.seed_id) for _, e in records}
    seeds = _current(connection, keys)
    transitions, anomalies = [], []
    for (topic, partition, offset), event in records:
        key = (event.meta.run_id, event.layer_id, event.seed_id)
        seed = seeds.get(key)
        current = seed.state if seed else SeedState.DORMANT.value
        applied = event.from_state == current
        if applied:
            seeds[key] = SeedRow(
                *key, slot_index=event.slot_index, state=event.to_state,
                blueprint_id=event.blueprint_id, kernel_id=event.kernel_id, alpha=event.alpha,
                epoch=event.epoch, step=event.step,
                transitions=(seed.transitions if seed else 0) + 1,
                first_seen=seed.first_seen if seed else event.meta.occurred_at,
                updated_at=event.meta.occurred_at,
            )
        else:
            anomalies.append({
                "kind": "illegal seed transition", "topic": topic, "partition": partition,
                "offset": offset, "run_id": event.meta.run_id, "event_id": event.meta.event_id,
                "detail": (f"seed {event.seed_id} (layer {event.layer_id}, slot "
                           f"{event.slot_index}) is {current}; the event claims "
                           f"{event.from_state} -> {event.to_state}; not applied"),
            })
        transitions.append({
            "run_id": event.meta.run_id, "layer_id": event.layer_id,
            "slot_index": event.slot_index, "seed_id": event.seed_id,
            "from_state": event.from_state, "to_state": event.to_state,
            "blueprint_id": event.blueprint_id, "kernel_id": event.kernel_id,
            "alpha": event.alpha, "reason": event.reason, "epoch": event.epoch,
            "step": event.step, "applied": applied, "occurred_at": event.meta.occurred_at,
            "event_id": event.meta.event_id, "causation_id": event.meta.causation_id,
        })
    touched = {(e.meta.run_id, e.layer_id, e.seed_id) for _, e in records}
    return LifecycleBatch(transitions, anomalies, {k: seeds[k] for k in touched if k in seeds})


def _current(connection, keys: set[SeedKey]) -> dict[SeedKey, SeedRow]:
    if not keys:
        return {}
    wanted = pa.table({
        "run_id": [k[0] for k in keys], "layer_id": [k[1] for k in keys],
        "seed_id": [k[2] for k in keys],
    })
    connection.register("wanted_seeds", wanted)
    try:
        rows = connection.execute(
            "SELECT s.* FROM seeds s JOIN wanted_seeds w USING (run_id, layer_id, seed_id)"
        ).fetchall()
    finally:
        connection.unregister("wanted_seeds")
    return {(r[0], r[1], r[2]): SeedRow(*r) for r in rows}


def write(connection, batch: LifecycleBatch) -> None:
    if batch.transitions:
        _insert(connection, "seed_transitions", batch.transitions)
    if batch.anomalies:
        _insert(connection, "anomalies", batch.anomalies)
    if batch.seeds:
        _insert(connection, "seeds", [dataclasses.asdict(s) for s in batch.seeds.values()],
                verb="INSERT OR REPLACE")


def _insert(connection, table: str, rows: list[dict], verb: str = "INSERT") -> None:
    connection.register("lifecycle_rows", pa.Table.from_pylist(rows))
    try:
        connection.execute(f"{verb} INTO {table} BY NAME SELECT * FROM lifecycle_rows")
    finally:
        connection.unregister("lifecycle_rows")
