"""Tezzeret's event logic: what it emits for each event it consumes. No bus here.

| consumed            | emitted                                                            |
|---------------------|--------------------------------------------------------------------|
| TrainingRunStarted  | nothing; the run's layer shapes are remembered                     |
| BlueprintSubmitted  | the design becomes known by its id, and is precompiled: the kernel |
|                     | events of each of its target shapes (none: nothing); a malformed   |
|                     | one: → failed and CompilationFailed                                |
| AdaptationDecision  | add_seed: the kernel's events, then a germinate command            |
|                     | for the decided slot; other decisions are not Tezzeret's           |

A kernel's events: when it is built now, BlueprintStateChanged proposed → compiling →
validating → characterized (each naming the kernel), KernelCharacterized and KernelReady;
when the store already has it, only KernelReady with ``reused``. When it cannot be built: the
blueprint's transitions up to the stage that failed, then → failed, and CompilationFailed.

Every event names the consumed one as its cause; the germinate command names the KernelReady,
so lineage reads decision → kernel → command. Kernel events caused by a submission carry no
decision id, and no command follows them: a later decision for that blueprint on a layer of
one of those shapes finds the kernel in the store.
"""

from __future__ import annotations

import logging

from esper.contracts import (
    AdaptationDecision,
    AdaptationType,
    BlueprintState,
    BlueprintStateChanged,
    BlueprintSubmitted,
    CompilationFailed,
    ComponentType,
    Event,
    EventMeta,
    KasminaCommand,
    KasminaControlCommand,
    KernelCharacterized,
    KernelReady,
    TrainingRunStarted,
)
from esper.karn import BlueprintError, BlueprintIR
from esper.tezzeret.books import BlueprintBook, RunBook, UnknownTarget
from esper.tezzeret.compiler import (
    COMPILER_VERSION,
    CompilationError,
    Compiled,
    Compiler,
    KernelRequest,
)

log = logging.getLogger(__name__)

_LIFECYCLE = (BlueprintState.PROPOSED, BlueprintState.COMPILING, BlueprintState.VALIDATING,
              BlueprintState.CHARACTERIZED)
_REASON_LIMIT = 500


def _meta(cause: Event) -> EventMeta:
    return EventMeta.new(ComponentType.TEZZERET, causation=cause)


def design_of(event: BlueprintSubmitted) -> BlueprintIR:
    """The design a submission carries, or BlueprintError: a malformed architecture, or an
    id that is not the design's content id (one design has one id, so kernels are shared)."""
    ir = BlueprintIR.from_architecture(event.blueprint.architecture)
    if event.blueprint_id != ir.blueprint_id:
        raise BlueprintError(f"blueprint_id {event.blueprint_id!r} is not the content id "
                             f"{ir.blueprint_id!r} of its architecture")
    return ir


