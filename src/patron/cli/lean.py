"""`patron clv` itself, and a start of it that does not load the command-line library.

Typer checks every parameter it parses through a pydantic `TypeAdapter`, so parsing a command
line loads Typer, pydantic and (through the shared console) Rich: about 0.3 CPU seconds before
the log is even opened, a tenth of a whole 1M-customer run. `patron clv` with plain arguments
(the log, `--out`, `--as-of`, `--horizon-days`, `--model`, `--json`, each at most once) is
parsed here instead and runs the same `run_clv`; anything else (`--help`, a root option, an
unknown or repeated option, a value Typer would have to judge) goes to the full command line,
so its messages and checks stay Typer's. Nothing here imports Typer or Rich unless stderr is a
terminal (the spinner).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import json
import math
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from patron.errors import InvalidInput, PatronError

if TYPE_CHECKING:
    from patron.analytics.clv import ModelChoice

CLV_MODELS = ("bgnbd", "pnbd", "auto")

# The models' modules: NumPy and SciPy are about half a CPU second of imports.
_MODELS = "patron.analytics.clv_log"
# SciPy's array-API layer copies every public NumPy submodule, so importing `scipy.special`
# loads NumPy's Fortran wrapper generator too (argparse, its parsers: about 40 ms of CPU),
# which no fit uses. It is registered to load on first use instead.
_UNUSED_NUMPY = "numpy.f2py"

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3

Status = Callable[[str], AbstractContextManager[object]]


def parse_as_of(text: str) -> date | datetime:
    """A YYYY-MM-DD date (the whole day counts) or an ISO datetime."""
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"'{text}' is not a date: use YYYY-MM-DD or an ISO datetime") from exc


def run_clv(
    log: Path,
    out: Path,
    *,
    as_of: str | None,
    horizon_days: int,
    model: str,
    status: Status,
) -> tuple[dict[str, Any], float]:
    """Score every customer of an order log into `out`; the command's report and total CLV."""
    if horizon_days <= 0:
        raise InvalidInput(f"--horizon-days must be a positive number of days, not {horizon_days}")
    if model not in CLV_MODELS:
        raise InvalidInput(f"--model must be one of {', '.join(CLV_MODELS)}, not {model}")
    choice = cast("ModelChoice", model)
    keep_freed_memory()
    with status(f"reading {log}"):
        from patron.analytics.summary import OrderLog

        # NumPy and the models' modules load on another thread while DuckDB, which releases
        # the interpreter, reads the log (the summary module imports NumPy only when used).
        models = threading.Thread(target=_load_models, daemon=True)
        models.start()
        orders = OrderLog.from_csv(log)
    cutoff = parse_as_of(as_of) if as_of else orders.latest_day()
    with status(f"scoring the customers of {len(orders):,} orders into {out}"):
        models.join()
        from patron.analytics.clv_log import score_log_to_csv

        scores = score_log_to_csv(
            orders, out, as_of=cutoff, horizon_days=horizon_days, model=choice
        )
    report = {
        "customers": scores.customers,
        "as_of": str(cutoff),
        "horizon_days": horizon_days,
        "model": scores.model,
        "params": scores.params,
        "out": str(out),
    }
    return report, scores.total_clv


def clv_line(report: dict[str, Any], total: float) -> str:
    """The human form of a `patron clv` report."""
    mean = total / report["customers"] if report["customers"] else math.nan
    return (
        f"scored {report['customers']:,} customers as of {report['as_of']} with "
        f"{report['model']} over {report['horizon_days']} days: total CLV {total:,.2f} "
        f"(mean {mean:,.2f}); wrote {report['out']}"
    )


def keep_freed_memory() -> None:
    """Let this short-lived process reuse freed memory instead of giving it back at once.

    By default glibc maps every block over a few MB on its own and returns the heap's free top
    past 128 kB, so each fitting pass's numpy temporaries and each of DuckDB's steps fault their
    pages in anew: about 200,000 page faults, 0.2-0.3 CPU seconds of a 1M-customer log. Blocks
    up to 256 MB now come from the heap, which keeps up to 1 GB free; peak memory stays that of
    the largest step. Elsewhere than glibc on Linux this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        # The interpreter's own C library, as dlopen(NULL) sees it: `ctypes.util.find_library`
        # would run ldconfig in a child process, about 35 ms before the log is opened.
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, 256 << 20)
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    mallopt(_M_TOP_PAD, 64 << 20)


def _load_models() -> None:
    _load_on_first_use(_UNUSED_NUMPY)
    importlib.import_module(_MODELS)


def _load_on_first_use(name: str) -> None:
    """Register a module that nothing here uses to load only when an attribute is read."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # What an import does once the module is loaded: the parent package names it.
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)
    loader.exec_module(module)


@dataclass(frozen=True)
class ClvArgs:
    log: Path
    out: Path
    as_of: str | None = None
    horizon_days: int = 90
    model: str = "bgnbd"
    as_json: bool = False


_VALUED = {"--out": "out", "--as-of": "as_of", "--horizon-days": "horizon_days", "--model": "model"}
_INTEGER = re.compile(r"[0-9]{1,9}")


def parse_clv_args(args: list[str]) -> ClvArgs | None:
    """`clv LOG --out PATH [...]` read as Typer would, or None where Typer must judge it."""
    if not args or args[0] != "clv":
        return None
    values: dict[str, str] = {}
    positional: list[str] = []
    as_json = False
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--json":
            if as_json:
                return None
            as_json = True
            continue
        name, equals, value = arg.partition("=")
        if name in _VALUED:
            if not equals:
                value = next(rest, "")
            # Typer tells an option that lacks its value, a repeat or a dash-led value apart.
            if not value or value.startswith("-") or _VALUED[name] in values:
                return None
            values[_VALUED[name]] = value
        elif arg.startswith("-") or not arg:
            return None
        else:
            positional.append(arg)
    if len(positional) != 1 or "out" not in values:
        return None
    horizon = values.get("horizon_days", "90")
    model = values.get("model", "bgnbd")
    if not _INTEGER.fullmatch(horizon) or model not in CLV_MODELS:
        return None
    return ClvArgs(
        log=Path(positional[0]),
        out=Path(values["out"]),
        as_of=values.get("as_of"),
        horizon_days=int(horizon),
        model=model,
        as_json=as_json,
    )


def try_clv(args: list[str]) -> int | None:
    """Run `patron clv` from plain arguments; its exit status, or None to use Typer instead."""
    parsed = parse_clv_args(args)
    if parsed is None:
        return None
    try:
        report, total = run_clv(
            parsed.log,
            parsed.out,
            as_of=parsed.as_of,
            horizon_days=parsed.horizon_days,
            model=parsed.model,
            status=_status,
        )
    except PatronError as exc:
        return _fail(exc.message, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # as the full command line: one plain line, details with --debug
        return _fail(
            f"unexpected failure ({type(exc).__name__}: {exc}); "
            "run again with --debug for the details",
            1,
        )
    if parsed.as_json:
        print(json.dumps(report, ensure_ascii=False, default=str), flush=True)
    else:
        print(clv_line(report, total), flush=True)
    return 0


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


@contextmanager
def _status(message: str) -> Iterator[None]:
    """The full command line's spinner on a terminal; elsewhere it shows nothing, as Rich."""
    if not sys.stderr.isatty():
        yield
        return
    from patron.cli.context import console

    with console.status(message):
        yield
