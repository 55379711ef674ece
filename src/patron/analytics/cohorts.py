"""Monthly acquisition cohorts: of the customers who first bought in a month, who bought again."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from patron.analytics.kpi import CustomerScope, MonthIndex, among_each, first_purchases, is_paid
from patron.analytics.kpi_period import Period
from patron.analytics.kpi_store import ensure_store
from patron.orders.models import Order

MONTHS_PER_YEAR = 12


def month_label(index: int) -> str:
    """'YYYY-MM' for a month index (year * 12 + month - 1)."""
    year, month = divmod(index, MONTHS_PER_YEAR)
    return f"{year:04d}-{month + 1:02d}"


def cohort_retention(
    *, connection: Connection, period: Period, customers: CustomerScope = None
) -> list[dict[str, Any]]:
    """One row per cohort whose first paid order falls in the period: month k's share buying
    (over `customers`; None: everyone)."""
    ensure_store(connection)
    first = first_purchases()
    members = (
        select(first.c.customer_id, MonthIndex(first.c.first_at).label("cohort"))
        .where(period.within(first.c.first_at), among_each(first.c.customer_id, customers))
        .subquery("members")
    )
    # A member's orders all come at or after the first, so the period bounds them.
    months = (
        select(Order.customer_id, MonthIndex(Order.ordered_at).label("month"))
        .where(
            is_paid(),
            period.within(Order.ordered_at),
            Order.customer_id.in_(select(members.c.customer_id)),
        )
        .distinct()
        .subquery("purchase_months")
    )
    query = (
        select(members.c.cohort, months.c.month, func.count())
        .select_from(members.join(months, months.c.customer_id == members.c.customer_id))
        .group_by(members.c.cohort, months.c.month)
    )
    cells: dict[int, dict[int, int]] = defaultdict(dict)
    # One row per (cohort, month) cell: at most months x months rows, never per customer.
    for cohort_month, month, buyers in connection.execute(query).all():
        cells[int(cohort_month)][int(month) - int(cohort_month)] = int(buyers)
    last = period.end - timedelta(microseconds=1)
    last_index = last.year * MONTHS_PER_YEAR + last.month - 1
    rows = []
    for cohort_month in sorted(cells):
        size = cells[cohort_month][0]
        span = range(last_index - cohort_month + 1)
        shares = [cells[cohort_month].get(k, 0) / size for k in span]
        rows.append({"cohort": month_label(cohort_month), "customers": size, "retention": shares})
    return rows
