"""The scoring SQL on Spark agrees with DuckDB, customer by customer, on the same history."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.features import as_of_moment, compute_features, connect
from patron.analytics.store import read_store
from patron.db import unit_of_work
from patron.errors import InvalidInput
from patron.models import Customer, OrderStatus, SurveyKind, TicketKind, User
from patron.rules.engine import evaluate
from patron.rules.rulebook import default
from patron.scale import spark as on_spark
from tests.analytics.history import History, at

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


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = on_spark.spark_session("local[2]", shuffle_partitions=4)
    yield session
    session.stop()


def _history(sessions: sessionmaker[Session], customers: int = 60) -> None:
    """Customers with random orders, refunds, contacts, tickets, answers, points and tags; some
    owned, some with birthdays before and after 1970."""
    rng = random.Random(8)
    history = History()
    with unit_of_work(sessions) as session:
        owner = User(username="owner", display_name="Owner", role="agent")
        session.add(owner)
        session.flush()
        for n in range(customers):
            key = f"c{n}"
            tags = tuple(rng.sample(["vip", "b2b", "wx", "new"], rng.randint(0, 3)))
            customer_id = history.customer(session, key, created=rng.randint(0, 300), tags=tags)
            customer = session.get(Customer, customer_id)
            assert customer is not None
            if n % 3:
                customer.owner_id, customer.owned_since = owner.id, at(rng.randint(0, 350))
            if n % 4 == 0:
                customer.birthday = date(rng.randint(1950, 2005), rng.randint(1, 12), 28)
            for _ in range(rng.randint(0, 14)):
                status = OrderStatus.refunded if rng.random() < 0.1 else OrderStatus.paid
                channel = rng.choice(["web", "store", "wechat"])
                amount = rng.randint(5, 500) + 0.25
                history.order(session, key, rng.randint(0, 400), amount, status, channel)
            for _ in range(rng.randint(0, 4)):
                history.interaction(session, key, rng.randint(0, 400), follow_up=rng.random() < 0.5)
            for _ in range(rng.randint(0, 3)):
                day = rng.randint(0, 380)
                kind = rng.choice([TicketKind.complaint, TicketKind.inquiry])
                resolved = day + rng.randint(0, 40) if rng.random() < 0.7 else None
                history.ticket(session, key, day, kind=kind, resolved=resolved)
            if rng.random() < 0.5:
                kind = rng.choice([SurveyKind.nps, SurveyKind.csat])
                history.response(session, key, rng.randint(0, 400), kind, rng.randint(0, 10))
            if rng.random() < 0.5:
                history.points(session, key, rng.randint(0, 400), rng.randint(-50, 200))


def _rows(table: Any) -> dict[int, dict[str, Any]]:
    return {row["customer_id"]: row for row in table.to_pylist()}


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float | int):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


def _differences(duck: dict[int, dict[str, Any]], spark: dict[int, dict[str, Any]]) -> list[str]:
    found = []
    for customer_id, row in duck.items():
        for column, value in row.items():
            other = spark[customer_id][column]
            if not _same(value, other):
                found.append(f"customer {customer_id} {column}: DuckDB {value!r}, Spark {other!r}")
    return found


def test_spark_features_and_decisions_equal_duckdb(
    sessions: sessionmaker[Session], db: Engine, spark: Any, tmp_path: Path
) -> None:
    _history(sessions)
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
    raw = on_spark.sqlglot.transpile(on_spark.FEATURES_SQL, read="duckdb", write="spark")[0]
    assert "COLLECT_LIST(tag)" in raw and "AGE(" in raw
    sql = on_spark.features_sql()
    assert "AGE(" not in sql and "ARRAY_SORT(COLLECT_LIST(tag))" in sql
