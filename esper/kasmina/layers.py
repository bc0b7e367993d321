"""Host layers with seed slots: nn.Linear and nn.Conv2d that can grow residual branches.

A morphable layer *is* its host layer type (a subclass sharing the host's parameters, so the
state-dict keys of the host weights do not change) plus ``slots``. Its forward pass computes
the host transform and, only when some slot runs a kernel, blends those in; with every slot
dormant the cost is one tuple test.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from esper.kasmina.slot import FORWARD_STATES, SeedSlot


class MorphableLayer(nn.Module):
    """What Linear and Conv2d layers with seed slots have in common.

    ``layer_id`` is stable for the run (the topology's id); ``input_shape`` and
    ``output_shape`` (without the batch dimension) are known once the model has been measured.
    """

    host_type: type[nn.Module]
    layer_id: int
    name: str
    slots: nn.ModuleList
    live_slots: tuple[SeedSlot, ...]
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None

    def _add_slots(self, layer_id: int, name: str, seeds: int) -> None:
        self.layer_id = layer_id
        self.name = name
        self.slots = nn.ModuleList(SeedSlot(layer_id, index) for index in range(seeds))
        self.live_slots = ()
        self.input_shape = self.output_shape = None

    def refresh(self) -> None:
        """Recompute which slots take part in the forward pass; call after any state change."""
        self.live_slots = tuple(slot for slot in self.slots if slot.state in FORWARD_STATES)

    @property
    def layer_type(self) -> str:
        return self.host_type.__name__

    @property
    def host_parameter_count(self) -> int:
        return sum(p.numel() for name, p in self.named_parameters() if not name.startswith("slots."))

    def _blend(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for slot in self.live_slots:
            y = slot.blend(x, y)
        return y


class MorphableLinear(MorphableLayer, nn.Linear):
    host_type = nn.Linear

    @classmethod
    def from_host(cls, host: nn.Linear, layer_id: int, name: str, seeds: int) -> MorphableLinear:
        layer = cls(host.in_features, host.out_features, bias=host.bias is not None, device="meta")
        layer.weight, layer.bias = host.weight, host.bias
        layer._add_slots(layer_id, name, seeds)
        return layer.train(host.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.live_slots:
            y = self._blend(x, y)
        return y


class MorphableConv2d(MorphableLayer, nn.Conv2d):
    host_type = nn.Conv2d

    @classmethod
    def from_host(cls, host: nn.Conv2d, layer_id: int, name: str, seeds: int) -> MorphableConv2d:
        layer = cls(
            host.in_channels, host.out_channels, host.kernel_size, stride=host.stride,
            padding=host.padding, dilation=host.dilation, groups=host.groups,
            bias=host.bias is not None, padding_mode=host.padding_mode, device="meta",
        )
        layer.weight, layer.bias = host.weight, host.bias
        layer._add_slots(layer_id, name, seeds)
        return layer.train(host.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._conv_forward(x, self.weight, self.bias)
        if self.live_slots:
            y = self._blend(x, y)
        return y


MORPHABLE_TYPES: dict[type[nn.Module], type[MorphableLayer]] = {
    layer.host_type: layer for layer in (MorphableLinear, MorphableConv2d)
}
"""Host layer types that can carry seed slots, and their morphable counterparts."""
