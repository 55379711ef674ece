"""The period a KPI covers: a half-open range [start, end) read from --from and --to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, SQLColumnExpression, and_

from patron.config import get_settings
from patron.errors import InvalidInput

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    """A half-open time range [start, end) and the dates a user would call its ends."""

    start: datetime
    end: datetime
    label_from: str
    label_to: str

    def previous(self) -> Period:
        """The period of equal length just before this one."""
        length = self.end - self.start
        return Period(self.start - length, self.start, "", "")

    def within(self, column: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
        """A condition: the column's moment falls in this period."""
        return and_(column >= self.start, column < self.end)


def parse_period(date_from: str | None, date_to: str | None, *, today: date) -> Period:
    """The period between --from and --to (both included); by default the 30 days to today."""
    last = _parse_moment(date_to, "--to") if date_to else today
    # The exclusive end: the midnight after a date, or the instant just after a given time.
    if isinstance(last, datetime):
        end = last + timedelta(microseconds=1)
    else:
        end = datetime.combine(last + timedelta(days=1), time())
    first = _parse_moment(date_from, "--from") if date_from else None
    if first is None:
        start = end - timedelta(days=DEFAULT_DAYS)
        first = start.date() if start.time() == time() else start
    else:
        start = first if isinstance(first, datetime) else datetime.combine(first, time())
    if start >= end:
        raise InvalidInput(
            f"the period is empty: --from {first.isoformat()} is after --to {last.isoformat()}"
        )
    return Period(start, end, first.isoformat(), last.isoformat())


def _parse_moment(text: str, option: str) -> datetime | date:
    """A date (YYYY-MM-DD) or an ISO datetime, as naive local wall-clock time."""
    value = text.strip()
    try:
        if len(value) == len("YYYY-MM-DD"):
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            f"{option} '{text}' is not a date (use YYYY-MM-DD or an ISO datetime)"
        ) from exc
    if moment.tzinfo is not None:
        zone = ZoneInfo(get_settings().timezone)
        moment = moment.astimezone(zone).replace(tzinfo=None)
    return moment
