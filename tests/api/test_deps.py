"""The request's unit of work (`get_session`) and a reading endpoint's `answer`: committed on
success, rolled back on failure, the connection always given back."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.api.deps import SessionDep, answer
from patron.auth.models import Role, User
from patron.customers.api import CUSTOMER_VIEW
from tests import builders
from tests.api.conftest import World, bearer, make_app


def _app_with_routes(db: Engine) -> FastAPI:
    app = make_app(db)

    @app.post("/test/write")
    def write(session: SessionDep, fail: bool = False) -> dict[str, bool]:
        session.add(User(username="written", display_name="written", role=Role.agent))
        session.flush()
        if fail:
            raise ValueError("after the write")
        return {"ok": True}

    @app.get("/test/read")
    def read(session: SessionDep) -> object:
        count = session.scalar(select(func.count()).select_from(User))
        return answer(session, TypeAdapter(dict[str, int]), {"users": count})

    return app


def _users_named(sessions: sessionmaker[Session], name: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(User.username == name)) or 0


def test_the_unit_of_work_commits_a_write_and_rolls_back_a_failed_one(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    app = _app_with_routes(db)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/test/write", params={"fail": "true"}).status_code == 500
        assert _users_named(sessions, "written") == 0
        assert client.post("/test/write").json() == {"ok": True}
    assert _users_named(sessions, "written") == 1
    assert db.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_an_answer_ends_the_transaction_and_gives_the_connection_back(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        builders.user(session, "someone")
    app = _app_with_routes(db)
    with TestClient(app) as client:
        response = client.get("/test/read")
        assert response.json() == {"users": 1}
        assert response.headers["content-type"] == "application/json"
    assert db.pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_customer_answer_is_the_view_serialised_once(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        customer = world.customer(session, "own", phone="13800138000")
    response = client.get(f"/api/v1/customers/{customer.id}", headers=bearer(world.tokens["agent"]))
    assert response.status_code == 200
    body = response.content
    # The same bytes FastAPI's own serialisation of the response model gives.
    assert CUSTOMER_VIEW.dump_json(CUSTOMER_VIEW.validate_json(body), by_alias=True) == body
    view = response.json()
    assert view["phone"] == "+8613800138000" and view["masked"] is False
    assert view["tags"] == []
    assert view["created_at"].endswith("+08:00")
