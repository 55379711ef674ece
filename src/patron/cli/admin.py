"""`patron init` and `patron user add`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from patron.auth import service as users
from patron.auth.models import Role
from patron.cli.context import emit, state
from patron.db import unit_of_work
from patron.errors import InvalidInput


def init(ctx: typer.Context) -> None:
    """Create or migrate the schema (safe to run again)."""
    from patron.schema import migrate  # Alembic loads only for this command

    cli = state(ctx)
    migrate(cli.engine)
    typer.echo(f"schema is up to date ({cli.engine.url.render_as_string()})")


def user_add(
    ctx: typer.Context,
    name: str,
    role: Annotated[Role, typer.Option("--role", help="admin, manager, agent or analyst")],
    team: Annotated[str | None, typer.Option("--team")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a user."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("no password was given on standard input")
    cli = state(ctx)
    with unit_of_work(cli.sessions) as session:
        user = users.create(session=session, username=name, role=role, team=team, password=password)
        result = {"id": user.id, "username": user.username, "role": user.role.value}
    emit(result, as_json=as_json, human=lambda: typer.echo(f"created {role.value} '{name}'"))


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
    user_app.command("add")(user_add)
    app.add_typer(user_app, name="user")
