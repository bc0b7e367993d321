"""The blueprints Tamiyo may choose for a layer: Karn's catalogue kinds that fit its shapes.

Each choice is a kind's default design, named by its content id (``BlueprintIR.blueprint_id``),
which Tezzeret resolves without a submission. The kinds keep the catalogue's order, so a
kind's index is stable and the GNN can learn an embedding per kind.
"""

from __future__ import annotations

import dataclasses
import functools

import torch

from esper.contracts import HostLayer
from esper.karn import CATALOGUE, BlueprintIR, ShapeNotSupported
from esper.tezzeret.modules import BUILDERS

KIND_NAMES: tuple[str, ...] = tuple(CATALOGUE)


@dataclasses.dataclass(frozen=True, slots=True)
class BlueprintChoice:
    kind: str
    blueprint_id: str
    kind_index: int
    parameter_cost: int  # parameters the seed adds to the layer


@functools.lru_cache(maxsize=4096)
def _choices(input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[BlueprintChoice, ...]:
    choices = []
    for index, kind in enumerate(KIND_NAMES):
        ir = BlueprintIR.of(kind)
        try:
            layout = ir.definition.check_shapes(input_shape, output_shape, ir.params)
        except ShapeNotSupported:
            continue
        feature = 0 if len(input_shape) == 3 else -1
        # On the meta device: the count without allocating (an mlp on a wide layer is large).
        with torch.device("meta"):
            module = BUILDERS[kind](layout, input_shape[feature], output_shape[feature], ir.params)
        cost = sum(p.numel() for p in module.parameters())
        choices.append(BlueprintChoice(kind, ir.blueprint_id, index, cost))
    return tuple(choices)


def choices_for(layer: HostLayer) -> tuple[BlueprintChoice, ...]:
    """The catalogue kinds that can grow beside ``layer``, in catalogue order."""
    return _choices(tuple(layer.input_shape), tuple(layer.output_shape))