class Tezzeret:
    """Turns consumed events into Tezzeret's output events with ``compiler``."""

    def __init__(self, compiler: Compiler, blueprints: BlueprintBook | None = None,
                 runs: RunBook | None = None):
        self.compiler = compiler
        self.blueprints = blueprints or BlueprintBook()
        self.runs = runs or RunBook()

    def handle(self, event: object) -> list[Event]:
        if isinstance(event, AdaptationDecision):
            return self.on_decision(event)
        if isinstance(event, BlueprintSubmitted):
            return self.on_submitted(event)
        if isinstance(event, TrainingRunStarted):
            self.runs.add(event.meta.run_id, event.topology)
        return []

    # -- consumed events ---------------------------------------------------------------------

    def on_submitted(self, event: BlueprintSubmitted) -> list[Event]:
        try:
            ir = design_of(event)
        except BlueprintError as error:
            reason = f"malformed blueprint: {error}"
            return [BlueprintStateChanged(meta=_meta(event), blueprint_id=event.blueprint_id,
                                          from_state=BlueprintState.PROPOSED,
                                          to_state=BlueprintState.FAILED,
                                          reason=reason[:_REASON_LIMIT]),
                    self._failed(event, event.blueprint_id, "BlueprintError", reason)]
        self.blueprints.add(ir)
        events: list[Event] = []
        for shape in event.target_shapes:
            request = KernelRequest.of(ir, shape.input_shape, shape.output_shape)
            kernel_events = self._kernel_events(event, request)
            ready = kernel_events[-1]
            if isinstance(ready, KernelReady):
                log.info("submission %s: %s kernel %s", event.blueprint_id,
                         "reused" if ready.reused else "built", ready.kernel.kernel_id)
            events += kernel_events
        return events

    def on_decision(self, decision: AdaptationDecision) -> list[Event]:
        if decision.adaptation_type != AdaptationType.ADD_SEED:
            return []
        try:
            ir = self.blueprints.resolve(decision.blueprint_id)
            layer = self.runs.layer(decision.meta.run_id, decision.layer_id)
        except UnknownTarget as error:
            log.warning("decision %s: %s", decision.decision_id, error)
            return [self._failed(decision, decision.blueprint_id, error.error_type, str(error))]
        request = KernelRequest.of(ir, layer.input_shape, layer.output_shape)
        events = self._kernel_events(decision, request)
        ready = events[-1]
        if not isinstance(ready, KernelReady):
            return events
        command = KasminaControlCommand(
            meta=_meta(ready), command=KasminaCommand.GERMINATE, layer_id=decision.layer_id,
            slot_index=decision.slot_index, blueprint_id=ir.blueprint_id,
            kernel_id=ready.kernel.kernel_id, decision_id=decision.decision_id,
            reason=f"kernel {ready.kernel.kernel_id} for decision {decision.decision_id}")
        log.info("decision %s: %s kernel %s for run %s layer %d slot %d", decision.decision_id,
                 "reused" if ready.reused else "built", ready.kernel.kernel_id,
                 decision.meta.run_id, decision.layer_id, decision.slot_index)
        return [*events, command]

    # -- one kernel --------------------------------------------------------------------------

    def _kernel_events(self, cause: AdaptationDecision | BlueprintSubmitted,
                       request: KernelRequest) -> list[Event]:
        """The events of compiling ``request`` (or reusing its kernel) for ``cause``."""
        try:
            compiled = self.compiler.compile(request)
        except CompilationError as error:
            log.warning("%s failed while %s: %s", request.kernel_id, error.stage.value, error)
            return [*self._transitions(cause, request, error.stage, BlueprintState.FAILED,
                                       error.message),
                    self._failed(cause, request.ir.blueprint_id, error.error_type,
                                 error.message)]
        built = [] if compiled.reused else [
            *self._transitions(cause, request, BlueprintState.CHARACTERIZED, None, None),
            self._characterized(cause, compiled)]
        return [*built, KernelReady(meta=_meta(cause), kernel=compiled.kernel,
                                    decision_id=_decision_id(cause), reused=compiled.reused)]

    def _transitions(self, cause: Event, request: KernelRequest, reached: BlueprintState,
                     final: BlueprintState | None, reason: str | None) -> list[Event]:
        """proposed → ... → ``reached``, then → ``final`` (failed) if given."""
        steps = list(zip(_LIFECYCLE, _LIFECYCLE[1:_LIFECYCLE.index(reached) + 1]))
        if final is not None:
            steps.append((reached, final))
        return [BlueprintStateChanged(
            meta=_meta(cause), blueprint_id=request.ir.blueprint_id, from_state=source,
            to_state=target, kernel_id=request.kernel_id,
            reason=(reason if target == final else f"{target.value}: {request.describe()}"
                    )[:_REASON_LIMIT])
            for source, target in steps]

    def _characterized(self, cause: Event, compiled: Compiled) -> KernelCharacterized:
        profile, kernel = compiled.profile, compiled.kernel
        return KernelCharacterized(
            meta=_meta(cause), kernel_id=kernel.kernel_id, blueprint_id=kernel.blueprint_id,
            device=profile.device, batch_size=profile.batch_size,
            latency_ms=profile.latency_p50_ms, memory_mb=profile.memory_mb,
            metrics=profile.metrics())

    @staticmethod
    def _failed(cause: Event, blueprint_id: str, error_type: str,
                message: str) -> CompilationFailed:
        return CompilationFailed(meta=_meta(cause), blueprint_id=blueprint_id,
                                 decision_id=_decision_id(cause),
                                 compiler_version=COMPILER_VERSION,
                                 error_type=error_type[:200], message=message)


def _decision_id(cause: Event) -> str | None:
    return cause.decision_id if isinstance(cause, AdaptationDecision) else None
