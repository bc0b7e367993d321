"""Field reports: what a seed turned out to be worth, for Karn and for training Tamiyo."""

from __future__ import annotations

from typing import ClassVar, Optional

from esper.contracts.common import Event
from esper.contracts.enums import SeedState
from esper.contracts.fields import Count, Identifier, UnitInterval


class FieldReport(Event):
    """The outcome of one seed, emitted when it ends (fossilized or culled).

    The effect is measured, not estimated: validation accuracy with the seed, and with its
    alpha forced to 0 on the same data.
    """

    avro_name: ClassVar[str] = "esper.innovation.FieldReport"

    layer_id: Count
    slot_index: Count
    seed_id: Identifier
    blueprint_id: Identifier
    kernel_id: Optional[Identifier] = None
    final_state: SeedState
    accuracy_with_seed: UnitInterval
    accuracy_without_seed: UnitInterval
    parameters_added: Count
    epochs_active: Count

    def _check_rules(self) -> None:
        if self.final_state not in (SeedState.FOSSILIZED, SeedState.CULLED):
            raise ValueError(f"final_state must be fossilized or culled, not {self.final_state}")

    def effect(self) -> float:
        """Accuracy gained by the seed: with it, minus with its alpha at 0."""
        return self.accuracy_with_seed - self.accuracy_without_seed
