"""`patron [--db URL] COMMAND ...`: one plain error line on failure, a traceback only with --debug."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer

from patron.cli import commands
from patron.cli.context import CliState
from patron.errors import PatronError

app = typer.Typer(
    name="patron",
    help="Patron: customer management by rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (else PATRON_DATABASE_URL).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Patron: customer management by rules."""
    ctx.obj = CliState(db_url=db, debug=debug)


commands.register(app)


def run() -> None:
    """The console entry point."""
    debug = "--debug" in sys.argv[1:]
    try:
        app(standalone_mode=False)
    except PatronError as exc:
        if debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except click.ClickException as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        print(
            f"error: unexpected failure ({type(exc).__name__}: {exc}); "
            "run again with --debug for the details",
            file=sys.stderr,
        )
        sys.exit(1)
