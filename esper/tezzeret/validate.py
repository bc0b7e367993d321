"""Validation: the artifact, loaded back, must be the module it was built from.

The checks, on seeded sample inputs at batch sizes 1 and 3: the loaded kernel has the same
parameter count as the eager module, gives outputs of the declared shape, finite, equal to the
eager module's within float tolerance, and every parameter receives a finite gradient (a seed
trains its kernel while it grows).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SAMPLE_BATCHES = (1, 3)
RTOL, ATOL = 1e-4, 1e-5


class ValidationFailed(Exception):
    """The loaded artifact does not behave like the module it was exported from."""


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def validate(loaded: nn.Module, eager: nn.Module, input_shape: Sequence[int],
             output_shape: Sequence[int], seed: int = 0) -> dict[str, float | int | bool]:
    """Check ``loaded`` against ``eager``; return the figures, or raise ValidationFailed."""
    expected, actual = parameter_count(eager), parameter_count(loaded)
    if actual != expected:
        raise ValidationFailed(f"the artifact has {actual} parameters, the module {expected}")
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch in SAMPLE_BATCHES:
        x = torch.randn(batch, *input_shape, generator=generator)
        with torch.no_grad():
            reference = eager(x)
        y = loaded(x)
        if tuple(y.shape) != (batch, *output_shape):
            raise ValidationFailed(f"batch {batch}: output shape {list(y.shape)}, expected "
                                   f"{[batch, *output_shape]}")
        if not torch.isfinite(y).all():
            raise ValidationFailed(f"batch {batch}: the output has NaN or infinite values")
        difference = (y - reference).abs().max().item()
        if not torch.allclose(y, reference, rtol=RTOL, atol=ATOL):
            raise ValidationFailed(f"batch {batch}: the artifact's output differs from the "
                                   f"module's by up to {difference:.3g}")
        worst = max(worst, difference)
        _check_gradients(loaded, y, batch)
    return {"max_abs_difference": worst, "sample_batches": len(SAMPLE_BATCHES),
            "trainable": True}


def _check_gradients(loaded: nn.Module, output: torch.Tensor, batch: int) -> None:
    loaded.zero_grad(set_to_none=True)
    output.square().mean().backward()
    for name, parameter in loaded.named_parameters():
        if parameter.grad is None or not torch.isfinite(parameter.grad).all():
            raise ValidationFailed(f"batch {batch}: parameter {name} gets no finite gradient")
    loaded.zero_grad(set_to_none=True)
