from __future__ import annotations

import pytest
import torch

from esper.contracts import BlueprintState, KernelStatus
from esper.karn import BlueprintIR
from esper.tezzeret import compiler as compiler_module
from esper.tezzeret.compiler import CompilationError, Compiler, KernelRequest
from tests.tezzeret.shapes import KIND_LAYOUT_IDS, KIND_LAYOUTS, shapes_for


def _artifacts(store) -> list[str]:
    folder = store.root / "sha256"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("kind, layout", KIND_LAYOUTS, ids=KIND_LAYOUT_IDS)
def test_every_kind_compiles_loads_back_and_matches_its_eager_module(kind, layout, compiler,
                                                                     store):
    input_shape, output_shape = shapes_for(kind, layout)
    request = KernelRequest.of(BlueprintIR.of(kind.name), input_shape, output_shape)

    compiled = compiler.compile(request)

    kernel = compiled.kernel
    assert not compiled.reused
    assert kernel.kernel_id == request.kernel_id
    assert kernel.status == KernelStatus.VALIDATED
    assert kernel.metadata.input_shape == input_shape
    assert kernel.metadata.output_shape == output_shape
    assert kernel.metadata.compilation_target == "torch.export"
    assert _artifacts(store) == [kernel.metadata.checksum]
    eager = compiler_module.modules.build_module(request.ir, input_shape, output_shape)
    assert kernel.metadata.parameter_count == sum(p.numel() for p in eager.parameters()) > 0
    loaded = store.load_kernel(kernel.kernel_id)
    x = torch.randn(4, *input_shape)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), eager(x), rtol=1e-4, atol=1e-5)
    profile = compiled.profile
    assert 0 < profile.latency_p50_ms <= profile.latency_p95_ms
    assert kernel.metadata.performance_profile["latency_p95_ms"] == profile.latency_p95_ms
    assert kernel.metadata.memory_footprint_mb >= 4 * kernel.metadata.parameter_count / 2**20


def test_a_repeated_request_reuses_the_kernel_one_artifact_one_compile(compiler, store,
                                                                       monkeypatch):
    request = KernelRequest.of(BlueprintIR.of("lora"), [32], [32])
    first = compiler.compile(request)
    exports = []
    monkeypatch.setattr(compiler_module.export, "export_artifact",
                        lambda *args: exports.append(args))

    again = compiler.compile(request)
    from_another_process = Compiler(store).compile(request)

    assert not first.reused and again.reused and from_another_process.reused
    assert again.kernel == from_another_process.kernel == first.kernel
    assert exports == []
    assert _artifacts(store) == [first.kernel.metadata.checksum]


def test_a_kernel_whose_artifact_vanished_is_built_again(compiler, store):
    request = KernelRequest.of(BlueprintIR.of("norm"), [16], [16])
    first = compiler.compile(request)
    (store.root / "sha256" / first.kernel.metadata.checksum).unlink()

    again = compiler.compile(request)

    assert not again.reused
    assert store.get(again.kernel.metadata.checksum)


def test_the_kernel_id_is_a_hash_of_blueprint_content_shapes_and_compiler_version(monkeypatch):
    base = KernelRequest.of(BlueprintIR.of("lora"), [32], [32])

    assert KernelRequest.of(BlueprintIR.of("lora", {"rank": 8}), [32], [32]).kernel_id \
        == base.kernel_id
    variants = [
        KernelRequest.of(BlueprintIR.of("lora", {"rank": 4}), [32], [32]),
        KernelRequest.of(BlueprintIR.of("lora", seed=1), [32], [32]),
        KernelRequest.of(BlueprintIR.of("lora"), [32], [16]),
        KernelRequest.of(BlueprintIR.of("lora"), [4, 32], [4, 32]),
    ]
    assert len({base.kernel_id, *(v.kernel_id for v in variants)}) == 5
    before = base.kernel_id
    monkeypatch.setattr(compiler_module, "COMPILER_VERSION", "tezzeret-2/torch-x")
    assert base.kernel_id != before


def test_a_shape_the_kind_cannot_map_fails_before_compiling(compiler, store):
    request = KernelRequest.of(BlueprintIR.of("norm"), [8, 6, 6], [12, 6, 6])

    with pytest.raises(CompilationError) as failure:
        compiler.compile(request)

    assert failure.value.stage == BlueprintState.PROPOSED
    assert failure.value.error_type == "ShapeNotSupported"
    assert "keeps the width" in failure.value.message
    assert _artifacts(store) == []


def test_a_kernel_over_the_parameter_limit_fails_while_compiling(compiler, monkeypatch):
    monkeypatch.setattr(compiler_module, "MAX_PARAMETERS", 1000)

    with pytest.raises(CompilationError) as failure:
        compiler.compile(KernelRequest.of(BlueprintIR.of("mlp"), [64], [64]))

    assert failure.value.stage == BlueprintState.COMPILING
    assert failure.value.error_type == "TooManyParameters"
    assert "33,088 parameters" in failure.value.message


def test_an_artifact_that_loads_as_something_else_fails_validation(compiler, monkeypatch, store):
    monkeypatch.setattr(compiler_module.export, "module_from_artifact",
                        lambda data: torch.nn.Linear(16, 16))

    with pytest.raises(CompilationError) as failure:
        compiler.compile(KernelRequest.of(BlueprintIR.of("linear_adapter"), [16], [16]))

    assert failure.value.stage == BlueprintState.VALIDATING
    assert failure.value.error_type == "ValidationFailed"
    assert "differs" in failure.value.message
    assert store.find_kernel(
        KernelRequest.of(BlueprintIR.of("linear_adapter"), [16], [16]).kernel_id) is None
