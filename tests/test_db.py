"""The engines Patron opens: the web server's PostgreSQL sessions plan without parallel workers
and test a pooled connection before use only after it sat idle."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Column, Connection, Engine, MetaData, Table, select, text
from sqlalchemy.exc import OperationalError

import patron.db
from patron.api.app import create_app
from patron.config import Settings
from patron.db import JsonText, create_db_engine


def _parallel_workers(engine: Engine) -> str | None:
    """PostgreSQL's workers per parallel query for the engine's sessions (None on SQLite)."""
    with engine.connect() as connection:
        if engine.dialect.name != "postgresql":
            assert connection.scalar(text("PRAGMA foreign_keys")) == 1
            return None
        return str(connection.scalar(text("SHOW max_parallel_workers_per_gather")))


def test_the_app_serves_without_parallel_workers_and_batch_work_keeps_them(db_url: str) -> None:
    app = create_app(Settings(environment="test", database_url=db_url))
    batch = create_db_engine(db_url)
    try:
        serving, kept = _parallel_workers(app.state.engine), _parallel_workers(batch)
    finally:
        app.state.engine.dispose()
        batch.dispose()
    if batch.dialect.name == "postgresql":
        assert serving == "0"
        assert kept != "0"
    else:
        assert serving is None and kept is None


def _terminate(postgres_url: str, *pids: int) -> None:
    """Close server connections as a restart would, and wait until they are gone."""
    admin = create_db_engine(postgres_url)
    try:
        with admin.connect() as connection:
            for pid in pids:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(500):
                alive = connection.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                    {"pids": list(pids)},
                )
                if alive == 0:
                    return
                # pg_stat_activity is read once per transaction: look again in a new one.
                connection.rollback()
                time.sleep(0.01)
        raise AssertionError(f"backends {pids} did not stop")
    finally:
        admin.dispose()


def _backend(connection: Connection) -> int:
    return int(connection.scalar(text("SELECT pg_backend_pid()")) or 0)


def test_the_serving_engine_replaces_a_connection_closed_while_it_sat_idle(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patron.db, "PING_AFTER_IDLE_SECONDS", 0.0)
    serving = create_db_engine(postgres_url, serving=True)
    try:
        with serving.connect() as connection:
            first = _backend(connection)
        _terminate(postgres_url, first)
        with serving.connect() as connection:
            assert _backend(connection) != first
    finally:
        serving.dispose()


def test_a_connection_closed_moments_after_use_fails_one_request_then_the_pool_reconnects(
    postgres_url: str,
) -> None:
    """The price of not pinging busy connections: a restart under load fails the one request
    per server process that meets a closed connection first; the pool then replaces them all."""
    serving = create_db_engine(postgres_url, serving=True)
    try:
        with serving.connect() as one, serving.connect() as two:
            pids = (_backend(one), _backend(two))
        _terminate(postgres_url, *pids)
        with pytest.raises(OperationalError), serving.connect() as connection:
            _backend(connection)
        with serving.connect() as one, serving.connect() as two:
            assert {_backend(one), _backend(two)}.isdisjoint(pids)
    finally:
        serving.dispose()


def test_a_json_document_comes_back_as_written_keys_in_order(engine: Engine) -> None:
    """`JsonText` (the snapshots' features and explanations): text on PostgreSQL, which the
    server does not parse, yet the same dict comes back and SQL can read it with a cast."""
    document = {"z": 1, "a": [1.5, None, '引号"\\'], "nested": {"b": True, "a": -0.0}}
    probe = Table("json_text_probe", MetaData(), Column("doc", JsonText), prefixes=["TEMPORARY"])
    with engine.connect() as connection:
        probe.create(connection)
        connection.execute(probe.insert(), [{"doc": document}])
        back = connection.execute(select(probe.c.doc)).scalar_one()
        assert back == document
        assert list(back) == ["z", "a", "nested"]
        if engine.dialect.name == "postgresql":
            kind = (
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'json_text_probe' AND column_name = 'doc'"
            )
            assert connection.scalar(text(kind)) == "text"
            read = "SELECT doc::json -> 'a' ->> 2 FROM json_text_probe"
            assert connection.scalar(text(read)) == '引号"\\'
        connection.rollback()


def test_a_json_document_of_none_is_json_null(engine: Engine) -> None:
    """None is stored as JSON's null, not SQL's NULL (the snapshots' columns are NOT NULL)."""
    probe = Table(
        "json_null_probe",
        MetaData(),
        Column("doc", JsonText, nullable=False),
        prefixes=["TEMPORARY"],
    )
    with engine.connect() as connection:
        probe.create(connection)
        connection.execute(probe.insert(), [{"doc": None}])
        assert connection.execute(select(probe.c.doc)).scalar_one() is None
        assert (
            connection.scalar(text("SELECT count(*) FROM json_null_probe WHERE doc IS NULL")) == 0
        )
        connection.rollback()
