"""The KPI store compared with a rebuild from scratch, for tests of the writers of orders.

A rebuild fills the first purchases from the orders and leaves the other tables empty: their
rows are counted when a report first needs them. So the first purchases must equal the
rebuild's, and every stored figure and CLV total must equal the same figure counted afresh
from the data now (a row a writer should have dropped shows as a different count).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy import Connection, Engine, func, select, text

from patron.analytics import kpi_store
from patron.analytics.kpi import Counts
from patron.analytics.kpi_breakdowns import DIMENSIONS
from patron.analytics.kpi_period import Period
from patron.analytics.kpi_stored import _clv_totals, _count, _read
from patron.analytics.models import ScoreSnapshot


@dataclass
class Compared:
    """How many rows of each table were compared (a test insists on some)."""

    first_purchases: int
    period_figures: int
    run_clv: int
    run_clv_by: int


def _first_purchases(conn: Connection) -> dict[int, datetime]:
    t = kpi_store.first_purchases.c
    return {int(c): moment for c, moment in conn.execute(select(t.customer_id, t.first_paid_at))}


Figures = dict[Period, dict[int, Counts]]
Totals = dict[int, tuple[float, int]]
TotalsBy = dict[tuple[int, str], dict[tuple[int, bool, str], tuple[float, int]]]


def _figures(conn: Connection) -> Figures:
    """The stored figures per period and owner key."""
    t = kpi_store.period_figures.c
    owners: dict[Period, list[int]] = defaultdict(list)
    for start, end, key in conn.execute(select(t.period_start, t.period_end, t.owner_key)):
        owners[Period(start, end, "", "")].append(int(key))
    return {p: _read(conn, [p], keys)[(p.start, p.end)] for p, keys in owners.items()}


def _totals(conn: Connection) -> tuple[Totals, TotalsBy]:
    """The stored CLV totals per run, and per run, dimension, owner key and value."""
    t = kpi_store.run_clv.c
    totals = {
        int(run): (float(total or 0.0), int(n))
        for run, total, n in conn.execute(select(t.run_id, t.total, t.customers))
    }
    b = kpi_store.run_clv_by.c
    by: TotalsBy = {}
    for run, dimension, key, known, value, total, n in conn.execute(
        select(b.run_id, b.dimension, b.owner_key, b.known, b.value, b.total, b.customers)
    ):
        by.setdefault((int(run), dimension), {})[(int(key), bool(known), value)] = (
            float(total),
            int(n),
        )
    return totals, by


def _recounted(conn: Connection, figures: Figures, totals: Totals, by: TotalsBy) -> None:
    """The same figures and totals counted afresh equal the kept ones."""
    for period, kept in figures.items():
        assert kept == _count(conn, period, sorted(kept)), period
    for run, (total, n) in totals.items():
        fresh, counted = conn.execute(
            select(func.sum(ScoreSnapshot.clv), func.count(ScoreSnapshot.clv)).where(
                ScoreSnapshot.run_id == run
            )
        ).one()
        assert (total, n) == (pytest.approx(float(fresh or 0.0)), counted), run
    for (run, dimension), rows in by.items():
        owners = sorted({key for key, _known, _value in rows})
        again = _clv_totals(conn, run, DIMENSIONS[dimension], owners)
        assert rows == {
            (key, known, value): (pytest.approx(total), counted)
            for key, known, value, total, counted in again
        }, (run, dimension)


def assert_store_exact(engine: Engine) -> Compared:
    """Check every KPI store table against a rebuild of the store from scratch: the first
    purchases equal the rebuild's, and every stored figure and CLV total equals the same
    one counted afresh on the rebuilt store. The store is left rebuilt (figures and totals
    are counted again when next needed)."""
    with engine.begin() as conn:
        kept = _first_purchases(conn)
        figures = _figures(conn)
        totals, by = _totals(conn)
        kpi_store.rebuild(conn)
        assert kept == _first_purchases(conn)
        _recounted(conn, figures, totals, by)
    return Compared(
        len(kept), sum(map(len, figures.values())), len(totals), sum(map(len, by.values()))
    )


def trigger_names(engine: Engine) -> set[str]:
    """The KPI store's triggers in the database now."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            found = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'kpi%'"
        else:
            found = "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'kpi%'"
        return set(conn.scalars(text(found)))
