"""Every operation of /openapi.json fuzzed by schemathesis as a signed-in admin: no answer is a
5xx, and every answer matches the documented status codes, content types and schemas.

The fuzzed app runs on its own database of each kind, made once for the module, so the examples
of every operation build on one another's data. The number of examples per operation is bounded
(PATRON_FUZZ_EXAMPLES, default 25) so the run fits in `make test`; raise it for a deeper search.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from patron.api.app import create_app
from patron.auth.models import Role
from patron.config import Settings
from patron.db import create_db_engine, session_factory
from patron.schema import migrate
from tests import builders
from tests.api.conftest import bearer, make_app, token_for
from tests.conftest import POSTGRES_URL

EXAMPLES = int(os.environ.get("PATRON_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _own_database(kind: str, folder: str) -> Iterator[Engine]:
    if kind == "sqlite":
        engine = create_db_engine(f"sqlite:///{folder}/fuzz.db")
        yield engine
        engine.dispose()
        return
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"patron_fuzz_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, str]]:
    """The app on a database of its own, an admin's token, and a few customers to land on."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_url")  # fails loudly under CI=true when unreachable
    folder = str(tmp_path_factory.mktemp("fuzz"))
    for engine in _own_database(request.param, folder):
        migrate(engine)
        with session_factory(engine).begin() as session:
            admin = builders.user(session, "fuzz-admin", role=Role.admin)
            for name in ("张三", "李四", "<script>alert(1)</script>"):
                builders.customer(session, name, owner_id=admin.id)
            token = token_for(session, admin)
        app = make_app(engine)
        with TestClient(app, base_url="https://testserver") as client:
            assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
        yield app, token


def _document() -> dict[str, object]:
    # The document does not depend on the data: read it from an app on a database never opened.
    app = create_app(Settings(environment="test"), engine=create_engine("sqlite://"))
    return app.openapi()


schema = schemathesis.openapi.from_dict(_document())


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_as_documented(case: schemathesis.Case, fuzzed: tuple[FastAPI, str]) -> None:
    app, token = fuzzed
    case.call_and_validate(app=app, headers=bearer(token), checks=CHECKS)
