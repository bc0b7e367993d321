"""Karn, the architect: the blueprint catalogue and the IR that carries a design on the wire.

Pure Python (no torch): listing and submitting blueprints stays fast, and Tezzeret's
``esper.tezzeret.modules`` is where a kind becomes a torch module.
"""

from esper.karn.catalogue import CATALOGUE, KINDS, get_kind
from esper.karn.ir import IR_VERSION, BlueprintIR
from esper.karn.kinds import BlueprintError, Kind, Layout, Param, ShapeNotSupported, layout_of

__all__ = [
    "CATALOGUE",
    "IR_VERSION",
    "KINDS",
    "BlueprintError",
    "BlueprintIR",
    "Kind",
    "Layout",
    "Param",
    "ShapeNotSupported",
    "get_kind",
    "layout_of",
]
