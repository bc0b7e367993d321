"""What Tezzeret must know to serve a decision: blueprint designs by id, host layers by run.

Both books learn from the events the processor consumes. The decisions, epochs and blueprints
a process sees are only those of its partitions, and a restarted process resumes after events
it saw before, so each book can also ask a ``lookup`` (the processor reads the log) for what
it has not seen. A lookup that finds nothing is not repeated: what a decision names was
published before the decision, so it will not appear later; an event that does arrive later
is learnt all the same.
"""

from __future__ import annotations

from collections.abc import Callable

from esper.contracts import HostLayer, HostTopology
from esper.karn import CATALOGUE, BlueprintIR

BlueprintLookup = Callable[[str], BlueprintIR | None]
TopologyLookup = Callable[[str], HostTopology | None]


class UnknownTarget(LookupError):
    """A decision names a blueprint, run or layer that Tezzeret cannot find."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


class BlueprintBook:
    """Blueprint designs by id: each submitted blueprint, and each catalogue kind, whose
    default design answers both to the kind's name (``lora``) and to its content id."""

    def __init__(self, lookup: BlueprintLookup | None = None):
        self._lookup = lookup
        self._known: dict[str, BlueprintIR] = {}
        self._looked_up: set[str] = set()
        for name in CATALOGUE:
            default = BlueprintIR.of(name)
            self._known[name] = self._known[default.blueprint_id] = default

    def add(self, ir: BlueprintIR) -> None:
        self._known[ir.blueprint_id] = ir

    def resolve(self, blueprint_id: str) -> BlueprintIR:
        ir = self._known.get(blueprint_id)
        if ir is None and self._lookup is not None and blueprint_id not in self._looked_up:
            self._looked_up.add(blueprint_id)
            ir = self._lookup(blueprint_id)
            if ir is not None:
                self.add(ir)
        if ir is None:
            raise UnknownTarget("UnknownBlueprint",
                                f"no blueprint {blueprint_id!r}: it is neither a catalogue kind "
                                "nor a blueprint submitted to compilation.blueprint.submitted")
        return ir


class RunBook:
    """Each run's host topology, from its TrainingRunStarted."""

    def __init__(self, lookup: TopologyLookup | None = None):
        self._lookup = lookup
        self._topologies: dict[str, HostTopology] = {}
        self._looked_up: set[str] = set()

    def add(self, run_id: str, topology: HostTopology) -> None:
        self._topologies[run_id] = topology

    def layer(self, run_id: str, layer_id: int) -> HostLayer:
        topology = self._topologies.get(run_id)
        if topology is None and self._lookup is not None and run_id not in self._looked_up:
            self._looked_up.add(run_id)
            topology = self._lookup(run_id)
            if topology is not None:
                self.add(run_id, topology)
        if topology is None:
            raise UnknownTarget("UnknownRun", f"run {run_id!r} has no TrainingRunStarted on "
                                "system.events.epoch, so its layer shapes are unknown")
        for layer in topology.layers:
            if layer.layer_id == layer_id:
                return layer
        known = ", ".join(str(layer.layer_id) for layer in topology.layers)
        raise UnknownTarget("UnknownLayer", f"run {run_id!r} has no layer {layer_id} "
                            f"(its layers: {known})")
