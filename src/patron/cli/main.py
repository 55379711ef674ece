"""`patron [--db URL] COMMAND ...`: one plain error line on failure; tracebacks with --debug."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from typer._click.exceptions import ClickException

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
    """The console entry point: exit codes kept, every failure one plain line on stderr."""
    debug = "--debug" in sys.argv[1:]
    try:
        code = app(standalone_mode=False)
    except PatronError as exc:
        if debug:
            raise
        _fail(exc.message, 1)
    except typer.Abort:
        _fail("aborted", 130)
    except ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if debug:
            raise
        _fail(
            f"unexpected failure ({type(exc).__name__}: {exc}); "
            "run again with --debug for the details",
            1,
        )
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)
