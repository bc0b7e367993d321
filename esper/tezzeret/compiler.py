"""The compiler: a kernel request becomes a stored, validated, characterized kernel, once.

A request is a blueprint IR and the input and output shapes of the layer it will run beside.
Its kernel id hashes the blueprint's content, the shapes and the compiler version, so the
artifact store, looked up by kernel id before any work, is the cache: a request that was
compiled before, by this process or any other sharing the store, is never compiled again.

Stages, in the order the blueprint lifecycle records them:

| stage      | work                                                      | failure means      |
|------------|-----------------------------------------------------------|--------------------|
| proposed   | check the request: the kind applies to these shapes       | a bad request      |
| compiling  | build the module, seeded; export it; check its size       | cannot be built    |
| validating | load the artifact back; compare with the module; measure  | artifact is wrong  |
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence

import torch

from esper.artifacts import ArtifactStore, CorruptKernelRecord
from esper.contracts import BlueprintState, CompiledKernel, KernelMetadata
from esper.karn import BlueprintIR, ShapeNotSupported
from esper.tezzeret import export, modules
from esper.tezzeret.characterize import BUDGET_S, Profile, characterize
from esper.tezzeret.validate import ValidationFailed, parameter_count, validate

log = logging.getLogger(__name__)

# Bump when a change here or in the modules changes what a request compiles to. The torch
# version is part of it because the archive format is torch's.
COMPILER_VERSION = f"tezzeret-1/torch-{torch.__version__}"

# Upstream Kasmina refuses kernels above this many parameters.
MAX_PARAMETERS = 10_000_000


@dataclasses.dataclass(frozen=True)
class KernelRequest:
    """Compile ``ir`` for a layer taking ``input_shape`` to ``output_shape`` (no batch dim)."""

    ir: BlueprintIR
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @classmethod
    def of(cls, ir: BlueprintIR, input_shape: Sequence[int],
           output_shape: Sequence[int]) -> KernelRequest:
        return cls(ir, tuple(input_shape), tuple(output_shape))

    @property
    def kernel_id(self) -> str:
        key = {"blueprint": self.ir.content_hash, "input_shape": list(self.input_shape),
               "output_shape": list(self.output_shape), "compiler": COMPILER_VERSION}
        text = json.dumps(key, sort_keys=True, separators=(",", ":"))
        return f"kernel-{hashlib.sha256(text.encode()).hexdigest()[:32]}"

    def describe(self) -> str:
        return f"{self.ir.label()} {list(self.input_shape)} -> {list(self.output_shape)}"


class CompilationError(Exception):
    """A request that did not become a kernel: the stage it failed in and why."""

    def __init__(self, stage: BlueprintState, error_type: str, message: str):
        super().__init__(message)
        self.stage = BlueprintState(stage)
        self.error_type = error_type
        self.message = message


@dataclasses.dataclass(frozen=True)
class Compiled:
    """A kernel ready to load: built now (with its profile) or found in the store (reused)."""

    kernel: CompiledKernel
    reused: bool
    profile: Profile | None = None


class Compiler:
    """Compiles kernel requests into ``store``, reusing what the store already holds.

    ``timing_budget_s`` bounds the latency measurement of each new kernel."""

    def __init__(self, store: ArtifactStore, timing_budget_s: float = BUDGET_S):
        self.store = store
        self.timing_budget_s = timing_budget_s

    def find(self, request: KernelRequest) -> CompiledKernel | None:
        """The stored kernel for ``request``, if one is complete in the store."""
        try:
            kernel = self.store.find_kernel(request.kernel_id)
        except CorruptKernelRecord as error:
            log.warning("rebuilding over a damaged record: %s", error)
            return None
        if kernel is None or not self.store.has(kernel.metadata.checksum):
            return None
        return kernel

    def compile(self, request: KernelRequest) -> Compiled:
        """The kernel for ``request``; raises CompilationError naming the failed stage."""
        found = self.find(request)
        if found is not None:
            return Compiled(found, reused=True)
        try:
            request.ir.definition.check_shapes(request.input_shape, request.output_shape,
                                               request.ir.params)
        except ShapeNotSupported as error:
            raise CompilationError(BlueprintState.PROPOSED, "ShapeNotSupported", str(error))
        log.info("compiling %s as %s", request.describe(), request.kernel_id)
        module, artifact = self._build(request)
        results, profile = self._validate(request, module, artifact)
        kernel = self.store.save_kernel(self._metadata(request, profile), artifact,
                                        validation_results=results)
        log.info("stored %s at %s", request.kernel_id, kernel.binary_ref)
        return Compiled(kernel, reused=False, profile=profile)

    def _build(self, request: KernelRequest) -> tuple[torch.nn.Module, bytes]:
        try:
            module = modules.build_module(request.ir, request.input_shape, request.output_shape)
            count = parameter_count(module)
            if count > MAX_PARAMETERS:
                raise CompilationError(BlueprintState.COMPILING, "TooManyParameters",
                                       f"{request.describe()} has {count:,} parameters; "
                                       f"kernels may have at most {MAX_PARAMETERS:,}")
            return module, export.export_artifact(module, request.input_shape)
        except CompilationError:
            raise
        except Exception as error:  # torch reports export failures under many classes
            raise CompilationError(BlueprintState.COMPILING, type(error).__name__,
                                   f"{request.describe()}: {error}") from error

    def _validate(self, request: KernelRequest, module: torch.nn.Module, artifact: bytes):
        try:
            loaded = export.module_from_artifact(artifact)
            results = validate(loaded, module, request.input_shape, request.output_shape)
            return results, characterize(loaded, request.input_shape,
                                         budget_s=self.timing_budget_s)
        except ValidationFailed as error:
            raise CompilationError(BlueprintState.VALIDATING, "ValidationFailed",
                                   f"{request.describe()}: {error}") from error
        except Exception as error:
            raise CompilationError(BlueprintState.VALIDATING, type(error).__name__,
                                   f"{request.describe()}: {error}") from error

    def _metadata(self, request: KernelRequest, profile: Profile) -> KernelMetadata:
        return KernelMetadata(
            kernel_id=request.kernel_id, blueprint_id=request.ir.blueprint_id,
            name=request.describe()[:255], input_shape=list(request.input_shape),
            output_shape=list(request.output_shape), parameter_count=profile.parameters,
            memory_footprint_mb=profile.memory_mb, compilation_target=export.FORMAT,
            optimization_flags={"dynamic_batch": True, "compiler": COMPILER_VERSION},
            performance_profile=profile.metrics(),
            compatibility_version=torch.__version__.split("+")[0])
