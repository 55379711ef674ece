"""`patron rules ...`: the rulebook and its expressions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from patron.cli.context import emit
from patron.errors import RuleError
from patron.rules.language import check, compile_duckdb

rules_app = typer.Typer(
    help="The rulebook: grades, stages, warnings and actions.", no_args_is_help=True
)


@rules_app.command("check-expr")
def check_expr(
    expression: Annotated[str, typer.Argument(help='A rule expression, e.g. "recency_days > 90".')],
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Accept this extra name too (an earlier rulebook output)."),
    ] = None,
    show_sql: Annotated[bool, typer.Option("--sql", help="Also print the DuckDB SQL.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check one rule expression: print "ok" and its normalised form, or what is wrong."""
    try:
        checked = check(expression, allowed=set(allow or ()))
    except RuleError as exc:
        if not as_json:
            raise
        emit({"ok": False, "error": exc.message}, as_json=True)
        # SystemExit, not typer.Exit: the root runs click with standalone_mode=False, where
        # an Exit's code would be returned and lost.
        raise SystemExit(1) from None
    result: dict[str, Any] = {
        "ok": True,
        "expression": checked.normalised,
        "features": sorted(checked.features),
    }
    if show_sql:
        result["duckdb"] = compile_duckdb(checked)

    def human() -> None:
        typer.echo(f"ok: {checked.normalised}")
        if show_sql:
            typer.echo(f"duckdb: {result['duckdb']}")

    emit(result, as_json=as_json, human=human)


def register(app: typer.Typer) -> None:
    """Attach the `rules` group to the root app."""
    app.add_typer(rules_app, name="rules")
