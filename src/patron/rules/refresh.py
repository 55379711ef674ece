"""Warning refreshes outside the request: a change asks for one inside its own transaction,
the worker (job `warnings`) runs it afterwards.

A new order, interaction, ticket, survey answer or points change and a completed follow-up
each re-evaluate the customer's warnings (`rules.events.on_event`): the customer's store rows
read, the warnings decided, their actions taken. That is tens of milliseconds of CPU which
the request that made the change should not wait for, nor spend beside the other requests of
its server process. So the request writes one row to `warning_refreshes` in the same
transaction as its change: the refresh is asked for if and only if the change is committed,
and a server process that stops after the commit loses nothing (a refresh started after the
response, in the process, would be lost with it).

The worker claims due rows under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, one UPDATE
under SQLite's single writer, as the notification outbox does), runs each refresh and removes
the row only if no new request came in meanwhile (`requests` unchanged); otherwise the row is
due again at once, so a change committed while its refresh ran is never left unseen. Rows a
stopped worker held come back when their lease runs out.

A refresh may therefore run more than once for the same change (a worker stopped after the
refresh committed but before removing the row, a lease that ran out mid-run, a request that
arrived during the run). That never acts twice: `rules.actions.apply_decisions` writes each
action's idempotency key (rule, customer, period) to `actions_taken` with "insert or do
nothing" in the same transaction as the action, and carries out only the keys that were new,
so a second run finds its keys taken and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.db import now
from patron.rules.models import WarningRefresh

log = logging.getLogger("patron.rules")
R = WarningRefresh
BATCH = 20
# How long a claim holds without its worker; the worker's job passes its own lease
# (PATRON_WORKER_LEASE_SECONDS), the same for its refreshes as for its jobs.
LEASE = timedelta(minutes=10)
# A refresh that keeps failing is tried this often, waiting twice as long each time (from
# BACKOFF up to BACKOFF_CAP), then left with its error until the customer's next change.
MAX_ATTEMPTS = 5
BACKOFF = timedelta(seconds=10)
BACKOFF_CAP = timedelta(minutes=10)


def request_refresh(session: Session, customer_id: int) -> None:
    """Ask for the customer's warnings to be re-evaluated once the caller's transaction commits.

    Never commits. A refresh already waiting for the customer is kept and counts one more
    request (and, if it had failed, is due again now).
    """
    moment = now()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(R).values(
        customer_id=customer_id, requests=1, requested_at=moment, next_attempt_at=moment,
        attempts=0,
    )  # fmt: skip
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[R.customer_id],
            set_={"requests": R.requests + 1, "next_attempt_at": moment, "attempts": 0},
        )
    )


@dataclass(frozen=True)
class Claimed:
    """A claimed refresh: its customer and how many requests it answers."""

    customer_id: int
    requests: int
    attempts: int


@dataclass
class RefreshReport:
    """What one pass of refreshes did."""

    claimed: int = 0
    done: int = 0
    again: int = 0
    retrying: int = 0
    given_up: int = 0
    lost: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _due(moment: datetime) -> ColumnElement[bool]:
    return and_(
        R.next_attempt_at <= moment,
        R.attempts < MAX_ATTEMPTS,
        or_(R.lease_until.is_(None), R.lease_until < moment),
    )


def claim(
    engine: Engine,
    *,
    worker: str,
    lease: timedelta = LEASE,
    moment: datetime | None = None,
    limit: int = BATCH,
) -> list[Claimed]:
    """Take up to `limit` due refreshes for `worker`, leased, one more attempt each."""
    moment = moment or now()
    due = _due(moment)
    claimed = update(R).values(
        claimed_by=worker, lease_until=moment + lease, attempts=R.attempts + 1
    )
    columns = (R.customer_id, R.requests, R.attempts)
    picked = select(R.customer_id).where(due).order_by(R.next_attempt_at).limit(limit)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Rows another worker is claiming, or a request is still writing, are skipped.
            ids = list(connection.execute(picked.with_for_update(skip_locked=True)).scalars())
            if not ids:
                return []
            found = claimed.where(R.customer_id.in_(ids), due)
        else:
            # One statement under SQLite's write lock: no other worker can claim these rows too.
            found = claimed.where(R.customer_id.in_(picked), due)
        rows = connection.execute(found.returning(*columns)).all()
    return [Claimed(*row) for row in rows]


def _mine(worker: str, customer_id: int) -> ColumnElement[bool]:
    return and_(R.customer_id == customer_id, R.claimed_by == worker)


def _finish(engine: Engine, worker: str, refresh: Claimed) -> str:
    """Remove the row if it asks for nothing more; else make it due again at once."""
    with engine.begin() as connection:
        removed = connection.execute(
            delete(R).where(_mine(worker, refresh.customer_id), R.requests == refresh.requests)
        )
        if removed.rowcount == 1:
            return "done"
        # Requests came in while this one ran: they may have changed what it read.
        released = connection.execute(
            update(R)
            .where(_mine(worker, refresh.customer_id))
            .values(claimed_by=None, lease_until=None, attempts=0, last_error=None)
        )
    return "again" if released.rowcount == 1 else "lost"


def _record_failure(engine: Engine, worker: str, refresh: Claimed, error: str) -> str:
    given_up = refresh.attempts >= MAX_ATTEMPTS
    wait = min(BACKOFF * 2 ** (refresh.attempts - 1), BACKOFF_CAP)
    with engine.begin() as connection:
        changed = connection.execute(
            update(R)
            .where(_mine(worker, refresh.customer_id))
            .values(
                claimed_by=None, lease_until=None, next_attempt_at=now() + wait,
                last_error=error[:2000],
            )
        )  # fmt: skip
    if changed.rowcount != 1:
        return "lost"
    return "given_up" if given_up else "retrying"


def run_one(engine: Engine, refresh: Claimed, *, worker: str) -> str:
    """Run one claimed refresh: 'done', 'again' (asked for anew meanwhile), 'retrying',
    'given_up' (out of attempts) or 'lost' (its lease ran out and another worker took it)."""
    from patron.rules.events import on_event  # DuckDB and the rules: loaded when first needed

    try:
        on_event(engine=engine, customer_id=refresh.customer_id)
    except Exception as exc:
        log.exception("re-evaluating the warnings of customer %s failed", refresh.customer_id)
        return _record_failure(engine, worker, refresh, f"{type(exc).__name__}: {exc}")
    return _finish(engine, worker, refresh)


def run_queued(
    engine: Engine, *, worker: str, lease: timedelta = LEASE, max_batches: int = 1_000
) -> RefreshReport:
    """Run batch after batch of due refreshes until none is due (or `max_batches` were taken)."""
    total = RefreshReport()
    for _ in range(max_batches):
        batch = claim(engine, worker=worker, lease=lease)
        total.claimed += len(batch)
        for refresh in batch:
            outcome = run_one(engine, refresh, worker=worker)
            setattr(total, outcome, getattr(total, outcome) + 1)
        if not batch:
            break
    return total
