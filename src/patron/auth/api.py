"""/api/v1/auth (sign-in, sign-out, me, own password), /api/v1/users and /api/v1/tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select, update

from patron.api.access import ROLE_PERMISSIONS, Actor, Permission
from patron.api.deps import CurrentActor, FactoryDep, SessionDep, SettingsDep, requires
from patron.api.errors import responses
from patron.api.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    authenticate,
    issue_token,
    parse_scopes,
    session_of,
    start_session,
)
from patron.audit.service import record
from patron.auth import service as users
from patron.auth.models import ApiToken, Role, User, UserSession
from patron.config import Settings
from patron.db import now
from patron.errors import Forbidden, NotFound, Unauthorized
from patron.wire import LocalDateTime

router = APIRouter(tags=["auth"], responses=responses(401, 403, 422))
Admin = Annotated[Actor, requires(Permission.users_admin)]
TokenAdmin = Annotated[Actor, requires(Permission.tokens_admin)]


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    team: str | None
    active: bool
    locked_until: LocalDateTime | None


class Me(UserOut):
    """The caller, how they signed in, and what they may do."""

    via: str
    permissions: list[str]


class SignIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SignedIn(BaseModel):
    """The session started; send `csrf_token` as X-CSRF-Token with every change."""

    user: UserOut
    csrf_token: str
    expires_at: LocalDateTime


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class PasswordReset(BaseModel):
    new_password: str = Field(max_length=1024)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: Role
    team: str | None = Field(default=None, max_length=64)
    display_name: str = Field(default="", max_length=128)
    password: str | None = Field(default=None, max_length=1024)


class UserPatch(BaseModel):
    """Only the fields given change; `unlock` clears a lock-out."""

    role: Role | None = None
    team: str | None = Field(default=None, max_length=64)
    display_name: str | None = Field(default=None, max_length=128)
    active: bool | None = None
    unlock: bool = False

    @model_validator(mode="after")
    def _role_and_active_have_values(self) -> UserPatch:
        # Leaving them out keeps them; sending null would empty a field every user must have.
        for name in ("role", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null: leave it out to keep it")
        return self


class TokenIn(BaseModel):
    user_id: int
    name: str = Field(min_length=1, max_length=128)
    scopes: list[str] = Field(description="e.g. ['customers:read', 'scores:read'] or ['*:write']")
    expires_in_days: int = Field(default=90, ge=1, le=365)


class TokenOut(BaseModel):
    """An API token's record; the token itself is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    scopes: str
    created_at: LocalDateTime
    expires_at: LocalDateTime | None
    revoked_at: LocalDateTime | None
    last_used_at: LocalDateTime | None


class NewToken(TokenOut):
    """A token just created: `token` is shown this once."""

    token: str


def _cookie_secure(request: Request, settings: Settings) -> bool:
    # Browsers drop Secure cookies on plain http, so the flag follows the scheme in development.
    return settings.environment == "production" or request.url.scheme == "https"


@router.post("/auth/login", summary="Sign in", responses=responses(429))
def login(
    request: Request,
    response: Response,
    session: SessionDep,
    factory: FactoryDep,
    settings: SettingsDep,
    body: SignIn,
) -> SignedIn:
    """Check the password and start a browser session (HTTP-only cookie plus a CSRF token)."""
    client = request.client.host if request.client else "unknown"
    request.app.state.login_limiter.check(client)
    user = authenticate(
        session=session, factory=factory, username=body.username, password=body.password
    )
    started = start_session(session=session, user=user, settings=settings)
    secure = _cookie_secure(request, settings)
    age = int(SESSION_LIFETIME.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, started.cookie, max_age=age, httponly=True, secure=secure, samesite="lax"
    )
    # Readable by the page's scripts, which echo it in X-CSRF-Token (the double submit).
    response.set_cookie(
        CSRF_COOKIE, started.csrf_token, max_age=age, httponly=False, secure=secure, samesite="lax"
    )
    return SignedIn(
        user=UserOut.model_validate(user),
        csrf_token=started.csrf_token,
        expires_at=started.expires_at,
    )


