"""Kasmina, the execution layer: seed slots inside host layers, their lifecycle and kernels.

`wrap` gives a model's Linear and Conv2d layers dormant seed slots; a `SeedController` walks
the seeds through germinated, training, grafting and fossilized (or culled), loading kernels
from a `KernelSource` and emitting every transition as an event. Nothing here imports the bus:
events leave through the callable the controller is given.
"""

from esper.kasmina.controller import (
    CommandRefused,
    EventSink,
    LifecyclePolicy,
    SeedController,
    TrainingClock,
)
from esper.kasmina.kernels import KernelLoadError, KernelSource
from esper.kasmina.layers import MorphableConv2d, MorphableLayer, MorphableLinear
from esper.kasmina.model import MorphableModel, wrap
from esper.kasmina.slot import SeedSlot

__all__ = [
    "CommandRefused",
    "EventSink",
    "KernelLoadError",
    "KernelSource",
    "LifecyclePolicy",
    "MorphableConv2d",
    "MorphableLayer",
    "MorphableLinear",
    "MorphableModel",
    "SeedController",
    "SeedSlot",
    "TrainingClock",
    "wrap",
]
