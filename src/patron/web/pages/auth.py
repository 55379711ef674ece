"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from patron.api.deps import CurrentActor, FactoryDep, SessionDep, SettingsDep
from patron.api.errors import TooManyRequests
from patron.api.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    authenticate,
    csrf_matches,
    session_of,
    start_session,
)
from patron.audit.service import record
from patron.config import Settings
from patron.db import now
from patron.errors import Unauthorized
from patron.web.i18n import LANGUAGE_COOKIE, known, request_locale, translator
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# Sign-in has no session yet, so its form carries its own double-submit token.
LOGIN_CSRF_COOKIE = "patron_login_csrf"
YEAR = 365 * 24 * 3600


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request, settings: Settings) -> bool:
    # Browsers drop Secure cookies on plain http, so the flag follows the scheme in development.
    return settings.environment == "production" or request.url.scheme == "https"


def _login_form(
    request: Request, settings: Settings, *, next_url: str, message: str = "", status: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", None, status=status, login_csrf=token, next_url=next_url,
        message=message,
    )  # fmt: skip
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
        secure=_secure(request, settings), path="/login",
    )  # fmt: skip
    return response


@router.get("/login")
def login_page(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    """The sign-in form."""
    return _login_form(request, settings, next_url=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password, start a session (the API's cookies) and go where the user was going."""
    _ = translator(request_locale(request))
    target = safe_next(next)
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), login_csrf or None):
        message = _("The sign-in form expired. Please try again.")
        return _login_form(request, settings, next_url=target, message=message, status=403)
    client = request.client.host if request.client else "unknown"
    try:
        request.app.state.login_limiter.check(client)
        user = authenticate(session=session, factory=factory, username=username, password=password)
    except TooManyRequests as exc:
        return _login_form(request, settings, next_url=target, message=exc.message, status=429)
    except Unauthorized:
        message = _("Wrong user name or password.")
        return _login_form(request, settings, next_url=target, message=message, status=401)
    started = start_session(session=session, user=user, settings=settings)
    response = RedirectResponse(target, status_code=303)
    age, secure = int(SESSION_LIFETIME.total_seconds()), _secure(request, settings)
    response.set_cookie(
        SESSION_COOKIE, started.cookie, max_age=age, httponly=True, secure=secure, samesite="lax"
    )
    # Readable by the pages, which echo it in X-CSRF-Token or a form field (double submit).
    response.set_cookie(
        CSRF_COOKIE, started.csrf_token, max_age=age, httponly=False, secure=secure, samesite="lax"
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, settings: SettingsDep, actor: CurrentActor
) -> Response:
    """End the browser session and return to the sign-in page."""
    cookie = request.cookies.get(SESSION_COOKIE)
    signed_in = session_of(session=session, cookie=cookie, settings=settings) if cookie else None
    if actor.via == "session" and signed_in is not None:
        signed_in[1].revoked_at = now()
        record(session=session, action="auth.sign_out", entity="user", entity_id=actor.user_id,
               user_id=actor.user_id)  # fmt: skip
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/language/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    """Remember the chosen language (zh-CN or en) and go back to the page."""
    locale = known(code)
    response = RedirectResponse(safe_next(next), status_code=303)
    if locale is not None:
        response.set_cookie(LANGUAGE_COOKIE, locale, max_age=YEAR, samesite="lax")
    return response
