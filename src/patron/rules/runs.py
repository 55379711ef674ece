"""The batch run behind `patron score`: read the store as of a date, compute, decide, store, act.

The run, its snapshots, the customers' latest scores and every action are written in one
transaction. A run as of an earlier date than the newest stored run (a backfill) stores its
snapshots only: it never moves customers' current grades or takes actions in the past.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
from sqlalchemy import Engine, func, select

from patron.analytics.dashboard_summary import write_summary
from patron.analytics.features import as_of_moment, connect
from patron.analytics.models import ScoringRun
from patron.analytics.pipeline import Computed, ModelChoice, compute
from patron.analytics.snapshots import (
    insert_run,
    insert_snapshots,
    plain,
    write_latest_scores,
)
from patron.analytics.store import read_store
from patron.analytics.timing import Stopwatch
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
    # Seconds per step (read, features, models, rules, snapshots, actions): wall and CPU.
    timings: dict[str, float] = field(default_factory=dict)
    cpu_timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        shown = {k: v for k, v in self.__dict__.items() if k not in ("timings", "cpu_timings")}
        return {**shown, "as_of": self.as_of.isoformat()}


def prepare(
    engine: Engine,
    moment: datetime,
    horizon_days: int,
    model: ModelChoice,
    rulebook: Rulebook,
    clock: Stopwatch | None = None,
) -> tuple[duckdb.DuckDBPyConnection, Any]:
    """Everything up to the decisions, in DuckDB, changing nothing in the store."""
    clock = clock or Stopwatch()
    tables = read_store(engine, moment, points_summed=True)
    clock.lap("read")
    con = connect(tables)
    del tables
    clock.lap("read")
    computed = compute(con, moment, horizon_days=horizon_days, model=model, clock=clock)
    evaluate(rulebook, con, moment.date())
    clock.lap("rules")
    return con, computed


def _finite(name: str, kind: str) -> str:
    # JSON has no NaN or infinity: such a value is stored as null, as `plain` does.
    if kind == "DOUBLE":
        return f"CASE WHEN isfinite(f.{name}) THEN f.{name} END"
    return f"f.{name}"


def _snapshot_query(
    con: duckdb.DuckDBPyConnection, run_id: int, version: int | None
) -> Callable[[str], str]:
    """The query of the snapshot rows, in SNAPSHOT_COLUMNS order, of the customers whose
    `customer_id` meets a condition (run id and version are integers)."""
    table = con.table("features")
    # A struct packed in place rather than a row of a subquery: the same JSON text, built in
    # about half the time.
    kept = ", ".join(
        f"{name} := {_finite(name, str(kind))}"
        for name, kind in zip(table.columns, table.types, strict=True)
        if name not in NOT_FEATURES
    )
    return lambda condition: (
        f"""
        SELECT {int(run_id)} AS run_id, f.customer_id, d.grade, d.stage, f.rfm_segment,
               f.value_class, f.clv, f.p_alive,
               f.churn_risk, array_to_string(d.warnings, ';') AS warnings,
               f.r_score, f.f_score,
               to_json(struct_pack({kept})) AS features,
               json_object(
                   'grade', json_object('rule', d.grade, 'values', d.grade_values),
                   'stage', json_object('rule', d.stage, 'values', d.stage_values),
                   'segments', d.segments_values,
                   'warnings', d.warnings_values,
                   'care', d.care_values,
                   'churn_drivers', f.churn_drivers,
                   'offers', f.offers,
                   'rulebook_version', {"NULL" if version is None else int(version)}
               ) AS explain
        FROM features f JOIN decisions d USING (customer_id)
        WHERE {condition}
        ORDER BY f.customer_id
        """
    )


_LATEST_SCORES = (
    "SELECT f.customer_id, d.grade, d.stage, f.rfm_segment, f.value_class, f.clv, "
    "f.churn_risk, f.p_alive FROM features f JOIN decisions d USING (customer_id) "
    "ORDER BY f.customer_id"
)


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
    clock = Stopwatch()
    with engine.connect() as connection:
        version, rulebook = versions.active(connection)
    con, computed = prepare(engine, moment, horizon_days, model, rulebook, clock)
    return record(
        engine,
        con,
        computed,
        moment=moment,
        horizon_days=horizon_days,
        version=version,
        rulebook=rulebook,
        clock=clock,
    )


def record(
    engine: Engine,
    con: duckdb.DuckDBPyConnection,
    computed: Computed,
    *,
    moment: datetime,
    horizon_days: int,
    version: int | None,
    rulebook: Rulebook,
    clock: Stopwatch,
) -> ScoringOutcome:
    """Store a prepared run (DuckDB tables `features` and `decisions`, made by `prepare` or on
    Spark) in one transaction: the run, its snapshots and, unless it is a backfill, the
    customers' latest scores and the actions of the rulebook it was decided by."""
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
        insert_snapshots(connection, con, _snapshot_query(con, run_id, version))
        clock.lap("snapshots")
        applied: dict[str, int] = {}
        if live:
            applied = apply_decisions(
                rulebook, con, connection, run_id=run_id, version=version, moment=moment
            ).as_dict()
            clock.lap("actions")
            # After the actions, which read no stored score: on PostgreSQL the scores table is
            # swapped in under an exclusive lock held to the commit, so the lists wait for the
            # summary and the commit only, not for the actions too.
            write_latest_scores(connection, con, _LATEST_SCORES, moment)
            clock.lap("customers' latest scores")
        write_summary(connection, run_id, con)
    clock.lap("commit")
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
        timings=clock.seconds,
        cpu_timings=clock.cpu_seconds,
    )
