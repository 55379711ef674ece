"""`patron import KIND FILE` and `patron export KIND FILE`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from patron.cli.context import console, emit, state
from patron.config import get_settings

if TYPE_CHECKING:
    from patron.imports.service import ImportResult
    from patron.imports.service import Progress as ProgressCallback


def import_command(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(help="customers, orders, interactions, tickets or responses")
    ],
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file.")],
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Write refused rows here (default: FILE.rejects.csv)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count every row, writing nothing.")
    ] = False,
    duplicates: Annotated[
        Path | None,
        typer.Option(
            "--duplicates",
            help="Customers: list possible duplicates here (default: FILE.duplicates.csv).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import customers, orders, interactions, tickets or responses from CSV or XLSX."""
    # Imported here so other commands do not pay for openpyxl, numpy and the parsers.
    from patron.imports.service import import_file

    cli = state(ctx)
    with _progress(enabled=not as_json, label=f"importing {file.name}") as progress:
        result = import_file(
            engine=cli.engine,
            kind=kind,
            path=file,
            rejects_path=rejects,
            dry_run=dry_run,
            progress=progress,
            duplicates_path=duplicates,
            bulk=True,
        )
    emit(result.counts.as_dict(), as_json=as_json, human=lambda: _report(result))


def _report(result: ImportResult) -> None:
    counts = result.counts
    prefix = "dry run, nothing written: would have " if result.dry_run else ""
    typer.echo(
        f"{prefix}inserted {counts.inserted}, updated {counts.updated}, "
        f"unchanged {counts.unchanged}, rejected {counts.rejected} "
        f"({counts.rows} rows)"
    )
    if result.rejects is not None:
        typer.echo(f"rejected rows and their reasons: {result.rejects}")
    if result.duplicates is not None:
        typer.echo(
            f"possible duplicates imported: {result.duplicate_count}, listed in {result.duplicates}"
        )


@contextmanager
def _progress(*, enabled: bool, label: str) -> Iterator[ProgressCallback | None]:
    """A progress bar on stderr showing rows, rows/s and the time left."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        # Redrawn on each update, with no thread of its own: `patron import` forks a process
        # to parse orders (`background`), and a thread drawing at that moment could leave
        # the console's lock held in the child.
        auto_refresh=False,
    )
    started = time.monotonic()
    with bar:
        task = bar.add_task(label, total=None, rows=0, rate=0.0)
        bar.refresh()

        def update(rows: int, position: int, total: int) -> None:
            rate = rows / max(time.monotonic() - started, 1e-6)
            bar.update(
                task, completed=position, total=total or None, rows=rows, rate=rate, refresh=True
            )

        yield update


def export_command(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="customers, orders, scores, tasks or tickets")],
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file to write.")],
    locale: Annotated[
        str | None,
        typer.Option("--locale", help="Header language, zh_CN or en (default: PATRON_LOCALE)."),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="Export only what this user may see, personal data masked as for them.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Export customers, orders, scores, tasks or tickets to CSV or XLSX (audited)."""
    from patron.exports.audience import EVERYTHING, audience_of
    from patron.exports.service import actor_named, audit_export, export_file

    cli = state(ctx)
    actor = actor_named(engine=cli.engine, username=user) if user else None
    rows = export_file(
        engine=cli.engine, kind=kind, path=file, locale=locale or get_settings().locale,
        audience=audience_of(actor) if actor else EVERYTHING,
    )  # fmt: skip
    audit_export(engine=cli.engine, kind=kind, rows=rows, actor=actor, path=file)
    emit(
        {"kind": kind, "file": str(file), "rows": rows},
        as_json=as_json,
        human=lambda: typer.echo(f"exported {rows} {kind} rows to {file}"),
    )


def register(app: typer.Typer) -> None:
    """Attach `import` and `export` to the root app."""
    app.command("import")(import_command)
    app.command("export")(export_command)
