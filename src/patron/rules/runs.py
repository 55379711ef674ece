"""The batch run behind `patron score`: read the store as of a date, compute, decide, store, act.

The run, its snapshots, the customers' latest scores and every action are written in one
transaction. A run as of an earlier date than the newest stored run (a backfill) stores its
snapshots only: it never moves customers' current grades or takes actions in the past.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
from sqlalchemy import Engine, func, select

from patron.analytics.features import as_of_moment, connect
from patron.analytics.models import ScoringRun
from patron.analytics.pipeline import ModelChoice, compute
from patron.analytics.snapshots import (
    SNAPSHOT_COLUMNS,
    insert_run,
    insert_snapshots,
    plain,
    update_customers,
)
from patron.analytics.store import read_store
from patron.db import now
from patron.rules import versions
from patron.rules.actions import apply_decisions
from patron.rules.engine import evaluate
from patron.rules.rulebook import Rulebook

# Columns kept out of a snapshot's features: identity, raw inputs and the previous run's state.
NOT_FEATURES = (
    "customer_id",
    "external_id",
    "name",
    "owner_id",
    "birthday_day",
    "lunar_birthday",
    "current_grade",
    "current_stage",
    "churn_drivers",
    "offers",
)


@dataclass
class ScoringOutcome:
    """What a run did: its id, date, size, the models it chose and the actions it took."""

    run_id: int
    as_of: datetime
    customers: int
    live: bool
    rulebook_version: int | None
    purchase_model: str | None
    models: dict[str, Any] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "as_of": self.as_of.isoformat()}


def prepare(
    engine: Engine, moment: datetime, horizon_days: int, model: ModelChoice, rulebook: Rulebook
) -> tuple[duckdb.DuckDBPyConnection, Any]:
    """Everything up to the decisions, in DuckDB, changing nothing in the store."""
    con = connect(read_store(engine, moment))
    computed = compute(con, moment, horizon_days=horizon_days, model=model)
    evaluate(rulebook, con, moment.date())
    return con, computed


def _snapshot_rows(
    con: duckdb.DuckDBPyConnection, run_id: int, version: int | None
) -> list[dict[str, Any]]:
    kept = ", ".join(name for name in con.table("features").columns if name not in NOT_FEATURES)
    rows = con.execute(
        f"""
        SELECT $run_id AS run_id, f.customer_id, d.grade, d.stage, f.rfm_segment, f.value_class,
               f.clv, f.p_alive,
               f.churn_risk, array_to_string(d.warnings, ';') AS warnings,
               (SELECT to_json(t) FROM (SELECT {kept}) t) AS features,
               json_object(
                   'grade', json_object('rule', d.grade, 'values', d.grade_values),
                   'stage', json_object('rule', d.stage, 'values', d.stage_values),
                   'segments', json(d.segments_values),
                   'warnings', json(d.warnings_values),
                   'care', json(d.care_values),
                   'churn_drivers', f.churn_drivers,
                   'offers', f.offers,
                   'rulebook_version', $version
               ) AS explain
        FROM features f JOIN decisions d USING (customer_id) ORDER BY f.customer_id
        """,
        {"version": version, "run_id": run_id},
    ).fetchall()
    return [dict(zip(SNAPSHOT_COLUMNS, row, strict=True)) for row in rows]


def _counts(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    return {str(key): int(n) for key, n in con.execute(sql).fetchall()}


def run_scoring(
    *,
    engine: Engine,
    as_of: date | datetime | None = None,
    horizon_days: int = 90,
    model: ModelChoice = "auto",
) -> ScoringOutcome:
    """Score every customer as of the date with the active rulebook and store the run."""
    moment = as_of_moment(as_of) if as_of is not None else now()
    with engine.connect() as connection:
        version, rulebook = versions.active(connection)
    con, computed = prepare(engine, moment, horizon_days, model, rulebook)
    with engine.begin() as connection:
        newest = connection.execute(
            select(func.max(ScoringRun.as_of)).where(ScoringRun.status == "finished")
        ).scalar()
        live = newest is None or moment >= newest
        run_id = insert_run(
            connection,
            as_of=moment,
            horizon_days=horizon_days,
            status="finished",
            started_at=now(),
            finished_at=now(),
            rulebook_version=version,
            purchase_model=computed.purchase_model,
            models=plain(computed.models),
            customers=computed.customers,
        )
        rows = _snapshot_rows(con, run_id, version)
        insert_snapshots(connection, rows)
        applied: dict[str, int] = {}
        if live:
            update_customers(connection, rows, moment)
            applied = apply_decisions(
                rulebook, con, connection, run_id=run_id, version=version, moment=moment
            ).as_dict()
    return ScoringOutcome(
        run_id=run_id,
        as_of=moment,
        customers=computed.customers,
        live=live,
        rulebook_version=version,
        purchase_model=computed.purchase_model,
        models=plain(computed.models),
        applied=applied,
        grades=_counts(con, "SELECT grade, count(*) FROM decisions GROUP BY 1 ORDER BY 1"),
        stages=_counts(con, "SELECT stage, count(*) FROM decisions GROUP BY 1 ORDER BY 1"),
        warnings=_counts(
            con, "SELECT w, count(*) FROM decisions, unnest(warnings) AS u(w) GROUP BY 1 ORDER BY 1"
        ),
    )
