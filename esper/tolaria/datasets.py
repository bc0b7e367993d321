"""Datasets that ship inside installed packages, split deterministically from a seed.

| name      | source                                      | samples | features | image   | classes |
|-----------|---------------------------------------------|---------|----------|---------|---------|
| digits    | scikit-learn's 8x8 handwritten digits       | 1797    | 64       | 1x8x8   | 10      |
| synthetic | Gaussian clusters drawn from the seed       | 600     | 16       | 1x4x4   | 4       |

Samples are flat float32 vectors (hosts that want images unflatten them); splits are 70% train,
15% validation (used to judge seeds), 15% test (touched only for the final report).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import torch

TRAIN_FRACTION, VAL_FRACTION = 0.70, 0.15


@dataclasses.dataclass(frozen=True)
class Split:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size: int, shuffle_seed: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Mini-batches in order, or shuffled by ``shuffle_seed`` (the same seed, the same order)."""
        if shuffle_seed is None:
            order = torch.arange(len(self))
        else:
            order = torch.randperm(len(self), generator=torch.Generator().manual_seed(shuffle_seed))
        for start in range(0, len(self), batch_size):
            index = order[start : start + batch_size]
            yield self.x[index], self.y[index]

    def batch_count(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    image_shape: tuple[int, int, int]
    num_classes: int

    @property
    def num_features(self) -> int:
        return self.train.x.shape[1]


def _digits(seed: int) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # pixel intensities are 0..16
    return x, torch.tensor(digits.target, dtype=torch.long), (1, 8, 8)


def _synthetic(seed: int) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
    generator = torch.Generator().manual_seed(seed)
    classes, per_class, features = 4, 150, 16
    centres = torch.randn(classes, features, generator=generator) * 1.5
    y = torch.arange(classes).repeat_interleave(per_class)
    x = centres[y] + torch.randn(len(y), features, generator=generator)
    return x, y, (1, 4, 4)


DATASETS: dict[str, Callable[[int], tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]]] = {
    "digits": _digits,
    "synthetic": _synthetic,
}


def load_dataset(name: str, seed: int = 0) -> Dataset:
    """Dataset ``name``, split by a permutation drawn from ``seed``."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    x, y, image_shape = DATASETS[name](seed)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_train = int(len(y) * TRAIN_FRACTION)
    n_val = int(len(y) * VAL_FRACTION)
    parts = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    train, val, test = (Split(x[index], y[index]) for index in parts)
    return Dataset(name, train, val, test, image_shape, int(y.max()) + 1)
