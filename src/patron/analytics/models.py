"""Scoring runs and the per-customer snapshot each run stores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

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
        UniqueConstraint("run_id", "customer_id"),
        Index("ix_score_snapshots_customer_run", "customer_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scoring_runs.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
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
