"""Tamiyo, the strategic controller: where to grow which seed, decided over the layer graph.

Pure domain logic (no bus): ``window`` (what is known of a run), ``features`` and ``graph``
(what policies read), ``policies`` and ``gnn`` (the heuristic and GainNet), ``gates`` (what
no policy may do), ``controller`` (decisions, exploration), ``outcomes`` and ``training``
(learning from the log), ``policy_store`` (trained policies in the artifact store).
"""

from esper.tamiyo.controller import Tamiyo
from esper.tamiyo.gates import Gates
from esper.tamiyo.graph import Candidate, LayerGraph, NoTopology, build_graph
from esper.tamiyo.policies import GnnPolicy, HeuristicPolicy, Policy, Proposal
from esper.tamiyo.window import RunWindow

__all__ = [
    "Candidate",
    "Gates",
    "GnnPolicy",
    "HeuristicPolicy",
    "LayerGraph",
    "NoTopology",
    "Policy",
    "Proposal",
    "RunWindow",
    "Tamiyo",
    "build_graph",
]
