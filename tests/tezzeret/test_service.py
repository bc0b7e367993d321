from __future__ import annotations

from esper.contracts import (
    AdaptationType,
    BlueprintStateChanged,
    CompilationFailed,
    KasminaCommand,
    KasminaControlCommand,
    KernelCharacterized,
    KernelReady,
)
from esper.karn import BlueprintIR
from esper.tezzeret.books import BlueprintBook, RunBook
from esper.tezzeret.compiler import COMPILER_VERSION, KernelRequest
from esper.tezzeret.service import Tezzeret
from tests.tezzeret.events import decision, new_run_id, run_started, submitted


def _types(events) -> list[str]:
    return [type(e).__name__ for e in events]


def _states(events) -> list[tuple[str, str]]:
    return [(e.from_state, e.to_state) for e in events if isinstance(e, BlueprintStateChanged)]


def _tezzeret_with_run(compiler):
    tezzeret, run_id = Tezzeret(compiler), new_run_id()
    assert tezzeret.handle(run_started(run_id)) == []
    return tezzeret, run_id


def test_a_decision_compiles_the_blueprint_for_the_layer_and_germinates_the_slot(compiler):
    tezzeret, run_id = _tezzeret_with_run(compiler)
    cause = decision(run_id, layer_id=1, blueprint_id="conv_light", slot=1)

    events = tezzeret.handle(cause)

    assert _types(events) == ["BlueprintStateChanged"] * 3 + [
        "KernelCharacterized", "KernelReady", "KasminaControlCommand"]
    assert _states(events) == [("proposed", "compiling"), ("compiling", "validating"),
                               ("validating", "characterized")]
    *_, characterized, ready, command = events
    ir = BlueprintIR.of("conv_light")
    kernel_id = KernelRequest.of(ir, [8, 8, 8], [8, 8, 8]).kernel_id
    assert ready.kernel.kernel_id == characterized.kernel_id == kernel_id
    assert ready.kernel.blueprint_id == ir.blueprint_id
    assert ready.decision_id == cause.decision_id and not ready.reused
    assert (command.command, command.layer_id, command.slot_index) == (
        KasminaCommand.GERMINATE, 1, 1)
    assert (command.kernel_id, command.blueprint_id, command.decision_id) == (
        kernel_id, ir.blueprint_id, cause.decision_id)
    assert command.meta.run_id == run_id
    assert all(e.meta.causation_id == cause.meta.event_id for e in events[:-1])
    assert command.meta.causation_id == ready.meta.event_id
    assert {e.meta.correlation_id for e in events} == {cause.meta.correlation_id}


def test_a_repeated_decision_reuses_the_kernel_and_emits_only_ready_and_command(compiler):
    tezzeret, run_id = _tezzeret_with_run(compiler)
    first = tezzeret.handle(decision(run_id, 2, "lora"))

    again = tezzeret.handle(decision(run_id, 2, "lora", slot=1))

    assert _types(again) == ["KernelReady", "KasminaControlCommand"]
    assert again[0].reused
    assert again[0].kernel == first[-2].kernel


def test_a_decision_may_name_a_kind_or_the_content_id_of_any_blueprint_it_knows(compiler):
    tezzeret, run_id = _tezzeret_with_run(compiler)
    custom = BlueprintIR.of("lora", {"rank": 2}, seed=5)
    tezzeret.handle(submitted(custom.blueprint()))

    by_default_id = tezzeret.handle(decision(run_id, 2, BlueprintIR.of("mlp").blueprint_id))
    by_submitted_id = tezzeret.handle(decision(run_id, 2, custom.blueprint_id))

    assert by_default_id[-2].kernel.blueprint_id == BlueprintIR.of("mlp").blueprint_id
    assert by_submitted_id[-2].kernel.blueprint_id == custom.blueprint_id
    assert by_submitted_id[-2].kernel.metadata.parameter_count == 128 * 2 + 2 * 10


