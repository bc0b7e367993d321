"""The layer graph of one run at the end of one epoch: what every policy decides over.

Nodes are the topology's layers in execution order, edges the data flow between consecutive
layers (both ways, see ``features``). The candidates are the actions: a (layer, blueprint)
pair for every layer with a free slot and every catalogue kind that fits its shapes.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch_geometric.data import Data

from esper.contracts import HostLayer
from esper.tamiyo.blueprints import BlueprintChoice, choices_for
from esper.tamiyo.features import (
    EDGE_FEATURES,
    GLOBAL_FEATURES,
    NODE_FEATURES,
    edge_features,
    global_features,
    node_features,
)
from esper.tamiyo.window import RunWindow


CANDIDATE_COST_FEATURES = 3
"""A candidate's cost: log10(parameters + 1), parameters / (parameters + the layer's), and
parameters / the host's (the share of the model the seed would add)."""


class NoTopology(ValueError):
    """A run whose TrainingRunStarted (its layers) Tamiyo has not seen."""


class GraphData(Data):
    """A PyG graph whose candidates point at its nodes: batching shifts them with the nodes."""

    def __inc__(self, key, value, *args, **kwargs):
        if key == "candidate_node":
            return self.num_nodes
        return super().__inc__(key, value, *args, **kwargs)


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """One possible decision: grow ``choice`` in ``slot_index`` of the layer at ``node``."""

    node: int
    layer: HostLayer
    slot_index: int
    choice: BlueprintChoice


@dataclasses.dataclass(frozen=True)
class LayerGraph:
    run_id: str
    epoch: int
    layers: list[HostLayer]
    x: torch.Tensor  # nodes x NODE_FEATURES
    edge_index: torch.Tensor  # 2 x edges
    edge_attr: torch.Tensor  # edges x EDGE_FEATURES
    u: torch.Tensor  # 1 x GLOBAL_FEATURES
    candidates: list[Candidate]
    candidate_node: torch.Tensor  # candidates: node index
    candidate_kind: torch.Tensor  # candidates: kind index (KIND_NAMES)
    candidate_cost: torch.Tensor  # candidates x CANDIDATE_COST_FEATURES

    def data(self) -> GraphData:
        """As a PyG ``Data``, ready to batch with others."""
        return GraphData(x=self.x, edge_index=self.edge_index, edge_attr=self.edge_attr,
                         u=self.u, candidate_node=self.candidate_node,
                         candidate_kind=self.candidate_kind, candidate_cost=self.candidate_cost,
                         num_nodes=len(self.layers))

    def feature(self, node: int, name: str) -> float:
        return float(self.x[node, NODE_FEATURES.index(name)])

    def summary(self, candidate: Candidate) -> dict[str, float]:
        """The features that led to a decision on ``candidate``: its layer's node features,
        the global ones, and the blueprint's cost."""
        node = {name: round(float(v), 6) for name, v in zip(NODE_FEATURES, self.x[candidate.node])}
        run = {name: round(float(v), 6) for name, v in zip(GLOBAL_FEATURES, self.u[0])}
        return {**node, **run, "parameter_cost": float(candidate.choice.parameter_cost)}


def build_graph(window: RunWindow, epoch: int, parameter_budget: int) -> LayerGraph:
    """The graph of ``window`` as of the end of ``epoch``; ``parameter_budget`` is the number
    of parameters seeds may add to this run in all."""
    if window.topology is None:
        raise NoTopology(f"run {window.run_id!r}: no TrainingRunStarted seen, so no layers")
    layers = window.layers
    taken = [window.slots_taken(layer) for layer in layers]
    x = torch.tensor([node_features(window, layer, i, epoch, sum(taken[i]))
                      for i, layer in enumerate(layers)], dtype=torch.float32)
    sources, targets, attributes = [], [], []
    for i in range(len(layers) - 1):
        for src, dst, forward in ((i, i + 1, True), (i + 1, i, False)):
            sources.append(src)
            targets.append(dst)
            attributes.append(edge_features(layers[min(src, dst)], layers[max(src, dst)], forward))
    host = max(window.host_parameters(), 1)
    candidates = [Candidate(i, layer, slots.index(False), choice)
                  for i, (layer, slots) in enumerate(zip(layers, taken)) if False in slots
                  for choice in choices_for(layer)]
    return LayerGraph(
        run_id=window.run_id,
        epoch=epoch,
        layers=layers,
        x=x,
        edge_index=torch.tensor([sources, targets], dtype=torch.long).reshape(2, -1),
        edge_attr=torch.tensor(attributes, dtype=torch.float32).reshape(-1, len(EDGE_FEATURES)),
        u=torch.tensor([global_features(window, epoch, parameter_budget, sum(map(sum, taken)))],
                       dtype=torch.float32),
        candidates=candidates,
        candidate_node=torch.tensor([c.node for c in candidates], dtype=torch.long),
        candidate_kind=torch.tensor([c.choice.kind_index for c in candidates], dtype=torch.long),
        candidate_cost=torch.tensor(
            [[math.log10(c.choice.parameter_cost + 1),
              c.choice.parameter_cost / (c.choice.parameter_cost + c.layer.parameter_count + 1),
              c.choice.parameter_cost / host] for c in candidates],
            dtype=torch.float32).reshape(-1, CANDIDATE_COST_FEATURES),
    )
