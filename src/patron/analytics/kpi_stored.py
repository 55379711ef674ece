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

from sqlalchemy import ColumnElement, Connection, func, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from patron.analytics.kpi import (
    Counts,
    CustomerScope,
    Dimension,
    combined_counts,
    latest_run_id,
    purchase_counts,
    retention_counts,
    survey_counts,
)
from patron.analytics.kpi_period import Period
from patron.analytics.kpi_store import (
    POOL_KEY,
    ensure_store,
    may_store,
    period_figures,
    run_clv_by,
)
from patron.analytics.models import ScoreSnapshot
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
        keep = may_store(connection)
        for period, absent in missing.items():
            if absent:
                counted = _count(connection, period, absent)
                if keep:
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
    condition = _owned_by(keys)
    counts = {key: Counts() for key in keys}
    for owner, found in purchase_counts(connection, period, OWNER, condition).items():
        counts[_key(owner)] = found
    for owner, (previous_active, retained) in retention_counts(
        connection, period, OWNER, condition
    ).items():
        key = _key(owner)
        counts[key] = replace(counts[key], previous_active=previous_active, retained=retained)
    return counts


def _owned_by(keys: list[int]) -> ColumnElement[bool]:
    """Customers of the owners of these keys (the pool's for key 0)."""
    condition: ColumnElement[bool] = Customer.owner_id.in_([k for k in keys if k != POOL_KEY])
    if POOL_KEY in keys:
        condition = or_(condition, Customer.owner_id.is_(None))
    return condition


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


def average_clv_by(
    connection: Connection, dimension: Dimension, owners: Iterable[Owner]
) -> dict[Any, float]:
    """The latest run's mean CLV per value of a customer column over the owners' customers,
    added up from totals stored per run, owner and value (`kpi_store.run_clv_by`)."""
    sums = _clv_sums(connection, dimension, owners)
    return {group: total / n for group, (total, n) in sums.items() if n}


def average_clv_over(connection: Connection, owners: Iterable[Owner]) -> float | None:
    """The latest run's mean CLV over the owners' customers, from the same stored totals."""
    sums = _clv_sums(connection, OWNER, owners).values()
    counted = sum(n for _total, n in sums)
    return sum(total for total, _n in sums) / counted if counted else None


def _clv_sums(
    connection: Connection, dimension: Dimension, owners: Iterable[Owner]
) -> dict[Any, tuple[float, int]]:
    """The latest run's CLV total and count per value, over the owners' customers: stored
    rows, and for owners without them, counted and stored now."""
    run_id = latest_run_id(connection)
    if run_id is None:
        return {}
    ensure_store(connection)
    keys = sorted({_key(owner) for owner in owners})
    t = run_clv_by.c
    query = select(t.owner_key, t.known, t.value, t.total, t.customers).where(
        t.run_id == run_id, t.dimension == dimension.name, t.owner_key.in_(keys)
    )
    rows = [tuple(row) for row in connection.execute(query)]
    # Every owner counted has its row for "no value", if only with zeros.
    counted = {row[0] for row in rows if not row[1]}
    absent = [key for key in keys if key not in counted]
    if absent:
        fresh = _clv_totals(connection, run_id, dimension, absent)
        if may_store(connection):
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            named = ("owner_key", "known", "value", "total", "customers")
            head = {"run_id": run_id, "dimension": dimension.name}
            connection.execute(
                dialect.insert(run_clv_by).on_conflict_do_nothing(),
                [{**head, **dict(zip(named, row, strict=True))} for row in fresh],
            )
        rows += fresh
    sums: dict[Any, tuple[float, int]] = {}
    for owner_key, known, value, total, customers in rows:
        if dimension.name == "owner":
            group: Any = None if owner_key == POOL_KEY else int(owner_key)
        else:
            group = value if known else None
        before = sums.get(group, (0.0, 0))
        sums[group] = (before[0] + float(total), before[1] + int(customers))
    return sums


def _clv_totals(
    connection: Connection, run_id: int, dimension: Dimension, keys: list[int]
) -> list[tuple[int, bool, str, float, int]]:
    """The run's CLV total and count per owner key and value, for the owners of `keys`."""
    value: Any = dimension.column.label("value")
    query = (
        select(Customer.owner_id, value, func.sum(ScoreSnapshot.clv), func.count(ScoreSnapshot.clv))
        .join_from(ScoreSnapshot, Customer, ScoreSnapshot.customer_id == Customer.id)
        .where(ScoreSnapshot.run_id == run_id, _owned_by(keys))
        .group_by(Customer.owner_id, value)
    )
    totals: dict[tuple[int, bool, str], tuple[float, int]] = {
        (key, False, ""): (0.0, 0) for key in keys
    }
    for owner, found, total, n in connection.execute(query):
        known = found is not None and dimension.name != "owner"
        totals[(_key(owner), known, str(found) if known else "")] = (float(total or 0.0), int(n))
    return [(*group, total, n) for group, (total, n) in totals.items()]
