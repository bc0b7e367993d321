"""What every event carries: its identity, time, origin and lineage."""

from __future__ import annotations

from typing import ClassVar, Optional

from pydantic import model_validator

from esper.contracts.base import FROZEN, ContractModel
from esper.contracts.enums import ComponentType
from esper.contracts.fields import EventId, Identifier, UtcDatetime, new_uuid, utc_now


class EventMeta(ContractModel):
    """Identity and lineage of one event; field docs in ``schemas/esper.common.EventMeta.avsc``.

    ``correlation_id`` is shared by every event of one causal chain (the event_id of its first
    event); ``causation_id`` is the event_id of the event that directly caused this one.
    Lineage queries ("why did this seed germinate?") walk causation_id.
    """

    model_config = FROZEN
    avro_name: ClassVar[str] = "esper.common.EventMeta"

    event_id: EventId
    occurred_at: UtcDatetime
    source: ComponentType
    run_id: Optional[Identifier] = None
    correlation_id: EventId
    causation_id: Optional[EventId] = None

    @classmethod
    def new(
        cls,
        source: ComponentType | str,
        *,
        run_id: str | None = None,
        causation: Event | None = None,
    ) -> EventMeta:
        """Meta for a new event, now: a new chain, or the next link after ``causation``.

        An event caused by another inherits its correlation id and, unless ``run_id`` is
        given, its run.
        """
        event_id = new_uuid()
        if causation is None:
            return cls(
                event_id=event_id,
                occurred_at=utc_now(),
                source=source,
                run_id=run_id,
                correlation_id=event_id,
            )
        cause = causation.meta
        return cls(
            event_id=event_id,
            occurred_at=utc_now(),
            source=source,
            run_id=run_id if run_id is not None else cause.run_id,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )


class Event(ContractModel):
    """A fact on a topic: immutable, with ``meta`` first.

    ``run_scoped`` events belong to one training run, so their ``meta.run_id`` is required
    (topics key them by run). Subclasses state their cross-field rules in ``_check_rules``;
    one validator runs them all, which keeps decoding fast.
    """

    model_config = FROZEN
    run_scoped: ClassVar[bool] = True

    meta: EventMeta

    @model_validator(mode="after")
    def _check_event(self) -> Event:
        if self.run_scoped and self.meta.run_id is None:
            raise ValueError(f"meta.run_id is required: a {type(self).__name__} belongs to a run")
        self._check_rules()
        return self

    def _check_rules(self) -> None:
        """Raise ValueError, naming the fields, when the event breaks a cross-field rule."""
