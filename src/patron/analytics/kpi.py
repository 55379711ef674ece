"""The headline KPIs of a period, computed by SQL aggregates in the database.

Every definition is written out in docs/kpi.md. Purchases are paid orders only: refunded and
cancelled orders never count. A period is half-open, [start, end).

`customers` (a condition on `Customer`, such as `patron.api.access.visible_customers`) limits
every count to those customers; None counts everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    SQLColumnExpression,
    Subquery,
    and_,
    bindparam,
    exists,
    func,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from patron.analytics.kpi_period import Period
from patron.analytics.kpi_store import ensure_store, run_clv
from patron.analytics.kpi_store import first_purchases as first_paid
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.customers.models import Customer
from patron.orders.models import Order, OrderStatus
from patron.service.models import SurveyKind, SurveyResponse

UNFINISHED_RUN_STATUSES = ("running", "failed")
CustomerScope = ColumnElement[bool] | None


class DayOf(FunctionElement[Any]):
    """The calendar day of a datetime column, comparable within one database."""

    name = "day_of"
    inherit_cache = True


@compiles(DayOf)
def _day_of_default(element: DayOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(DayOf, "sqlite")
def _day_of_sqlite(element: DayOf, compiler: SQLCompiler, **kw: Any) -> str:
    # CAST(... AS DATE) in SQLite keeps only the leading year number, so use date().
    return f"date({compiler.process(element.clauses, **kw)})"


class MonthIndex(FunctionElement[int]):
    """Months since year 0 (year * 12 + month - 1): consecutive months differ by one."""

    name = "month_index"
    type = Integer()
    inherit_cache = True


@compiles(MonthIndex)
def _month_index_default(element: MonthIndex, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return (
        f"(CAST(EXTRACT(YEAR FROM {arg}) AS INTEGER) * 12"
        f" + CAST(EXTRACT(MONTH FROM {arg}) AS INTEGER) - 1)"
    )


@compiles(MonthIndex, "sqlite")
def _month_index_sqlite(element: MonthIndex, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return (
        f"(CAST(strftime('%Y', {arg}) AS INTEGER) * 12"
        f" + CAST(strftime('%m', {arg}) AS INTEGER) - 1)"
    )


@dataclass(frozen=True)
class Dimension:
    """What a breakdown groups by: a customer column (current value) or an order column."""

    name: str
    column: SQLColumnExpression[Any]
    on_customer: bool


def is_paid() -> ColumnElement[bool]:
    """Only paid orders are purchases."""
    # Written into the SQL, not bound, so PostgreSQL may use the KPI store's partial indexes
    # on paid orders with any plan.
    return Order.status == bindparam(
        "paid", OrderStatus.paid, Order.status.type, literal_execute=True
    )


def among(customer_id: SQLColumnExpression[Any], customers: CustomerScope) -> ColumnElement[bool]:
    """Rows whose customer is within the scope (always true without one)."""
    if customers is None:
        return true()
    # Never correlated: breakdowns join customers in the outer query themselves.
    return customer_id.in_(select(Customer.id).where(customers).correlate(None))


def among_each(
    customer_id: SQLColumnExpression[Any], customers: CustomerScope
) -> ColumnElement[bool]:
    """`among`, checked by one look-up per row (the KPI store's (id, owner_id) index): for a
    cohort's members this measured cheaper than listing the hundreds of thousands of customers
    a manager or an agent sees, as `among` does; for a period's buyers it did not."""
    if customers is None:
        return true()
    # OFFSET 0 keeps PostgreSQL from turning the look-up into a join over every visible
    # customer; Customer is never correlated, as in `among`.
    return exists(
        select(Customer.id).where(Customer.id == customer_id, customers).offset(0)
    ).correlate_except(Customer)


def _order_keyed(key: Dimension | None) -> list[SQLColumnExpression[Any]]:
    """The customer, and the key when it is an order column (a customer column comes later)."""
    columns: list[SQLColumnExpression[Any]] = [Order.customer_id]
    if key is not None and not key.on_customer:
        columns.append(key.column.label("key"))
    return columns


def _customer_keyed(query: Select[Any], key: Dimension | None, name: str) -> Select[Any]:
    """Rows already one per customer, with a customer column's key looked up once each
    (not once per order)."""
    if key is None or not key.on_customer:
        return query
    rows = query.subquery(name)
    return select(rows, key.column.label("key")).join_from(
        rows, Customer, rows.c.customer_id == Customer.id
    )


def activity(
    period: Period, key: Dimension | None = None, customers: CustomerScope = None
) -> Select[Any]:
    """Per customer (and key): paid orders, revenue and distinct purchase days in the period."""
    # Orders are first added up per purchase day, so the days are counted without a sort.
    day = DayOf(Order.ordered_at).label("day")
    keyed = _order_keyed(key)
    daily = (
        select(*keyed, day, func.count().label("orders"), func.sum(Order.amount).label("revenue"))
        .where(is_paid(), period.within(Order.ordered_at), among(Order.customer_id, customers))
        .group_by(*keyed, day)
        .subquery("daily")
    )
    columns = [daily.c.customer_id, *([daily.c.key] if len(keyed) > 1 else [])]
    per_customer = select(
        *columns,
        func.sum(daily.c.orders).label("orders"),
        func.sum(daily.c.revenue).label("revenue"),
        func.count().label("days"),
    ).group_by(*columns)
    return _customer_keyed(per_customer, key, "per_customer")


def buyers(
    period: Period, key: Dimension | None = None, customers: CustomerScope = None
) -> Select[Any]:
    """Each customer (and key) with a paid order in the period, once."""
    paid_within = (
        is_paid(),
        period.within(Order.ordered_at),
        among(Order.customer_id, customers),
    )
    query = select(*_order_keyed(key)).where(*paid_within).distinct()
    return _customer_keyed(query, key, "buying")


def first_purchases() -> Subquery:
    """Each buyer's first-ever paid order, as the KPI store keeps it."""
    return select(first_paid.c.customer_id, first_paid.c.first_paid_at.label("first_at")).subquery(
        "first_purchase"
    )


def new_buyers(period: Period, customers: CustomerScope = None) -> Select[Any]:
    """The customers whose first-ever paid order falls in the period."""
    return select(first_paid.c.customer_id).where(
        period.within(first_paid.c.first_paid_at), among(first_paid.c.customer_id, customers)
    )


@dataclass(frozen=True)
class Counts:
    """The raw counts every KPI is a ratio of; breakdown rows hold one each."""

    active: int = 0
    new: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)
    repeaters: int = 0
    previous_active: int = 0
    retained: int = 0
    nps_responses: int = 0
    promoters: int = 0
    detractors: int = 0
    csat_responses: int = 0
    satisfied: int = 0


