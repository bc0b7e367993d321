from __future__ import annotations

import copy

import pytest
import torch

from esper.tezzeret.validate import ValidationFailed, validate


class Scaled(torch.nn.Module):
    def __init__(self, linear: torch.nn.Linear, factor: float):
        super().__init__()
        self.linear = copy.deepcopy(linear)
        self.factor = factor

    def forward(self, x):
        return self.linear(x) * self.factor


class WithUnusedParameter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.spare = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.linear(x)


def test_a_faithful_copy_passes_with_its_figures():
    module = torch.nn.Linear(4, 4)

    results = validate(copy.deepcopy(module), module, [4], [4])

    assert results == {"max_abs_difference": 0.0, "sample_batches": 2, "trainable": True}


def _wrong_shape():
    return torch.nn.Linear(4, 4), torch.nn.Linear(4, 5, bias=False)  # both 20 parameters


def _parameter_count():
    return torch.nn.Linear(4, 4), torch.nn.Linear(4, 3)


def _non_finite():
    eager = torch.nn.Linear(4, 4)
    return eager, Scaled(eager, float("nan"))


def _different_output():
    eager = torch.nn.Linear(4, 4)
    return eager, Scaled(eager, 2.0)


def _untrainable():
    eager = WithUnusedParameter()
    return eager, copy.deepcopy(eager)


@pytest.mark.parametrize("pair, message", [
    (_wrong_shape, r"output shape \[1, 5\], expected \[1, 4\]"),
    (_parameter_count, "15 parameters, the module 20"),
    (_non_finite, "NaN or infinite"),
    (_different_output, "differs from the module's by up to"),
    (_untrainable, "spare gets no finite gradient"),
], ids=lambda case: getattr(case, "__name__", "")[1:])
def test_a_loaded_module_that_is_not_the_eager_one_fails(pair, message):
    eager, loaded = pair()

    with pytest.raises(ValidationFailed, match=message):
        validate(loaded, eager, [4], [4])
