"""The kernel artifact format: a ``torch.export`` program archive (``.pt2``) with a dynamic batch.

``export_artifact`` writes it and ``module_from_artifact`` reads it back as an ordinary
``nn.Module`` whose parameters train. The archive holds the traced graph of ATen operators and
the weights, no Python code; its shape guards refuse an input whose non-batch dimensions
differ from the ones it was compiled for.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import torch
from torch import nn
from torch.export import Dim

FORMAT = "torch.export"

# An exported graph runs in the mode it was traced in, so modules whose train and eval
# behaviour differ cannot be exported faithfully; Kasmina trains kernels and evaluates hosts.
_MODE_DEPENDENT = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)

# torch.export specializes dimensions of size 0 and 1, so the example batch is 2; the batch
# dimension itself is dynamic from 1 up.
_EXAMPLE_BATCH = 2
_BATCH = Dim("batch", min=1)


class ExportRefused(ValueError):
    """A module that cannot become an artifact; the message says which part and why."""


def export_artifact(module: nn.Module, input_shape: Sequence[int]) -> bytes:
    """``module`` as artifact bytes, for inputs of shape ``(batch, *input_shape)``."""
    for name, child in module.named_modules():
        if isinstance(child, _MODE_DEPENDENT):
            raise ExportRefused(f"{name or 'the module'} is a {type(child).__name__}, which "
                                "behaves differently in training and evaluation")
    example = torch.zeros(_EXAMPLE_BATCH, *input_shape)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: _BATCH},))
    # The archive would otherwise carry the example input: megabytes for a large feature map.
    program.example_inputs = None
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def module_from_artifact(data: bytes) -> nn.Module:
    """The kernel in ``data`` as a module that runs, trains, and follows ``train()``/``eval()``."""
    module = torch.export.load(io.BytesIO(data)).module()
    # ExportedProgram.module() makes train() and eval() raise, because a graph fixes one mode.
    # Our artifacts contain no mode-dependent module (export_artifact refuses them), so the
    # mode switch is harmless, and a host's train()/eval() must be able to reach its kernels.
    for method in ("train", "eval"):
        vars(module).pop(method, None)
    return module
