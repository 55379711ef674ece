"""Every error leaves the API as JSON `{"error": CODE, "detail": ...}` with its HTTP status."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from patron.errors import PatronError, Unauthorized

log = logging.getLogger("patron.api")
UNREADABLE_BODY = "There was an error parsing the body"


class TooManyRequests(PatronError):
    """Too many attempts in a short time: wait and try again."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(PatronError):
    """A request body or upload above the size the server accepts."""

    code = "too_large"
    status = 413


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: str
    detail: Any


_DESCRIPTIONS = {
    400: "The request cannot be carried out as asked",
    401: "Not signed in, or the session or token is not valid",
    403: "Signed in, but not allowed to do this",
    404: "No such thing, or not one the caller may see",
    409: "Conflicts with what is stored (a duplicate, a merged customer)",
    413: "The request body or upload is larger than the server accepts",
    422: "The input is not valid",
    429: "Too many attempts; wait and try again",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI descriptions of the error responses a route can give."""
    return {
        status: {"model": ErrorOut, "description": _DESCRIPTIONS[status]} for status in statuses
    }


def error_response(
    status: int, code: str, detail: Any, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error body with its status."""
    body = jsonable_encoder({"error": code, "detail": detail})
    return JSONResponse(body, status_code=status, headers=headers)


async def _patron_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PatronError)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(exc.status, exc.code, exc.detail, headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"where": ".".join(str(part) for part in error["loc"]), "problem": error["msg"]}
        for error in exc.errors()
    ]
    return error_response(422, "invalid_input", problems)


def _http_code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return "error"


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = "there is nothing at this address"
    elif exc.status_code == 405:
        detail = "this address does not accept that method"
    elif exc.status_code == 400 and detail == UNREADABLE_BODY:
        # FastAPI says 400 for bytes that are not text, 422 for malformed JSON: say one thing.
        problem = {"where": "body", "problem": "the request body is not JSON text in UTF-8"}
        return error_response(422, "invalid_input", [problem])
    return error_response(exc.status_code, _http_code(exc.status_code), detail, exc.headers)


async def _out_of_range(_request: Request, exc: Exception) -> JSONResponse:
    # A value the database cannot hold (an id of 30 digits, an over-long text) is bad input.
    log.info("value out of range: %s", exc)
    problem = {"where": "request", "problem": "a value in the request is out of range or too long"}
    return error_response(422, "invalid_input", [problem])


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The cause goes to the log only: its text may hold SQL or data the caller must not see.
    log.exception("unexpected failure on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "something went wrong on the server")


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one JSON shape."""
    app.add_exception_handler(PatronError, _patron_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(Exception, _unexpected)
