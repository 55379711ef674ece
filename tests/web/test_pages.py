"""The pages through the app (no browser): sign-in, redirects, CSRF, escaping, language."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role
from patron.auth.service import hash_password
from patron.engagement.models import Task
from patron.web.pages.auth import safe_next
from tests import builders

PAGES = ["/", "/customers", "/customers/1", "/rules"]
PASSWORD = "s3cret-enough"


@pytest.fixture
def browser_client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def _sign_in(client: TestClient, username: str, password: str = PASSWORD) -> int:
    form = client.get("/login").text
    token = re.search(r'name="login_csrf" value="([^"]+)"', form)
    assert token is not None
    data = {"username": username, "password": password, "login_csrf": token.group(1)}
    return client.post("/login", data={**data, "next": "/customers"}).status_code


def _agent(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        agent = builders.user(
            session, "agent", role=Role.agent, password_hash=hash_password(PASSWORD)
        )
        return agent.id


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(browser_client: TestClient, path: str) -> None:
    response = browser_client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


def test_htmx_requests_without_a_session_redirect_the_page(browser_client: TestClient) -> None:
    response = browser_client.post("/rules/check", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login")


def test_sign_in_needs_the_forms_token(
    browser_client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _agent(sessions)
    browser_client.get("/login")
    data = {"username": "agent", "password": PASSWORD, "login_csrf": "forged"}
    assert browser_client.post("/login", data=data).status_code == 403
    assert _sign_in(browser_client, "agent", "wrong") == 401
    assert _sign_in(browser_client, "agent") == 303
    assert browser_client.get("/customers").status_code == 200


def test_changes_without_the_csrf_token_are_refused(
    browser_client: TestClient, sessions: sessionmaker[Session]
) -> None:
    agent_id = _agent(sessions)
    with sessions.begin() as session:
        customer_id = builders.customer(session, "张三", owner_id=agent_id).id
    _sign_in(browser_client, "agent")
    path = f"/customers/{customer_id}/follow-up"
    assert browser_client.post(path).status_code == 403
    token = browser_client.cookies["patron_csrf"]
    answer = browser_client.post(path, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert answer.status_code == 200
    with sessions() as session:
        task = session.scalars(select(Task).where(Task.customer_id == customer_id)).one()
    assert task.assignee_id == agent_id


def test_names_are_escaped(browser_client: TestClient, sessions: sessionmaker[Session]) -> None:
    agent_id = _agent(sessions)
    with sessions.begin() as session:
        builders.customer(session, "<script>alert(1)</script>李雷", owner_id=agent_id)
    _sign_in(browser_client, "agent")
    page = browser_client.get("/customers").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;李雷" in page
    assert "<script>alert(1)" not in page


def test_the_language_choice_is_remembered(browser_client: TestClient) -> None:
    response = browser_client.get("/language/en", params={"next": "/login"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    page = browser_client.get("/login", headers={"Accept-Language": "zh-CN"}).text
    assert '<html lang="en">' in page
    assert "Sign in" in page


@pytest.mark.parametrize(
    ("target", "safe"),
    [("/customers?q=zs", "/customers?q=zs"), ("//evil.example", "/"),
     ("https://evil.example", "/"), ("/\\evil", "/"), (None, "/")],
)  # fmt: skip
def test_sign_in_only_returns_to_this_site(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe
