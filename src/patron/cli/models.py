"""`patron model fit` and `patron clv`: the purchase and spend models without a database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from patron.cli.context import console, emit
from patron.cli.lean import clv_line, run_clv


class FitModel(StrEnum):
    bgnbd = "bgnbd"
    pnbd = "pnbd"
    gg = "gg"


class ClvModel(StrEnum):
    bgnbd = "bgnbd"
    pnbd = "pnbd"
    auto = "auto"


def model_fit(
    model: Annotated[FitModel, typer.Option("--model", help="bgnbd, pnbd or gg")],
    summary: Annotated[
        Path, typer.Option("--summary", help="CSV: frequency, recency, T[, monetary_value]")
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fit one model on a summary file and print its parameters and log-likelihood."""
    from patron.analytics import bgnbd, gamma_gamma, pnbd  # SciPy loads only when fitting
    from patron.analytics.summary import read_summary_csv

    columns = read_summary_csv(summary, monetary=model is FitModel.gg)
    with _status(f"fitting {model.value} on {len(columns['frequency']):,} customers"):
        if model is FitModel.gg:
            spend = gamma_gamma.fit(columns["frequency"], columns["monetary_value"])
            params, value = spend.as_dict(), spend.log_likelihood
        else:
            fit = bgnbd.fit if model is FitModel.bgnbd else pnbd.fit
            purchase = fit(columns["frequency"], columns["recency"], columns["T"])
            params, value = purchase.as_dict(), purchase.log_likelihood
    result = {"params": params, "log_likelihood": value}
    emit(result, as_json=as_json, human=lambda: _print_fit(model.value, params, value))


def clv_command(
    log: Annotated[Path, typer.Argument(help="CSV order log: customer_id, ordered_at, amount")],
    out: Annotated[Path, typer.Option("--out", help="Where to write one row per customer")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="YYYY-MM-DD or ISO datetime (default: the last order's day)"),
    ] = None,
    horizon_days: Annotated[int, typer.Option("--horizon-days", help="CLV horizon in days")] = 90,
    model: Annotated[
        ClvModel, typer.Option("--model", help="bgnbd, pnbd or auto")
    ] = ClvModel.bgnbd,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score every customer of an order log: P(alive), expected purchases, spend and CLV."""
    report, total = run_clv(
        log, out, as_of=as_of, horizon_days=horizon_days, model=model.value, status=_status
    )
    emit(report, as_json=as_json, human=lambda: typer.echo(clv_line(report, total)))


@contextmanager
def _status(message: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs; stdout stays clean for --json."""
    with console.status(message):
        yield


def _print_fit(model: str, params: dict[str, float], value: float) -> None:
    shown = ", ".join(f"{name} = {number:.6g}" for name, number in params.items())
    typer.echo(f"{model}: {shown}; log-likelihood {value:.4f}")


def register(app: typer.Typer) -> None:
    model_app = typer.Typer(help="Purchase and spend models.", no_args_is_help=True)
    model_app.command("fit")(model_fit)
    app.add_typer(model_app, name="model")
    app.command("clv")(clv_command)
