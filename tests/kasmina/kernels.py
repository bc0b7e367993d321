"""Kernels for tests, stored the way Tezzeret stores them: compiled from Karn's catalogue, or
exported from a module of our own when a test needs a kernel with a known effect."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from esper.artifacts import ArtifactStore
from esper.contracts import CompiledKernel, KernelMetadata
from esper.karn import BlueprintIR
from esper.tezzeret.compiler import Compiler, KernelRequest
from esper.tezzeret.export import FORMAT, export_artifact


def compiled(store: ArtifactStore, kind: str, input_shape: Sequence[int],
             output_shape: Sequence[int]) -> CompiledKernel:
    """A catalogue blueprint compiled by Tezzeret for a layer of these shapes."""
    request = KernelRequest.of(BlueprintIR.of(kind), input_shape, output_shape)
    return Compiler(store).compile(request).kernel


class Scrambler(nn.Module):
    """Adds a large fixed random projection. Having no parameters, it cannot learn to stop
    hurting: a seed running it lowers accuracy for as long as its alpha is above 0."""

    def __init__(self, d_in: int, d_out: int, scale: float = 10.0):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("projection", torch.randn(d_in, d_out, generator=generator) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.projection


def exported(store: ArtifactStore, module: nn.Module, kernel_id: str, input_shape: Sequence[int],
             output_shape: Sequence[int]) -> CompiledKernel:
    """``module`` stored as kernel ``kernel_id``, in Tezzeret's artifact format."""
    metadata = KernelMetadata(
        kernel_id=kernel_id, blueprint_id=f"bp-{kernel_id}", name=kernel_id,
        input_shape=list(input_shape), output_shape=list(output_shape),
        parameter_count=sum(p.numel() for p in module.parameters()),
        memory_footprint_mb=0.0, compilation_target=FORMAT,
    )
    return store.save_kernel(metadata, export_artifact(module, input_shape))


def corrupt(store: ArtifactStore, kernel: CompiledKernel) -> None:
    """Flip one byte of the kernel's artifact where it lies in a local store."""
    path = store.root / "sha256" / kernel.metadata.checksum
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