def purchase_counts(
    connection: Connection,
    period: Period,
    key: Dimension | None = None,
    customers: CustomerScope = None,
) -> dict[Any, Counts]:
    """Active, new, orders, revenue and repeaters per key (one row keyed None without a key)."""
    ensure_store(connection)
    current = activity(period, key, customers).subquery("current")
    # Read from the store: far fewer first purchases fall in a period than buyers do.
    is_new = current.c.customer_id.in_(new_buyers(period, customers))
    group = [current.c.key] if key is not None else []
    query = (
        select(
            *group,
            func.count(current.c.customer_id),
            func.count().filter(is_new),
            func.coalesce(func.sum(current.c.orders), 0),
            func.coalesce(func.sum(current.c.revenue), 0),
            func.count().filter(current.c.days >= 2),
        )
        .select_from(current)
        .group_by(*group)
    )
    rows = connection.execute(query).all()
    result: dict[Any, Counts] = {}
    for row in rows:
        values = row[-5:]
        result[row[0] if key is not None else None] = Counts(
            active=int(values[0]),
            new=int(values[1]),
            orders=int(values[2]),
            revenue=Decimal(str(values[3])),
            repeaters=int(values[4]),
        )
    return result


def retention_counts(
    connection: Connection,
    period: Period,
    key: Dimension | None = None,
    customers: CustomerScope = None,
) -> dict[Any, tuple[int, int]]:
    """Per key: customers active in the previous period, and how many of them are active now."""
    # A customer column is the same in both periods: it is looked up once, on the pairs.
    order_key = key if key is not None and not key.on_customer else None
    before = buyers(period.previous(), order_key, customers).subquery("before")
    current = buyers(period, order_key, customers).subquery("current")
    same = before.c.customer_id == current.c.customer_id
    if order_key is not None:
        same = and_(same, before.c.key.is_not_distinct_from(current.c.key))
    again = current.c.customer_id.label("again")
    pairs = select(*before.c, again).select_from(before.outerjoin(current, same))
    keyed = _customer_keyed(pairs, key, "pairs").subquery("keyed")
    group = [keyed.c.key] if key is not None else []
    query = select(*group, func.count(keyed.c.customer_id), func.count(keyed.c.again)).group_by(
        *group
    )
    return {
        (row[0] if key is not None else None): (int(row[-2]), int(row[-1]))
        for row in connection.execute(query).all()
    }


