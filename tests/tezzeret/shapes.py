"""Small layer shapes of each layout, for tests that build every catalogue kind."""

from __future__ import annotations

from esper.karn import KINDS, Layout

# Feature widths differ between input and output wherever the kind allows it, and are
# divisible by the default attention heads (4) where the width is kept.
SHAPES = {
    Layout.CONV: ([8, 6, 6], [12, 6, 6]),
    Layout.SEQUENCE: ([5, 16], [24]),
    Layout.FEATURES: ([20], [12]),
}


def shapes_for(kind, layout: Layout) -> tuple[list[int], list[int]]:
    """The input and output shape to compile ``kind`` for on ``layout``."""
    input_shape, output_shape = SHAPES[layout]
    if layout is Layout.SEQUENCE:
        output_shape = [input_shape[0], *output_shape]
    if layout in kind.keeps_width:
        output_shape = list(input_shape)
    return list(input_shape), list(output_shape)


KIND_LAYOUTS = [(kind, layout) for kind in KINDS for layout in kind.forms]
KIND_LAYOUT_IDS = [f"{kind.name}-{layout.value}" for kind, layout in KIND_LAYOUTS]
