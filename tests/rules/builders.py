"""Small builders for rule-expression tests."""

from __future__ import annotations

from typing import Any

import duckdb

from patron.analytics.catalog import FEATURES, duckdb_table_sql


def customer(**values: Any) -> dict[str, Any]:
    """One customer's features: every catalogue name NULL unless given."""
    unknown = set(values) - set(FEATURES)
    assert not unknown, f"not catalogue features: {unknown}"
    return {name: values.get(name) for name in FEATURES}


def feature_table(
    rows: list[dict[str, Any]], con: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB (new, or `con` with its table replaced) whose typed `features` table holds
    the rows, keyed 0..n-1."""
    con = con or duckdb.connect()
    con.execute("DROP TABLE IF EXISTS features")
    con.execute(duckdb_table_sql("features"))
    if rows:
        names = list(FEATURES)
        row_marks = "(" + ", ".join("?" for _ in range(len(names) + 1)) + ")"
        values = [value for key, row in enumerate(rows) for value in (key, *map(row.get, names))]
        con.execute(
            f"INSERT INTO features (customer_id, {', '.join(names)}) "
            f"VALUES {', '.join(row_marks for _ in rows)}",
            values,
        )
    return con


def duckdb_results(con: duckdb.DuckDBPyConnection, sql: str) -> list[bool | None]:
    """The compiled expression's value on each row, in key order."""
    query = f"SELECT {sql} FROM features ORDER BY customer_id"
    return [value for (value,) in con.execute(query).fetchall()]
