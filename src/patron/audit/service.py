"""Writing to the audit log inside the caller's unit of work."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry


def record(
    *,
    session: Session,
    action: str,
    entity: str,
    entity_id: str | int | None = None,
    user_id: int | None = None,
    **detail: Any,
) -> None:
    """Add one audit entry; it commits or rolls back with the change it describes."""
    session.add(
        AuditEntry(
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            user_id=user_id,
            detail=detail,
        )
    )
