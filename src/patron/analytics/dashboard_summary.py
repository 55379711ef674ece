"""The dashboard's figures, counted once when a scoring run finishes instead of on every visit.

Each finished run stores one row per owner (and one for the pool, owner None): customers by
grade and stage, the RFM grid, the CLV distribution on the run's shared axis, and the owner's
most valuable customers at risk. A user's dashboard adds up the rows of the owners they may
see, so an agent still counts only their own customers and the pool. The figures are those of
the run's moment: a customer handed to another owner since moves on the next run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    ForeignKey,
    Index,
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
    n = connection.execute(select(func.count()).select_from(values.subquery())).scalar_one()
    if n == 0:
        return 1.0
    position = CLV_AXIS_QUANTILE * (n - 1)
    low = int(position)
    pair = connection.execute(values.order_by(ScoreSnapshot.clv).offset(low).limit(2)).scalars()
    below, *above = [float(v or 0.0) for v in pair]
    top = below + (position - low) * ((above[0] if above else below) - below)
    if top:
        return top
    highest = connection.execute(values.order_by(ScoreSnapshot.clv.desc()).limit(1)).scalar()
    return float(highest or 0.0) or 1.0


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


def _grouped(connection: Connection, query: Any) -> Iterable[Any]:
    return connection.execute(query).all()


def _empty() -> dict[str, Any]:
    return {
        "grades": {},
        "stages": {},
        "rfm": [[0] * 5 for _ in range(5)],
        "clv": [0] * CLV_BINS,
        "at_risk": [],
    }


def _count_column(connection: Connection, column: Any, figures: dict[Any, dict[str, Any]],
                  key: str) -> None:  # fmt: skip
    query = (
        select(Customer.owner_id, column, func.count())
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(live_customer())
        .group_by(Customer.owner_id, column)
    )
    for owner, value, n in _grouped(connection, query):
        figures.setdefault(owner, _empty())[key][value or ""] = int(n)


def _rfm(connection: Connection, run_id: int, figures: dict[Any, dict[str, Any]]) -> None:
    r = ScoreSnapshot.r_score.label("r")
    f = ScoreSnapshot.f_score.label("f")
    inner = select(Customer.owner_id, r, f).where(_run_customers(run_id)).subquery()
    query = select(inner.c.owner_id, inner.c.r, inner.c.f, func.count()).group_by(
        inner.c.owner_id, inner.c.r, inner.c.f
    )
    for owner, r_score, f_score, n in _grouped(connection, query):
        if r_score and f_score and 1 <= r_score <= 5 and 1 <= f_score <= 5:
            figures.setdefault(owner, _empty())["rfm"][r_score - 1][f_score - 1] = int(n)


def _clv(connection: Connection, run_id: int, top: float,
         figures: dict[Any, dict[str, Any]]) -> None:  # fmt: skip
    bin_ = clv_bin(top).label("bin")
    inner = (
        select(Customer.owner_id, bin_)
        .where(_run_customers(run_id), ScoreSnapshot.clv.is_not(None))
        .subquery()
    )
    query = select(inner.c.owner_id, inner.c.bin, func.count()).group_by(
        inner.c.owner_id, inner.c.bin
    )
    for owner, bin_index, n in _grouped(connection, query):
        figures.setdefault(owner, _empty())["clv"][int(bin_index)] = int(n)


def _at_risk(connection: Connection, run_id: int, figures: dict[Any, dict[str, Any]]) -> None:
    order = (ScoreSnapshot.clv.desc().nulls_last(), Customer.id)
    rank = func.row_number().over(partition_by=Customer.owner_id, order_by=order).label("rank")
    inner = (
        select(Customer.owner_id, Customer.id, ScoreSnapshot.clv, rank)
        .where(
            _run_customers(run_id),
            ScoreSnapshot.grade.in_(AT_RISK_GRADES),
            ScoreSnapshot.warnings != "",
        )
        .subquery()
    )
    query = select(inner.c.owner_id, inner.c.id, inner.c.clv).where(inner.c.rank <= AT_RISK_KEPT)
    for owner, customer_id, clv in _grouped(connection, query):
        entry = [int(customer_id), None if clv is None else float(clv)]
        figures.setdefault(owner, _empty())["at_risk"].append(entry)


def write_summary(connection: Connection, run_id: int) -> None:
    """Count and store the run's dashboard figures and trends per owner (inside the run's
    transaction)."""
    top = clv_axis(connection, run_id)
    figures: dict[Any, dict[str, Any]] = {}
    _count_column(connection, CustomerScore.grade, figures, "grades")
    _count_column(connection, CustomerScore.stage, figures, "stages")
    _rfm(connection, run_id, figures)
    _clv(connection, run_id, top, figures)
    _at_risk(connection, run_id, figures)
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