@router.post("/auth/logout", status_code=204, summary="Sign out")
def logout(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
) -> None:
    """End the browser session (a token caller has none: nothing happens)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    signed_in = session_of(session=session, cookie=cookie, settings=settings) if cookie else None
    if actor.via == "session" and signed_in is not None:
        signed_in[1].revoked_at = now()
        record(session=session, action="auth.sign_out", entity="user", entity_id=actor.user_id,
               user_id=actor.user_id)  # fmt: skip
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)


@router.get("/auth/me", summary="The signed-in user")
def me(session: SessionDep, actor: CurrentActor) -> Me:
    """Who is calling, how, and which permissions apply."""
    user = session.get(User, actor.user_id)
    permissions = sorted(p.value for p in ROLE_PERMISSIONS[actor.role] if actor.can(p))
    return Me.model_validate(
        {**UserOut.model_validate(user).model_dump(), "via": actor.via, "permissions": permissions}
    )


def _end_sessions(session: SessionDep, user_id: int) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now())
    )


@router.post("/auth/password", status_code=204, summary="Change your password")
def change_password(
    session: SessionDep, factory: FactoryDep, actor: CurrentActor, body: PasswordChange
) -> None:
    """Set a new password after checking the current one; other sessions end."""
    if actor.via != "session":
        raise Forbidden("sign in with your password to change it")
    user = session.get(User, actor.user_id)
    assert user is not None
    try:
        authenticate(
            session=session, factory=factory, username=user.username,
            password=body.current_password,
        )  # fmt: skip
    except Unauthorized as exc:
        raise Forbidden("the current password is wrong") from exc
    user.password_hash = users.hash_password(body.new_password)
    record(session=session, action="auth.password_change", entity="user", entity_id=user.id,
           user_id=user.id)  # fmt: skip


@router.get("/users", summary="All users")
def list_users(session: SessionDep, actor: Admin) -> list[UserOut]:
    """Every user, by name."""
    return [
        UserOut.model_validate(u) for u in session.scalars(select(User).order_by(User.username))
    ]


@router.post("/users", status_code=201, summary="Create a user", responses=responses(409))
def create_user(session: SessionDep, actor: Admin, body: UserIn) -> UserOut:
    """Add a user with a role (and a password, to sign in in a browser)."""
    user = users.create(session=session, username=body.username, role=body.role, team=body.team,
                        password=body.password, display_name=body.display_name)  # fmt: skip
    record(session=session, action="user.create", entity="user", entity_id=user.id,
           user_id=actor.user_id, username=user.username, role=user.role.value)  # fmt: skip
    return UserOut.model_validate(user)


def _user(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


@router.patch("/users/{user_id}", summary="Change a user", responses=responses(404))
def update_user(session: SessionDep, actor: Admin, user_id: int, body: UserPatch) -> UserOut:
    """Change role, team, name or whether the user may sign in; `unlock` ends a lock-out."""
    user = _user(session, user_id)
    changes = body.model_dump(exclude_unset=True, exclude={"unlock"})
    for name, value in changes.items():
        setattr(user, name, value)
    if body.unlock:
        user.failed_logins, user.locked_until = 0, None
    if body.active is False:
        _end_sessions(session, user.id)
    record(session=session, action="user.update", entity="user", entity_id=user.id,
           user_id=actor.user_id, changes={k: str(v) for k, v in changes.items()},
           unlocked=body.unlock)  # fmt: skip
    session.flush()
    return UserOut.model_validate(user)


@router.post("/users/{user_id}/password", status_code=204, summary="Reset a user's password",
             responses=responses(404))  # fmt: skip
def reset_password(session: SessionDep, actor: Admin, user_id: int, body: PasswordReset) -> None:
    """Set a new password for a user, clear any lock-out and end their sessions."""
    user = _user(session, user_id)
    user.password_hash = users.hash_password(body.new_password)
    user.failed_logins, user.locked_until = 0, None
    _end_sessions(session, user.id)
    record(session=session, action="user.password_reset", entity="user", entity_id=user.id,
           user_id=actor.user_id)  # fmt: skip


@router.get("/tokens", summary="All API tokens")
def list_tokens(session: SessionDep, actor: TokenAdmin) -> list[TokenOut]:
    """Every token's record, newest first (never the token itself)."""
    rows = session.scalars(select(ApiToken).order_by(ApiToken.id.desc()))
    return [TokenOut.model_validate(row) for row in rows]


@router.post("/tokens", status_code=201, summary="Create an API token", responses=responses(404))
def create_token(session: SessionDep, actor: TokenAdmin, body: TokenIn) -> NewToken:
    """A scoped, expiring token acting as a user; shown once, stored hashed."""
    user = _user(session, body.user_id)
    scopes = parse_scopes(body.scopes)
    expires_at = now() + timedelta(days=body.expires_in_days)
    token, plain = issue_token(session=session, user=user, name=body.name, scopes=scopes,
                               expires_at=expires_at)  # fmt: skip
    record(session=session, action="token.create", entity="api_token", entity_id=token.id,
           user_id=actor.user_id, for_user_id=user.id, scopes=sorted(scopes))  # fmt: skip
    return NewToken.model_validate({**TokenOut.model_validate(token).model_dump(), "token": plain})


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token",
               responses=responses(404))  # fmt: skip
def revoke_token(session: SessionDep, actor: TokenAdmin, token_id: int) -> None:
    """Revoke a token at once; revoking twice is harmless."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now()
        record(session=session, action="token.revoke", entity="api_token", entity_id=token.id,
               user_id=actor.user_id)  # fmt: skip
