"""The job lock: one row per job, claimed by an atomic conditional UPDATE with an expiring lease.

The UPDATE only matches when the lease is free (or expired) and the job is due, so of two
workers trying at once exactly one changes the row (PostgreSQL row locks and SQLite's single
writer both serialise the two UPDATEs, and the second re-checks the condition).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import Engine, or_, update
from sqlalchemy.dialects import postgresql, sqlite

from patron.db import now
from patron.worker.models import JobLock
from patron.worker.schedule import Timing


def ensure(engine: Engine, schedule: dict[str, Timing], moment: datetime) -> None:
    """Add a row for each job that has none yet, first due by its timing."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {"name": name, "next_due_at": timing.first_due(moment), "runs": 0}
        for name, timing in schedule.items()
    ]
    if rows:
        with engine.begin() as connection:
            connection.execute(insert(JobLock).on_conflict_do_nothing(), rows)


def acquire(
    engine: Engine,
    name: str,
    *,
    worker: str,
    lease_seconds: int,
    moment: datetime,
    force: bool = False,
) -> bool:
    """Take the job if it is due (or `force`) and nobody holds a live lease on it."""
    conditions = [
        JobLock.name == name,
        or_(JobLock.lease_until.is_(None), JobLock.lease_until < moment),
    ]
    if not force:
        conditions.append(or_(JobLock.next_due_at.is_(None), JobLock.next_due_at <= moment))
    with engine.begin() as connection:
        result = connection.execute(
            update(JobLock)
            .where(*conditions)
            .values(
                locked_by=worker,
                lease_until=moment + timedelta(seconds=lease_seconds),
                last_started_at=moment,
                runs=JobLock.runs + 1,
            )
        )
    return result.rowcount == 1


def renew(engine: Engine, name: str, *, worker: str, lease_seconds: int) -> bool:
    """Push the lease on while the job runs; False if it was lost."""
    with engine.begin() as connection:
        result = connection.execute(
            update(JobLock)
            .where(JobLock.name == name, JobLock.locked_by == worker)
            .values(lease_until=now() + timedelta(seconds=lease_seconds))
        )
    return result.rowcount == 1


def release(
    engine: Engine,
    name: str,
    *,
    worker: str,
    status: str,
    error: str | None,
    next_due_at: datetime,
) -> None:
    """Free the lease and record how the run ended and when the job is next due."""
    with engine.begin() as connection:
        connection.execute(
            update(JobLock)
            .where(JobLock.name == name, JobLock.locked_by == worker)
            .values(
                locked_by=None,
                lease_until=None,
                last_finished_at=now(),
                last_status=status,
                last_error=error[:2000] if error else None,
                next_due_at=next_due_at,
            )
        )


class Heartbeat:
    """Renews a held lease every third of its length until the job ends."""

    def __init__(self, engine: Engine, name: str, *, worker: str, lease_seconds: int) -> None:
        self._engine, self._name, self._worker = engine, name, worker
        self._lease = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{name}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._lease / 3):
            renew(self._engine, self._name, worker=self._worker, lease_seconds=self._lease)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
