"""`patron export KIND FILE` and the API's exports: stream a table to CSV or XLSX.

Each export reads in one transaction, so it shows one consistent state, and holds only what
its `Audience` may see (everything for the command line without `--user`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from patron.api.access import Actor
from patron.audit.service import record
from patron.auth.models import User
from patron.errors import InvalidInput, NotFound
from patron.exports.audience import EVERYTHING, Audience
from patron.exports.tables import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    SCORE_COLUMNS,
    TASK_COLUMNS,
    TICKET_COLUMNS,
    Table,
    customer_rows,
    order_rows,
    score_rows,
    task_rows,
    ticket_rows,
)
from patron.exports.writers import FORMATS, atomic_path, write_csv, write_xlsx

EXPORTS = {
    "customers": Table(CUSTOMER_COLUMNS, customer_rows),
    "orders": Table(ORDER_COLUMNS, order_rows),
    "scores": Table(SCORE_COLUMNS, score_rows),
    "tasks": Table(TASK_COLUMNS, task_rows),
    "tickets": Table(TICKET_COLUMNS, ticket_rows),
}
LOCALES = ("zh_CN", "en")


@dataclass
class OpenExport:
    """An export whose query already runs: its header row and its rows, streamed once;
    the transaction ends when the rows are used up or `close` is called."""

    headers: list[str]
    rows: Iterator[list[Any]]
    _stack: ExitStack

    def close(self) -> None:
        """End the export's transaction and give its connection back."""
        self._stack.close()


def table_named(kind: str) -> Table:
    """The export called `kind`, or a plain error listing the kinds there are."""
    table = EXPORTS.get(kind)
    if table is None:
        raise InvalidInput(f"'{kind}' is not an export kind (use one of: {', '.join(EXPORTS)})")
    return table


def open_export(
    *, engine: Engine, kind: str, locale: str, audience: Audience = EVERYTHING
) -> OpenExport:
    """Start an export; a failing query (no scores yet) raises here, before any output."""
    table = table_named(kind)
    if locale not in LOCALES:
        raise InvalidInput(f"'{locale}' is not a locale (use zh_CN or en)")
    stack = ExitStack()
    try:
        conn = stack.enter_context(engine.connect())
        stack.enter_context(conn.begin())
        rows = table.rows(conn, audience)
        first = next(rows, None)
    except BaseException:
        stack.close()
        raise
    return OpenExport(table.headers(locale), _chain(first, rows, stack), stack)


def export_file(
    *, engine: Engine, kind: str, path: Path, locale: str, audience: Audience = EVERYTHING
) -> int:
    """Write the rows of `kind` the audience sees to `path` (.csv or .xlsx); returns how many."""
    table_named(kind)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(f"{path.name}: the export file must end in .csv or .xlsx")
    write = write_csv if suffix == ".csv" else write_xlsx
    export = open_export(engine=engine, kind=kind, locale=locale, audience=audience)
    # The first row is fetched before the file is created, so a failing query leaves no
    # half-made file behind.
    try:
        with atomic_path(path) as temporary:
            return write(temporary, export.headers, export.rows)
    finally:
        export.close()


def _chain(
    first: list[Any] | None, rest: Iterator[list[Any]], stack: ExitStack
) -> Iterator[list[Any]]:
    with stack:
        if first is not None:
            yield first
            yield from rest


def actor_named(*, engine: Engine, username: str) -> Actor:
    """The active user `username` as the one an export is for (`patron export --user`)."""
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == username, User.active))
        if user is None:
            raise NotFound(f"there is no active user named '{username}'")
        return Actor.of(user, via="cli")


def audit_export(*, engine: Engine, kind: str, rows: int, actor: Actor | None, path: Path) -> None:
    """Record a command-line export in the audit log: who it was for, what and where."""
    with Session(engine) as session, session.begin():
        record(
            session=session, action=f"export.{kind}", entity="export",
            user_id=actor.user_id if actor else None, via="cli", rows=rows,
            file=path.name, masked=actor is not None,
        )  # fmt: skip
