"""`patron model fit` and `patron clv`: the purchase and spend models without a database."""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import math
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from patron.cli.context import console, emit, parse_as_of
from patron.errors import InvalidInput


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
    if horizon_days <= 0:
        raise InvalidInput(f"--horizon-days must be a positive number of days, not {horizon_days}")
    _keep_freed_memory()
    with _status(f"reading {log}"):
        from patron.analytics.summary import OrderLog

        # The models' modules (SciPy: about half a CPU second) load on another thread while
        # DuckDB, which releases the interpreter, reads the log.
        models = threading.Thread(target=importlib.import_module, args=(_MODELS,), daemon=True)
        models.start()
        orders = OrderLog.from_csv(log)
    cutoff = parse_as_of(as_of) if as_of else orders.latest_day()
    with _status(f"scoring the customers of {len(orders):,} orders into {out}"):
        models.join()
        from patron.analytics.clv_log import score_log_to_csv

        scores = score_log_to_csv(
            orders, out, as_of=cutoff, horizon_days=horizon_days, model=model.value
        )
    report = {
        "customers": scores.customers,
        "as_of": str(cutoff),
        "horizon_days": horizon_days,
        "model": scores.model,
        "params": scores.params,
        "out": str(out),
    }
    emit(report, as_json=as_json, human=lambda: _print_clv(report, scores.total_clv))


_MODELS = "patron.analytics.clv_log"

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def _keep_freed_memory() -> None:
    """Let this short-lived process reuse freed memory instead of giving it back at once.

    By default glibc maps every block over a few MB on its own and returns the heap's free top
    past 128 kB, so each fitting pass's numpy temporaries and each of DuckDB's steps fault their
    pages in anew: about 200,000 page faults, 0.2-0.3 CPU seconds of a 1M-customer log. Blocks
    up to 256 MB now come from the heap, which keeps up to 1 GB free; peak memory stays that of
    the largest step. Elsewhere than glibc on Linux this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, 256 << 20)
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    mallopt(_M_TOP_PAD, 64 << 20)


@contextmanager
def _status(message: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs; stdout stays clean for --json."""
    with console.status(message):
        yield


def _print_fit(model: str, params: dict[str, float], value: float) -> None:
    shown = ", ".join(f"{name} = {number:.6g}" for name, number in params.items())
    typer.echo(f"{model}: {shown}; log-likelihood {value:.4f}")


def _print_clv(report: dict[str, Any], total: float) -> None:
    mean = total / report["customers"] if report["customers"] else math.nan
    typer.echo(
        f"scored {report['customers']:,} customers as of {report['as_of']} with "
        f"{report['model']} over {report['horizon_days']} days: total CLV {total:,.2f} "
        f"(mean {mean:,.2f}); wrote {report['out']}"
    )


def register(app: typer.Typer) -> None:
    model_app = typer.Typer(help="Purchase and spend models.", no_args_is_help=True)
    model_app.command("fit")(model_fit)
    app.add_typer(model_app, name="model")
    app.command("clv")(clv_command)
