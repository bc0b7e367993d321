"""Tolaria, the trainer: datasets, host models, the training loop and its health telemetry.

Events leave through the callable the Trainer is given; nothing here imports the bus.
"""

from esper.tolaria.checkpoint import CheckpointError
from esper.tolaria.datasets import DATASETS, Dataset, Split, load_dataset
from esper.tolaria.health import Health, HealthProbe
from esper.tolaria.hosts import HOSTS, build_host
from esper.tolaria.trainer import EpochResult, Progress, Trainer, TrainingConfig

__all__ = [
    "DATASETS",
    "HOSTS",
    "CheckpointError",
    "Dataset",
    "EpochResult",
    "Health",
    "HealthProbe",
    "Progress",
    "Split",
    "Trainer",
    "TrainingConfig",
    "build_host",
    "load_dataset",
]
