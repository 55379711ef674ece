"""What every command shares: the database it talks to and how it prints."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from patron.cli.lean import parse_as_of as parse_as_of
from patron.errors import NotFound

if TYPE_CHECKING:
    # Imported where a command first needs the database, so commands without one (`patron
    # clv`, `patron model fit`) start without loading SQLAlchemy and the settings.
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

console = Console(stderr=True)


@dataclass
class CliState:
    db_url: str | None = None
    debug: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        from patron.config import get_settings

        return self.db_url or os.environ.get("PATRON_DATABASE_URL") or get_settings().database_url

    @cached_property
    def engine(self) -> Engine:
        from patron.db import check_connection, create_db_engine

        engine = create_db_engine(self.url)
        check_connection(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from patron.db import session_factory

        return session_factory(self.engine)


def state(ctx: typer.Context) -> CliState:
    """The state the root callback put on the context."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def emit(result: dict[str, Any], *, as_json: bool, human: Callable[[], None] | None = None) -> None:
    """Print one JSON object on stdout with --json, else the human form."""
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, default=str))
    elif human is not None:
        human()
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")


def user_id_named(session: Session, username: str | None) -> int | None:
    """The id of the user a command acts as (`--by`, `--as`), or None when none is named."""
    if username is None:
        return None
    from patron.auth import service as users

    user = users.by_username(session=session, username=username)
    if user is None:
        raise NotFound(f"no user named '{username}'")
    return user.id
