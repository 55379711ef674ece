"""Creating users and checking their passwords (argon2)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.auth.models import Role, User
from patron.errors import Conflict, InvalidInput

hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """An argon2id hash of a password long enough to be worth hashing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    """Whether the password matches the user's hash; a user with no password never matches."""
    if not user.password_hash:
        return False
    try:
        return hasher.verify(user.password_hash, password)
    except VerificationError:
        return False


def create(
    *,
    session: Session,
    username: str,
    role: Role,
    team: str | None = None,
    password: str | None = None,
    display_name: str = "",
) -> User:
    """Add a user; the name must be new."""
    username = username.strip()
    if not username:
        raise InvalidInput("a user needs a name")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"a user named '{username}' already exists")
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        team=team,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    return user


def by_username(*, session: Session, username: str) -> User | None:
    """The user with this name, if any."""
    return session.scalar(select(User).where(User.username == username))
