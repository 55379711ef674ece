"""`patron backup FILE` and `patron restore FILE`: the whole database in one file and back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from patron.cli.context import console, emit, state

if TYPE_CHECKING:
    from patron.backup.service import Progress as ProgressCallback


@contextmanager
def _progress(*, enabled: bool, label: str) -> Iterator[ProgressCallback | None]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows  {task.fields[table]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None, table="")

        def update(table: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, table=table)

        yield update


def backup_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The backup file to write (a .zip).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write the whole database to FILE from one consistent snapshot, while it keeps serving."""
    from patron.backup.service import backup

    cli = state(ctx)
    with _progress(enabled=not as_json, label="backing up") as progress:
        summary = backup(engine=cli.engine, path=file, progress=progress)
    result = summary.as_dict()
    emit(
        result,
        as_json=as_json,
        human=lambda: typer.echo(f"backed up {result['rows']:,} rows to {file}"),
    )


def restore_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file written by `patron backup`.")],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Overwrite a database that already holds data."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load FILE into the database: all of it or, on any error, nothing."""
    from patron.backup.service import restore

    cli = state(ctx)
    with _progress(enabled=not as_json, label="restoring") as progress:
        summary = restore(engine=cli.engine, path=file, replace=replace, progress=progress)
    result = summary.as_dict()
    emit(
        result,
        as_json=as_json,
        human=lambda: typer.echo(f"restored {result['rows']:,} rows from {file}"),
    )


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