def survey_counts(
    connection: Connection,
    period: Period,
    key: Dimension | None = None,
    customers: CustomerScope = None,
) -> dict[Any, tuple[int, int, int, int, int]]:
    """Per key: NPS responses, promoters (9-10), detractors (0-6), CSAT responses, 4-5s."""
    nps = SurveyResponse.kind == SurveyKind.nps
    csat = SurveyResponse.kind == SurveyKind.csat
    if key is not None and not key.on_customer:
        return {}
    group: list[Any] = [key.column.label("key")] if key is not None else []
    query = (
        select(
            *group,
            func.count().filter(nps),
            func.count().filter(nps, SurveyResponse.score >= 9),
            func.count().filter(nps, SurveyResponse.score <= 6),
            func.count().filter(csat),
            func.count().filter(csat, SurveyResponse.score >= 4),
        )
        .where(
            SurveyResponse.score.is_not(None),
            period.within(SurveyResponse.answered_at),
            among(SurveyResponse.customer_id, customers),
        )
        .group_by(*group)
    )
    if key is not None:
        query = query.join_from(SurveyResponse, Customer, SurveyResponse.customer_id == Customer.id)
    return {
        (row[0] if key is not None else None): (
            int(row[-5]),
            int(row[-4]),
            int(row[-3]),
            int(row[-2]),
            int(row[-1]),
        )
        for row in connection.execute(query).all()
    }


def latest_run_id(connection: Connection) -> int | None:
    """The latest scoring run that completed: neither still running nor failed."""
    # Runs are numbered as they start, so the highest id is the most recent one.
    query = (
        select(ScoringRun.id)
        .where(ScoringRun.status.not_in(UNFINISHED_RUN_STATUSES))
        .order_by(ScoringRun.id.desc())
        .limit(1)
    )
    return connection.execute(query).scalar_one_or_none()


def average_clv(connection: Connection, customers: CustomerScope = None) -> float | None:
    """The mean CLV over the latest finished scoring run; None when there is none."""
    run_id = latest_run_id(connection)
    if run_id is None:
        return None
    if customers is None:
        total, counted = _run_clv(connection, run_id)
        return total / counted if counted else None
    query = select(func.avg(ScoreSnapshot.clv)).where(
        ScoreSnapshot.run_id == run_id, among(ScoreSnapshot.customer_id, customers)
    )
    value = connection.execute(query).scalar_one_or_none()
    return None if value is None else float(value)


