"""When each job runs: every N seconds/minutes/hours, or daily at a wall-clock time.

The defaults can be changed with PATRON_WORKER_SCHEDULE, a JSON object such as
`{"scoring": "daily 01:30", "sla": "every 2m", "points_expiry": "off"}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from patron.errors import InvalidInput

DEFAULT_SCHEDULE = {
    "outbox": "every 2s",
    # Warning refreshes that changes asked for: seconds after the change, as users expect.
    "warnings": "every 1s",
    "sla": "every 1m",
    "scoring": "daily 02:00",
    "points_expiry": "daily 03:00",
    # Both act once per period however often they run; daily, a new period starts promptly.
    "tier_review": "daily 03:30",
    "follow_ups": "daily 06:00",
}
_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h)$")
_DAILY = re.compile(r"^daily\s+([01]?\d|2[0-3]):([0-5]\d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Every:
    """Again `seconds` after the last run started."""

    seconds: int

    def first_due(self, moment: datetime) -> datetime:
        return moment

    def next_due(self, started: datetime) -> datetime:
        return started + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class DailyAt:
    """Once a day at a local wall-clock time."""

    at: time

    def first_due(self, moment: datetime) -> datetime:
        today = datetime.combine(moment.date(), self.at)
        return today if today >= moment else today + timedelta(days=1)

    def next_due(self, started: datetime) -> datetime:
        return self.first_due(started + timedelta(seconds=1))


Timing = Every | DailyAt


def parse_timing(text: str) -> Timing | None:
    """'every 30s' / 'every 5m' / 'every 1h', 'daily HH:MM', or 'off' (None)."""
    value = text.strip().lower()
    if value == "off":
        return None
    if every := _EVERY.match(value):
        return Every(int(every.group(1)) * _UNIT[every.group(2)])
    if daily := _DAILY.match(value):
        return DailyAt(time(int(daily.group(1)), int(daily.group(2))))
    raise InvalidInput(
        f"'{text}' is not a schedule: write 'every 30s', 'every 5m', 'every 1h', "
        "'daily 02:00' or 'off'"
    )


class WorkerSettings(BaseSettings):
    """The worker's schedule and pacing (prefix PATRON_WORKER_)."""

    model_config = SettingsConfigDict(env_prefix="PATRON_WORKER_", extra="ignore")

    schedule: dict[str, str] = Field(default_factory=dict)
    poll_seconds: float = Field(default=1.0, gt=0, le=300)
    lease_seconds: int = Field(default=600, ge=5)
    retry_seconds: int = Field(default=300, ge=1)


@lru_cache
def get_worker_settings() -> WorkerSettings:
    """The process-wide worker settings, read once."""
    return WorkerSettings()


def timings(settings: WorkerSettings, names: list[str]) -> dict[str, Timing]:
    """Each named job's timing: the default, overridden by the settings; 'off' drops it."""
    unknown = sorted(set(settings.schedule) - set(DEFAULT_SCHEDULE))
    if unknown:
        raise InvalidInput(
            f"PATRON_WORKER_SCHEDULE names unknown jobs {unknown}; "
            f"the jobs are {', '.join(DEFAULT_SCHEDULE)}"
        )
    chosen = DEFAULT_SCHEDULE | settings.schedule
    found = {name: parse_timing(chosen[name]) for name in names}
    return {name: timing for name, timing in found.items() if timing is not None}
