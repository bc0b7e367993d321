"""GainNet: a graph attention network that predicts what each candidate decision would gain.

Upstream's policy (``upstream-services.md`` §8.5) pooled the whole graph into one
"adapt or not" probability, ignored edge features, and was never trained on a real outcome.
Here each (layer, blueprint) candidate gets its own prediction, trained on measured outcomes:

    nodes --encoder--> h --(GATv2 with edge features, residual, LayerNorm) x L--> h
    candidate = [h[layer], mean-pool(h), globals, blueprint embedding, blueprint cost (3)]
             --MLP--> (mean gain, log variance)

The variance makes a confidence: the probability, under the predicted normal distribution,
that the gain is positive.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch_geometric.nn import GATv2Conv, global_mean_pool

from esper.tamiyo.blueprints import KIND_NAMES
from esper.tamiyo.features import EDGE_FEATURES, GLOBAL_FEATURES, NODE_FEATURES
from esper.tamiyo.graph import CANDIDATE_COST_FEATURES

LOG_VARIANCE_RANGE = (-10.0, 2.0)  # a standard deviation of 0.0067 accuracy points at least


@dataclasses.dataclass(frozen=True)
class GainNetConfig:
    hidden: int = 64
    heads: int = 4
    layers: int = 2
    kind_dim: int = 8

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class GainNet(nn.Module):
    def __init__(self, config: GainNetConfig = GainNetConfig()):
        super().__init__()
        hidden = config.hidden
        if hidden % config.heads:
            raise ValueError(f"hidden {hidden} is not a multiple of heads {config.heads}")
        self.config = config
        self.encoder = nn.Sequential(nn.Linear(len(NODE_FEATURES), hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.LayerNorm(hidden))
        self.convs = nn.ModuleList(
            GATv2Conv(hidden, hidden // config.heads, heads=config.heads,
                      edge_dim=len(EDGE_FEATURES)) for _ in range(config.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(config.layers))
        self.globals = nn.Sequential(nn.Linear(len(GLOBAL_FEATURES), hidden), nn.ReLU())
        self.kinds = nn.Embedding(len(KIND_NAMES), config.kind_dim)
        self.head = nn.Sequential(nn.Linear(3 * hidden + config.kind_dim + CANDIDATE_COST_FEATURES,
                                            hidden), nn.ReLU(),
                                  nn.Linear(hidden, 2))

    def forward(self, data) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log variance) of the gain of every candidate in ``data`` (a graph or a batch)."""
        batch = data.batch if getattr(data, "batch", None) is not None else \
            torch.zeros(data.num_nodes, dtype=torch.long)
        h = self.encoder(data.x)
        for conv, norm in zip(self.convs, self.norms):
            h = norm(h + torch.relu(conv(h, data.edge_index, data.edge_attr)))
        graph_of = batch[data.candidate_node]
        pooled = global_mean_pool(h, batch)
        z = torch.cat([h[data.candidate_node], pooled[graph_of], self.globals(data.u)[graph_of],
                       self.kinds(data.candidate_kind), data.candidate_cost], dim=1)
        mean, log_variance = self.head(z).unbind(dim=1)
        return mean, log_variance.clamp(*LOG_VARIANCE_RANGE)
