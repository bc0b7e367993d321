from __future__ import annotations

import pytest

from esper.karn import CATALOGUE, BlueprintError, Layout, ShapeNotSupported, get_kind

SUCCESSOR_KINDS = {"norm", "attention", "depthwise", "bottleneck", "conv_small", "conv_light",
                   "conv_heavy", "lora", "lora_large", "mlp_small", "mlp"}


def test_the_catalogue_has_the_successor_kinds_and_a_linear_adapter_for_mlp_hosts():
    assert set(CATALOGUE) == SUCCESSOR_KINDS | {"linear_adapter"}
    assert set(CATALOGUE["linear_adapter"].forms) == {Layout.FEATURES}


def test_every_layout_has_kinds_that_apply_to_it():
    for layout in Layout:
        assert [name for name, kind in CATALOGUE.items() if layout in kind.forms]


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(BlueprintError, match="unknown blueprint kind 'noop'.*lora"):
        get_kind("noop")


@pytest.mark.parametrize("kind, input_shape, output_shape", [
    ("conv_light", [3, 32, 32], [16, 32, 32]),
    ("norm", [64, 8, 8], [64, 8, 8]),
    ("attention", [64, 8, 8], [64, 8, 8]),
    ("attention", [16, 32], [16, 48]),
    ("lora", [784], [256]),
    ("mlp", [10, 64], [10, 32]),
])
def test_kinds_apply_to_their_layouts(kind, input_shape, output_shape):
    definition = get_kind(kind)
    params = definition.check_params({})

    assert definition.check_shapes(input_shape, output_shape, params) in definition.forms


@pytest.mark.parametrize("kind, params, input_shape, output_shape, message", [
    ("lora", {}, [8, 4, 4], [8, 4, 4], "lora applies to sequence .* features .*, not to conv"),
    ("depthwise", {}, [16], [16], "depthwise applies to conv"),
    ("conv_small", {}, [8, 4, 4], [8, 2, 2], "only the feature dimension may change"),
    ("mlp", {}, [10, 64], [12, 64], "only the feature dimension may change"),
    ("norm", {}, [8, 4, 4], [16, 4, 4], "norm keeps the width"),
    ("attention", {}, [8, 4, 4], [16, 4, 4], "attention keeps the width"),
    ("attention", {"heads": 3}, [10, 16], [10, 16], "3 heads do not divide the width 16"),
    ("conv_light", {"kernel_size": 4}, [8, 4, 4], [8, 4, 4], "kernel_size must be odd"),
    ("mlp", {}, [4, 4], [4], "ranks differ"),
    ("mlp", {}, [1, 2, 3, 4], [1, 2, 3, 4], "rank 4"),
])
def test_impossible_shapes_are_refused_with_the_reason(kind, params, input_shape, output_shape,
                                                       message):
    definition = get_kind(kind)

    with pytest.raises(ShapeNotSupported, match=message):
        definition.check_shapes(input_shape, output_shape, definition.check_params(params))
