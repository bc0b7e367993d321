"""Compilation events: blueprints submitted and moving through their lifecycle, kernels built."""

from __future__ import annotations

from typing import Annotated, ClassVar, Optional

from pydantic import Field

from esper.contracts.assets import Blueprint, CompiledKernel
from esper.contracts.base import FROZEN, ContractModel, Detached
from esper.contracts.common import Event
from esper.contracts.control import Reason
from esper.contracts.enums import BlueprintState
from esper.contracts.fields import Identifier, Shape
from esper.contracts.transitions import InvalidTransition, check_transition

Author = Annotated[str, Field(min_length=1, max_length=100)]

# Tezzeret compiles a submission's target shapes inside the Kafka transaction of the batch that
# holds it (a few records, 60 s to commit), so their number is bounded.
MAX_TARGET_SHAPES = 8


class KernelShape(ContractModel):
    """A layer shape to compile a blueprint for: input and output, without the batch dimension."""

    model_config = FROZEN
    avro_name: ClassVar[str] = "esper.compilation.KernelShape"

    input_shape: Shape
    output_shape: Shape


class BlueprintSubmitted(Event):
    """A new blueprint, in full, for Tezzeret to compile (upstream: only its id and submitter).

    ``target_shapes`` (since v2) are layer shapes to compile it for at once, so that the first
    decision to grow it on such a layer finds its kernel built.
    """

    run_scoped: ClassVar[bool] = False
    avro_name: ClassVar[str] = "esper.compilation.BlueprintSubmitted"

    blueprint_id: Identifier
    submitted_by: Author
    blueprint: Annotated[Blueprint, Detached]
    target_shapes: list[KernelShape] = Field(default_factory=list, max_length=MAX_TARGET_SHAPES)

    def _check_rules(self) -> None:
        seen: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        for index, shape in enumerate(self.target_shapes):
            key = (tuple(shape.input_shape), tuple(shape.output_shape))
            if key in seen:
                raise ValueError(f"target_shapes[{index}] repeats target_shapes[{seen[key]}]")
            seen[key] = index
        if self.blueprint.blueprint_id != self.blueprint_id:
            raise ValueError(
                f"blueprint.blueprint_id {self.blueprint.blueprint_id!r} differs from "
                f"blueprint_id {self.blueprint_id!r}"
            )
        if self.blueprint.state != BlueprintState.PROPOSED:
            raise ValueError(f"blueprint.state must be proposed, not {self.blueprint.state}")


class BlueprintStateChanged(Event):
    """A blueprint moved along its lifecycle (allowed by ``BLUEPRINT_TRANSITIONS``)."""

    run_scoped: ClassVar[bool] = False
    avro_name: ClassVar[str] = "esper.compilation.BlueprintStateChanged"

    blueprint_id: Identifier
    from_state: BlueprintState
    to_state: BlueprintState
    reason: Reason
    kernel_id: Optional[Identifier] = None

    def _check_rules(self) -> None:
        try:
            check_transition(BlueprintState(self.from_state), BlueprintState(self.to_state))
        except InvalidTransition as error:
            raise ValueError(f"from_state -> to_state: {error}") from None


class KernelReady(Event):
    """A kernel for a blueprint is built and stored, ready for Kasmina to load.

    ``decision_id`` names the decision it was built for, if any; ``reused`` says the kernel was
    already in the library (same blueprint content, shape and compiler), so nothing was compiled.
    """

    run_scoped: ClassVar[bool] = False
    avro_name: ClassVar[str] = "esper.compilation.KernelReady"

    kernel: Annotated[CompiledKernel, Detached]
    decision_id: Optional[Identifier] = None
    reused: bool = False


class CompilationFailed(Event):
    """Tezzeret could not turn a blueprint into a kernel."""

    run_scoped: ClassVar[bool] = False
    avro_name: ClassVar[str] = "esper.compilation.CompilationFailed"

    blueprint_id: Identifier
    decision_id: Optional[Identifier] = None
    compiler_version: Annotated[str, Field(min_length=1, max_length=100)]
    error_type: Annotated[str, Field(min_length=1, max_length=200)]
    message: Annotated[str, Field(min_length=1)]
