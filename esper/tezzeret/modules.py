"""Each catalogue kind as a torch module, built for one layer's shapes and seeded deterministically.

Modules use only operators that ``torch.export`` traces with a dynamic batch, and none whose
behaviour differs between training and evaluation (no dropout, no batch norm).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from esper.karn import BlueprintIR, Layout
from esper.karn.kinds import Scalar

Params = Mapping[str, Scalar]


def _groups(channels: int, max_groups: int) -> int:
    """The largest divisor of ``channels`` that is at most ``max_groups``."""
    return max(g for g in range(1, min(channels, max_groups) + 1) if channels % g == 0)


class SqueezeExcitation(nn.Module):
    """Channel attention: pool each channel, pass through a bottleneck, gate the input."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Conv2d(channels, hidden, 1)
        self.excite = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.excite(F.relu(self.squeeze(pooled))))


class SelfAttention(nn.Module):
    """Multi-head self-attention over the tokens of ``[batch, tokens, width]``."""

    def __init__(self, width: int, out_width: int, heads: int, causal: bool):
        super().__init__()
        self.heads = heads
        self.causal = causal
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, out_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        qkv = self.qkv(x).view(batch, tokens, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [batch, heads, tokens, head width]
        mixed = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(mixed.transpose(1, 2).reshape(batch, tokens, width))


def _conv_block(c_in: int, c_out: int, kernel_size: int, max_groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2),
                         nn.GroupNorm(_groups(c_out, max_groups), c_out), nn.ReLU())


def _norm(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    if layout is Layout.CONV:
        return nn.GroupNorm(_groups(d_in, p["max_groups"]), d_in)
    return nn.LayerNorm(d_in)


def _attention(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    if layout is Layout.CONV:
        return SqueezeExcitation(d_in, p["reduction"])
    return SelfAttention(d_in, d_out, p["heads"], p["causal"])


def _depthwise(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    k = p["kernel_size"]
    return nn.Sequential(nn.Conv2d(d_in, d_in, k, padding=k // 2, groups=d_in),
                         nn.Conv2d(d_in, d_out, 1))


def _bottleneck(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    hidden = max(1, d_in // p["reduction"])
    return nn.Sequential(nn.Conv2d(d_in, hidden, 1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(hidden, d_out, 1))


def _conv_small(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    return nn.Sequential(nn.Conv2d(d_in, d_out, 1),
                         nn.GroupNorm(_groups(d_out, p["max_groups"]), d_out))


def _conv_light(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    return _conv_block(d_in, d_out, p["kernel_size"], p["max_groups"])


def _conv_heavy(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    return nn.Sequential(_conv_block(d_in, d_out, p["kernel_size"], p["max_groups"]),
                         _conv_block(d_out, d_out, p["kernel_size"], p["max_groups"]))


def _low_rank(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, p["rank"], bias=False),
                         nn.Linear(p["rank"], d_out, bias=False))


def _mlp(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    hidden = p["expansion"] * d_in
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, d_out))


def _linear_adapter(layout: Layout, d_in: int, d_out: int, p: Params) -> nn.Module:
    return nn.Linear(d_in, d_out, bias=p["bias"])


Builder = Callable[[Layout, int, int, Params], nn.Module]

BUILDERS: Mapping[str, Builder] = {
    "norm": _norm,
    "attention": _attention,
    "depthwise": _depthwise,
    "bottleneck": _bottleneck,
    "conv_small": _conv_small,
    "conv_light": _conv_light,
    "conv_heavy": _conv_heavy,
    "lora": _low_rank,
    "lora_large": _low_rank,
    "mlp_small": _mlp,
    "mlp": _mlp,
    "linear_adapter": _linear_adapter,
}


def init_seed(ir: BlueprintIR) -> int:
    """The torch seed of a blueprint: from its content hash, which covers its own ``seed``."""
    return int(ir.content_hash[:15], 16)


def build_module(ir: BlueprintIR, input_shape: Sequence[int],
                 output_shape: Sequence[int]) -> nn.Module:
    """The module of ``ir`` from ``input_shape`` to ``output_shape`` (no batch dimension).

    Weights depend only on the blueprint and the shapes: they are drawn from a generator
    seeded by ``init_seed(ir)``, leaving the caller's random state as it was. Raises
    ShapeNotSupported when the kind cannot map these shapes.
    """
    layout = ir.definition.check_shapes(input_shape, output_shape, ir.params)
    feature = 0 if layout is Layout.CONV else -1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed(ir))
        module = BUILDERS[ir.kind](layout, input_shape[feature], output_shape[feature], ir.params)
    return module
