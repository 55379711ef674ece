"""Scoring runs and the per-customer snapshot each run stores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.analytics.snapshot_keys import install_snapshot_keys
from patron.db import Base, Id, JsonText, now


class ScoringRun(Base):
    """One `patron score`: the as-of date, the models chosen and their fit, the rulebook used."""

    __tablename__ = "scoring_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    as_of: Mapped[datetime] = mapped_column(index=True)
    horizon_days: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=now)
    finished_at: Mapped[datetime | None]
    rulebook_version: Mapped[int | None]
    purchase_model: Mapped[str | None] = mapped_column(String(16))
    models: Mapped[dict[str, Any]] = mapped_column(default=dict)
    customers: Mapped[int] = mapped_column(default=0)


class ScoreSnapshot(Base):
    """A customer's features, model outputs, grade, stage and warnings as of one run."""

    __tablename__ = "score_snapshots"
    __table_args__ = (
        Index("ix_score_snapshots_customer_run", "customer_id", "run_id"),
        # Both keys are SQLite's only: PostgreSQL checks them per statement with triggers,
        # a fraction of the per-row checks for a run's million rows (analytics.snapshot_keys).
        ForeignKeyConstraint(["run_id"], ["scoring_runs.id"], ondelete="CASCADE").ddl_if(
            dialect="sqlite"
        ),
        ForeignKeyConstraint(["customer_id"], ["customers.id"]).ddl_if(dialect="sqlite"),
    )

    # One snapshot per customer and run, keyed by the two: a surrogate id would be a third
    # index (and a sequence) to fill for each of a run's million rows.
    run_id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Id, primary_key=True)
    grade: Mapped[str | None] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(32))
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    value_class: Mapped[str | None] = mapped_column(String(32))
    clv: Mapped[float | None]
    p_alive: Mapped[float | None]
    churn_risk: Mapped[float | None]
    warnings: Mapped[str] = mapped_column(String(400), default="")
    # The RFM grid's two axes as columns: the dashboard counts them over a whole run.
    r_score: Mapped[int | None] = mapped_column(SmallInteger)
    f_score: Mapped[int | None] = mapped_column(SmallInteger)
    features: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)
    explain: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)


@event.listens_for(ScoreSnapshot.__table__, "after_create")
def _after_create(_table: Any, connection: Connection, **_kw: Any) -> None:
    # `metadata.create_all` (scratch stores); migrations install them from migrations/env.py.
    install_snapshot_keys(connection)
