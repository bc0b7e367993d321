"""Where kernels come from, and the checks a kernel passes before it enters a slot."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from esper.kasmina.layers import MorphableLayer

PROBE_BATCH = 2


class KernelSource(Protocol):
    """Loads a kernel by id as a ready-to-run module, its bytes checksum verified first.

    ``esper.artifacts.ArtifactStore`` is one; any failure (unknown id, checksum mismatch,
    bytes that are not a kernel) is raised, and Kasmina turns it into a culled seed.
    """

    def load_kernel(self, kernel_id: str) -> nn.Module: ...


class KernelLoadError(Exception):
    """A kernel that could not be loaded into a slot; the message says why."""


def load_for(layer: MorphableLayer, kernels: KernelSource, kernel_id: str) -> nn.Module:
    """Kernel ``kernel_id``, loaded, on ``layer``'s device and dtype, checked to fit it.

    A kernel fits when, fed a batch shaped like the layer's input, it returns finite values
    shaped like the layer's output.
    """
    try:
        kernel = kernels.load_kernel(kernel_id)
    except Exception as error:  # whatever the store or deserializer raised, the seed is lost
        raise KernelLoadError(f"kernel {kernel_id} did not load: {type(error).__name__}: {error}") from error
    if not isinstance(kernel, nn.Module):
        raise KernelLoadError(f"kernel {kernel_id} loaded as a {type(kernel).__name__}, not a torch module")
    if layer.input_shape is None or layer.output_shape is None:
        raise KernelLoadError(f"layer {layer.layer_id} has not been measured, so no kernel can be checked against it")
    reference = layer.weight
    kernel = kernel.to(device=reference.device, dtype=reference.dtype).eval()  # the probe updates no statistics
    probe = torch.zeros((PROBE_BATCH, *layer.input_shape), device=reference.device, dtype=reference.dtype)
    try:
        with torch.no_grad():
            output = kernel(probe)
    except Exception as error:
        raise KernelLoadError(f"kernel {kernel_id} fails on a {tuple(probe.shape)} input: "
                              f"{type(error).__name__}: {error}") from error
    expected = (PROBE_BATCH, *layer.output_shape)
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise KernelLoadError(f"kernel {kernel_id} returns {got} for a {tuple(probe.shape)} input; "
                              f"layer {layer.layer_id} ({layer.name}) needs {expected}")
    if not torch.isfinite(output).all():
        raise KernelLoadError(f"kernel {kernel_id} returns non-finite values")
    return kernel.train(layer.training)
