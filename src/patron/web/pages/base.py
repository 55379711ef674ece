"""What every page shares: the Jinja2 environment, rendering in the request's language, and
errors shown as pages (anonymous visitors are sent to the sign-in page)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from patron.analytics.rfm import segment_label
from patron.api.access import Actor, Permission
from patron.api.security import CSRF_COOKIE, CSRF_FIELD
from patron.auth.models import Role
from patron.errors import PatronError, Unauthorized
from patron.web.i18n import html_lang, request_locale, translator

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
log = logging.getLogger("patron.web")

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _number(value: float | int | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


environment.filters["percent"] = _percent
environment.filters["number"] = _number


def sign_in_url(request: Request) -> str:
    """The sign-in page, asking to come back to the current page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.headers.get("hx-current-url", "/") if is_htmx(request) else "/"
        target = "/" if "://" in target else target
    return "/login?next=" + quote(target, safe="/")


def is_htmx(request: Request) -> bool:
    """Whether HTMX sent the request (it swaps the answer into part of a page)."""
    return request.headers.get("hx-request") == "true"


def context(request: Request, actor: Actor | None, **values: Any) -> dict[str, Any]:
    """What every template may use: the user, language, `_`, CSRF token and permissions."""
    locale = request_locale(request)
    _ = translator(locale)
    return {
        "request": request,
        "actor": actor,
        "locale": locale,
        "lang": html_lang(locale),
        "_": _,
        "csrf_token": request.cookies.get(CSRF_COOKIE, ""),
        "csrf_field": CSRF_FIELD,
        "can": (lambda name: actor is not None and actor.can(Permission(name))),
        "is_admin": actor is not None and actor.role is Role.admin,
        "segment_name": lambda segment: segment_label(segment, locale) if segment else "—",
        "path": request.url.path,
        **values,
    }


def render(
    request: Request, template: str, actor: Actor | None, status: int = 200, **values: Any
) -> HTMLResponse:
    """A template rendered for the request's user and language."""
    body = environment.get_template(template).render(context(request, actor, **values))
    return HTMLResponse(body, status_code=status)


def _error_page(request: Request, status: int, message: str) -> Response:
    if is_htmx(request):
        # HTMX swaps only successful answers; the fragment says what went wrong.
        return render(request, "fragments/error.html", None, status=200, message=message)
    return render(request, "error.html", None, status=status, message=message)


class PageRoute(APIRoute):
    """A route whose errors become pages: no session goes to sign-in, others say why."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthorized:
                if is_htmx(request):
                    return Response(status_code=204, headers={"HX-Redirect": sign_in_url(request)})
                return RedirectResponse(sign_in_url(request), status_code=303)
            except PatronError as exc:
                return _error_page(request, exc.status, exc.message)
            except RequestValidationError as exc:
                fields = ", ".join(str(e["loc"][-1]) for e in exc.errors())
                return _error_page(request, 422, f"invalid input: {fields}")

        return page_handler
