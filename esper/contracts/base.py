"""Base classes of every contract model."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

_MISSING = object()


class ContractModel(BaseModel):
    """A record of the wire contract: one pydantic model per Avro record named ``avro_name``.

    Unknown keys, NaN and infinities are rejected everywhere; enum fields hold their string
    values (as upstream), and defaults are validated like any input.
    """

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        use_enum_values=True,
        validate_default=True,
        validate_assignment=True,
    )

    avro_name: ClassVar[str]

    def __setattr__(self, name: str, value: Any) -> None:
        # pydantic stores a validated assignment before the model validators run and keeps it
        # when one of them fails; undo it, so that a refused assignment changes nothing.
        previous = self.__dict__.get(name, _MISSING)
        try:
            super().__setattr__(name, value)
        except ValidationError:
            if previous is not _MISSING:
                self.__dict__[name] = previous
            raise


FROZEN = ConfigDict(frozen=True)
"""Immutable records: events and the records only events use."""


def _detach(value: Any) -> Any:
    return value.model_copy(deep=True) if isinstance(value, BaseModel) else value


Detached = BeforeValidator(_detach)
"""For an event's field holding a mutable model (a Blueprint in BlueprintSubmitted): the event
keeps its own copy, so changing the original later cannot rewrite the event."""

STRIP_WHITESPACE = ConfigDict(str_strip_whitespace=True)
"""The upstream "P1" models strip strings before checking lengths and patterns."""
