"""Host models for the shipped datasets: a small MLP and a small CNN, each also under-sized.

Every host takes flat feature vectors (the CNN unflattens them into its image). The
under-sized variants squeeze the data through a few units or channels, so that capacity a
seed adds where it is short can measurably help.

| host | layers (seedable ones named)                                                    |
|------|---------------------------------------------------------------------------------|
| mlp  | fc1: F->128, ReLU, fc2: 128->64, ReLU, head: 64->C                              |
| mlp, under-sized | fc1: F->8, ReLU, head: 8->C                                         |
| cnn  | conv1: 1->16 3x3, ReLU, conv2: 16->32 3x3, ReLU, max-pool 2, head: ->C          |
| cnn, under-sized | conv1: 1->2 3x3, ReLU, conv2: 2->4 3x3, ReLU, max-pool 2, head: ->C |
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from esper.tolaria.datasets import Dataset

HOSTS = ("mlp", "cnn")


def build_host(kind: str, data: Dataset, undersized: bool = False) -> nn.Module:
    """A freshly initialised host of ``kind`` for ``data`` (seed torch's RNG first to repeat it)."""
    if kind == "mlp":
        return _mlp(data, (8,) if undersized else (128, 64))
    if kind == "cnn":
        return _cnn(data, (2, 4) if undersized else (16, 32))
    raise ValueError(f"unknown host {kind!r}: choose one of {', '.join(HOSTS)}")


def _mlp(data: Dataset, hidden: tuple[int, ...]) -> nn.Module:
    layers: list[tuple[str, nn.Module]] = []
    width = data.num_features
    for number, units in enumerate(hidden, start=1):
        layers += [(f"fc{number}", nn.Linear(width, units)), (f"relu{number}", nn.ReLU())]
        width = units
    layers.append(("head", nn.Linear(width, data.num_classes)))
    return nn.Sequential(OrderedDict(layers))


def _cnn(data: Dataset, channels: tuple[int, int]) -> nn.Module:
    image_channels, height, width = data.image_shape
    first, second = channels
    return nn.Sequential(OrderedDict([
        ("image", nn.Unflatten(1, data.image_shape)),
        ("conv1", nn.Conv2d(image_channels, first, 3, padding=1)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(first, second, 3, padding=1)),
        ("relu2", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("head", nn.Linear(second * (height // 2) * (width // 2), data.num_classes)),
    ]))
