"""Saved views: a user's named filter sets for a list page, reopened from a menu."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import ForeignKey, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from patron.db import Base, Id, now
from patron.errors import InvalidInput, NotFound

NAME_LENGTH = 80
QUERY_LENGTH = 1000


class SavedView(Base):
    """One named filter set of one user on one page (`page` is the page's path)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "page", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    page: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    query: Mapped[str] = mapped_column(String(QUERY_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=now)


def clean_query(query: str, allowed: tuple[str, ...]) -> str:
    """The query string with only the page's filter names kept (no cursor, nothing else)."""
    pairs = [(k, v) for k, v in parse_qsl(query.lstrip("?")) if k in allowed and v]
    return urlencode(pairs)


def views_of(session: Session, user_id: int, page: str) -> list[SavedView]:
    """The user's saved views of the page, by name."""
    query = select(SavedView).where(SavedView.user_id == user_id, SavedView.page == page)
    return list(session.scalars(query.order_by(SavedView.name)))


def save_view(*, session: Session, user_id: int, page: str, name: str, query: str) -> SavedView:
    """Save the filter set under `name`; saving an existing name replaces its filters."""
    name = name.strip()
    if not name or len(name) > NAME_LENGTH:
        raise InvalidInput(f"a view needs a name of 1 to {NAME_LENGTH} characters")
    if len(query) > QUERY_LENGTH:
        raise InvalidInput("these filters are too long to save")
    found = session.scalar(
        select(SavedView).where(
            SavedView.user_id == user_id, SavedView.page == page, SavedView.name == name
        )
    )
    if found is None:
        found = SavedView(user_id=user_id, page=page, name=name, query=query)
        session.add(found)
    else:
        found.query = query
    session.flush()
    return found


def delete_view(*, session: Session, user_id: int, view_id: int) -> None:
    """Delete one of the user's views; someone else's is as good as missing."""
    gone = session.execute(
        delete(SavedView).where(SavedView.id == view_id, SavedView.user_id == user_id)
    )
    if not gone.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"you have no saved view with id {view_id}")
