"""The dashboard's figures, counted once when a scoring run finishes instead of on every visit.

Each finished run stores one row per owner (and one for the pool, owner None): customers by
grade and stage, the RFM grid, the CLV distribution on the run's shared axis, and the owner's
most valuable customers at risk. A user's dashboard adds up the rows of the owners they may
see, so an agent still counts only their own customers and the pool. The figures are those of
the run's moment: a customer handed to another owner since moves on the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import (
    ColumnElement,
    Connection,
    ForeignKey,
    Index,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.analytics.dashboard_trends import write_trends
from patron.analytics.models import ScoreSnapshot
from patron.customers.models import Customer, CustomerScore
from patron.db import Base, Id
from patron.rules.bulk_write import fetch_table

CLV_BINS = 12
AT_RISK_GRADES = ("A", "B")
AT_RISK_KEPT = 10
# The top percent would stretch the axis until every other bar is one column.
CLV_AXIS_QUANTILE = 0.99


class DashboardFigures(Base):
    """One owner's dashboard figures in one scoring run (owner None: the pool)."""

    __tablename__ = "dashboard_figures"
    __table_args__ = (Index("ix_dashboard_figures_run_owner", "run_id", "owner_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scoring_runs.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None]
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)


def live_customer() -> ColumnElement[bool]:
    """Customers neither deleted nor merged into another."""
    return and_(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))


def _run_customers(run_id: int) -> ColumnElement[bool]:
    return and_(
        ScoreSnapshot.run_id == run_id, Customer.id == ScoreSnapshot.customer_id, live_customer()
    )


def clv_axis(connection: Connection, run_id: int) -> float:
    """The right end of the CLV axis: the run's 99th percentile (as numpy's linear quantile),
    else its highest CLV, else 1; shared by every user so their bars line up."""
    values = select(ScoreSnapshot.clv).where(_run_customers(run_id), ScoreSnapshot.clv.is_not(None))
    return _axis_end(
        connection.execute(select(func.count()).select_from(values.subquery())).scalar_one(),
        lambda low: (
            connection.execute(values.order_by(ScoreSnapshot.clv).offset(low).limit(2))
            .scalars()
            .all()
        ),
        lambda: connection.execute(values.order_by(ScoreSnapshot.clv.desc()).limit(1)).scalar(),
    )


def _axis_end(
    n: int, pair_from: Callable[[int], Sequence[Any]], highest: Callable[[], Any]
) -> float:
    """The 99th percentile of n values from the two sorted values at its position (the
    values from the `low`-th on), else the highest value, else 1."""
    if n == 0:
        return 1.0
    position = CLV_AXIS_QUANTILE * (n - 1)
    low = int(position)
    below, *above = [float(v or 0.0) for v in pair_from(low)]
    top = below + (position - low) * ((above[0] if above else below) - below)
    return top or float(highest() or 0.0) or 1.0


def clv_labels(top: float) -> list[str]:
    """The bins' labels, from 0 to the axis' end."""
    edges = np.linspace(0, top, CLV_BINS + 1)
    return [f"{edges[i]:,.0f}–{edges[i + 1]:,.0f}" for i in range(CLV_BINS)]


def clv_bin(top: float) -> ColumnElement[int]:
    """A snapshot's CLV bin as numpy's histogram puts it: below 0 in the first, above the
    axis' end in the last."""
    edges = np.linspace(0, top, CLV_BINS + 1)
    whens = [(ScoreSnapshot.clv >= float(edges[i]), i) for i in range(CLV_BINS - 1, 0, -1)]
    return case(*whens, else_=0)


def _empty() -> dict[str, Any]:
    return {
        "grades": {},
        "stages": {},
        "rfm": [[0] * 5 for _ in range(5)],
        "clv": [0] * CLV_BINS,
        "at_risk": [],
    }


