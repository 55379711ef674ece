"""`patron serve [--host H] [--port P] [--workers N] [--no-access-log]`: the web app and REST API
under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from patron.cli.context import state
from patron.config import get_settings


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes sharing the port (one per core suits a busy PostgreSQL site).",
        ),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log a line per request (off where a proxy in front already logs them).",
        ),
    ] = True,
) -> None:
    """Serve the web app and the REST API (the schema is brought up to date first)."""
    import uvicorn  # the web stack loads only for this command

    from patron.api.app import create_app
    from patron.schema import migrate

    cli = state(ctx)
    migrate(cli.engine)
    # The app opens its own engine, made for serving requests (patron.db.create_db_engine).
    cli.engine.dispose()
    typer.echo(f"serving Patron on http://{host}:{port} (API docs at /docs)")
    if workers == 1:
        settings = get_settings().model_copy(update={"database_url": cli.url})
        app = create_app(settings)
        uvicorn.run(
            app, host=host, port=port, log_level="info", proxy_headers=True, access_log=access_log
        )
        return
    # Each worker process builds its own app and engine from the environment.
    os.environ["PATRON_DATABASE_URL"] = cli.url
    uvicorn.run(
        "patron.api.app:create_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        access_log=access_log,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