def test_a_malformed_submission_fails_with_the_reason(compiler):
    blueprint = BlueprintIR.of("lora").blueprint()
    blueprint.architecture.layers[0].params["rank"] = -3
    event = submitted(blueprint)

    failed = Tezzeret(compiler).handle(event)

    assert _types(failed) == ["BlueprintStateChanged", "CompilationFailed"]
    assert _states(failed) == [("proposed", "failed")]
    assert failed[1].error_type == "BlueprintError"
    assert "rank must be >= 1, got -3" in failed[1].message
    assert failed[1].compiler_version == COMPILER_VERSION
    assert failed[1].meta.causation_id == event.meta.event_id


def test_a_submission_whose_id_is_not_its_content_id_fails(compiler):
    blueprint = BlueprintIR.of("lora").blueprint()
    blueprint.blueprint_id = "my-lora"

    failed = Tezzeret(compiler).handle(submitted(blueprint))

    assert "'my-lora' is not the content id" in failed[-1].message


def test_a_submission_without_target_shapes_makes_its_design_known_and_emits_nothing(compiler):
    tezzeret = Tezzeret(compiler)
    ir = BlueprintIR.of("mlp_small", {"expansion": 3})

    assert tezzeret.handle(submitted(ir.blueprint())) == []
    assert tezzeret.blueprints.resolve(ir.blueprint_id) == ir


def test_a_submission_precompiles_each_target_shape_without_a_decision(compiler):
    ir = BlueprintIR.of("mlp_small", {"expansion": 3})
    event = submitted(ir.blueprint(), [([128], [10]), ([5, 16], [5, 24])])

    events = Tezzeret(compiler).handle(event)

    one_kernel = ["BlueprintStateChanged"] * 3 + ["KernelCharacterized", "KernelReady"]
    assert _types(events) == one_kernel * 2
    assert _states(events) == [("proposed", "compiling"), ("compiling", "validating"),
                               ("validating", "characterized")] * 2
    ready = [e for e in events if isinstance(e, KernelReady)]
    assert [r.kernel.kernel_id for r in ready] == [
        KernelRequest.of(ir, [128], [10]).kernel_id,
        KernelRequest.of(ir, [5, 16], [5, 24]).kernel_id]
    assert [(r.kernel.metadata.input_shape, r.kernel.metadata.output_shape) for r in ready] == [
        ([128], [10]), ([5, 16], [5, 24])]
    assert all(r.decision_id is None and not r.reused for r in ready)
    assert all(e.meta.causation_id == event.meta.event_id for e in events)
    assert {e.meta.correlation_id for e in events} == {event.meta.correlation_id}


def test_a_precompiled_kernel_is_a_cache_hit_for_a_later_decision(compiler):
    tezzeret, run_id = _tezzeret_with_run(compiler)
    ir = BlueprintIR.of("lora", {"rank": 3})
    [*_, precompiled] = tezzeret.handle(submitted(ir.blueprint(), [([128], [10])]))

    events = tezzeret.handle(decision(run_id, 2, ir.blueprint_id))  # fc: [128] -> [10]

    assert _types(events) == ["KernelReady", "KasminaControlCommand"]
    assert events[0].reused and events[0].kernel == precompiled.kernel
    assert events[1].kernel_id == precompiled.kernel.kernel_id


def test_a_resubmission_reuses_the_stored_kernels(compiler):
    ir = BlueprintIR.of("conv_light")
    Tezzeret(compiler).handle(submitted(ir.blueprint(), [([8, 8, 8], [8, 8, 8])]))

    again = Tezzeret(compiler).handle(submitted(ir.blueprint(), [([8, 8, 8], [8, 8, 8])]))

    assert _types(again) == ["KernelReady"] and again[0].reused
    assert again[0].decision_id is None


