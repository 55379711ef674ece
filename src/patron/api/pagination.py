"""Cursor (keyset) pagination on a whitelisted sort column, with the id as tie-breaker.

A cursor names the sort and the last row's (value, id), so pages stay stable while rows are
added and each page costs an index range, not an OFFSET scan. Empty values sort last in
both directions.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from patron.errors import InvalidInput

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    """One page of results; pass `next_cursor` back as `cursor` for the next (None: the end)."""

    items: list[T]
    next_cursor: str | None
    limit: int


@dataclass(frozen=True)
class SortKey:
    """A column a list may be sorted on, and how a cursor's value is read back."""

    column: InstrumentedAttribute[Any]
    parse: Callable[[Any], Any]

    @property
    def name(self) -> str:
        return self.column.key


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def encode_cursor(sort: str, value: Any, row_id: int) -> str:
    """An opaque cursor for the row after which the next page starts."""
    raw = json.dumps([sort, _plain(value), row_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, key: SortKey) -> tuple[Any, int]:
    """The (value, id) a cursor carries; refused if it is damaged or made for another sort."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        parsed = None if value is None else key.parse(value)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("the cursor is damaged: start again from the first page") from exc
    if name != sort or not isinstance(row_id, int):
        raise InvalidInput("the cursor belongs to another sort order: start again")
    return parsed, row_id


def _after(
    column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[int],
    value: Any,
    row_id: int,
    descending: bool,
) -> ColumnElement[bool]:
    later_id = id_column < row_id if descending else id_column > row_id
    if value is None:
        return and_(column.is_(None), later_id)
    beyond = column < value if descending else column > value
    return or_(beyond, and_(column == value, later_id), column.is_(None))


def paginate(
    session: Session,
    query: Select[Any],
    *,
    sort: str,
    keys: dict[str, SortKey],
    id_column: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
    rows: bool = False,
) -> tuple[Sequence[Any], str | None]:
    """One page of a query of entities (with `rows`, of rows holding the sort column and
    the id), sorted by `sort` (`-name` for descending)."""
    descending = sort.startswith("-")
    key = keys.get(sort.removeprefix("-"))
    if key is None:
        raise InvalidInput(f"cannot sort on '{sort}': use one of {', '.join(sorted(keys))}")
    column = key.column
    if cursor:
        value, row_id = decode_cursor(cursor, sort, key)
        query = query.where(_after(column, id_column, value, row_id, descending))
    ordered = column.desc() if descending else column.asc()
    tie = id_column.desc() if descending else id_column.asc()
    # Missing values sort last, written as NULLS LAST so an index declared in the same order
    # serves the first page; a column that cannot be missing (the id, creation time) needs no
    # such clause, and its plain order walks the primary key or its own index.
    if getattr(column.expression, "nullable", True):
        ordered = ordered.nulls_last()
    page = query.order_by(ordered, tie).limit(limit + 1)
    found = session.execute(page).all() if rows else session.scalars(page).all()
    if len(found) <= limit:
        return found, None
    last = found[limit - 1]
    return found[:limit], encode_cursor(sort, getattr(last, key.name), getattr(last, id_column.key))


def as_datetime(value: Any) -> datetime:
    """A cursor value read back as a datetime."""
    return datetime.fromisoformat(str(value))
