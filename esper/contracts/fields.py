"""Field types shared by the contracts, each with the Avro type it maps to.

| Python type      | Avro type                                                   |
|------------------|-------------------------------------------------------------|
| Count            | long (64-bit, so ints are bounded; Count is also >= 0)      |
| float            | double (NaN and +-inf are refused by the model config)      |
| UtcDatetime      | long, logicalType timestamp-micros                          |
| EventId          | string, logicalType uuid                                    |
| Identifier       | string                                                      |
| Shape            | array of long                                               |
| Attributes       | map of union {null, boolean, long, double, string}          |
| Metrics          | map of double                                               |
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Annotated, Union

from pydantic import AfterValidator, AwareDatetime, Field, PlainValidator, StringConstraints

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1

Count = Annotated[int, Field(ge=0, le=LONG_MAX)]
"""A non-negative long: counts, indexes, stable integer ids."""

UnitInterval = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]

# Ids travel as Kafka keys joined by "/" (run_id/layer_id/seed_id), so they exclude "/" and
# whitespace; 128 characters fits every id the upstream database stored.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
_UUID_TEXT = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EventId = Annotated[str, StringConstraints(pattern=_UUID_TEXT)]
"""A UUID in its canonical lowercase text form."""

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

Shape = Annotated[list[Annotated[int, Field(ge=1, le=LONG_MAX)]], Field(min_length=1)]
"""A tensor shape without the batch dimension: at least one dimension, each positive."""


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01 at +05:00 is before year 1 in UTC
        raise ValueError(f"{value.isoformat()} is outside the years 1..9999 in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""An aware datetime, normalised to UTC; naive datetimes are rejected as ambiguous."""


def _attribute_value(value: object) -> None | bool | int | float | str:
    # One exact check instead of a pydantic union: a lax union would turn an int too large for
    # a long into a float, and numpy scalars into whatever branch accepts them first.
    if value is None or type(value) in (bool, int, float, str):
        checked = value
    elif isinstance(value, int):  # an IntEnum member
        checked = int(value)
    elif isinstance(value, float):  # numpy.float64
        checked = float(value)
    elif isinstance(value, str):  # a str enum member, as its value
        checked = str.__str__(value)
    else:
        raise ValueError(
            f"attribute values must be null, bool, int, float or str, not {type(value).__name__}"
        )
    if type(checked) is int and not LONG_MIN <= checked <= LONG_MAX:
        raise ValueError(f"integer {checked} does not fit in a 64-bit long")
    if type(checked) is float and not math.isfinite(checked):
        raise ValueError(f"float attribute values must be finite, not {checked}")
    return checked


AttributeValue = Annotated[Union[None, bool, int, float, str], PlainValidator(_attribute_value)]
Attributes = dict[str, AttributeValue]
"""A typed replacement for upstream ``Dict[str, Any]``: flat, scalar, and readable without us."""

Metrics = dict[str, float]
"""Named finite measurements, in insertion order."""


def new_uuid() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)
