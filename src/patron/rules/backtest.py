"""Backtests: the rulebook as of a past date, measured against what happened until a later one.

A warning's positives are customers with no paid order in (as_of, until]. Features and models
use only data dated on or before as_of; outcomes only data in the window.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb
from sqlalchemy import Engine

from patron.analytics.features import as_of_moment, connect, epoch_seconds
from patron.analytics.pipeline import ModelChoice, compute
from patron.analytics.store import read_store
from patron.errors import InvalidInput
from patron.rules.engine import evaluate
from patron.rules.rulebook import Rulebook


def _outcomes(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> None:
    con.execute(
        """
        CREATE OR REPLACE TABLE outcomes AS
        SELECT f.customer_id,
               count(o.customer_id) = 0 AS no_purchase,
               coalesce(sum(o.amount), 0) AS future_revenue
        FROM features f LEFT JOIN orders o
          ON o.customer_id = f.customer_id AND o.status = 'paid'
         AND o.ts > $start AND o.ts <= $end
        GROUP BY f.customer_id
        """,
        {"start": epoch_seconds(start), "end": epoch_seconds(end)},
    )


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _warnings(
    rulebook: Rulebook, con: duckdb.DuckDBPyConnection, customers: int, positives: int
) -> list[dict[str, Any]]:
    measured = []
    for warning in rulebook.warnings:
        row = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE o.no_purchase) FROM decisions d "
            "JOIN outcomes o USING (customer_id) WHERE list_contains(d.warnings, $id)",
            {"id": warning.id},
        ).fetchone()
        flagged, hits = (int(row[0]), int(row[1])) if row else (0, 0)
        precision = _ratio(hits, flagged)
        lift = _ratio(hits * customers, flagged * positives)  # precision over the base rate
        measured.append(
            {
                "id": warning.id,
                "flagged": flagged,
                "precision": precision,
                "recall": _ratio(hits, positives),
                "lift": lift,
            }
        )
    return measured


def _grades(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT d.grade, count(*), sum(o.future_revenue), "
        "(SELECT sum(future_revenue) FROM outcomes) FROM decisions d "
        "JOIN outcomes o USING (customer_id) GROUP BY d.grade ORDER BY d.grade NULLS LAST"
    ).fetchall()
    return [
        {
            "grade": grade,
            "customers": int(n),
            "future_revenue_share": _ratio(float(rev), float(total or 0)),
        }
        for grade, n, rev, total in rows
    ]


def backtest(
    *,
    engine: Engine,
    rulebook: Rulebook,
    as_of: date | datetime,
    until: date | datetime,
    model: ModelChoice = "auto",
) -> dict[str, Any]:
    """Precision, recall and lift per warning; each grade's share of the future revenue."""
    start, end = as_of_moment(as_of), as_of_moment(until)
    if end <= start:
        raise InvalidInput(f"--until ({end.date()}) must be after --as-of ({start.date()})")
    con = connect(read_store(engine, end))
    horizon = max(1, (end.date() - start.date()).days)
    compute(con, start, horizon_days=horizon, model=model)
    evaluate(rulebook, con, start.date())
    _outcomes(con, start, end)
    customers, positives = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE no_purchase) FROM outcomes"
    ).fetchone() or (0, 0)
    base_rate = _ratio(int(positives), int(customers))
    return {
        "as_of": start.date().isoformat(),
        "until": end.date().isoformat(),
        "customers": int(customers),
        "base_rate": base_rate,
        "warnings": _warnings(rulebook, con, int(customers), int(positives)),
        "grades": _grades(con),
    }