def _run_clv(connection: Connection, run_id: int) -> tuple[float, int]:
    """The run's CLV total and how many snapshots have one, stored once per run (a finished
    run's snapshots stay as they are; a trigger drops the total if they change)."""
    ensure_store(connection)
    stored = connection.execute(
        select(run_clv.c.total, run_clv.c.customers).where(run_clv.c.run_id == run_id)
    ).first()
    if stored is not None:
        return float(stored.total or 0.0), int(stored.customers)
    total, counted = connection.execute(
        select(func.sum(ScoreSnapshot.clv), func.count(ScoreSnapshot.clv)).where(
            ScoreSnapshot.run_id == run_id
        )
    ).one()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(
        dialect.insert(run_clv).on_conflict_do_nothing(),
        {"run_id": run_id, "total": total, "customers": counted},
    )
    return float(total or 0.0), int(counted)


def combined_counts(
    connection: Connection,
    period: Period,
    key: Dimension | None = None,
    customers: CustomerScope = None,
) -> dict[Any, Counts]:
    """Purchase, retention and survey counts merged per key."""
    merged = purchase_counts(connection, period, key, customers)
    retention = retention_counts(connection, period, key, customers)
    for group, (previous_active, retained) in retention.items():
        merged[group] = replace(
            merged.get(group, Counts()), previous_active=previous_active, retained=retained
        )
    for group, (nps_n, promoters, detractors, csat_n, satisfied) in survey_counts(
        connection, period, key, customers
    ).items():
        merged[group] = replace(
            merged.get(group, Counts()),
            nps_responses=nps_n,
            promoters=promoters,
            detractors=detractors,
            csat_responses=csat_n,
            satisfied=satisfied,
        )
    return merged


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def kpis(counts: Counts) -> dict[str, Any]:
    """The KPIs a set of counts gives, by the definitions in docs/kpi.md."""
    retention = ratio(counts.retained, counts.previous_active)
    nps = ratio(100 * (counts.promoters - counts.detractors), counts.nps_responses)
    return {
        "active_customers": counts.active,
        "new_customers": counts.new,
        "returning_customers": counts.active - counts.new,
        "retention_rate": retention,
        "churn_rate": None if retention is None else 1 - retention,
        "repurchase_rate": ratio(counts.repeaters, counts.active),
        "paid_orders": counts.orders,
        "revenue": float(counts.revenue),
        "average_order_value": ratio(float(counts.revenue), counts.orders),
        "purchase_frequency": ratio(counts.orders, counts.active),
        "nps": nps,
        "nps_responses": counts.nps_responses,
        "csat": ratio(counts.satisfied, counts.csat_responses),
        "csat_responses": counts.csat_responses,
    }


def headline(
    *,
    connection: Connection,
    period: Period,
    customers: CustomerScope = None,
    clv: Callable[[], float | None] | None = None,
) -> dict[str, Any]:
    """The headline KPIs of one period, with its ends as `from` and `to`; `clv` gives the
    average CLV of those customers another way (the KPI store's totals per owner)."""
    counts = combined_counts(connection, period, customers=customers).get(None, Counts())
    return {
        "from": period.label_from,
        "to": period.label_to,
        **kpis(counts),
        "average_clv": clv() if clv is not None else average_clv(connection, customers),
    }


def monthly(
    *, connection: Connection, period: Period, customers: CustomerScope = None
) -> list[dict[str, Any]]:
    """The KPIs of each calendar month in the period (the first and last may be partial)."""
    rows = []
    month = period.start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    # One iteration per month of the period, each a handful of aggregate queries.
    while month < period.end:
        following = (month + timedelta(days=32)).replace(day=1)
        part = Period(max(month, period.start), min(following, period.end), "", "")
        counts = combined_counts(connection, part, customers=customers).get(None, Counts())
        rows.append({"month": month.strftime("%Y-%m"), **kpis(counts)})
        month = following
    return rows
