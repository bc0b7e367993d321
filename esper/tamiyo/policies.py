"""Policies: each ranks a graph's candidate decisions and says which it would act on.

| policy    | ranks by                                              | acts when                        |
|-----------|-------------------------------------------------------|----------------------------------|
| heuristic | worst layer health first, the rule's blueprint first  | loss on a plateau                |
| gnn       | GainNet's predicted gain                              | the predicted gain clears a floor |

The heuristic is the baseline, and the fallback while no trained GNN has been released.
"""

from __future__ import annotations

import abc
import dataclasses
import math

import torch

from esper.karn import Layout, layout_of
from esper.tamiyo.features import GLOBAL_FEATURES, NODE_FEATURES
from esper.tamiyo.gnn import GainNet
from esper.tamiyo.graph import LayerGraph

# The heuristic's blueprint for a layout: the first of these that fits the layer. Small,
# cheap kinds first: a rule cannot know whether a large one would pay for its parameters.
RULE_BLUEPRINTS: dict[Layout, tuple[str, ...]] = {
    Layout.FEATURES: ("lora", "linear_adapter", "norm", "mlp_small"),
    Layout.CONV: ("conv_small", "bottleneck", "depthwise", "norm", "conv_light"),
    Layout.SEQUENCE: ("lora", "norm", "attention", "mlp_small"),
}
HEURISTIC = "heuristic"
GNN = "tamiyo-gnn"


@dataclasses.dataclass(frozen=True, slots=True)
class Proposal:
    """A ranked candidate: ``gain`` is the policy's score (a predicted accuracy gain for the
    GNN), ``confidence`` and ``urgency`` are in [0, 1]."""

    candidate: int  # index into graph.candidates
    gain: float
    confidence: float
    urgency: float


def urgencies(graph: LayerGraph) -> list[float]:
    """How pressing a change at each node is: half the plateau, half the layer's ill health."""
    plateau = float(graph.u[0, GLOBAL_FEATURES.index("plateau_epochs")])
    return [min(max(0.5 * min(plateau * 10 / 3, 1.0) + 0.5 * (1 - health), 0.0), 1.0)
            for health in _health(graph)]


def _health(graph: LayerGraph) -> list[float]:
    return graph.x[:, NODE_FEATURES.index("health")].tolist()


class Policy(abc.ABC):
    name: str
    version: int

    @abc.abstractmethod
    def rank(self, graph: LayerGraph) -> list[Proposal]:
        """Every candidate of ``graph``, best first."""

    @abc.abstractmethod
    def acts_on(self, graph: LayerGraph, proposal: Proposal) -> bool:
        """Whether this policy, left to itself, would make ``proposal`` a decision."""


class HeuristicPolicy(Policy):
    """On a plateau, grow the rule's blueprint in the worst-health layer with a free slot."""

    name = HEURISTIC
    version = 1

    def __init__(self, plateau_epochs: int = 2):
        self.plateau_epochs = plateau_epochs

    def rank(self, graph: LayerGraph) -> list[Proposal]:
        health, urgency = _health(graph), urgencies(graph)
        mean_health = sum(health) / len(health) if health else 0.0
        proposals = []
        for index, candidate in enumerate(graph.candidates):
            preference = RULE_BLUEPRINTS.get(layout_of(candidate.layer.output_shape), ())
            rule_rank = (preference.index(candidate.choice.kind) if candidate.choice.kind
                         in preference else len(preference))
            layer_health = health[candidate.node]
            proposals.append(Proposal(
                index,
                gain=(1.0 - layer_health) - 1e-3 * rule_rank,
                # How far the layer stands below the others: 0.2 below the mean is certain.
                confidence=min(max(0.5 + 2.5 * (mean_health - layer_health), 0.0), 1.0),
                urgency=urgency[candidate.node]))
        return sorted(proposals, key=lambda p: (-p.gain, p.candidate))

    def acts_on(self, graph: LayerGraph, proposal: Proposal) -> bool:
        plateau = float(graph.u[0, GLOBAL_FEATURES.index("plateau_epochs")]) * 10
        return plateau >= self.plateau_epochs


class GnnPolicy(Policy):
    """Rank by GainNet's predicted gain; act on candidates predicted to gain ``min_gain``."""

    name = GNN

    def __init__(self, model: GainNet, version: int, min_gain: float = 0.005):
        self.model = model.eval()
        self.version = version
        self.min_gain = min_gain

    @torch.inference_mode()
    def predict(self, graph: LayerGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted gain and its standard deviation for every candidate."""
        if not graph.candidates:
            return torch.zeros(0), torch.zeros(0)
        mean, log_variance = self.model(graph.data())
        return mean, torch.exp(0.5 * log_variance)

    def rank(self, graph: LayerGraph) -> list[Proposal]:
        mean, std = self.predict(graph)
        urgency = urgencies(graph)
        proposals = [
            Proposal(index, gain=m, confidence=0.5 * (1 + math.erf(m / (s * math.sqrt(2)))),
                     urgency=urgency[candidate.node])
            for index, (candidate, m, s) in enumerate(zip(graph.candidates, mean.tolist(),
                                                          std.tolist()))]
        return sorted(proposals, key=lambda p: (-p.gain, p.candidate))

    def acts_on(self, graph: LayerGraph, proposal: Proposal) -> bool:
        return proposal.gain >= self.min_gain
