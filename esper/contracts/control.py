"""Control events: Tamiyo's decisions, the commands Kasmina executes, and policy releases."""

from __future__ import annotations

import time
from typing import Annotated, ClassVar, Optional

from pydantic import Field

from esper.contracts.assets import Name
from esper.contracts.base import STRIP_WHITESPACE
from esper.contracts.common import Event
from esper.contracts.enums import AdaptationType, KasminaCommand
from esper.contracts.fields import (
    Attributes,
    Count,
    Identifier,
    Metrics,
    Sha256Hex,
    UnitInterval,
    new_uuid,
)

Reason = Annotated[str, Field(min_length=1, max_length=500)]


class AdaptationDecision(Event):
    """One strategic decision by Tamiyo: where to grow (or prune) what, and how sure it is.

    The upstream fields are kept as they were; upstream hid the target slot and kernel inside
    ``metadata``, so here they are typed fields: ``layer_id`` and ``slot_index`` address the
    slot, ``blueprint_id`` names what to grow, and the policy and its input features say why.
    """

    model_config = STRIP_WHITESPACE
    avro_name: ClassVar[str] = "esper.control.AdaptationDecision"

    decision_id: Identifier = Field(default_factory=new_uuid)
    layer_name: Name
    layer_id: Count
    adaptation_type: AdaptationType
    slot_index: Optional[Count] = None
    blueprint_id: Optional[Identifier] = None
    confidence: UnitInterval
    urgency: UnitInterval
    policy_name: Identifier
    policy_version: Count
    features: Metrics = Field(default_factory=dict)
    metadata: Attributes = Field(default_factory=dict)
    timestamp: float = Field(default_factory=time.time)

    def _check_rules(self) -> None:
        needs = {
            AdaptationType.ADD_SEED: ("slot_index", "blueprint_id"),
            AdaptationType.REMOVE_SEED: ("slot_index",),
        }.get(AdaptationType(self.adaptation_type), ())
        for field in needs:
            if getattr(self, field) is None:
                raise ValueError(f"{field} is required for adaptation_type {self.adaptation_type}")

    def decision_priority(self) -> str:
        """By the mean of confidence and urgency: "High" from 0.8, "Medium" from 0.5, else "Low"."""
        score = (self.confidence + self.urgency) / 2
        if score >= 0.8:
            return "High"
        if score >= 0.5:
            return "Medium"
        return "Low"

    def should_execute_immediately(self) -> bool:
        return self.urgency > 0.7 and self.confidence > 0.6


class KasminaControlCommand(Event):
    """An order to Kasmina for one seed slot: germinate a kernel, set alpha, cull or fossilize."""

    avro_name: ClassVar[str] = "esper.control.KasminaControlCommand"

    command: KasminaCommand
    layer_id: Count
    slot_index: Count
    blueprint_id: Optional[Identifier] = None
    kernel_id: Optional[Identifier] = None
    alpha: Optional[UnitInterval] = None
    reason: Reason
    decision_id: Optional[Identifier] = None

    def _check_rules(self) -> None:
        needs = {
            KasminaCommand.GERMINATE: ("blueprint_id", "kernel_id"),
            KasminaCommand.SET_ALPHA: ("alpha",),
        }.get(KasminaCommand(self.command), ())
        for field in needs:
            if getattr(self, field) is None:
                raise ValueError(f"{field} is required for command {self.command}")


class PolicyUpdated(Event):
    """A new version of a Tamiyo policy is released: where its weights are and how it scored."""

    run_scoped: ClassVar[bool] = False
    avro_name: ClassVar[str] = "esper.control.PolicyUpdated"

    policy_name: Identifier
    policy_version: Count
    artifact_ref: Annotated[str, Field(min_length=1)]
    checksum: Sha256Hex
    metrics: Metrics = Field(default_factory=dict)
