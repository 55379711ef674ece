"""What endpoints depend on: the request's session (one commit at the end), the settings,
the acting user, and the permission a route needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from anyio import CancelScope
from fastapi import BackgroundTasks, Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from patron.api.access import Actor, Permission
from patron.api.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    UNSAFE_METHODS,
    LiveToken,
    csrf_matches,
    note_token_use,
    session_of,
    token_of,
    token_use_is_stale,
)
from patron.api.token_reader import TokenReader, Unavailable
from patron.config import Settings
from patron.db import end_unit_of_work
from patron.errors import Forbidden, Unauthorized

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: committed when the endpoint succeeds, else rolled back.

    Async, so the request does not hand over to a worker thread to start it: a session
    takes its connection at its first query, on the endpoint's thread. Its end (commit or
    rollback, database I/O) runs on a worker thread, unless the endpoint already ended the
    transaction itself (`answer`): a session holding no transaction and no pending change
    closes without I/O.
    """
    session: Session = request.app.state.sessions()
    try:
        yield session
    except BaseException:
        with CancelScope(shield=True):  # a cancelled request still rolls back and closes
            await run_in_threadpool(lambda: end_unit_of_work(session, commit=False))
        raise
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        await run_in_threadpool(lambda: end_unit_of_work(session, commit=True))
    else:
        session.close()


def answer(session: Session, adapter: TypeAdapter[Any], value: Any) -> Response:
    """A reading endpoint's JSON answer, serialised once by its response model's adapter (as
    FastAPI would: the same bytes) on the endpoint's worker thread, with the request's
    transaction committed there too.

    Returned as a `Response`, FastAPI neither validates it again on another worker thread
    nor serialises it; with the transaction ended, `get_session` needs no thread to end it.
    The route keeps `response_model=`, so the API schema is the same.
    """
    body = adapter.dump_json(value, by_alias=True)
    session.commit()
    return Response(content=body, media_type="application/json")


# The dependencies that only read the app's state are async: FastAPI runs a sync one on a
# worker thread, and the hand-over costs more CPU than what they do.
async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_factory(request: Request) -> sessionmaker[Session]:
    """The session factory, for the rare write that must outlive a refused request."""
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


# "function" scope: the commit happens before the response leaves, so a client never sees
# success for a change that then failed to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
FactoryDep = Annotated[sessionmaker[Session], Depends(get_factory)]

bearer_scheme = HTTPBearer(
    auto_error=False, description="An API token created by an admin: `Bearer ptk_...`."
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description=f"A browser session from sign-in; state-changing requests also send {CSRF_HEADER}.",
)


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token sent with the request: the header, else a form field."""
    header = request.headers.get(CSRF_HEADER)
    if header or request.method not in UNSAFE_METHODS:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def current_actor(  # async: the token check needs no worker thread (PostgreSQL)
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
    csrf: Annotated[str | None, Depends(submitted_csrf)],
) -> Actor:
    """The signed-in user: a bearer token wins over a cookie; a cookie's unsafe requests must
    carry the session's CSRF token."""
    if credentials is not None:
        token = await _live_token(request, session, credentials.credentials)
        if token is None:
            raise Unauthorized("the API token is unknown, expired or revoked")
        if token_use_is_stale(token.last_used_at):
            background.add_task(note_token_use, request.app.state.sessions, token.token_id)
        return Actor(token.user_id, token.username, token.role, token.team, "token", token.scopes)
    if cookie:
        settings: Settings = request.app.state.settings
        signed_in = await run_in_threadpool(
            lambda: session_of(session=session, cookie=cookie, settings=settings)
        )
        if signed_in is None:
            raise Unauthorized("the session has expired: sign in again")
        user, row = signed_in
        if request.method in UNSAFE_METHODS and not csrf_matches(row.csrf_token, csrf):
            raise Forbidden(
                f"missing or wrong CSRF token: send the {CSRF_HEADER} header "
                f"(or the {CSRF_FIELD} form field) given at sign-in"
            )
        return Actor.of(user, via="session")
    raise Unauthorized("sign in, or send an API token as 'Authorization: Bearer TOKEN'")


async def _live_token(request: Request, session: Session, plain: str) -> LiveToken | None:
    """The live token behind a bearer token, read now: on the event loop by the app's token
    reader (PostgreSQL), else through the request's session on a worker thread."""
    reader: TokenReader | None = request.app.state.token_reader
    if reader is not None:
        try:
            return await reader.token(plain)
        except Unavailable:
            pass
    return await run_in_threadpool(lambda: token_of(session=session, plain=plain))


CurrentActor = Annotated[Actor, Depends(current_actor)]


def requires(permission: Permission) -> Any:
    """A dependency giving the actor after checking they hold `permission` (403 otherwise)."""

    async def check(actor: CurrentActor) -> Actor:  # no I/O: no worker thread
        actor.require(permission)
        return actor

    return Depends(check)
