"""Offline training of GainNet on logged experience, and offline evaluation of any policy.

Training is regression with uncertainty: for each logged decision, the predicted (mean, log
variance) of the chosen candidate is fitted to its reward by Gaussian negative log-likelihood.

Evaluation uses only logged outcomes, never a model of them: the inverse-propensity estimate
of a policy's mean reward on experiences it was not trained on,

    V(pi) = 1/N * sum over logged decisions of [pi's choice == logged choice] * reward / propensity

which is unbiased when every admissible candidate had a chance of being logged (exploration).
A uniformly random choice among the admissible candidates has the exact expectation
1/N * sum of reward / (propensity * admissible count).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch_geometric.data import Batch

from esper.tamiyo.gnn import GainNet, GainNetConfig
from esper.tamiyo.graph import LayerGraph
from esper.tamiyo.outcomes import Experience
from esper.tamiyo.policies import Policy

Chooser = Callable[[LayerGraph, Sequence[int]], int]
"""A policy's choice among the admissible candidates of a graph."""


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    network: GainNetConfig = GainNetConfig()

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.learning_rate > 0:
            raise ValueError("epochs and batch_size must be at least 1, learning_rate positive")


@dataclasses.dataclass(frozen=True)
class Estimate:
    value: float  # estimated mean reward per decision
    stderr: float  # its standard error, from the spread of the per-decision terms
    matched: int  # logged decisions where the policy chose as the log did
    decisions: int

    @classmethod
    def of(cls, terms: Sequence[float], matched: int) -> Estimate:
        n = len(terms)
        if n == 0:
            return cls(0.0, 0.0, 0, 0)
        mean = sum(terms) / n
        spread = sum((t - mean) ** 2 for t in terms) / (n - 1) if n > 1 else 0.0
        return cls(mean, math.sqrt(spread / n), matched, n)


def split_runs(experience: Sequence[Experience], holdout: float
               ) -> tuple[list[Experience], list[Experience]]:
    """(training, held out): whole runs are held out, chosen by a hash of their id, so the
    split is the same on every machine and no run leaks into both."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be between 0 and 1, not {holdout}")

    def held_out(run_id: str) -> bool:
        digest = hashlib.sha256(run_id.encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < holdout

    train = [e for e in experience if not held_out(e.run_id)]
    test = [e for e in experience if held_out(e.run_id)]
    return train, test


def _batch(experiences: Sequence[Experience]) -> tuple[Batch, torch.Tensor, torch.Tensor]:
    """The graphs as one batch, the index of each chosen candidate in it, and the rewards."""
    batch = Batch.from_data_list([e.graph.data() for e in experiences])
    offsets, chosen = 0, []
    for e in experiences:
        chosen.append(offsets + e.action)
        offsets += len(e.graph.candidates)
    return (batch, torch.tensor(chosen, dtype=torch.long),
            torch.tensor([e.reward for e in experiences], dtype=torch.float32))


def train_gain_net(experience: Sequence[Experience], config: TrainingConfig = TrainingConfig(),
                   on_epoch: Callable[[int, float], None] | None = None) -> GainNet:
    """A GainNet fitted to ``experience``; ``on_epoch(epoch, mean loss)`` reports progress."""
    if not experience:
        raise ValueError("no experience to train on: the log holds no decision with an outcome")
    torch.manual_seed(config.seed)
    order = list(experience)
    shuffle = random.Random(config.seed)
    model = GainNet(config.network)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    for epoch in range(1, config.epochs + 1):
        shuffle.shuffle(order)
        batches = [_batch(order[i:i + config.batch_size])
                   for i in range(0, len(order), config.batch_size)]
        model.train()
        total = 0.0
        for batch, chosen, reward in batches:
            mean, log_variance = model(batch)
            loss = F.gaussian_nll_loss(mean[chosen], reward, log_variance[chosen].exp())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * len(reward)
        if on_epoch is not None:
            on_epoch(epoch, total / len(order))
    return model.eval()


def policy_chooser(policy: Policy) -> Chooser:
    """The policy's best-ranked admissible candidate (whether or not it would act)."""

    def choose(graph: LayerGraph, admissible: Sequence[int]) -> int:
        allowed = set(admissible)
        return next(p.candidate for p in policy.rank(graph) if p.candidate in allowed)

    return choose


def offline_value(choose: Chooser, experience: Sequence[Experience]) -> Estimate:
    """The inverse-propensity estimate of the mean reward of ``choose`` (see the module doc)."""
    agrees = [choose(e.graph, e.admissible) == e.action for e in experience]
    return Estimate.of([e.reward / e.propensity if agree else 0.0
                        for e, agree in zip(experience, agrees)], sum(agrees))


def random_value(experience: Sequence[Experience]) -> Estimate:
    """The exact expectation of the same estimate for a uniformly random admissible choice."""
    return Estimate.of([e.reward / (e.propensity * len(e.admissible)) for e in experience], 0)
