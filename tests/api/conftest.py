"""The app on the test database, and a small world of users, tokens and customers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.api.app import create_app
from patron.api.security import issue_token
from patron.auth.models import Role, User
from patron.config import Settings
from patron.customers.models import Customer
from tests import builders


def make_app(db: Engine) -> FastAPI:
    """The app on the test engine."""
    url = db.url.render_as_string(hide_password=False)
    return create_app(Settings(environment="test", database_url=url), engine=db)


@pytest.fixture
def app(db: Engine) -> FastAPI:
    return make_app(db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(session: Session, user: User, *scopes: str) -> str:
    """A live API token for the user with the given scopes (default: everything)."""
    _, plain = issue_token(
        session=session,
        user=user,
        name="test",
        scopes=frozenset(scopes or ("*:write",)),
        expires_at=None,
    )
    return plain


@dataclass
class World:
    """Team east: a manager and an agent; team west: another agent; an admin, an analyst.

    `users` and `tokens` are keyed by role name, with `other_agent` for the west agent."""

    users: dict[str, User]
    tokens: dict[str, str]
    spare_token_id: int

    def customer(
        self, session: Session, record: str, name: str = "张三", **fields: object
    ) -> Customer:
        """A customer that is the agent's own, the other agent's, or in the pool."""
        owner = {"own": self.users["agent"], "other": self.users["other_agent"], "pool": None}[
            record
        ]
        return builders.customer(session, name, owner_id=owner.id if owner else None, **fields)


def build_world(sessions: sessionmaker[Session]) -> World:
    """The users, an all-scopes token for each, and a spare token to revoke."""
    with sessions.begin() as session:
        users = {
            "admin": builders.user(session, "admin", role=Role.admin),
            "manager": builders.user(session, "manager", role=Role.manager, team="east"),
            "agent": builders.user(session, "agent", role=Role.agent, team="east"),
            "other_agent": builders.user(session, "other_agent", role=Role.agent, team="west"),
            "analyst": builders.user(session, "analyst", role=Role.analyst),
        }
        tokens = {name: token_for(session, user) for name, user in users.items()}
        spare, _ = issue_token(
            session=session, user=users["agent"], name="spare",
            scopes=frozenset({"customers:read"}), expires_at=None,
        )  # fmt: skip
    return World(users, tokens, spare.id)


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return build_world(sessions)
