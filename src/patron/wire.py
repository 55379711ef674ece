"""Datetimes on the wire: Patron stores naive wall-clock time in the business's time zone
(PATRON_TIMEZONE); JSON carries it as RFC 3339 with that zone's offset, and datetimes sent with
an offset are turned into the business's wall-clock time before anything compares them."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema

from patron.config import get_settings


def _zone() -> ZoneInfo:
    return _named_zone(get_settings().timezone)


@cache
def _named_zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


def to_wall_clock(value: datetime) -> datetime:
    """A datetime with an offset as the business's naive wall-clock time; naive ones as given."""
    if value.tzinfo is None:
        return value
    return value.astimezone(_zone()).replace(tzinfo=None)


def with_offset(value: datetime) -> str:
    """The stored wall-clock time as RFC 3339 with the business's offset.

    Called for every datetime of every response (a page of customers has 200), so the
    zone comes from a dictionary, without an import statement or `ZoneInfo`'s constructor."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_zone())
    return value.isoformat()


LocalDateTime = Annotated[
    datetime,
    AfterValidator(to_wall_clock),
    PlainSerializer(with_offset, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
