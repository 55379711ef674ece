"""The engines Patron opens: the web server's PostgreSQL sessions plan without parallel workers."""

from __future__ import annotations

from sqlalchemy import Engine, text

from patron.api.app import create_app
from patron.config import Settings
from patron.db import create_db_engine


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