def test_an_impossible_target_shape_fails_and_the_others_are_still_built(compiler):
    ir = BlueprintIR.of("norm")
    event = submitted(ir.blueprint(), [([3, 8, 8], [8, 8, 8]), ([8, 8, 8], [8, 8, 8])])

    events = Tezzeret(compiler).handle(event)

    assert _types(events) == ["BlueprintStateChanged", "CompilationFailed"] + \
        ["BlueprintStateChanged"] * 3 + ["KernelCharacterized", "KernelReady"]
    failed = events[1]
    assert events[0].kernel_id == KernelRequest.of(ir, [3, 8, 8], [8, 8, 8]).kernel_id
    assert (events[0].from_state, events[0].to_state) == ("proposed", "failed")
    assert failed.error_type == "ShapeNotSupported" and "keeps the width" in failed.message
    assert failed.decision_id is None and failed.meta.causation_id == event.meta.event_id
    assert events[-1].kernel.metadata.input_shape == [8, 8, 8]


def test_an_impossible_shape_fails_the_decision_with_the_reason(compiler):
    tezzeret, run_id = _tezzeret_with_run(compiler)
    cause = decision(run_id, 0, "norm")  # conv1 takes 3 channels to 8: a norm cannot

    events = tezzeret.handle(cause)

    assert _types(events) == ["BlueprintStateChanged", "CompilationFailed"]
    assert _states(events) == [("proposed", "failed")]
    assert events[0].kernel_id == KernelRequest.of(BlueprintIR.of("norm"), [3, 8, 8],
                                                   [8, 8, 8]).kernel_id
    assert events[1].error_type == "ShapeNotSupported"
    assert events[1].decision_id == cause.decision_id
    assert "keeps the width" in events[1].message


def test_a_build_failure_records_the_stage_reached(compiler, monkeypatch):
    from esper.tezzeret import compiler as compiler_module

    monkeypatch.setattr(compiler_module, "MAX_PARAMETERS", 10)
    tezzeret, run_id = _tezzeret_with_run(compiler)

    events = tezzeret.handle(decision(run_id, 2, "mlp"))

    assert _states(events) == [("proposed", "compiling"), ("compiling", "failed")]
    assert events[-1].error_type == "TooManyParameters"


def test_unknown_blueprints_runs_and_layers_fail_the_decision(compiler):
    tezzeret, run_id = _tezzeret_with_run(compiler)

    cases = {
        "UnknownBlueprint": decision(run_id, 1, "no-such-blueprint"),
        "UnknownRun": decision(new_run_id(), 1, "lora"),
        "UnknownLayer": decision(run_id, 9, "lora"),
    }

    for error_type, cause in cases.items():
        events = tezzeret.handle(cause)
        assert _types(events) == ["CompilationFailed"], error_type
        assert events[0].error_type == error_type
        assert events[0].decision_id == cause.decision_id


def test_decisions_that_grow_nothing_are_not_tezzeret_s(compiler):
    tezzeret, run_id = _tezzeret_with_run(compiler)

    assert tezzeret.handle(decision(run_id, 1, "lora", adaptation=AdaptationType.REMOVE_SEED)) \
        == []


def test_what_the_books_have_not_seen_is_looked_up_once(compiler):
    run_id, ir = new_run_id(), BlueprintIR.of("linear_adapter", {"bias": False})
    asked = []

    def topology(run):
        asked.append(run)
        return run_started(run_id).topology if run == run_id else None

    def design(blueprint_id):
        asked.append(blueprint_id)
        return ir if blueprint_id == ir.blueprint_id else None

    tezzeret = Tezzeret(compiler, BlueprintBook(design), RunBook(topology))
    for _ in range(2):
        assert isinstance(tezzeret.handle(decision(run_id, 2, ir.blueprint_id))[-1],
                          KasminaControlCommand)
        assert isinstance(tezzeret.handle(decision("elsewhere", 2, "lora"))[-1],
                          CompilationFailed)

    assert asked == [ir.blueprint_id, run_id, "elsewhere"]


def test_a_characterization_reports_the_measured_profile(compiler):
    tezzeret, run_id = _tezzeret_with_run(compiler)

    characterized = next(e for e in tezzeret.handle(decision(run_id, 2, "mlp_small"))
                         if isinstance(e, KernelCharacterized))

    assert characterized.device == "cpu"
    assert characterized.batch_size == 32
    assert characterized.latency_ms == characterized.metrics["latency_p50_ms"]
    assert characterized.metrics["latency_p95_ms"] >= characterized.latency_ms
