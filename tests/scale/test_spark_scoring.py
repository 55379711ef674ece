"""A scoring run on Spark stores what `patron score` stores: on two databases holding the same
history, one scored by DuckDB and one by `patron spark score`, every table ends up the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from patron.cli.main import full_app
from patron.db import Base, create_db_engine, session_factory
from patron.rules.engine import evaluate
from patron.rules.runs import run_scoring
from patron.scale import scoring
from patron.schema import migrate
from tests.analytics import history
from tests.scale.history import random_history, same

pytestmark = pytest.mark.slow

AS_OF = date(2024, 12, 31)
# Written from the clock, not from the data: two runs a moment apart differ here and only here.
CLOCK_COLUMNS = frozenset({"created_at", "updated_at", "started_at", "finished_at"})


@pytest.fixture
def twin(db: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A second empty, migrated database of the same kind as `db`."""
    if db.dialect.name == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'twin.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    name = f"{db.url.database}_twin"
    admin = create_engine(db.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(db.url.set(database=name).render_as_string(hide_password=False))
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _contents(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, clock columns left out, JSON text parsed, in primary-key order."""
    found = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = connection.execute(select(table).order_by(*order)).mappings()
            found[table.name] = [
                {k: _parsed(v) for k, v in row.items() if k not in CLOCK_COLUMNS} for row in rows
            ]
    return found


def _parsed(value: Any) -> Any:
    """JSON stored as text (SQLite) compared as data; floats inside compared with tolerance."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _differences(expected: dict[str, list[dict[str, Any]]], got: dict[str, Any]) -> list[str]:
    found = []
    for table, rows in expected.items():
        if len(rows) != len(got[table]):
            found.append(f"{table}: {len(rows)} rows by DuckDB, {len(got[table])} on Spark")
            continue
        for row, other in zip(rows, got[table], strict=True):
            found += [
                f"{table} {row.get('id')} {k}: DuckDB {v!r}, Spark {other[k]!r}"
                for k, v in row.items()
                if not same(v, other[k])
            ]
    return found


def test_a_spark_run_stores_what_a_duckdb_run_stores(
    db: Engine,
    sessions: sessionmaker[Session],
    twin: Engine,
    spark: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The history helper numbers orders from a process-wide counter: restart it per database.
    monkeypatch.setattr(history, "_ids", count(1))
    random_history(sessions)
    monkeypatch.setattr(history, "_ids", count(1))
    random_history(session_factory(twin))

    by_duckdb = run_scoring(engine=db, as_of=AS_OF)
    on_spark = scoring.score_on_spark(engine=twin, spark=spark, work=tmp_path, as_of=AS_OF)

    assert on_spark.live and on_spark.customers == by_duckdb.customers == 60
    assert (on_spark.grades, on_spark.stages, on_spark.warnings) == (
        by_duckdb.grades,
        by_duckdb.stages,
        by_duckdb.warnings,
    )
    assert on_spark.applied == by_duckdb.applied
    expected, got = _contents(db), _contents(twin)
    differences = _differences(expected, got)
    assert differences == [], differences[:20]
    # The comparison covers a run that stored snapshots and took actions.
    assert len(expected["score_snapshots"]) == 60
    assert sum(by_duckdb.applied.values()) > 0 and len(by_duckdb.grades) > 1


def test_the_command_scores_on_spark(db: Engine, sessions: sessionmaker[Session]) -> None:
    random_history(sessions, customers=12)
    url = db.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        full_app(),
        ["--db", url, "spark", "score", "--as-of", "2024-12-31", "--master", "local[1]", "--json"],
    )
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output.strip().splitlines()[-1])
    assert outcome["customers"] == 12 and outcome["live"] is True
    with db.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM score_snapshots")).scalar_one()
        as_of = connection.execute(text("SELECT as_of FROM scoring_runs")).scalar_one()
    assert stored == 12
    assert str(as_of).startswith("2024-12-31")


def test_a_disagreement_stops_the_run_before_anything_is_stored(
    db: Engine,
    sessions: sessionmaker[Session],
    spark: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    random_history(sessions, customers=12)

    def one_grade_off(rulebook: Any, con: Any, today: date) -> None:
        evaluate(rulebook, con, today)
        con.execute(
            "UPDATE decisions SET grade = 'Z' "
            "WHERE customer_id = (SELECT min(customer_id) FROM decisions)"
        )

    monkeypatch.setattr("patron.scale.scoring.evaluate", one_grade_off)
    with pytest.raises(scoring.EnginesDisagree, match="1 customer"):
        scoring.score_on_spark(engine=db, spark=spark, work=tmp_path, as_of=AS_OF)
    with db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM scoring_runs")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM score_snapshots")).scalar_one() == 0
