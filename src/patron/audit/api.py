"""/api/v1/audit: the audit log, filterable, newest first, for admins only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, select

from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, SettingsDep, requires
from patron.api.errors import responses
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, SortKey, paginate
from patron.audit.models import AuditEntry
from patron.config import Settings
from patron.wire import LocalDateTime

router = APIRouter(prefix="/audit", tags=["audit"], responses=responses(401, 403, 422))
SORT = {"id": SortKey(AuditEntry.id, int)}


class AuditView(BaseModel):
    """One audit entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: LocalDateTime
    user_id: int | None
    action: str
    entity: str
    entity_id: str | None
    detail: dict[str, Any]


def _local(moment: datetime, settings: Settings) -> datetime:
    # Stored times are naive local wall-clock times; a moment with a zone is converted first.
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(ZoneInfo(settings.timezone)).replace(tzinfo=None)


@router.get("", summary="The audit log")
def audit_log(
    session: SessionDep,
    settings: SettingsDep,
    actor: Annotated[Actor, requires(Permission.audit_read)],
    action: Annotated[
        str | None, Query(description="Exact, or a prefix ending in '.': 'auth.'")
    ] = None,
    entity: str | None = None,
    entity_id: str | None = None,
    user_id: int | None = None,
    since: Annotated[datetime | None, Query(description="From this moment on")] = None,
    until: Annotated[datetime | None, Query(description="Before this moment")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AuditView]:
    """Who did what to which record, newest first."""
    where: list[ColumnElement[bool]] = []
    if action:
        is_prefix = action.endswith(".")
        where.append(
            AuditEntry.action.startswith(action, autoescape=True)
            if is_prefix
            else AuditEntry.action == action
        )
    for column, value in (
        (AuditEntry.entity, entity),
        (AuditEntry.entity_id, entity_id),
        (AuditEntry.user_id, user_id),
    ):
        if value is not None:
            where.append(column == value)
    if since is not None:
        where.append(AuditEntry.at >= _local(since, settings))
    if until is not None:
        where.append(AuditEntry.at < _local(until, settings))
    rows, next_cursor = paginate(
        session,
        select(AuditEntry).where(*where),
        sort="-id",
        keys=SORT,
        id_column=AuditEntry.id,
        cursor=cursor,
        limit=limit,
    )
    items = [AuditView.model_validate(row) for row in rows]
    return Page(items=items, next_cursor=next_cursor, limit=limit)
