"""Trained policies in the artifact store: saved by content, loaded with their checksum checked.

A policy artifact is a ``torch.save`` of plain data (format number, network config, weights,
training metrics), loaded with ``weights_only=True``: loading a policy never runs code from
the store. The artifact's SHA-256 is its identity, which ``PolicyUpdated.checksum`` carries.
"""

from __future__ import annotations

import io

import torch

from esper.artifacts import ArtifactRef, ArtifactStore
from esper.contracts import ComponentType, EventMeta, PolicyUpdated
from esper.tamiyo.gnn import GainNet, GainNetConfig
from esper.tamiyo.policies import GNN, GnnPolicy

FORMAT = 1


class PolicyFormatError(ValueError):
    """An artifact that is not a Tamiyo policy this code can read."""


def save_policy(store: ArtifactStore, model: GainNet, metrics: dict[str, float]) -> ArtifactRef:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "config": model.config.to_dict(),
                "state_dict": model.state_dict(), "metrics": dict(metrics)}, buffer)
    return store.put(buffer.getvalue())


def load_gain_net(store: ArtifactStore, checksum: str) -> GainNet:
    """The GainNet stored under ``checksum`` (verified by the store on reading)."""
    data = store.get(checksum)
    try:
        saved = torch.load(io.BytesIO(data), weights_only=True)
        if saved.get("format") != FORMAT:
            raise PolicyFormatError(f"policy artifact {checksum} has format "
                                    f"{saved.get('format')!r}; this code reads {FORMAT}")
        model = GainNet(GainNetConfig(**saved["config"]))
        model.load_state_dict(saved["state_dict"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as error:
        raise PolicyFormatError(f"policy artifact {checksum} is not a readable policy: "
                                f"{error}") from error
    return model.eval()


def load_policy(store: ArtifactStore, release: PolicyUpdated, min_gain: float) -> GnnPolicy:
    return GnnPolicy(load_gain_net(store, release.checksum), release.policy_version, min_gain)


def release(ref: ArtifactRef, version: int, metrics: dict[str, float],
            policy_name: str = GNN) -> PolicyUpdated:
    """The PolicyUpdated event that announces a stored policy."""
    return PolicyUpdated(meta=EventMeta.new(ComponentType.SIMIC), policy_name=policy_name,
                         policy_version=version, artifact_ref=ref.uri, checksum=ref.sha256,
                         metrics=metrics)
