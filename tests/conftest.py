"""Shared fixtures: every database test runs on a fresh SQLite file and on PostgreSQL.

PostgreSQL comes from PATRON_TEST_POSTGRES_URL (set by .ci/run). Each test process makes its
own throwaway database there and drops it afterwards. Under CI=true an unreachable server
fails the run; elsewhere the PostgreSQL half is skipped with a visible reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from patron.db import create_db_engine, session_factory
from patron.models import Base
from patron.schema import migrate

POSTGRES_URL = os.environ.get(
    "PATRON_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_admin() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test process, dropped at the end."""
    admin = _postgres_admin()
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.orig}"
        if IN_CI:
            pytest.fail(message + " (CI=true requires it)", pytrace=False)
        pytest.skip(message)
    name = f"patron_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated engine on each database kind, shared by the tests of one process."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'patron.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The engine with every table empty before the test."""
    _empty_all_tables(engine)
    yield engine


@pytest.fixture
def sessions(db: Engine) -> sessionmaker[Session]:
    return session_factory(db)


@pytest.fixture
def db_url(db: Engine) -> str:
    return db.url.render_as_string(hide_password=False)


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"
