"""`wrap`: turn a host model's Linear and Conv2d layers into layers with seed slots."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn

from esper.contracts import HostLayer, HostTopology
from esper.kasmina.layers import MORPHABLE_TYPES, MorphableLayer
from esper.kasmina.slot import ACTIVE_STATES, SeedSlot

Target = type[nn.Module] | str | Iterable[type[nn.Module] | str]


class MorphableModel(nn.Module):
    """A host model whose targeted layers carry seed slots.

    ``host`` is the wrapped copy of the model (the forward pass is its forward pass);
    ``layers`` are its morphable layers, indexed by their stable ``layer_id``: the order in
    which the host defines them, which is the same in every process that builds the same host.
    """

    def __init__(self, host: nn.Module, layers: Sequence[MorphableLayer]):
        super().__init__()
        self.host = host
        self.layers = tuple(layers)  # the same modules as inside host, not registered twice
        self.execution_order: tuple[MorphableLayer, ...] = ()

    def forward(self, *args, **kwargs):
        return self.host(*args, **kwargs)

    def layer(self, layer_id: int) -> MorphableLayer:
        if not 0 <= layer_id < len(self.layers):
            raise KeyError(f"no layer {layer_id}: layer ids are 0..{len(self.layers) - 1}")
        return self.layers[layer_id]

    def slot(self, layer_id: int, index: int) -> SeedSlot:
        layer = self.layer(layer_id)
        if not 0 <= index < len(layer.slots):
            raise KeyError(
                f"no slot {index} in layer {layer_id} ({layer.name}): "
                f"slots are 0..{len(layer.slots) - 1}"
            )
        return layer.slots[index]

    def slots(self) -> Iterator[SeedSlot]:
        for layer in self.layers:
            yield from layer.slots

    @property
    def total_seeds(self) -> int:
        return sum(len(layer.slots) for layer in self.layers)

    @property
    def active_seeds(self) -> int:
        return sum(slot.state in ACTIVE_STATES for slot in self.slots())

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def measure(self, example: torch.Tensor) -> None:
        """Record each layer's input and output shape (without the batch dimension) and put
        ``layers`` in the order the forward pass calls them, by running ``example`` once."""
        order: list[MorphableLayer] = []

        def record(layer: MorphableLayer, inputs, output) -> None:
            if layer not in order:  # a layer called twice keeps its first call's place
                layer.input_shape = tuple(inputs[0].shape[1:])
                layer.output_shape = tuple(output.shape[1:])
                order.append(layer)

        handles = [layer.register_forward_hook(record) for layer in self.layers]
        was_training = self.training
        try:
            self.eval()
            self.host(example)
        finally:
            self.train(was_training)
            for handle in handles:
                handle.remove()
        unreached = [layer.name for layer in self.layers if layer not in order]
        if unreached:
            raise ValueError(f"the forward pass never calls wrapped layer(s) {', '.join(unreached)}")
        self.execution_order = tuple(order)

    def topology(self, model_name: str) -> HostTopology:
        """The host's morphable layers in execution order, for TrainingRunStarted."""
        if not self.execution_order:
            raise RuntimeError("layer shapes are unknown: call measure(example) first")
        return HostTopology(
            model_name=model_name,
            layers=[
                HostLayer(
                    layer_id=layer.layer_id,
                    name=layer.name,
                    layer_type=layer.layer_type,
                    input_shape=list(layer.input_shape),
                    output_shape=list(layer.output_shape),
                    parameter_count=layer.host_parameter_count,
                    seed_slots=len(layer.slots),
                )
                for layer in self.execution_order
            ],
        )


def wrap(model: nn.Module, target: Target = tuple(MORPHABLE_TYPES), seeds_per_layer: int = 4) -> MorphableModel:
    """A copy of ``model`` whose targeted layers carry ``seeds_per_layer`` dormant seed slots.

    ``target`` is a layer type (``nn.Linear``, ``nn.Conv2d``), a module name as in
    ``model.named_modules()`` (``"fc1"``, ``"features.0"``), or a collection of either. Types
    match exactly, so subclasses that other modules drive directly (the out-projection inside
    nn.MultiheadAttention) are left alone. ``model`` itself is not changed; the copy shares no
    tensors with it.
    """
    if isinstance(seeds_per_layer, bool) or not isinstance(seeds_per_layer, int) or seeds_per_layer < 1:
        raise ValueError(f"seeds_per_layer must be a positive integer, not {seeds_per_layer!r}")
    types, names = _split_target(target)
    host = copy.deepcopy(model)
    chosen = _choose(host, types, names)
    layers = []
    for layer_id, name in enumerate(chosen):
        original = host.get_submodule(name)
        layer = MORPHABLE_TYPES[type(original)].from_host(original, layer_id, name or "model", seeds_per_layer)
        if name:
            parent_name, _, child_name = name.rpartition(".")
            setattr(host.get_submodule(parent_name), child_name, layer)
        else:  # the model is itself one layer
            host = layer
        layers.append(layer)
    return MorphableModel(host, layers)


def _split_target(target: Target) -> tuple[set[type[nn.Module]], list[str]]:
    items = [target] if isinstance(target, (type, str)) else list(target)
    if not items:
        raise ValueError("target is empty: name at least one layer type or module name")
    types, names = set(), []
    for item in items:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, type) and item in MORPHABLE_TYPES:
            types.add(item)
        else:
            supported = ", ".join(f"nn.{t.__name__}" for t in MORPHABLE_TYPES)
            raise TypeError(f"cannot wrap {item!r}: target layer types are {supported}, or module names")
    return types, names


def _choose(host: nn.Module, types: set[type[nn.Module]], names: list[str]) -> list[str]:
    """Names of the modules to wrap, in definition order."""
    modules = dict(host.named_modules())
    for name in names:
        if name not in modules:
            raise ValueError(f"target {name!r} is not a module of the model")
        if type(modules[name]) not in MORPHABLE_TYPES:
            raise TypeError(
                f"target {name!r} is a {type(modules[name]).__name__}; only "
                f"{', '.join(t.__name__ for t in MORPHABLE_TYPES)} layers can carry seeds"
            )
    chosen = [
        name for name, module in modules.items()
        if type(module) in types or name in names
    ]
    if not chosen:
        wanted = ", ".join(t.__name__ for t in MORPHABLE_TYPES if t in types)
        raise ValueError(f"the model has no {wanted} layer to wrap")
    return chosen
