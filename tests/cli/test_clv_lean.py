"""`patron clv` started without Typer gives what the full command line gives, or hands over."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from patron.cli.lean import ClvArgs, parse_clv_args
from tests.cli.test_models_cli import order_log, patron

__all__ = ["order_log"]  # the module's fixture, shared


def test_plain_arguments_are_read_as_typer_reads_them() -> None:
    assert parse_clv_args(["clv", "log.csv", "--out", "s.csv"]) == ClvArgs(
        log=Path("log.csv"), out=Path("s.csv")
    )
    assert parse_clv_args(
        [
            "clv",
            "--model=auto",
            "--out=s.csv",
            "--json",
            "log.csv",
            "--horizon-days",
            "60",
            "--as-of",
            "2024-06-29",
        ]
    ) == ClvArgs(
        log=Path("log.csv"),
        out=Path("s.csv"),
        as_of="2024-06-29",
        horizon_days=60,
        model="auto",
        as_json=True,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["clv", "--help"],
        ["clv", "log.csv"],  # --out missing
        ["clv", "log.csv", "--out"],
        ["clv", "log.csv", "--out", "a.csv", "--out", "b.csv"],
        ["clv", "log.csv", "--out", "a.csv", "--json", "--json"],
        ["clv", "log.csv", "other.csv", "--out", "a.csv"],
        ["clv", "log.csv", "--out", "a.csv", "--model", "BGNBD"],
        ["clv", "log.csv", "--out", "a.csv", "--horizon-days", "-5"],
        ["clv", "log.csv", "--out", "a.csv", "--horizon-days", "9.5"],
        ["clv", "log.csv", "--out", "a.csv", "--horizon"],
        ["clv", "log.csv", "--out", "a.csv", "--"],
        ["--debug", "clv", "log.csv", "--out", "a.csv"],
        ["model", "fit", "--model", "gg", "--summary", "s.csv"],
        [],
    ],
)
def test_anything_else_goes_to_the_full_command_line(args: list[str]) -> None:
    assert parse_clv_args(args) is None


def test_the_lean_start_writes_what_the_full_command_line_writes(
    order_log: Path, tmp_path: Path
) -> None:
    lean_out, full_out = tmp_path / "lean.csv", tmp_path / "full.csv"
    lean = patron("clv", order_log, "--out", lean_out, "--model", "auto")
    # A root option sends the same command through Typer.
    full = patron("--debug", "clv", order_log, "--out", full_out, "--model", "auto")
    assert lean.returncode == full.returncode == 0, (lean.stderr, full.stderr)
    assert lean.stdout.replace(str(lean_out), "OUT") == full.stdout.replace(str(full_out), "OUT")
    assert lean.stderr == full.stderr == ""
    assert lean_out.read_bytes() == full_out.read_bytes()


def test_the_lean_start_loads_no_command_line_library(order_log: Path, tmp_path: Path) -> None:
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['patron', 'clv', {str(order_log)!r}, '--out', {str(tmp_path / 's.csv')!r}]\n"
        "try:\n"
        "    runpy.run_module('patron', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "print(sorted(m for m in ('typer', 'pydantic', 'rich') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_lean_start_loads_no_module_it_does_not_use(order_log: Path, tmp_path: Path) -> None:
    # NumPy's Fortran wrapper generator (which SciPy's array-API layer would load) and the
    # library search of ctypes.util (which runs ldconfig) stay unloaded; the summary module
    # itself needs no NumPy, so the log is read while NumPy loads.
    script = (
        "import runpy, sys\n"
        "import patron.analytics.summary\n"
        "print('numpy' in sys.modules)\n"
        f"sys.argv = ['patron', 'clv', {str(order_log)!r}, '--out', {str(tmp_path / 's.csv')!r}]\n"
        "try:\n"
        "    runpy.run_module('patron', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "print(sorted(m for m in ('numpy.f2py.f2py2e', 'ctypes.util') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "False"
    assert lines[-1] == "[]"


def test_errors_of_the_lean_start_are_one_plain_line(tmp_path: Path) -> None:
    done = patron("clv", tmp_path / "absent.csv", "--out", tmp_path / "o.csv")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"error: cannot read {tmp_path / 'absent.csv'}: no such file\n"
    refused = patron(
        "clv", tmp_path / "absent.csv", "--out", tmp_path / "o.csv", "--horizon-days", "0"
    )
    assert refused.returncode == 1
    assert refused.stderr == "error: --horizon-days must be a positive number of days, not 0\n"
