from __future__ import annotations

import pytest
import torch
from torch import nn

from esper.kasmina import MorphableConv2d, MorphableLinear, wrap


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 4),
    )


def test_wrapped_layers_keep_the_host_output_exactly():
    host = small_cnn()
    model = wrap(host, seeds_per_layer=3)
    x = torch.randn(5, 16)
    assert torch.equal(model(x), host(x))
    assert [type(layer) for layer in model.layers] == [MorphableConv2d, MorphableLinear, MorphableLinear]
    assert all(len(layer.slots) == 3 for layer in model.layers)


def test_wrap_copies_the_model_and_keeps_its_weight_names():
    host = small_cnn()
    model = wrap(host, seeds_per_layer=1)
    assert type(host[1]) is nn.Conv2d  # the caller's model is untouched
    with torch.no_grad():
        model.layers[0].weight.add_(1.0)
    assert not torch.equal(model.layers[0].weight, host[1].weight)
    assert set(model.state_dict()) == {f"host.{name}" for name in host.state_dict()}


def test_layer_ids_follow_definition_order_and_names_address_layers():
    model = wrap(small_cnn(), target=["6", nn.Conv2d], seeds_per_layer=2)
    assert [(layer.layer_id, layer.name) for layer in model.layers] == [(0, "1"), (1, "6")]
    assert model.slot(1, 1).index == 1 and model.slot(1, 1).layer_id == 1


def test_exact_types_only_so_attention_projections_are_left_alone():
    host = nn.Sequential(nn.MultiheadAttention(8, 2))
    with pytest.raises(ValueError, match="no Linear, Conv2d layer"):
        wrap(host)


@pytest.mark.parametrize("target, error, message", [
    (nn.LayerNorm, TypeError, "cannot wrap .*LayerNorm.*target layer types are nn.Linear, nn.Conv2d"),
    ("7", ValueError, "target '7' is not a module of the model"),
    ("2", TypeError, "target '2' is a ReLU; only Linear, Conv2d layers can carry seeds"),
    ([], ValueError, "target is empty"),
])
def test_bad_targets_are_named(target, error, message):
    with pytest.raises(error, match=message):
        wrap(small_cnn(), target=target)


@pytest.mark.parametrize("seeds", [0, -1, True, 2.0])
def test_seeds_per_layer_must_be_a_positive_integer(seeds):
    with pytest.raises(ValueError, match="seeds_per_layer must be a positive integer"):
        wrap(small_cnn(), seeds_per_layer=seeds)


def test_measure_records_shapes_and_the_topology_lists_layers_in_call_order():
    model = wrap(small_cnn(), seeds_per_layer=2)
    with pytest.raises(RuntimeError, match="call measure"):
        model.topology("cnn")
    model.measure(torch.zeros(3, 16))
    topology = model.topology("cnn")
    assert [(l.layer_id, l.layer_type, l.input_shape, l.output_shape, l.parameter_count, l.seed_slots)
            for l in topology.layers] == [
        (0, "Conv2d", [1, 4, 4], [2, 4, 4], 20, 2),
        (1, "Linear", [32], [8], 264, 2),
        (2, "Linear", [8], [4], 36, 2),
    ]


def test_a_wrapped_layer_the_forward_pass_skips_is_reported():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x):
            return self.used(x)

    model = wrap(TwoHeads())
    with pytest.raises(ValueError, match="never calls wrapped layer"):
        model.measure(torch.zeros(1, 4))


def test_unknown_layer_and_slot_are_named():
    model = wrap(small_cnn(), seeds_per_layer=2)
    with pytest.raises(KeyError, match="no layer 3: layer ids are 0..2"):
        model.slot(3, 0)
    with pytest.raises(KeyError, match="no slot 2 in layer 1"):
        model.slot(1, 2)
