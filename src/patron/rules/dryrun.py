"""A proposed rulebook against the active one on today's customers, changing nothing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb
from sqlalchemy import Engine

from patron.analytics.features import as_of_moment
from patron.analytics.pipeline import ModelChoice
from patron.db import now
from patron.rules import versions
from patron.rules.engine import evaluate
from patron.rules.rulebook import Care, Rulebook, WarningRule
from patron.rules.runs import prepare


def _matrix(con: duckdb.DuckDBPyConnection, column: str) -> dict[str, Any]:
    rows = con.execute(
        f"SELECT a.{column}, p.{column}, count(*) FROM decisions a "
        f"JOIN proposed p USING (customer_id) GROUP BY ALL ORDER BY 1 NULLS LAST, 2 NULLS LAST"
    ).fetchall()
    return {
        "matrix": [{"from": a, "to": b, "customers": n} for a, b, n in rows],
        "changed": sum(n for a, b, n in rows if a != b),
    }


def _warning_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    rows = con.execute(
        f"SELECT w, count(*) FROM {table}, unnest(warnings) AS u(w) GROUP BY 1"
    ).fetchall()
    return {str(w): int(n) for w, n in rows}


def _actions(rulebook: Rulebook, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How many of each action the proposed rules would take (before cooldowns)."""
    fired = _warning_counts(con, "proposed")
    care = dict(
        con.execute("SELECT c, count(*) FROM proposed, unnest(care) AS u(c) GROUP BY 1").fetchall()
    )
    counts: dict[str, int] = {}
    rules: list[WarningRule | Care] = [*rulebook.warnings, *rulebook.care]
    for rule in rules:
        times = fired.get(rule.id, 0) + int(care.get(rule.id, 0))
        for action in rule.actions:
            counts[action.kind] = counts.get(action.kind, 0) + times
    recycle = con.execute("SELECT count(*) FILTER (WHERE recycle) FROM proposed").fetchone()
    counts["move_to_pool"] = counts.get("move_to_pool", 0) + int(recycle[0] if recycle else 0)
    return counts


def dry_run(
    *,
    engine: Engine,
    proposed: Rulebook,
    as_of: date | datetime | None = None,
    horizon_days: int = 90,
    model: ModelChoice = "auto",
) -> dict[str, Any]:
    """Grades and stages from -> to, warnings fired and actions that would be taken."""
    moment = as_of_moment(as_of) if as_of is not None else now()
    with engine.connect() as connection:
        version, current = versions.active(connection)
    con, computed = prepare(engine, moment, horizon_days, model, current)
    evaluate(proposed, con, moment.date(), target="proposed")
    active_warnings = _warning_counts(con, "decisions")
    proposed_warnings = _warning_counts(con, "proposed")
    ids = sorted(set(active_warnings) | set(proposed_warnings))
    return {
        "as_of": moment.isoformat(),
        "customers": computed.customers,
        "active_version": version,
        "grades": _matrix(con, "grade"),
        "stages": _matrix(con, "stage"),
        "warnings": [
            {"id": i, "active": active_warnings.get(i, 0), "proposed": proposed_warnings.get(i, 0)}
            for i in ids
        ],
        "actions": _actions(proposed, con),
    }