# The live customers with their owner and latest scores, as the run's transaction sees them
# after its actions (pool recycling changes owners) and its latest scores.
_LIVE_CUSTOMERS = (
    select(Customer.id, Customer.owner_id, CustomerScore.grade, CustomerScore.stage)
    .join(CustomerScore, CustomerScore.customer_id == Customer.id)
    .where(live_customer())
)
_LIVE_TYPES = {"id": pa.int64(), "owner_id": pa.int64(), "grade": pa.string(), "stage": pa.string()}
_SNAPSHOT_TYPES = {
    "customer_id": pa.int64(),
    "clv": pa.float64(),
    "r_score": pa.int64(),
    "f_score": pa.int64(),
    "grade": pa.string(),
    "warnings": pa.string(),
}


def _stored_snapshots(run_id: int) -> Select[*tuple[Any, ...]]:
    return select(
        ScoreSnapshot.customer_id,
        ScoreSnapshot.clv,
        ScoreSnapshot.r_score,
        ScoreSnapshot.f_score,
        ScoreSnapshot.grade,
        ScoreSnapshot.warnings,
    ).where(ScoreSnapshot.run_id == run_id)


# The same columns from the run's own DuckDB tables, as `runs._snapshot_query` stores them.
_RUN_SNAPSHOTS = """
CREATE OR REPLACE TEMP VIEW run_snapshots AS
SELECT f.customer_id, f.clv, f.r_score, f.f_score, d.grade,
       array_to_string(d.warnings, ';') AS warnings
FROM features f JOIN decisions d USING (customer_id)
"""

# The run's snapshots of live customers, each with its owner after the run's actions.
_RUN_CUSTOMERS = """
CREATE OR REPLACE TEMP TABLE summary_customers AS
SELECT c.owner_id, s.* FROM run_snapshots s JOIN live_customers c ON c.id = s.customer_id
"""


def _fetched(
    connection: Connection, query: Select[*tuple[Any, ...]], types: dict[str, Any]
) -> pa.Table:
    """The query's rows as an Arrow table with these columns (by COPY on PostgreSQL)."""
    return fetch_table(connection, query, {}, list(types.items()))


def _axis(con: duckdb.DuckDBPyConnection) -> float:
    """`clv_axis` over the run's snapshots: the same order statistics, the same arithmetic."""
    values = "SELECT clv FROM summary_customers WHERE clv IS NOT NULL"
    return _axis_end(
        int(_one(con, f"SELECT count(*) FROM ({values})")),
        lambda low: [
            row[0] for row in con.execute(f"{values} ORDER BY clv LIMIT 2 OFFSET {low}").fetchall()
        ],
        lambda: _one(con, f"SELECT max(clv) FROM ({values})"),
    )


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def _bin(top: float) -> str:
    """`clv_bin` in DuckDB: the same edges, compared the same way."""
    edges = np.linspace(0, top, CLV_BINS + 1)
    whens = " ".join(
        f"WHEN clv >= {float(edges[i])!r} THEN {i}" for i in range(CLV_BINS - 1, 0, -1)
    )
    return f"CASE {whens} ELSE 0 END"


# Groups in a fixed order (the pool first, then owners by id), so a run stores the same
# figures, key order included, every time.
_GROUPED = "GROUP BY ALL ORDER BY ALL NULLS FIRST"


def _counted(con: duckdb.DuckDBPyConnection, top: float) -> dict[Any, dict[str, Any]]:
    figures: dict[Any, dict[str, Any]] = {}

    def entry(owner: Any) -> dict[str, Any]:
        return figures.setdefault(None if owner is None else int(owner), _empty())

    for key in ("grade", "stage"):
        counted = f"SELECT owner_id, {key}, count(*) FROM live_customers {_GROUPED}"
        for owner, value, n in con.execute(counted).fetchall():
            entry(owner)[f"{key}s"][value or ""] = int(n)
    grid = f"SELECT owner_id, r_score, f_score, count(*) FROM summary_customers {_GROUPED}"
    for owner, r_score, f_score, n in con.execute(grid).fetchall():
        if r_score and f_score and 1 <= r_score <= 5 and 1 <= f_score <= 5:
            entry(owner)["rfm"][r_score - 1][f_score - 1] = int(n)
    bins = (
        f"SELECT owner_id, {_bin(top)} AS bin, count(*) FROM summary_customers "
        f"WHERE clv IS NOT NULL {_GROUPED}"
    )
    for owner, bin_index, n in con.execute(bins).fetchall():
        entry(owner)["clv"][int(bin_index)] = int(n)
    at_risk = f"""
        SELECT owner_id, customer_id, clv FROM summary_customers
        WHERE grade IN ({", ".join(f"'{grade}'" for grade in AT_RISK_GRADES)}) AND warnings != ''
        QUALIFY row_number() OVER (
            PARTITION BY owner_id ORDER BY clv DESC NULLS LAST, customer_id) <= {AT_RISK_KEPT}
        ORDER BY owner_id NULLS FIRST, clv DESC NULLS LAST, customer_id
    """
    for owner, customer_id, clv in con.execute(at_risk).fetchall():
        entry(owner)["at_risk"].append([int(customer_id), None if clv is None else float(clv)])
    return figures


