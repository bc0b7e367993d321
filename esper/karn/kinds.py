"""What a blueprint kind is: its typed parameters and the layer shapes it applies to.

A kernel runs beside one host layer, mapping that layer's input shape to its output shape
(without the batch dimension). The rank of the shape says what the layer computes on:

| layout   | shape           | hosts                          |
|----------|-----------------|--------------------------------|
| conv     | [C, H, W]       | convolutional layers (CNN)     |
| sequence | [T, D]          | transformer blocks             |
| features | [D]             | linear layers (MLP)            |

A kind keeps everything but the feature dimension (C or D): conv kinds keep H and W,
sequence kinds keep T. Some kinds also keep the feature dimension itself (a norm cannot
change the width), and some set further conditions (heads must divide the width).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Union

Scalar = Union[bool, int, float, str]


class Layout(str, Enum):
    CONV = "conv"
    SEQUENCE = "sequence"
    FEATURES = "features"

    @property
    def dims(self) -> str:
        return {"conv": "[C, H, W]", "sequence": "[T, D]", "features": "[D]"}[self.value]


_LAYOUT_OF_RANK = {3: Layout.CONV, 2: Layout.SEQUENCE, 1: Layout.FEATURES}


class BlueprintError(ValueError):
    """A blueprint that cannot be what it says: unknown kind, bad parameter, wrong version."""


class ShapeNotSupported(ValueError):
    """A blueprint kind that cannot map the given input shape to the given output shape."""


def layout_of(shape: Sequence[int]) -> Layout:
    try:
        return _LAYOUT_OF_RANK[len(shape)]
    except KeyError:
        raise ShapeNotSupported(
            f"shape {list(shape)} has rank {len(shape)}; kernels take [D], [T, D] or [C, H, W]"
        ) from None


@dataclasses.dataclass(frozen=True)
class Param:
    """One typed parameter of a kind, with its default and allowed range."""

    name: str
    type: type[bool] | type[int] | type[float] | type[str]
    default: Scalar
    doc: str
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: object) -> Scalar:
        """``value`` as this parameter's type, or BlueprintError saying what is wrong."""
        expected = self.type.__name__
        if self.type is float and type(value) is int:
            value = float(value)
        # Exact types: bool is an int to Python, but a rank of True is a mistake, not a 1.
        if type(value) is not self.type:
            raise BlueprintError(f"parameter {self.name} must be {expected}, "
                                 f"got {value!r} ({type(value).__name__})")
        if self.type is float and not math.isfinite(value):
            raise BlueprintError(f"parameter {self.name} must be finite, got {value}")
        if self.minimum is not None and value < self.minimum:
            raise BlueprintError(f"parameter {self.name} must be >= {self.minimum:g}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise BlueprintError(f"parameter {self.name} must be <= {self.maximum:g}, got {value}")
        return value

    def parse(self, text: str) -> Scalar:
        """A command-line value (``rank=16``, ``causal=false``) as this parameter's type."""
        if self.type is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise BlueprintError(f"parameter {self.name} is a bool: true or false, "
                                     f"not {text!r}")
            return self.check(lowered == "true")
        if self.type is str:
            return self.check(text)
        try:
            number = self.type(text)
        except ValueError:
            raise BlueprintError(f"parameter {self.name} must be {self.type.__name__}, "
                                 f"got {text!r}") from None
        return self.check(number)

    def describe(self) -> str:
        bounds = ""
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else f"{self.minimum:g}"
            high = "" if self.maximum is None else f"{self.maximum:g}"
            bounds = f" [{low}..{high}]"
        default = str(self.default).lower() if self.type is bool else self.default
        return f"{self.name}={default} ({self.type.__name__}{bounds}): {self.doc}"


ShapeRule = Callable[[Layout, Sequence[int], Sequence[int], Mapping[str, Scalar]], Union[str, None]]


@dataclasses.dataclass(frozen=True)
class Kind:
    """A blueprint kind: what it builds on each layout it supports, and its parameters.

    ``forms`` maps each supported layout to a short description of the module built there;
    ``keeps_width`` lists the layouts where output features must equal input features;
    ``rule`` states any further condition, returning the reason a shape fails it.
    """

    name: str
    summary: str
    forms: Mapping[Layout, str]
    params: tuple[Param, ...] = ()
    keeps_width: frozenset[Layout] = frozenset()
    rule: ShapeRule | None = None

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.params) or "none"
        raise BlueprintError(f"{self.name} has no parameter {name!r} (its parameters: {known})")

    def check_params(self, given: Mapping[str, object]) -> dict[str, Scalar]:
        """Every parameter, from ``given`` or its default, checked; sorted by name."""
        for name in given:
            self.param(name)
        return {p.name: p.check(given[p.name]) if p.name in given else p.default
                for p in sorted(self.params, key=lambda p: p.name)}

    def check_shapes(self, input_shape: Sequence[int], output_shape: Sequence[int],
                     params: Mapping[str, Scalar]) -> Layout:
        """The layout of this input and output, or ShapeNotSupported saying why not."""
        layout = layout_of(input_shape)
        shapes = f"{list(input_shape)} -> {list(output_shape)}"
        if len(output_shape) != len(input_shape):
            raise ShapeNotSupported(f"{self.name}: {shapes}: input and output ranks differ")
        if layout not in self.forms:
            supported = ", ".join(f"{l.value} {l.dims}" for l in self.forms)
            raise ShapeNotSupported(f"{self.name} applies to {supported}, not to {layout.value} "
                                    f"{layout.dims} layers ({shapes})")
        # The feature dimension comes first in conv layouts, last in the others.
        feature = 0 if layout is Layout.CONV else len(input_shape) - 1
        kept = [i for i in range(len(input_shape)) if i != feature]
        if any(input_shape[i] != output_shape[i] for i in kept):
            raise ShapeNotSupported(f"{self.name}: {shapes}: only the feature dimension may "
                                    f"change in a {layout.value} {layout.dims} layer")
        if layout in self.keeps_width and input_shape[feature] != output_shape[feature]:
            raise ShapeNotSupported(f"{self.name} keeps the width of a {layout.value} layer, "
                                    f"but {shapes} changes it")
        if self.rule is not None:
            problem = self.rule(layout, input_shape, output_shape, params)
            if problem:
                raise ShapeNotSupported(f"{self.name}: {shapes}: {problem}")
        return layout
