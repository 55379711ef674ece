"""Service-level due times counted in business hours, from the rulebook's `service` section.

Pure arithmetic on naive local datetimes: no database, so it is unit-tested with fixed times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from patron.errors import ConfigError
from patron.rules.rulebook import Service

# A bound on the walk over calendar days: a year of closed days means the calendar is wrong.
MAX_DAYS = 366


@dataclass(frozen=True)
class Calendar:
    """Opening hours [open, close) on ISO weekdays (Monday 1 ... Sunday 7)."""

    open_hour: int
    close_hour: int
    days: frozenset[int]

    @classmethod
    def of(cls, service: Service) -> Calendar:
        """The calendar of a rulebook's service section, refused if it has no open hours."""
        open_hour, close_hour = service.business_hours
        days = frozenset(service.business_days)
        if not 0 <= open_hour < close_hour <= 24:
            raise ConfigError(
                f"service.business_hours {open_hour}-{close_hour} is not an opening time: "
                "give [open, close] hours with open before close, within 0-24"
            )
        if not days or not days <= set(range(1, 8)):
            raise ConfigError("service.business_days must list weekdays 1 (Monday) to 7 (Sunday)")
        return cls(open_hour, close_hour, days)

    def opens(self, day: datetime) -> datetime:
        return datetime.combine(day.date(), time(self.open_hour))

    def closes(self, day: datetime) -> datetime:
        return datetime.combine(day.date(), time()) + timedelta(hours=self.close_hour)

    def next_open(self, moment: datetime) -> datetime:
        """The first business moment at or after `moment`."""
        day = moment
        for _ in range(MAX_DAYS):
            if day.isoweekday() in self.days:
                if day < self.opens(day):
                    return self.opens(day)
                if day < self.closes(day):
                    return day
            day = datetime.combine(day.date() + timedelta(days=1), time())
        raise ConfigError("service.business_days leaves no business day within a year")


def add_business_hours(start: datetime, hours: float, calendar: Calendar) -> datetime:
    """The moment `hours` business hours after `start` (Friday 17:00 + 4h -> Monday 12:00)."""
    remaining = timedelta(hours=hours)
    moment = calendar.next_open(start)
    while True:
        available = calendar.closes(moment) - moment
        if remaining <= available:
            return moment + remaining
        remaining -= available
        moment = calendar.next_open(calendar.closes(moment))


def business_hours_between(start: datetime, end: datetime, calendar: Calendar) -> float:
    """How many business hours lie in [start, end) (0 when end is not after start)."""
    total = timedelta()
    moment = calendar.next_open(start)
    while moment < end:
        closes = calendar.closes(moment)
        total += min(closes, end) - moment
        moment = calendar.next_open(closes)
    return total / timedelta(hours=1)


def pushed_on(due: datetime, hours: float, calendar: Calendar) -> datetime:
    """`due` moved on by `hours` business hours (the length of a pause)."""
    # An unmoved due time stays exactly as it was: adding 0 hours at closing time would
    # otherwise move it to the next opening.
    return add_business_hours(due, hours, calendar) if hours > 0 else due


def grade_factor(service: Service, grade: str | None) -> float:
    """How much of the standard time a customer's grade gets (A 0.5: twice as fast)."""
    return service.grade_factors.get(grade, 1.0) if grade else 1.0


@dataclass(frozen=True)
class DueTimes:
    response_due_at: datetime
    resolution_due_at: datetime


def due_times(
    service: Service, *, priority: str, grade: str | None, opened_at: datetime
) -> DueTimes:
    """Response and resolution due times for a ticket of this priority and customer grade."""
    target = next((t for t in service.targets if t.priority == priority), None)
    if target is None:
        raise ConfigError(
            f"the rulebook's service section has no SLA target for priority {priority}"
        )
    calendar = Calendar.of(service)
    factor = grade_factor(service, grade)
    return DueTimes(
        response_due_at=add_business_hours(opened_at, target.response_hours * factor, calendar),
        resolution_due_at=add_business_hours(opened_at, target.resolution_hours * factor, calendar),
    )


def resolution_due(
    service: Service, *, priority: str, grade: str | None, since: datetime
) -> datetime:
    """A new resolution due time counted from `since` (a reopened ticket starts again)."""
    return due_times(service, priority=priority, grade=grade, opened_at=since).resolution_due_at
