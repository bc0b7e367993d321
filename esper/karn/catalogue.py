"""Karn's blueprint catalogue: the successor project's seed modules that fit our hosts.

The parameter counts in the forms are the successor's, for 64 channels (conv) and width 384
(sequence) with default parameters; ``esper.tezzeret.modules`` builds each form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from esper.karn.kinds import BlueprintError, Kind, Layout, Param, Scalar

CONV, SEQUENCE, FEATURES = Layout.CONV, Layout.SEQUENCE, Layout.FEATURES

_MAX_GROUPS = Param("max_groups", int, 8, "GroupNorm groups: the largest divisor of the "
                    "channel count up to this", 1, 1024)
_KERNEL_SIZE = Param("kernel_size", int, 3, "spatial size of the convolution (odd)", 1, 7)


def _odd_kernel(layout: Layout, input_shape: Sequence[int], output_shape: Sequence[int],
                params: Mapping[str, Scalar]) -> str | None:
    if params["kernel_size"] % 2 == 0:
        return f"kernel_size must be odd to keep the spatial size, got {params['kernel_size']}"
    return None


def _heads_divide_width(layout: Layout, input_shape: Sequence[int],
                        output_shape: Sequence[int], params: Mapping[str, Scalar]) -> str | None:
    width, heads = input_shape[-1], params["heads"]
    if layout is SEQUENCE and width % heads:
        return f"{heads} heads do not divide the width {width}"
    return None


KINDS: tuple[Kind, ...] = (
    Kind("norm", "normalization of the layer's output",
         {CONV: "GroupNorm (~130)", SEQUENCE: "LayerNorm (~800)", FEATURES: "LayerNorm"},
         (_MAX_GROUPS,), keeps_width=frozenset(Layout)),
    Kind("attention", "attention over channels or tokens",
         {CONV: "squeeze-and-excitation channel gate (~2k)",
          SEQUENCE: "multi-head self-attention (~591k)"},
         (Param("reduction", int, 4, "squeeze-and-excitation bottleneck ratio (conv)", 1, 1024),
          Param("heads", int, 4, "attention heads (sequence)", 1, 64),
          Param("causal", bool, True, "mask future tokens (sequence)")),
         keeps_width=frozenset({CONV}), rule=_heads_divide_width),
    Kind("depthwise", "depthwise convolution, then a pointwise 1x1",
         {CONV: "depthwise kxk + pointwise 1x1 (~4.8k)"}, (_KERNEL_SIZE,), rule=_odd_kernel),
    Kind("bottleneck", "1x1 down, 3x3, 1x1 up", {CONV: "1x1 -> 3x3 -> 1x1 (~4.5k)"},
         (Param("reduction", int, 4, "channels are divided by this inside", 1, 1024),)),
    Kind("conv_small", "1x1 convolution with GroupNorm: channel mixing",
         {CONV: "1x1 conv + GroupNorm (~4.2k)"}, (_MAX_GROUPS,)),
    Kind("conv_light", "one conv block", {CONV: "kxk conv + GroupNorm + ReLU (~37k)"},
         (_KERNEL_SIZE, _MAX_GROUPS), rule=_odd_kernel),
    Kind("conv_heavy", "two conv blocks", {CONV: "2 x (kxk conv + GroupNorm + ReLU) (~74k)"},
         (_KERNEL_SIZE, _MAX_GROUPS), rule=_odd_kernel),
    Kind("lora", "low-rank adapter, rank 8",
         {SEQUENCE: "x A B per token, A: D x r, B: r x D' (~6k)", FEATURES: "x A B"},
         (Param("rank", int, 8, "inner rank", 1, 4096),)),
    Kind("lora_large", "low-rank adapter, rank 32",
         {SEQUENCE: "x A B per token, A: D x r, B: r x D' (~25k)", FEATURES: "x A B"},
         (Param("rank", int, 32, "inner rank", 1, 4096),)),
    Kind("mlp_small", "MLP with 2x expansion",
         {SEQUENCE: "Linear -> GELU -> Linear per token (~591k)",
          FEATURES: "Linear -> GELU -> Linear"},
         (Param("expansion", int, 2, "hidden width = expansion x input width", 1, 16),)),
    Kind("mlp", "MLP with 4x expansion",
         {SEQUENCE: "Linear -> GELU -> Linear per token (~1.2M)",
          FEATURES: "Linear -> GELU -> Linear"},
         (Param("expansion", int, 4, "hidden width = expansion x input width", 1, 16),)),
    Kind("linear_adapter", "residual linear adapter for MLP hosts",
         {FEATURES: "one Linear D -> D'"}, (Param("bias", bool, True, "learn a bias"),)),
)

CATALOGUE: Mapping[str, Kind] = {kind.name: kind for kind in KINDS}


def get_kind(name: str) -> Kind:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise BlueprintError(f"unknown blueprint kind {name!r}; the catalogue has: "
                             f"{', '.join(CATALOGUE)}") from None
