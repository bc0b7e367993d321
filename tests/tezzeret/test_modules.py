from __future__ import annotations

import pytest
import torch

from esper.karn import CATALOGUE, BlueprintIR, ShapeNotSupported
from esper.tezzeret.modules import BUILDERS, build_module
from tests.tezzeret.shapes import KIND_LAYOUT_IDS, KIND_LAYOUTS, shapes_for


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_every_catalogue_kind_has_a_builder():
    assert set(BUILDERS) == set(CATALOGUE)


@pytest.mark.parametrize("kind, layout", KIND_LAYOUTS, ids=KIND_LAYOUT_IDS)
def test_every_kind_maps_its_input_shape_to_its_output_shape(kind, layout):
    input_shape, output_shape = shapes_for(kind, layout)
    module = build_module(BlueprintIR.of(kind.name), input_shape, output_shape)

    assert module(torch.randn(3, *input_shape)).shape == (3, *output_shape)


def test_weights_depend_only_on_the_blueprint_and_leave_the_global_generator_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)

    first = build_module(BlueprintIR.of("conv_light"), [4, 5, 5], [6, 5, 5])
    second = build_module(BlueprintIR.of("conv_light"), [4, 5, 5], [6, 5, 5])

    assert torch.rand(1) == expected_next
    for a, b in zip(_weights(first), _weights(second), strict=True):
        assert torch.equal(a, b)


def test_another_seed_or_parameter_gives_other_weights():
    base = _weights(build_module(BlueprintIR.of("lora"), [16], [16]))
    reseeded = _weights(build_module(BlueprintIR.of("lora", seed=1), [16], [16]))

    assert not torch.equal(base[0], reseeded[0])


def test_group_norm_uses_the_largest_group_count_that_divides_the_channels():
    module = build_module(BlueprintIR.of("norm", {"max_groups": 4}), [6, 3, 3], [6, 3, 3])

    assert module.num_groups == 3


def test_causal_attention_ignores_later_tokens():
    module = build_module(BlueprintIR.of("attention"), [4, 8], [4, 8])
    x = torch.randn(1, 4, 8)
    changed_last = x.clone()
    changed_last[0, -1] += 1.0

    with torch.no_grad():
        torch.testing.assert_close(module(x)[0, :-1], module(changed_last)[0, :-1])


def test_a_shape_the_kind_cannot_map_is_refused_before_building():
    with pytest.raises(ShapeNotSupported, match="lora applies to sequence"):
        build_module(BlueprintIR.of("lora"), [8, 6, 6], [8, 6, 6])
