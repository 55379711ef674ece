"""Rulebook versions in the store: the active one, applying a new one, going back."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, select, update

from patron.errors import NotFound
from patron.rules import rulebook as rulebooks
from patron.rules.engine import check_rulebook
from patron.rules.models import RulebookVersion
from patron.rules.rulebook import Rulebook


def active(connection: Connection) -> tuple[int | None, Rulebook]:
    """The active rulebook and its version; the built-in default (version None) before any apply."""
    row = connection.execute(
        select(RulebookVersion.version, RulebookVersion.document).where(RulebookVersion.active)
    ).first()
    if row is None:
        return None, rulebooks.default()
    return row.version, rulebooks.parse(row.document)


def active_text(connection: Connection) -> tuple[int | None, str]:
    """The active rulebook's document as stored (the default's text before any apply)."""
    row = connection.execute(
        select(RulebookVersion.version, RulebookVersion.document).where(RulebookVersion.active)
    ).first()
    if row is None:
        return None, rulebooks.default_text()
    return row.version, row.document


def apply(connection: Connection, text: str, *, note: str = "", user_id: int | None = None) -> int:
    """Check the document and make it the new active version; return its version number."""
    check_rulebook(rulebooks.parse(text))
    latest = connection.execute(select(func.max(RulebookVersion.version))).scalar()
    version = (latest or 0) + 1
    connection.execute(update(RulebookVersion).values(active=False))
    connection.execute(
        insert(RulebookVersion).values(
            version=version, document=text, active=True, note=note, created_by_id=user_id
        )
    )
    return version


def activate(connection: Connection, version: int) -> None:
    """Go back (or forward) to a stored version."""
    found = connection.execute(
        select(RulebookVersion.id).where(RulebookVersion.version == version)
    ).first()
    if found is None:
        raise NotFound(f"there is no rulebook version {version}")
    connection.execute(update(RulebookVersion).values(active=False))
    connection.execute(
        update(RulebookVersion).where(RulebookVersion.version == version).values(active=True)
    )


def history(connection: Connection) -> list[RulebookVersion]:
    """Every stored version, newest first."""
    rows = connection.execute(
        select(
            RulebookVersion.version,
            RulebookVersion.active,
            RulebookVersion.note,
            RulebookVersion.created_at,
        ).order_by(RulebookVersion.version.desc())
    ).all()
    return [
        RulebookVersion(version=r.version, active=r.active, note=r.note, created_at=r.created_at)
        for r in rows
    ]
