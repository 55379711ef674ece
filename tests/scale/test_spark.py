"""The scoring SQL on Spark agrees with DuckDB, customer by customer, on the same history."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.features import FEATURES_SQL, as_of_moment, compute_features, connect
from patron.analytics.store import read_store
from patron.errors import InvalidInput
from patron.rules.engine import evaluate
from patron.rules.rulebook import default
from patron.scale import spark as on_spark
from tests.scale.history import random_history, same

pytestmark = pytest.mark.slow

AS_OF = date(2024, 12, 31)
# Model outputs are inputs to the rules, not under test: a fixed formula, the same for both.
MODEL_OUTPUTS = """
    SELECT customer_id,
           CASE WHEN orders_total > 0 THEN monetary_total * 1.7 + customer_id % 7 END AS clv,
           (customer_id % 10) / 10.0 AS churn_risk,
           0.5 AS p_alive,
           CAST(NULL AS DOUBLE) AS days_to_birthday,
           CAST(NULL AS DOUBLE) AS days_to_anniversary
    FROM features
"""


def _rows(table: Any) -> dict[int, dict[str, Any]]:
    return {row["customer_id"]: row for row in table.to_pylist()}


def _differences(duck: dict[int, dict[str, Any]], spark: dict[int, dict[str, Any]]) -> list[str]:
    found = []
    for customer_id, row in duck.items():
        for column, value in row.items():
            other = spark[customer_id][column]
            if not same(value, other):
                found.append(f"customer {customer_id} {column}: DuckDB {value!r}, Spark {other!r}")
    return found


def test_spark_features_and_decisions_equal_duckdb(
    sessions: sessionmaker[Session], db: Engine, spark: Any, tmp_path: Path
) -> None:
    random_history(sessions)
    tables = read_store(db, as_of_moment(AS_OF))
    con = connect(tables)
    compute_features(con, AS_OF)
    con.execute(f"CREATE TABLE model_outputs AS {MODEL_OUTPUTS}")
    con.execute(
        "CREATE TABLE scored AS SELECT * FROM features JOIN model_outputs USING (customer_id)"
    )
    rulebook = default()
    evaluate(rulebook, con, AS_OF, source="scored")
    duck_features = _rows(con.table("features").to_arrow_table())
    duck_decisions = _rows(
        con.sql(
            "SELECT customer_id, grade, stage, segments, warnings FROM decisions"
        ).to_arrow_table()
    )

    store = tmp_path / "store"
    on_spark.export_store(tables, store)
    con.execute(f"COPY model_outputs TO '{store / 'model_outputs.parquet'}'")
    decided = on_spark.run(spark, store, tmp_path / "out", AS_OF, rulebook)

    spark_features = _rows(pq.read_table(tmp_path / "out" / "features"))
    spark_decisions = _rows(pq.read_table(tmp_path / "out" / "decisions"))
    assert decided == len(duck_decisions) == len(spark_decisions) > 50
    assert set(spark_features) == set(duck_features)
    assert _differences(duck_features, spark_features) == []
    assert _differences(duck_decisions, spark_decisions) == []
    # The history reaches every branch the comparison is meant to cover.
    grades = {row["grade"] for row in duck_decisions.values()}
    assert {"A", "B", "C", "D"} <= grades
    assert any(row["warnings"] for row in duck_decisions.values())
    assert any(row["age"] is not None for row in duck_features.values())
    assert any(row["tags"] for row in duck_features.values())


def test_a_missing_store_table_is_named(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="customers is missing"):
        on_spark.load_store(spark, tmp_path)


def test_every_rewrite_applies_to_the_features() -> None:
    """A rewrite that no longer matches sqlglot's output would silently stop fixing it."""
    raw = sqlglot.transpile(FEATURES_SQL, read="duckdb", write="spark")[0]
    assert "COLLECT_LIST(tag)" in raw and "AGE(" in raw
    sql = on_spark.features_sql()
    assert "AGE(" not in sql and "ARRAY_SORT(COLLECT_LIST(tag))" in sql
