"""Policies for tests."""

from __future__ import annotations

from esper.tamiyo.graph import LayerGraph
from esper.tamiyo.policies import Policy, Proposal


class Eager(Policy):
    """Wants every candidate, all with full confidence: only the gates hold it back."""

    name = "eager"
    version = 7

    def rank(self, graph: LayerGraph) -> list[Proposal]:
        return [Proposal(i, gain=1.0, confidence=1.0, urgency=1.0)
                for i in range(len(graph.candidates))]

    def acts_on(self, graph: LayerGraph, proposal: Proposal) -> bool:
        return True
