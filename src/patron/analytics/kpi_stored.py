"""KPI counts of many calendar periods at once, ended periods read from the KPI store.

A period that has ended is counted once per owner (`kpi_store.period_figures`) and kept until
a trigger drops it (an order touching it or an earlier moment, a customer changing owner);
a report then adds up the rows of the owners the user may see. Every count is a sum over
customers, and every customer has exactly one owner (or the pool), so those sums equal the
counts over the user's customers. The running period is counted live, and so are survey
answers (few rows, and not tied to orders).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from patron.analytics.kpi import (
    Counts,
    CustomerScope,
    Dimension,
    combined_counts,
    purchase_counts,
    retention_counts,
    survey_counts,
)
from patron.analytics.kpi_period import Period
from patron.analytics.kpi_store import POOL_KEY, ensure_store, hold_figures, period_figures
from patron.auth.models import User
from patron.customers.models import Customer
from patron.db import now

OWNER = Dimension("owner", Customer.owner_id, on_customer=True)
STORED = ("active", "new", "orders", "revenue", "repeaters", "previous_active", "retained")
Owner = int | None


def _key(owner: Owner) -> int:
    return POOL_KEY if owner is None else owner


def every_owner(connection: Connection) -> list[Owner]:
    """Every possible owner: each user and the pool."""
    return [None, *connection.execute(select(User.id)).scalars()]


def counts_by_period(
    connection: Connection,
    periods: Sequence[Period],
    *,
    owners: Iterable[Owner],
    customers: CustomerScope,
) -> list[Counts]:
    """Each period's counts over the customers of `owners`; `customers` must be the same
    customers as a condition (None: everyone, with `owners` then every owner)."""
    ensure_store(connection)
    keys = sorted({_key(owner) for owner in owners})
    moment = now()
    ended = [period for period in periods if period.end <= moment]
    stored = _stored(connection, ended, keys)
    result = []
    for period in periods:
        if period in ended:
            counts = _added(stored.get((period.start, period.end), {}).values())
            result.append(_with_surveys(connection, period, counts, customers))
        else:
            result.append(combined_counts(connection, period, None, customers).get(None, Counts()))
    return result


def _stored(
    connection: Connection, periods: list[Period], keys: list[int]
) -> dict[tuple[Any, Any], dict[int, Counts]]:
    """The stored rows of the periods for the owner keys, counting and storing missing ones."""
    found = _read(connection, periods, keys)
    missing = {p: [k for k in keys if k not in found.get((p.start, p.end), {})] for p in periods}
    if any(missing.values()):
        hold_figures(connection)
        for period, absent in missing.items():
            if absent:
                counted = _count(connection, period, absent)
                _write(connection, period, counted)
                found.setdefault((period.start, period.end), {}).update(counted)
    return found


def _read(
    connection: Connection, periods: list[Period], keys: list[int]
) -> dict[tuple[Any, Any], dict[int, Counts]]:
    if not periods or not keys:
        return {}
    t = period_figures.c
    query = select(t.period_start, t.period_end, t.owner_key, *(t[n] for n in STORED)).where(
        tuple_(t.period_start, t.period_end).in_([(p.start, p.end) for p in periods]),
        t.owner_key.in_(keys),
    )
    found: dict[tuple[Any, Any], dict[int, Counts]] = {}
    for row in connection.execute(query):
        values = dict(zip(STORED, row[3:], strict=True))
        values["revenue"] = Decimal(str(values["revenue"]))
        found.setdefault((row[0], row[1]), {})[int(row[2])] = Counts(**values)
    return found


def _count(connection: Connection, period: Period, keys: list[int]) -> dict[int, Counts]:
    """The period's purchase and retention counts of the owners' customers, per owner key
    (owners without a buyer get zeros, so they are stored too)."""
    users = [k for k in keys if k != POOL_KEY]
    condition: ColumnElement[bool] = Customer.owner_id.in_(users)
    if POOL_KEY in keys:
        condition = or_(condition, Customer.owner_id.is_(None))
    counts = {key: Counts() for key in keys}
    for owner, found in purchase_counts(connection, period, OWNER, condition).items():
        counts[_key(owner)] = found
    for owner, (previous_active, retained) in retention_counts(
        connection, period, OWNER, condition
    ).items():
        key = _key(owner)
        counts[key] = replace(counts[key], previous_active=previous_active, retained=retained)
    return counts


def _write(connection: Connection, period: Period, counts: dict[int, Counts]) -> None:
    rows = [
        {
            "period_start": period.start,
            "period_end": period.end,
            "owner_key": key,
            **{name: getattr(found, name) for name in STORED},
        }
        for key, found in counts.items()
    ]
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    # Another request may have stored the same rows meanwhile: theirs are the same counts.
    connection.execute(dialect.insert(period_figures).on_conflict_do_nothing(), rows)


def _added(parts: Iterable[Counts]) -> Counts:
    total = Counts()
    for part in parts:
        total = Counts(
            **{f.name: getattr(total, f.name) + getattr(part, f.name) for f in fields(Counts)}
        )
    return total


def _with_surveys(
    connection: Connection, period: Period, counts: Counts, customers: CustomerScope
) -> Counts:
    answers = survey_counts(connection, period, None, customers).get(None)
    if answers is None:
        return counts
    nps_n, promoters, detractors, csat_n, satisfied = answers
    return replace(
        counts,
        nps_responses=nps_n,
        promoters=promoters,
        detractors=detractors,
        csat_responses=csat_n,
        satisfied=satisfied,
    )
