"""Parsing of command-line values shared by several commands: moments and offsets."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """'90s', '10m', '2h', '1d', '250ms'."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """An ISO-8601 time (UTC when no zone is given) or a duration ago ('10m')."""
    try:
        return (now or datetime.now(timezone.utc)) - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO-8601 time nor a duration like 10m") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_offsets(text: str) -> dict[tuple[str, int], int]:
    """'topic:partition:offset,...' → {(topic, partition): offset}."""
    offsets = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        topic, partition, offset = item.rsplit(":", 2) if item.count(":") >= 2 else (item, "", "")
        if not partition.isdigit() or not offset.lstrip("-").isdigit():
            raise ValueError(f"{item!r} is not topic:partition:offset")
        offsets[(topic, int(partition))] = int(offset)
    if not offsets:
        raise ValueError(f"{text!r} names no topic:partition:offset")
    return offsets


def parse_position(text: str) -> datetime | dict[tuple[str, int], int] | None:
    """'beginning', offsets ('topic:partition:offset,...'), an ISO time or a duration ago."""
    if text == "beginning":
        return None
    if text.count(":") >= 2 and not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return parse_offsets(text)
    return parse_moment(text)