def write_summary(
    connection: Connection, run_id: int, con: duckdb.DuckDBPyConnection | None = None
) -> None:
    """Count and store the run's dashboard figures and trends per owner (inside the run's
    transaction).

    The figures are counted in DuckDB from the live customers' owners and latest scores as
    this transaction sees them, and the run's snapshots: from the run's own DuckDB tables
    `features` and `decisions` when `con` holds them (a scoring run: no join of a million
    snapshots in the database), else from the stored snapshots. They equal the counts the
    dashboard makes from the stored snapshots for a store without figures (`web.queries`)."""
    local = duckdb.connect() if con is None else con.cursor()
    try:
        local.register("live_customers", _fetched(connection, _LIVE_CUSTOMERS, _LIVE_TYPES))
        if con is None:
            stored = _fetched(connection, _stored_snapshots(run_id), _SNAPSHOT_TYPES)
            local.register("run_snapshots", stored)
        else:
            local.execute(_RUN_SNAPSHOTS)
        local.execute(_RUN_CUSTOMERS)
        top = _axis(local)
        figures = _counted(local, top)
    finally:
        local.close()
    rows = [
        {"run_id": run_id, "owner_id": owner, "figures": {**values, "clv_top": top}}
        for owner, values in figures.items()
    ]
    connection.execute(delete(DashboardFigures).where(DashboardFigures.run_id == run_id))
    if rows:
        connection.execute(insert(DashboardFigures), rows)
    write_trends(connection, run_id)


def stored_figures(connection: Connection, run_id: int) -> dict[int | None, dict[str, Any]]:
    """The run's stored figures by owner; empty when the run has none (an older run)."""
    rows = connection.execute(
        select(DashboardFigures.owner_id, DashboardFigures.figures).where(
            DashboardFigures.run_id == run_id
        )
    )
    return {row.owner_id: row.figures for row in rows}


def _added(counts: Iterable[dict[str, int]]) -> list[tuple[str, int]]:
    total: dict[str, int] = {}
    for part in counts:
        for key, n in part.items():
            total[key] = total.get(key, 0) + n
    return sorted(total.items())


def combine(parts: list[dict[str, Any]], top: float) -> dict[str, Any]:
    """Several owners' figures added up: the charts, and the at-risk candidates, most
    valuable first."""
    rfm = np.sum([part["rfm"] for part in parts], axis=0) if parts else np.zeros((5, 5))
    clv = np.sum([part["clv"] for part in parts], axis=0) if parts else np.zeros(CLV_BINS)
    candidates = sorted(
        (entry for part in parts for entry in part["at_risk"]),
        key=lambda entry: (entry[1] is None, -(entry[1] or 0.0), entry[0]),
    )
    return {
        "grades": _added(part["grades"] for part in parts),
        "stages": _added(part["stages"] for part in parts),
        "rfm": rfm.astype(int).tolist(),
        "clv": (
            {"labels": clv_labels(top), "counts": clv.astype(int).tolist()}
            if clv.any()
            else {"labels": [], "counts": []}
        ),
        "at_risk": [customer_id for customer_id, _clv in candidates[:AT_RISK_KEPT]],
    }
