"""Seed lifecycle events, from Kasmina."""

from __future__ import annotations

from typing import ClassVar, Optional

from esper.contracts.common import Event
from esper.contracts.control import Reason
from esper.contracts.enums import SeedState
from esper.contracts.fields import Count, Identifier, UnitInterval
from esper.contracts.transitions import InvalidTransition, check_transition


class SeedStateChanged(Event):
    """A seed moved along its lifecycle; one event per transition, none skipped.

    The transition must be allowed by ``SEED_TRANSITIONS``: a log that claims otherwise is
    refused at decoding, not repaired.
    """

    avro_name: ClassVar[str] = "esper.lifecycle.SeedStateChanged"

    layer_id: Count
    slot_index: Count
    seed_id: Identifier
    from_state: SeedState
    to_state: SeedState
    blueprint_id: Optional[Identifier] = None
    kernel_id: Optional[Identifier] = None
    alpha: UnitInterval
    reason: Reason
    epoch: Count
    step: Count

    def _check_rules(self) -> None:
        try:
            check_transition(SeedState(self.from_state), SeedState(self.to_state))
        except InvalidTransition as error:
            raise ValueError(f"from_state -> to_state: {error}") from None
