"""Every route × role × record (own / another agent's / pool) against a declared policy.

The cases are generated from the app's route table: a route added without a declared
policy fails here, so no endpoint ships without a decision about who may call it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Mount

from patron.api.app import create_app
from patron.config import Settings
from tests import builders
from tests.api.conftest import World, bearer, build_world

ROLES = ("anonymous", "admin", "manager", "agent", "analyst")
RECORDS = ("own", "other", "pool")
CUSTOMER_RECORD = "{customer_id}"
Expect = dict[str, int | dict[str, int]]


def _everyone(ok: int) -> Expect:
    return {"anonymous": 401, "admin": ok, "manager": ok, "agent": ok, "analyst": ok}


def _only(ok: int, *roles: str) -> Expect:
    return {role: ok if role in roles else 403 for role in ROLES} | {"anonymous": 401}


def _records(own: int, other: int, pool: int) -> dict[str, int]:
    return {"own": own, "other": other, "pool": pool}


def _customer_read(ok: int) -> Expect:
    team = _records(ok, 404, ok)
    return {"anonymous": 401, "admin": ok, "manager": team, "agent": team, "analyst": ok}


def _customer_write(ok: int, *, agent: bool) -> Expect:
    return {
        "anonymous": 401,
        "admin": ok,
        "manager": _records(ok, 404, ok),
        "agent": _records(ok, 404, 403) if agent else 403,
        "analyst": 403,
    }


@dataclass(frozen=True)
class Policy:
    """Who gets which status on a route, and the request to send."""

    expect: Expect
    body: Callable[[World, int], dict[str, Any]] | None = None
    path_params: dict[str, Callable[[World], Any]] = field(default_factory=dict)


_names = itertools.count()
USER = {"user_id": lambda w: w.users["agent"].id}
POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/openapi.json"): Policy(dict.fromkeys(ROLES, 200)),
    ("GET", "/docs"): Policy(dict.fromkeys(ROLES, 200)),
    ("GET", "/docs/oauth2-redirect"): Policy(dict.fromkeys(ROLES, 200)),
    ("GET", "/healthz"): Policy(dict.fromkeys(ROLES, 200)),
    # Everyone may try to sign in; a wrong password is refused alike for all.
    ("POST", "/api/v1/auth/login"): Policy(
        dict.fromkeys(ROLES, 401),
        body=lambda w, n: {"username": "nobody", "password": "wrong-password"},
    ),
    ("POST", "/api/v1/auth/logout"): Policy(_everyone(204)),
    ("GET", "/api/v1/auth/me"): Policy(_everyone(200)),
    # A token cannot change a password: that takes a browser session and the current one.
    ("POST", "/api/v1/auth/password"): Policy(
        _only(204),
        body=lambda w, n: {"current_password": "x", "new_password": "a-new-password"},
    ),
    ("GET", "/api/v1/users"): Policy(_only(200, "admin")),
    ("POST", "/api/v1/users"): Policy(
        _only(201, "admin"), body=lambda w, n: {"username": f"new{n}", "role": "agent"}
    ),
    ("PATCH", "/api/v1/users/{user_id}"): Policy(
        _only(200, "admin"), body=lambda w, n: {"display_name": f"Agent {n}"}, path_params=USER
    ),
    ("POST", "/api/v1/users/{user_id}/password"): Policy(
        _only(204, "admin"), body=lambda w, n: {"new_password": "a-new-password"}, path_params=USER
    ),
    ("GET", "/api/v1/tokens"): Policy(_only(200, "admin")),
    ("POST", "/api/v1/tokens"): Policy(
        _only(201, "admin"),
        body=lambda w, n: {"user_id": w.users["agent"].id, "name": "t", "scopes": ["kpi:read"]},
    ),
    ("DELETE", "/api/v1/tokens/{token_id}"): Policy(
        _only(204, "admin"), path_params={"token_id": lambda w: w.spare_token_id}
    ),
    ("GET", "/api/v1/customers"): Policy(_everyone(200)),
    ("POST", "/api/v1/customers"): Policy(
        _only(201, "admin", "manager", "agent"), body=lambda w, n: {"name": f"新客户{n}"}
    ),
    ("GET", "/api/v1/customers/{customer_id}"): Policy(_customer_read(200)),
    ("PATCH", "/api/v1/customers/{customer_id}"): Policy(
        _customer_write(200, agent=True), body=lambda w, n: {"city": f"城市{n}"}
    ),
    ("POST", "/api/v1/customers/{customer_id}/unmask"): Policy(_customer_write(200, agent=False)),
    ("POST", "/api/v1/customers/{customer_id}/owner"): Policy(
        _customer_write(200, agent=False), body=lambda w, n: {"owner_id": w.users["agent"].id}
    ),
    ("GET", "/api/v1/customers/{customer_id}/scores"): Policy(_customer_read(200)),
    ("GET", "/api/v1/kpi"): Policy(_only(200, "admin", "analyst")),
    ("GET", "/api/v1/rules"): Policy(_only(200, "admin", "manager", "analyst")),
    ("POST", "/api/v1/rules/check"): Policy(
        _only(200, "admin", "manager", "analyst"),
        body=lambda w, n: {"expression": "recency_days > 90"},
    ),
    ("GET", "/api/v1/audit"): Policy(_only(200, "admin")),
}


def _route_table() -> list[tuple[str, str]]:
    app = create_app(Settings(environment="test", database_url="sqlite://"))
    routes = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, Mount) or context.path is None:
            continue
        for method in sorted((context.methods or set()) - {"HEAD"}):
            routes.append((method, context.path))
    return routes


ROUTES = _route_table()


def test_every_declared_policy_names_a_route() -> None:
    assert set(POLICIES) <= set(ROUTES), set(POLICIES) - set(ROUTES)


def test_mounts_are_only_static_files() -> None:
    app = create_app(Settings(environment="test", database_url="sqlite://"))
    mounts = [route.path for route in app.routes if isinstance(route, Mount)]
    assert set(mounts) <= {"/static"}


def _expected(policy: Policy, role: str, record: str) -> int:
    outcome = policy.expect[role]
    return outcome if isinstance(outcome, int) else outcome[record]


def _call(
    client: TestClient, world: World, policy: Policy, method: str, path: str,
    role: str, customer_id: int | None,
) -> int:  # fmt: skip
    params = {name: make(world) for name, make in policy.path_params.items()}
    if customer_id is not None:
        params["customer_id"] = customer_id
    url = path.format(**params)
    headers = {} if role == "anonymous" else bearer(world.tokens[role])
    body = policy.body(world, next(_names)) if policy.body else None
    return client.request(method, url, headers=headers, json=body).status_code


def _scored_customer(sessions: sessionmaker[Session], world: World, record: str) -> int:
    with sessions.begin() as session:
        customer = world.customer(
            session, record, f"客户{next(_names)}", phone="13800138000", email="zs@example.com"
        )
        builders.snapshot(session, builders.scoring_run(session), customer, grade="A")
        return customer.id


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_follows_its_declared_policy(
    method: str, path: str, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    policy = POLICIES.get((method, path))
    assert policy is not None, f"{method} {path} has no declared access policy in POLICIES"
    world = build_world(sessions)
    records = RECORDS if CUSTOMER_RECORD in path else ("none",)
    seen = {}
    with TestClient(app, base_url="https://testserver") as client:
        for role, record in itertools.product(ROLES, records):
            # A fresh record per call, so one role's change cannot alter the next one's case.
            customer_id = _scored_customer(sessions, world, record) if record != "none" else None
            status = _call(client, world, policy, method, path, role, customer_id)
            seen[(role, record)] = (status, _expected(policy, role, record))
    wrong = {case: got for case, got in seen.items() if got[0] != got[1]}
    assert not wrong, f"{method} {path}: (status, expected) per (role, record): {wrong}"
