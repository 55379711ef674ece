"""Sign-in sessions, CSRF, lock-out, rate limiting and API token scopes."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.api.security import (
    CSRF_COOKIE,
    CSRF_HEADER,
    MAX_FAILED_LOGINS,
    SESSION_COOKIE,
    issue_token,
)
from patron.audit.models import AuditEntry
from patron.auth import service as users
from patron.auth.models import ApiToken, Role, User, UserSession
from patron.db import now
from tests import builders
from tests.api.conftest import bearer

PASSWORD = "correct-horse-battery"


def _user(sessions: sessionmaker[Session], name: str = "mei", role: Role = Role.agent) -> int:
    with sessions.begin() as session:
        return users.create(session=session, username=name, role=role, password=PASSWORD).id


def _sign_in(client: TestClient, name: str = "mei", password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


def _actions(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_sign_in_sets_a_secure_http_only_lax_cookie(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _user(sessions)
    response = client.post("/api/v1/auth/login", json={"username": "mei", "password": PASSWORD})
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie
    assert "Secure" in session_cookie
    assert "SameSite=lax" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" not in csrf_cookie
    assert client.get("/api/v1/auth/me").json()["username"] == "mei"
    assert "auth.sign_in" in _actions(sessions)


def test_a_forged_cookie_is_refused(client: TestClient, sessions: sessionmaker[Session]) -> None:
    _user(sessions)
    _sign_in(client)
    genuine = client.cookies[SESSION_COOKIE]
    client.cookies.set(SESSION_COOKIE, genuine[:-2] + "xx")
    assert client.get("/api/v1/auth/me").status_code == 401


def test_a_session_expires_on_the_server(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _user(sessions)
    _sign_in(client)
    with sessions.begin() as session:
        session.execute(update(UserSession).values(expires_at=now() - timedelta(seconds=1)))
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_sign_out_ends_the_session_for_good(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _user(sessions)
    csrf = _sign_in(client)
    stolen = client.cookies[SESSION_COOKIE]
    assert client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf}).status_code == 204
    client.cookies.set(SESSION_COOKIE, stolen)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_changes_with_a_session_need_the_csrf_token(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _user(sessions)
    csrf = _sign_in(client)
    body = {"name": "王五"}
    refused = client.post("/api/v1/customers", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert "CSRF" in refused.json()["detail"]
    wrong = client.post("/api/v1/customers", json=body, headers={CSRF_HEADER: "guess"})
    assert wrong.status_code == 403
    accepted = client.post("/api/v1/customers", json=body, headers={CSRF_HEADER: csrf})
    assert accepted.status_code == 201
    # Reading needs no token.
    assert client.get("/api/v1/customers").status_code == 200


def test_the_csrf_token_may_come_as_a_form_field(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _user(sessions)
    csrf = _sign_in(client)
    refused = client.post("/api/v1/auth/logout", data={"csrf_token": "guess"})
    assert refused.status_code == 403
    assert client.post("/api/v1/auth/logout", data={"csrf_token": csrf}).status_code == 204


def test_bearer_requests_need_no_csrf_token(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    user_id = _user(sessions)
    with sessions.begin() as session:
        _, token = issue_token(
            session=session, user=session.get(User, user_id), name="t",
            scopes=frozenset({"customers:write"}), expires_at=None,
        )  # fmt: skip
    response = client.post("/api/v1/customers", json={"name": "王五"}, headers=bearer(token))
    assert response.status_code == 201


def test_repeated_failures_lock_the_account(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    user_id = _user(sessions)
    for _ in range(MAX_FAILED_LOGINS):
        wrong = client.post("/api/v1/auth/login", json={"username": "mei", "password": "nope"})
        assert wrong.status_code == 401
        assert wrong.json() == {"error": "unauthorized", "detail": "wrong user name or password"}
    locked = client.post("/api/v1/auth/login", json={"username": "mei", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"] == "account_locked"
    assert int(locked.headers["Retry-After"]) > 0
    with sessions() as session:
        user = session.get(User, user_id)
        assert user is not None and user.locked_until is not None
        assert user.failed_logins == MAX_FAILED_LOGINS
    assert _actions(sessions).count("auth.sign_in_failed") == MAX_FAILED_LOGINS + 1


def test_an_admin_reset_unlocks_and_sets_the_password(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    user_id = _user(sessions)
    _user(sessions, "boss", Role.admin)
    with sessions.begin() as session:
        session.execute(
            update(User).where(User.id == user_id).values(locked_until=now() + timedelta(hours=1))
        )
    csrf = _sign_in(client, "boss")
    reset = client.post(
        f"/api/v1/users/{user_id}/password",
        json={"new_password": "another-long-one"},
        headers={CSRF_HEADER: csrf},
    )
    assert reset.status_code == 204
    client.cookies.clear()
    _sign_in(client, "mei", "another-long-one")
    assert "user.password_reset" in _actions(sessions)


def test_a_user_changes_their_own_password(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _user(sessions)
    csrf = _sign_in(client)
    body = {"current_password": "not-it", "new_password": "brand-new-secret"}
    assert (
        client.post("/api/v1/auth/password", json=body, headers={CSRF_HEADER: csrf}).status_code
        == 403
    )
    body["current_password"] = PASSWORD
    assert (
        client.post("/api/v1/auth/password", json=body, headers={CSRF_HEADER: csrf}).status_code
        == 204
    )
    client.cookies.clear()
    _sign_in(client, "mei", "brand-new-secret")


def test_sign_in_attempts_are_rate_limited(client: TestClient, app: FastAPI) -> None:
    limit = app.state.login_limiter.attempts
    for _ in range(limit):
        response = client.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
        assert response.status_code == 401
    response = client.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"


def _token(sessions: sessionmaker[Session], role: Role, *scopes: str, **fields: object) -> str:
    with sessions.begin() as session:
        user = builders.user(session, role=role)
        token, plain = issue_token(
            session=session, user=user, name="t", scopes=frozenset(scopes), expires_at=None
        )
        for name, value in fields.items():
            setattr(token, name, value)
    return plain


def test_token_scopes_limit_what_a_token_may_do(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    reader = bearer(_token(sessions, Role.admin, "customers:read"))
    assert client.get("/api/v1/customers", headers=reader).status_code == 200
    refused = client.post("/api/v1/customers", json={"name": "王五"}, headers=reader)
    assert refused.status_code == 403
    assert "customers:write" in refused.json()["detail"]
    assert client.get("/api/v1/audit", headers=reader).status_code == 403
    # A scope never lifts a role's limits: an analyst's write token still cannot write.
    analyst = bearer(_token(sessions, Role.analyst, "*:write"))
    assert (
        client.post("/api/v1/customers", json={"name": "王五"}, headers=analyst).status_code == 403
    )
    writer = bearer(_token(sessions, Role.agent, "customers:write"))
    assert client.get("/api/v1/customers", headers=writer).status_code == 200


def test_expired_and_revoked_tokens_are_refused(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    past = now() - timedelta(minutes=1)
    for fields in ({"expires_at": past}, {"revoked_at": past}):
        token = _token(sessions, Role.admin, "*:read", **fields)
        response = client.get("/api/v1/customers", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
    assert client.get("/api/v1/customers", headers=bearer("ptk_made-up")).status_code == 401


def _last_used(sessions: sessionmaker[Session], plain: str) -> object:
    with sessions() as session:
        return session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == plain))


def test_a_tokens_last_use_is_kept_apart_from_the_request(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    token = _token(sessions, Role.agent, "customers:write")
    with sessions.begin() as session:
        session.execute(update(ApiToken).values(name=token))
    # Written after the answer, in a transaction of its own.
    assert client.get("/api/v1/customers", headers=bearer(token)).status_code == 200
    first = _last_used(sessions, token)
    assert first is not None
    # Within the minute, nothing is written again.
    assert client.get("/api/v1/customers", headers=bearer(token)).status_code == 200
    assert _last_used(sessions, token) == first
    stale = now() - timedelta(minutes=5)
    with sessions.begin() as session:
        session.execute(update(ApiToken).values(last_used_at=stale))
    assert client.get("/api/v1/customers", headers=bearer(token)).status_code == 200
    latest = _last_used(sessions, token)
    assert isinstance(latest, type(stale)) and latest > stale


def test_admins_create_tokens_shown_once_and_stored_hashed(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    admin = bearer(_token(sessions, Role.admin, "tokens:write"))
    with sessions.begin() as session:
        agent_id = builders.user(session, role=Role.agent).id
    bad = client.post(
        "/api/v1/tokens", json={"user_id": agent_id, "name": "crm", "scopes": ["everything"]},
        headers=admin,
    )  # fmt: skip
    assert bad.status_code == 422
    made = client.post(
        "/api/v1/tokens",
        json={
            "user_id": agent_id,
            "name": "crm",
            "scopes": ["customers:read"],
            "expires_in_days": 7,
        },
        headers=admin,
    )
    assert made.status_code == 201
    plain = made.json()["token"]
    with sessions() as session:
        stored = session.scalar(select(ApiToken).where(ApiToken.id == made.json()["id"]))
        assert stored is not None and plain not in stored.token_hash
        assert stored.expires_at is not None
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert all("token" not in row for row in listed)
    assert client.get("/api/v1/customers", headers=bearer(plain)).status_code == 200
    token_id = made.json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 204
    assert client.get("/api/v1/customers", headers=bearer(plain)).status_code == 401
