"""Every route × role × record (own / another agent's / pool) against a declared policy.

The cases are generated from the app's route table: a route added without a declared
policy fails here, so no endpoint ships without a decision about who may call it.
"""

from __future__ import annotations

import itertools

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
from tests.api.policies import all_policies
from tests.api.policy import CUSTOMER_RECORD, RECORDS, ROLES, Policy, names

POLICIES = all_policies()


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
    body = policy.body(world, next(names)) if policy.body else None
    return client.request(method, url, headers=headers, json=body).status_code


def _scored_customer(sessions: sessionmaker[Session], world: World, record: str) -> int:
    with sessions.begin() as session:
        customer = world.customer(
            session, record, f"客户{next(names)}", phone="13800138000", email="zs@example.com"
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
