"""Storing a scoring run: the run, one snapshot per customer, and the latest scores on customers.

Everything is written in one transaction, so a crash leaves either the whole run or nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert

from patron.analytics.models import ScoreSnapshot, ScoringRun

BATCH = 5_000

SNAPSHOT_COLUMNS = (
    "run_id",
    "customer_id",
    "grade",
    "stage",
    "rfm_segment",
    "value_class",
    "clv",
    "p_alive",
    "churn_risk",
    "warnings",
    "features",
    "explain",
)
CUSTOMER_COLUMNS = ("grade", "stage", "rfm_segment", "value_class", "clv", "churn_risk", "p_alive")


def plain(value: Any) -> Any:
    """A JSON-ready Python value from NumPy or DuckDB ones, deeply (NaN and infinity: None)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _placeholders(dialect: str, names: Sequence[str], json_names: set[str]) -> str:
    if dialect == "sqlite":
        return ", ".join("?" for _ in names)
    return ", ".join(
        f"CAST(%({name})s AS JSONB)" if name in json_names else f"%({name})s" for name in names
    )


def insert_run(connection: Connection, **values: Any) -> int:
    """Add the run row and return its id."""
    return int(
        connection.execute(
            insert(ScoringRun).values(**values).returning(ScoringRun.id)
        ).scalar_one()
    )


def insert_snapshots(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk-insert snapshot rows; features and explain arrive as JSON text, stored as is."""
    dialect = connection.dialect.name
    table = ScoreSnapshot.__tablename__
    values = _placeholders(dialect, SNAPSHOT_COLUMNS, {"features", "explain"})
    sql = f"INSERT INTO {table} ({', '.join(SNAPSHOT_COLUMNS)}) VALUES ({values})"
    for batch in _batches(rows):
        params: Any = (
            [tuple(row[name] for name in SNAPSHOT_COLUMNS) for row in batch]
            if dialect == "sqlite"
            else batch
        )
        connection.exec_driver_sql(sql, params)


def update_customers(
    connection: Connection, rows: Sequence[dict[str, Any]], scored_at: datetime
) -> None:
    """Copy each customer's latest grade, stage and scores onto the customer row."""
    dialect = connection.dialect.name
    names = (*CUSTOMER_COLUMNS, "scored_at")
    if dialect == "sqlite":
        assignments = ", ".join(f"{name} = ?" for name in names)
        sql = f"UPDATE customers SET {assignments} WHERE id = ?"
    else:
        assignments = ", ".join(f"{name} = %({name})s" for name in names)
        sql = f"UPDATE customers SET {assignments} WHERE id = %(customer_id)s"
    stamp = scored_at.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else scored_at
    for batch in _batches(rows):
        if dialect == "sqlite":
            params: Any = [
                (*(row[name] for name in CUSTOMER_COLUMNS), stamp, row["customer_id"])
                for row in batch
            ]
        else:
            params = [
                {
                    **{name: row[name] for name in CUSTOMER_COLUMNS},
                    "scored_at": stamp,
                    "customer_id": row["customer_id"],
                }
                for row in batch
            ]
        connection.exec_driver_sql(sql, params)
