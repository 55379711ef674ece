"""Test clients signed in as a user through a stored browser session, for the page tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session, sessionmaker

from patron.api.security import CSRF_COOKIE, SESSION_COOKIE, start_session
from patron.auth.models import User


@dataclass
class Browser:
    """A client with a user's session cookies; `post` sends the CSRF token as HTMX does."""

    client: TestClient
    csrf: str

    def get(self, path: str, **options: Any) -> Response:
        return self.client.get(path, headers={"Accept-Language": "en"}, **options)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, htmx: bool = True
    ) -> Response:
        headers = {"Accept-Language": "en"} | ({"HX-Request": "true"} if htmx else {})
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return self.client.post(path, data=data or {}, headers=headers)


def browser_for(app: FastAPI, sessions: sessionmaker[Session], user: User) -> Browser:
    """A client signed in as `user`."""
    with sessions.begin() as session:
        started = start_session(
            session=session, user=session.get(User, user.id), settings=app.state.settings
        )
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    client.cookies.set(SESSION_COOKIE, started.cookie)
    client.cookies.set(CSRF_COOKIE, started.csrf_token)
    return Browser(client, started.csrf_token)


def section(page: str, element_id: str) -> str:
    """The HTML of the element with this id up to the next `<section` (a page section)."""
    start = page.index(f'id="{element_id}"')
    end = page.find("<section", start)
    return page[start : end if end != -1 else len(page)]
