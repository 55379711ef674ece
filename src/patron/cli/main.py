"""`patron [--db URL] COMMAND ...`: one plain error line on failure; tracebacks with --debug."""

from __future__ import annotations

import sys
from functools import cache
from typing import Annotated, NoReturn

import typer
from typer._click.exceptions import ClickException

from patron.cli.context import CliState
from patron.cli.lean import try_clv
from patron.errors import PatronError

# Commands that need neither the database nor the web start with only their own module loaded:
# importing every command group (SQLAlchemy, FastAPI, the services) costs about a second,
# which is most of what `patron clv` on a large log should take.
LEAN_COMMANDS = frozenset({"clv", "model"})


def main(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (else PATRON_DATABASE_URL).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Patron: customer management by rules."""
    ctx.obj = CliState(db_url=db, debug=debug)


def _root() -> typer.Typer:
    root = typer.Typer(
        name="patron",
        help="Patron: customer management by rules.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    root.callback()(main)
    return root


@cache
def full_app() -> typer.Typer:
    """The command line with every command group."""
    from patron.cli import commands

    root = _root()
    commands.register(root)
    return root


def lean_app() -> typer.Typer:
    """Only the model commands, which run without a database."""
    from patron.cli import models

    root = _root()
    models.register(root)
    return root


def __getattr__(name: str) -> typer.Typer:
    # `from patron.cli.main import app` builds the full command line on first use.
    if name == "app":
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def command_name(args: list[str]) -> str | None:
    """The command word of a command line: the first argument that is not a root option."""
    rest = iter(args)
    for arg in rest:
        if arg == "--db":
            next(rest, None)
        elif not arg.startswith("-"):
            return arg
    return None


def run() -> None:
    """The console entry point: exit codes kept, every failure one plain line on stderr."""
    # `patron clv` with plain arguments needs no Typer parsing (patron.cli.lean).
    plain = try_clv(sys.argv[1:])
    if plain is not None:
        sys.exit(plain)
    debug = "--debug" in sys.argv[1:]
    lean = command_name(sys.argv[1:]) in LEAN_COMMANDS
    try:
        code = (lean_app() if lean else full_app())(standalone_mode=False)
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
